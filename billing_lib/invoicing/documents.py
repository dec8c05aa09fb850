"""What an invoice document shows: every figure formatted for the reader, every charge explained.

:func:`invoice_documents` turns generated invoices into :class:`InvoiceDocument` values: text only,
amounts in the invoice's currency formatted for the customer's locale with Babel
(:func:`billing_lib.core.currency.format_money_local`), and under each line the arithmetic that
produced it, so a client can follow it ("1,000 units × €0.05 + 500 units × €0.04",
"3 packages of 100 (250 units)", "12% of €1,234.00", "full month €30.00 × 18 of 30 days").
The HTML document (:func:`render_html`, a Jinja template that escapes everything) and the PDF
(:func:`billing_lib.invoicing.pdf.invoice_pdf`) are both drawn from it.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from functools import lru_cache

import polars as pl
from jinja2 import Environment, PackageLoader, select_autoescape

from billing_lib.core.currency import customer_locale, format_money_local, format_number_local
from billing_lib.data.dataset import Dataset
from billing_lib.engine.rating import tiers_with_bounds
from billing_lib.errors import ParameterError

DATE_FMT = "%Y-%m-%d"
PLAN_TERMS = ["package_size", "free_units", "rate_pct", "fixed_fee"]


@dataclass(frozen=True)
class DocumentLine:
    """One invoice line as shown: description (it names the service days), the arithmetic behind it and
    formatted figures."""

    line_no: int
    description: str
    detail: str
    quantity: str
    unit_price: str
    amount: str
    discount: str
    tax_rate: str
    tax: str


@dataclass(frozen=True)
class InvoiceDocument:
    """One invoice as its reader sees it (all text, ready for a template or a PDF)."""

    invoice_id: str
    customer_id: str
    name: str
    email: str
    country: str
    locale: str
    currency: str
    issue_date: str
    due_date: str
    period_start: str
    period_end: str
    lines: tuple[DocumentLine, ...]
    subtotal: str
    discount: str
    tax: str
    total: str
    total_amount: Decimal


@dataclass(frozen=True)
class _Formats:
    """Number and money formatting in one locale and currency."""

    locale: str
    currency: str

    def money(self, value: Decimal | None, exact: bool = False) -> str:
        return format_money_local(value, self.currency, self.locale, exact=exact)

    def number(self, value: Decimal | int | None) -> str:
        return format_number_local(value, self.locale)

    def units(self, value: Decimal | int) -> str:
        return f"{self.number(value)} unit{'' if Decimal(value) == 1 else 's'}"


def _tiered(row: dict, tiers: list[dict], f: _Formats) -> str:
    q = row["units"]
    if q <= 0:
        return "no units this period"
    if row["charge_model"] == "graduated":
        parts = []
        for t in tiers:
            top = q if t["up_to"] is None else min(q, t["up_to"])
            n = top - t["lower"]
            if n <= 0:
                continue
            part = f"{f.units(n)} × {f.money(t['tier_price'], exact=True)}"
            if t["tier_fee"]:
                part += f" + tier fee {f.money(t['tier_fee'], exact=True)}"
            parts.append(part)
        return "graduated: " + " + ".join(parts)
    for t in tiers:
        if q > t["lower"] and (t["up_to"] is None or q <= t["up_to"]):
            over = f"over {f.number(t['lower'])}" if t["lower"] else ""
            upto = f"up to {f.number(t['up_to'])}" if t["up_to"] is not None else ""
            band = " ".join(part for part in (over, upto) if part) or "of every quantity"
            text = (f"volume: all {f.units(q)} in the tier {band}, "
                    f"{f.number(q)} × {f.money(t['tier_price'], exact=True)}")
            if t["tier_fee"]:
                text += f" + tier fee {f.money(t['tier_fee'], exact=True)}"
            return text
    return f"{f.units(q)}: no tier holds this quantity"


def _charge(row: dict, tiers: list[dict], f: _Formats) -> str:
    model, q, price = row["charge_model"], row["units"], row["price"]
    if model == "flat":
        return f"flat fee {f.money(price, exact=True)}"
    if model == "per_unit":
        return f"{f.units(q)} × {f.money(price, exact=True)}"
    if model == "package":
        size, free = row["package_size"], row["free_units"] or Decimal(0)
        billable = max(q - free, Decimal(0))
        packages = (billable / size).to_integral_value(rounding=ROUND_CEILING)
        free_text = f", first {f.number(free)} free" if free else ""
        return (f"{f.number(packages)} package{'' if packages == 1 else 's'} of {f.number(size)} "
                f"({f.units(q)}{free_text}) × {f.money(price, exact=True)}")
    if model == "percentage":
        text = f"{f.number(row['rate_pct'])}% of {f.money(q, exact=True)}"
        if row["fixed_fee"]:
            text += f" + {f.number(row['event_count'])} × {f.money(row['fixed_fee'], exact=True)} per transaction"
        return text
    return _tiered(row, tiers, f)


def line_detail(row: dict, tiers: list[dict], f: _Formats) -> str:
    """The arithmetic of one line: the charge model's calculation, proration and discount."""
    parts = [_charge(row, tiers, f)]
    if row["kind"] == "year_term":
        parts.append("annual term billed in advance")
    if row["prorated"]:
        parts.append(f"full month {f.money(row['full_amount'])} × {row['active_days']} of "
                     f"{row['days_in_month']} days = {f.money(row['amount'])}")
    if row["discount"]:
        parts.append(f"discount {f.number(row['discount_pct'])}% of {f.money(row['amount'])} = "
                     f"{f.money(row['discount'])}")
    return "; ".join(parts)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=PackageLoader("billing_lib", "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       keep_trailing_newline=True)


def render_html(doc: InvoiceDocument) -> str:
    """The invoice as a standalone HTML page (every value from the data escaped by the template)."""
    return _environment().get_template("invoice.html.j2").render(invoice=doc, lines=doc.lines)


def _customers(ds: Dataset) -> pl.DataFrame:
    frame = ds.frame("customers")
    names = frame.collect_schema().names()
    locale = pl.col("locale").cast(pl.String) if "locale" in names else pl.lit(None, dtype=pl.String)
    return frame.select("customer_id", "name", "email", "country", locale.alias("preferred_locale")).collect()


def _tiers(ds: Dataset) -> dict[tuple[str, str], list[dict]]:
    out: dict[tuple[str, str], list[dict]] = {}
    for t in tiers_with_bounds(ds).collect().iter_rows(named=True):
        out.setdefault((t["plan_id"], t["currency"]), []).append(t)
    return out


def invoice_documents(headers: pl.DataFrame, lines: pl.DataFrame, ds: Dataset) -> dict[str, InvoiceDocument]:
    """The documents of generated invoices, keyed by invoice_id.

    ``headers`` and ``lines`` are :class:`billing_lib.invoicing.generate.GeneratedInvoices` frames (typed, with the
    rating columns kept on each line: charge_model, kind, units, price, proration, discount_pct).
    """
    customers = _customers(ds)
    plans = ds.frame("plans").select("plan_id", "currency", *PLAN_TERMS).collect()
    tiers = _tiers(ds)
    heads = headers.join(customers, on="customer_id", how="left").sort("number")
    detailed = (lines.join(plans, left_on=["plan_id", "invoice_currency"], right_on=["plan_id", "currency"],
                           how="left").sort("number", "line_no"))
    by_invoice = detailed.partition_by("invoice_id", as_dict=True, maintain_order=True)
    docs: dict[str, InvoiceDocument] = {}
    for head in heads.iter_rows(named=True):
        locale = customer_locale(head["country"], head["preferred_locale"])
        f = _Formats(locale, head["currency"])
        part = by_invoice.get((head["invoice_id"],))
        if part is None:
            raise ParameterError(f"invoice {head['invoice_id']} (customer {head['customer_id']}) has no invoice "
                                 "lines: a document needs at least one line; give the invoice its lines or leave "
                                 "it out")
        rows = part.iter_rows(named=True)
        doc_lines = tuple(_document_line(row, tiers.get((row["plan_id"], head["currency"]), []), f)
                          for row in rows)
        docs[head["invoice_id"]] = InvoiceDocument(
            invoice_id=head["invoice_id"], customer_id=head["customer_id"],
            name=head["name"] if head["name"] is not None else head["customer_id"],
            email=head["email"] or "", country=head["country"] or "", locale=locale, currency=head["currency"],
            issue_date=head["issue_date"].strftime(DATE_FMT), due_date=head["due_date"].strftime(DATE_FMT),
            period_start=head["period_start"].strftime(DATE_FMT),
            period_end=head["period_end"].strftime(DATE_FMT), lines=doc_lines,
            subtotal=f.money(head["subtotal"]), discount=f.money(head["discount"]), tax=f.money(head["tax"]),
            total=f.money(head["total"]), total_amount=head["total"])
    return docs


def _document_line(row: dict, tiers: list[dict], f: _Formats) -> DocumentLine:
    return DocumentLine(
        line_no=row["line_no"], description=row["description"] or "", detail=line_detail(row, tiers, f),
        quantity=f.number(row["quantity"]), unit_price=f.money(row["unit_price"], exact=True),
        amount=f.money(row["amount"]), discount=f.money(row["discount"]),
        tax_rate=f"{f.number(row['tax_rate_pct'])}%", tax=f.money(row["tax_amount"]))
