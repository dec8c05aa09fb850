"""IBM Watson Analytics "Accounts Receivable" sample as invoices and payments (for aging and DSO).

The source (a vendor sample, likely fabricated; IBM terms) has one row per
invoice: ``countryCode, customerID, PaperlessDate, invoiceNumber,
InvoiceDate, DueDate, InvoiceAmount, Disputed, SettledDate, PaperlessBill,
DaysToSettle, DaysLate``, dates as ``M/D/YYYY``.

Mapping (see docs/realdata.md):

* each row -> one ``invoices`` row (number kept as text with its leading
  zeros; issue and due date as given; period = the month of the invoice
  date; subtotal = total = InvoiceAmount, no discount or tax; status ``paid``
  when settled, else ``open``) and one ``invoice_lines`` row carrying the
  whole amount (the source has no line detail; without a line every invoice
  would fail ``invoice_totals``);
* a settled row -> one ``payments`` row of the full amount received on
  SettledDate, naming the invoice (the source records settlement, not
  partial payments);
* ``customers``: one per customerID, payment terms = its most frequent
  DueDate - InvoiceDate (30 days throughout the sample); the numeric
  countryCode is not ISO 3166, so country is ``ZZ`` and the code is kept;
* the source names no currency: ``currency`` (default USD) is a parameter.

Disputed, PaperlessBill, DaysToSettle and DaysLate are kept as extra columns.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from billing_lib.core.currency import is_currency
from billing_lib.core.money import DECIMAL, to_text
from billing_lib.data.importers.base import (
    PLACEHOLDER_COUNTRY,
    ImportResult,
    ImportSourceError,
    as_text,
    placeholder_config,
    read_source_csv,
)

COLUMNS = ("countryCode", "customerID", "invoiceNumber", "InvoiceDate", "DueDate", "InvoiceAmount", "Disputed",
           "SettledDate")


def read_ibm_receivables(path: str | Path) -> pl.DataFrame:
    """The CSV as text columns with ``source_row`` (header = row 1); ImportSourceError when unusable."""
    path = Path(path)
    raw = read_source_csv(path, "IBM receivables")
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise ImportSourceError(f"{path}: not the IBM accounts-receivable sample: missing {', '.join(missing)} "
                                f"(columns found: {', '.join(raw.columns)})")
    return raw.with_columns(pl.col(c).str.strip_chars().replace("", None) for c in raw.columns) \
        .with_row_index("source_row", offset=2)


def us_date(text: pl.Expr) -> pl.Expr:
    """``M/D/YYYY`` text to a date (null when it is not one)."""
    return pl.when(text.str.contains(r"^\d{1,2}/\d{1,2}/\d{4}$")).then(text.str.to_date("%m/%d/%Y", strict=False))


def parse_rows(raw: pl.DataFrame) -> pl.DataFrame:
    """Typed dates and amount, and ``skip`` (the reason a row cannot be mapped, or null)."""
    df = raw.with_columns(
        issue=us_date(pl.col("InvoiceDate")), due=us_date(pl.col("DueDate")), settled=us_date(pl.col("SettledDate")),
        amount=pl.when(pl.col("InvoiceAmount").str.contains(r"^\d+(\.\d+)?$")).then(pl.col("InvoiceAmount"))
        .cast(DECIMAL, strict=False))
    skip = (pl.when(pl.col("invoiceNumber").is_null() | pl.col("customerID").is_null())
            .then(pl.lit("no invoice number or customer"))
            .when(pl.col("issue").is_null() | pl.col("due").is_null())
            .then(pl.lit("invoice or due date not M/D/YYYY"))
            .when(pl.col("SettledDate").is_not_null() & pl.col("settled").is_null())
            .then(pl.lit("settled date not M/D/YYYY"))
            .when(pl.col("amount").is_null()).then(pl.lit("amount not a non-negative number")))
    return df.with_columns(skip=skip)


def import_ibm_receivables(path: str | Path, currency: str = "USD") -> ImportResult:
    """Map the IBM accounts-receivable sample to invoices, one line each, payments and customers."""
    if not is_currency(currency):
        raise ImportSourceError(f"{currency!r} is not an ISO 4217 currency code")
    raw = read_ibm_receivables(path)
    rows = parse_rows(raw)
    ok = rows.filter(pl.col("skip").is_null()).sort("source_row")
    if ok.height == 0:
        raise ImportSourceError(f"{path}: no row could be mapped")
    cur = pl.lit(currency)
    zero = to_text(pl.lit(0).cast(DECIMAL), cur)
    day = lambda c: pl.col(c).dt.to_string("%Y-%m-%d")  # noqa: E731
    invoices = as_text(ok.select(
        invoice_id="invoiceNumber", customer_id="customerID", currency=cur, issue_date=day("issue"),
        due_date=day("due"), period_start=pl.col("issue").dt.month_start().dt.to_string("%Y-%m-%d"),
        period_end=pl.col("issue").dt.month_end().dt.to_string("%Y-%m-%d"), subtotal=to_text(pl.col("amount"), cur),
        discount=zero, tax=zero, total=to_text(pl.col("amount"), cur),
        status=pl.when(pl.col("settled").is_not_null()).then(pl.lit("paid")).otherwise(pl.lit("open")),
        disputed=pl.col("Disputed").str.to_lowercase().replace({"yes": "true", "no": "false"}),
        paperless_bill=pl.col("PaperlessBill") if "PaperlessBill" in ok.columns else pl.lit(None),
        days_to_settle=pl.col("DaysToSettle") if "DaysToSettle" in ok.columns else pl.lit(None),
        days_late=pl.col("DaysLate") if "DaysLate" in ok.columns else pl.lit(None),
        source_row="source_row"), "invoices")
    lines = as_text(ok.select(
        invoice_id="invoiceNumber", line_no=pl.lit("1"),
        description=pl.lit("invoice amount (the source has no line detail)"),
        period_start=pl.col("issue").dt.month_start().dt.to_string("%Y-%m-%d"),
        period_end=pl.col("issue").dt.month_end().dt.to_string("%Y-%m-%d"), quantity=pl.lit("1"),
        unit_price=to_text(pl.col("amount"), cur), amount=to_text(pl.col("amount"), cur), discount=zero,
        tax_rate_pct=pl.lit("0"), tax_amount=zero), "invoice_lines")
    payments = as_text(ok.filter(pl.col("settled").is_not_null()).select(
        payment_id=pl.format("SETTLE-{}", pl.col("invoiceNumber")), customer_id="customerID", currency=cur,
        amount=to_text(pl.col("amount"), cur), received_date=day("settled"), invoice_id="invoiceNumber",
        reference=pl.format("settlement of invoice {} (full amount)", pl.col("invoiceNumber"))), "payments")
    customers = _customers(ok, currency)
    skipped = {r["skip"]: r["len"] for r in rows.filter(pl.col("skip").is_not_null()).group_by("skip").len()
               .iter_rows(named=True)}
    notes = [f"currency taken as {currency} (the source names none); country codes are not ISO 3166: "
             f"country {PLACEHOLDER_COUNTRY}, code kept as country_code",
             "each invoice gets one line of its whole amount; each settled invoice one payment of its whole "
             "amount on SettledDate"]
    tables = {"customers": customers, "invoices": invoices, "invoice_lines": lines, "payments": payments,
              **placeholder_config(customers, str(ok["issue"].min()), currency,
                                   "placeholder: the source shows no tax")}
    return ImportResult(str(path), tables, raw.height, {"invoices": ok.height}, skipped, notes)


def _customers(ok: pl.DataFrame, currency: str) -> pl.DataFrame:
    """One row per customer: the most frequent terms (due - issue days, ties: shortest) and country code."""
    terms = (ok.with_columns(terms=(pl.col("due") - pl.col("issue")).dt.total_days())
             .group_by("customerID", "terms").agg(pl.len(), pl.col("countryCode").first())
             .sort(["customerID", "len", "terms"], descending=[False, True, False])
             .group_by("customerID", maintain_order=True).first())
    return as_text(terms.select(
        customer_id="customerID", name=pl.lit(None, dtype=pl.String), country=pl.lit(PLACEHOLDER_COUNTRY),
        currency=pl.lit(currency), payment_terms_days=pl.col("terms").clip(lower_bound=0).cast(pl.String),
        tax_exempt=pl.lit("false"), country_code="countryCode"), "customers")
