"""The PDF of an invoice, drawn with fpdf2 (pure Python: installs with pip alone, no system libraries).

Text is set in DejaVu Sans (Latin, Greek, Cyrillic, Arabic, Hebrew...) with WenQuanYi Micro Hei
for Chinese, Japanese and Korean; both are bundled in ``billing_lib/fonts`` with their licences and
embedded (subset) in every PDF, so any customer name renders on any reader. A document holding a
script that needs shaping (Arabic, Hebrew, Indic scripts, combining marks) is shaped with HarfBuzz
(``uharfbuzz``) so letters join and right-to-left names read in their order; other documents are set
without it, which is three times faster. Fonts are parsed once per process
(:mod:`billing_lib.invoicing.pdf_fonts`).

The same document gives the same bytes: the creation date is the invoice's issue date and the file
identifier is derived from the content.
"""
from __future__ import annotations

import datetime as dt
import unicodedata
from functools import lru_cache
from pathlib import Path

from fpdf import FPDF, FontFace
from fpdf.enums import TableBordersLayout, XPos, YPos

from billing_lib.invoicing.documents import InvoiceDocument
from billing_lib.invoicing.pdf_fonts import lend_font

FONTS = Path(__file__).parent.parent / "fonts"
MAIN, FALLBACK = "DejaVuSans", "WenQuanYiMicroHei"
_FONT_FILES = {(MAIN, ""): "DejaVuSans.ttf", (MAIN, "B"): "DejaVuSans-Bold.ttf",
               (FALLBACK, ""): "wqy-microhei.ttc"}
LINE_COLUMNS = (("#", 6, "RIGHT"), ("Description", 66, "LEFT"), ("Qty", 12, "RIGHT"),
                ("Unit price", 22, "RIGHT"), ("Amount", 24, "RIGHT"), ("Discount", 24, "RIGHT"),
                ("Tax", 26, "RIGHT"))


@lru_cache(maxsize=1)
def font_files() -> dict[tuple[str, str], Path]:
    """The bundled fonts by (family, style); an error naming the file when the package is incomplete."""
    found = {key: FONTS / name for key, name in _FONT_FILES.items()}
    missing = sorted({str(p) for p in found.values() if not p.is_file()})
    if missing:
        raise FileNotFoundError(f"invoice fonts missing: {', '.join(missing)}; reinstall billing-workbooks")
    return found


@lru_cache(maxsize=1)
def _main_font_characters() -> frozenset[int]:
    from fontTools.ttLib import TTFont
    with TTFont(str(font_files()[(MAIN, "")]), lazy=True) as font:
        return frozenset(font.getBestCmap())


def document_text(doc: InvoiceDocument) -> str:
    """Every piece of text the PDF of ``doc`` shows (for choosing fonts)."""
    parts = [doc.invoice_id, doc.name, doc.email, doc.customer_id, doc.country, doc.subtotal, doc.discount,
             doc.tax, doc.total]
    for line in doc.lines:
        parts += [line.description, line.detail, line.quantity, line.unit_price, line.amount, line.discount,
                  line.tax, line.tax_rate]
    return "".join(parts)


def needs_fallback_font(text: str) -> bool:
    """True when ``text`` holds a character the main font lacks (CJK, for instance)."""
    known = _main_font_characters()
    return any(ord(ch) not in known and not ch.isspace() for ch in text)


_JOINERS = frozenset("\u200c\u200d")  # zero-width non-joiner and joiner steer shaping


def needs_shaping(text: str) -> bool:
    """True when ``text`` holds right-to-left letters, combining marks or joiners: scripts whose letters
    change shape with their neighbours (Arabic, Hebrew, Devanagari, Thai...)."""
    return any(ch in _JOINERS or unicodedata.bidirectional(ch) in ("R", "AL", "AN")
               or unicodedata.category(ch).startswith("M") for ch in text if ord(ch) > 0x2FF)


class _InvoicePDF(FPDF):
    def __init__(self, doc: InvoiceDocument) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.doc = doc
        files = font_files()
        lend_font(self, MAIN, "", files[(MAIN, "")])
        lend_font(self, MAIN, "B", files[(MAIN, "B")])
        text = document_text(doc)
        if needs_fallback_font(text):  # a font added is embedded even when unused: only when needed
            lend_font(self, FALLBACK, "", files[(FALLBACK, "")])
            self.set_fallback_fonts([FALLBACK], exact_match=False)
        self.set_text_shaping(needs_shaping(text))
        self.set_auto_page_break(True, margin=18)
        self.set_margins(15, 15, 15)
        issued = dt.datetime.strptime(doc.issue_date, "%Y-%m-%d").replace(tzinfo=dt.UTC)
        self.set_creation_date(issued)
        self.set_title(f"Invoice {doc.invoice_id}")
        self.set_author("billing-workbooks")
        self.set_creator("billing-workbooks")
        self.set_producer("billing-workbooks (fpdf2)")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(MAIN, "", 7)
        self.set_text_color(110)
        self.cell(0, 5, f"Invoice {self.doc.invoice_id} · page {self.page_no()}/{{nb}}", align="C")


def _meta(pdf: _InvoicePDF, doc: InvoiceDocument) -> None:
    customer = doc.customer_id + (f" ({doc.country})" if doc.country else "")
    # the name on its own: a right-to-left name sets the direction of its own paragraph only
    rows = (("Billed to", doc.name), *((("Email", doc.email),) if doc.email else ()), ("Customer", customer),
            ("Period", f"{doc.period_start} to {doc.period_end}"), ("Issued", doc.issue_date),
            ("Due", doc.due_date), ("Currency", doc.currency))
    pdf.set_font(MAIN, "", 9.5)
    for label, value in rows:
        pdf.set_text_color(90)
        pdf.cell(28, 5.5, label)
        pdf.set_text_color(20)
        pdf.multi_cell(0, 5.5, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _lines(pdf: _InvoicePDF, doc: InvoiceDocument) -> None:
    pdf.ln(4)
    pdf.set_font(MAIN, "", 8)
    with pdf.table(col_widths=tuple(w for _, w, _ in LINE_COLUMNS),
                   text_align=tuple(a for _, _, a in LINE_COLUMNS), line_height=4.2,
                   borders_layout=TableBordersLayout.HORIZONTAL_LINES, padding=1.2,
                   headings_style=FontFace(family=MAIN, emphasis="BOLD"),
                   first_row_as_headings=True, repeat_headings=1) as table:
        head = table.row()
        for title, _, _ in LINE_COLUMNS:
            head.cell(title)
        for line in doc.lines:
            row = table.row()
            row.cell(str(line.line_no))
            text = line.description  # names the service days
            if line.detail:
                text += f"\n{line.detail}"
            row.cell(text)
            row.cell(line.quantity)
            row.cell(line.unit_price)
            row.cell(line.amount)
            row.cell(line.discount)
            row.cell(f"{line.tax}\n({line.tax_rate})")


def _totals(pdf: _InvoicePDF, doc: InvoiceDocument) -> None:
    pdf.ln(3)
    width_label, width_value = 35, 40
    for label, value, bold in (("Subtotal", doc.subtotal, False), ("Discount", doc.discount, False),
                               ("Tax", doc.tax, False), ("Total due", doc.total, True)):
        pdf.set_font(MAIN, "B" if bold else "", 10 if bold else 9.5)
        pdf.set_x(pdf.w - pdf.r_margin - width_label - width_value)
        pdf.cell(width_label, 6, label)
        pdf.cell(width_value, 6, value, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)
    pdf.set_font(MAIN, "", 8.5)
    pdf.set_text_color(90)
    pdf.multi_cell(0, 4.5, f"Please pay {doc.total} by {doc.due_date}, quoting {doc.invoice_id}.")


def invoice_pdf(doc: InvoiceDocument) -> bytes:
    """The invoice as PDF bytes (A4, fonts embedded); the same document always gives the same bytes."""
    pdf = _InvoicePDF(doc)
    pdf.add_page()
    pdf.set_font(MAIN, "B", 18)
    pdf.cell(0, 10, f"Invoice {doc.invoice_id}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    _meta(pdf, doc)
    _lines(pdf, doc)
    _totals(pdf, doc)
    return bytes(pdf.output())
