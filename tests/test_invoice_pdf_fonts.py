"""Invoice PDFs drawn fast: fonts parsed once per process, shaping only where a script needs it, a pool of
processes for large batches; none of it may change what a document looks like or which bytes it gets."""
from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from io import BytesIO

import pytest
from fontTools.pens.recordingPen import DecomposingRecordingPen
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from billing_lib.errors import ParameterError
from billing_lib.invoicing import rendering
from billing_lib.invoicing.documents import DocumentLine, InvoiceDocument
from billing_lib.invoicing.pdf import FALLBACK, MAIN, font_files, invoice_pdf, needs_shaping
from billing_lib.invoicing.rendering import draw_pdfs

NAMES = ["Müller & Söhne GmbH", "Åsa Østergård ÄÖÜ éèê", "株式会社テスト", "الكويت للتقنية", "שלום בע״מ",
         "Ωmega Λtd", "Łódź Żółć sp. z o.o.", "नमस्ते Traders", "Acme Corp"]


def _doc(name: str, number: int = 42, lines: int = 1) -> InvoiceDocument:
    line = DocumentLine(1, "Seats (SEAT) subscription 2024-06-01 to 2024-06-30", "3 units × 10,00 €", "3",
                        "10,00 €", "30,00 €", "0,00 €", "19%", "5,70 €")
    return InvoiceDocument(f"INV-{number:07d}", f"C{number}", name, "a@b.example", "DE", "de_DE", "EUR",
                           "2024-07-01", "2024-07-31", "2024-06-01", "2024-06-30", (line,) * lines, "30,00 €",
                           "0,00 €", "5,70 €", "35,70 €", Decimal("35.70"))


def _embedded_fonts(pdf: bytes) -> dict[str, TTFont]:
    """The font programs a PDF embeds, by base font name."""
    fonts = {}
    for page in PdfReader(BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            fonts[str(font["/BaseFont"])] = TTFont(BytesIO(descriptor["/FontFile2"].get_data()))
    return fonts


def _drawing(font: TTFont, char: int) -> tuple[list, int]:
    """What the glyph of a character draws (components resolved) and its advance width."""
    glyph = font.getBestCmap()[char]
    pen = DecomposingRecordingPen(font.getGlyphSet())
    font.getGlyphSet()[glyph].draw(pen)
    return pen.value, font["hmtx"][glyph][0]


@pytest.mark.parametrize("name", NAMES)
def test_embedded_glyphs_draw_what_the_bundled_fonts_draw(name):
    """A document's font is subset from a shared parsed copy; each glyph it embeds must draw exactly what
    the bundled file draws (composites like Ä and é included), after other documents were drawn."""
    for other in NAMES:
        invoice_pdf(_doc(other))
    bundled = {f"{MAIN}Book": TTFont(font_files()[(MAIN, "")]), f"{MAIN}Bold": TTFont(font_files()[(MAIN, "B")]),
               "WenQuanYiMicroHei": TTFont(font_files()[(FALLBACK, "")], fontNumber=0)}
    embedded = _embedded_fonts(invoice_pdf(_doc(name)))
    assert embedded
    for base_font, font in embedded.items():
        original = bundled[base_font.split("+", 1)[1]]
        chars = sorted(font.getBestCmap())
        assert len([c for c in chars if c > 32]) >= 5
        for char in chars:
            assert _drawing(font, char) == _drawing(original, char), (base_font, chr(char))


def test_a_document_gets_the_same_bytes_whatever_was_drawn_before_it():
    first = {name: invoice_pdf(_doc(name)) for name in NAMES}
    for name in reversed(NAMES):
        assert invoice_pdf(_doc(name)) == first[name], name
    fresh = subprocess.run(  # a process that drew nothing else
        [sys.executable, "-c", "import sys; from test_invoice_pdf_fonts import _doc, NAMES; "
         "from billing_lib.invoicing.pdf import invoice_pdf; sys.stdout.buffer.write(invoice_pdf(_doc(NAMES[2])))"],
        capture_output=True, cwd=__file__.rsplit("/", 1)[0], check=True)
    assert fresh.stdout == first[NAMES[2]]


def test_a_pool_of_processes_writes_the_bytes_one_process_writes():
    docs = [_doc(NAMES[n % len(NAMES)], number=n, lines=1 + n % 3) for n in range(rendering.POOL_FROM + 5)]
    serial = [invoice_pdf(doc) for doc in docs]
    assert list(draw_pdfs(docs, workers=2)) == serial
    assert len(set(serial)) == len(serial)


def test_workers_must_be_one_or_more():
    with pytest.raises(ParameterError, match="workers must be 1 or more, not 0"):
        list(draw_pdfs([_doc("Acme")], workers=0))


@pytest.mark.parametrize(("text", "shaped"), [
    ("Müller & Söhne, Łódź, Ωmega, Привет", False), ("株式会社テスト 대한", False), ("Acme 1,234.50 €", False),
    ("الكويت", True), ("שלום", True), ("नमस्ते", True), ("ที่", True), ("e\u0301", True), ("a\u200db", True),
])
def test_shaping_is_used_where_a_script_needs_it(text, shaped):
    assert needs_shaping(text) is shaped


def test_shaped_names_still_read_in_the_pdf():
    text = PdfReader(BytesIO(invoice_pdf(_doc("नमस्ते Traders")))).pages[0].extract_text()
    assert "Traders" in text and "INV-0000042" in text
