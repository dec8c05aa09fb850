"""UCI "Online Retail" invoice lines (Chen 2012, CC BY 4.0) as a billing dataset.

The source is one CSV row per invoice line of a UK online retailer, in two
header variants (``InvoiceNo, UnitPrice, CustomerID`` and Online Retail II's
``Invoice, Price, Customer ID``), with dates as ``DD-MM-YY H:MM``,
``M/D/YYYY HH:MM`` or ISO, ``NA`` or empty for a missing customer, and
cancellations as ``C``-prefixed invoice numbers that do not name the invoice
they cancel. Everything is vectorized polars; money stays decimal.

Mapping (see docs/realdata.md):

* a row of an ordinary invoice -> one ``invoice_lines`` row: quantity and unit
  price as given, amount = quantity x unit price rounded half away from zero
  to the currency (GBP), no discount, no tax (the source shows none); the
  line's service day is the invoice date. Non-product codes (POST, M, D, DOT,
  BANK CHARGES...) stay lines, marked ``line_kind = non-product``.
* one ``invoices`` row per invoice number: issue date = the invoice date,
  period = its calendar month, due on the issue date (terms 0), subtotal and
  total = the sum of its lines, status ``open`` (the source records no
  payments), or ``paid`` when the total is 0.
* the rows of a ``C`` invoice -> one ``credit_notes`` row: amount = minus the
  sum of its line amounts. The source names no original invoice, so its
  ``invoice_id`` is the cancellation's own number; verification reports it
  as an orphan reference, which is what it is.
* a missing CustomerID -> the placeholder customer ``NO-CUSTOMER-ID``.
  A customer's country is its most frequent country (as ISO alpha-2; ``ZZ``
  where the source names none, e.g. "Unspecified", "European Community").
* skipped, each counted with its reason: rows without a usable invoice
  number, quantity, price or date, negative prices (bad-debt adjustments),
  negative quantities on ordinary invoices (stock adjustments) and positive
  quantities on cancellations.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from billing_lib.core.money import DECIMAL, number_text, round_money, to_text
from billing_lib.data.importers.base import (
    PLACEHOLDER_COUNTRY,
    ImportResult,
    ImportSourceError,
    as_text,
    placeholder_config,
    read_source_csv,
)

NO_CUSTOMER = "NO-CUSTOMER-ID"
CURRENCY = "GBP"
HEADERS = {  # both header variants -> our working names
    "InvoiceNo": "invoice", "Invoice": "invoice", "StockCode": "stock_code", "Description": "description",
    "Quantity": "quantity", "InvoiceDate": "invoice_date", "UnitPrice": "unit_price", "Price": "unit_price",
    "CustomerID": "customer", "Customer ID": "customer", "Country": "country_name",
}
# The source's own country spellings; names that are no single country map to ZZ.
COUNTRIES = {
    "Australia": "AU", "Austria": "AT", "Bahrain": "BH", "Belgium": "BE", "Bermuda": "BM", "Brazil": "BR",
    "Canada": "CA", "Channel Islands": "ZZ", "Cyprus": "CY", "Czech Republic": "CZ", "Denmark": "DK",
    "EIRE": "IE", "European Community": "ZZ", "Finland": "FI", "France": "FR", "Germany": "DE", "Greece": "GR",
    "Hong Kong": "HK", "Iceland": "IS", "Israel": "IL", "Italy": "IT", "Japan": "JP", "Korea": "KR",
    "Lebanon": "LB", "Lithuania": "LT", "Malta": "MT", "Netherlands": "NL", "Nigeria": "NG", "Norway": "NO",
    "Poland": "PL", "Portugal": "PT", "RSA": "ZA", "Saudi Arabia": "SA", "Singapore": "SG", "Spain": "ES",
    "Sweden": "SE", "Switzerland": "CH", "Thailand": "TH", "USA": "US", "United Arab Emirates": "AE",
    "United Kingdom": "GB", "Unspecified": "ZZ", "West Indies": "ZZ",
}
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)$"


def read_online_retail(path: str | Path) -> pl.DataFrame:
    """The CSV as text columns under our working names, with ``source_row`` (header = row 1)."""
    path = Path(path)
    raw = read_source_csv(path, "Online Retail")
    missing = sorted({v for v in HEADERS.values()} - {HEADERS[c] for c in raw.columns if c in HEADERS})
    if missing:
        raise ImportSourceError(f"{path}: not an Online Retail file: no column for {', '.join(missing)} "
                                f"(columns found: {', '.join(raw.columns)})")
    named = raw.select([pl.col(c).alias(HEADERS[c]) for c in raw.columns if c in HEADERS])
    return named.with_row_index("source_row", offset=2)


def _timestamp(text: pl.Expr) -> pl.Expr:
    """The three date shapes of the source; each is told apart by its separators, never guessed."""
    return (pl.when(text.str.contains(r"^\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}:\d{2}$"))
            .then(text.str.replace("T", " ").str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False))
            .when(text.str.contains(r"^\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}$"))
            .then(text.str.replace("T", " ").str.to_datetime("%Y-%m-%d %H:%M", strict=False))
            .when(text.str.contains(r"^\d{1,2}-\d{1,2}-\d{2} \d{1,2}:\d{2}$"))
            .then(text.str.to_datetime("%d-%m-%y %H:%M", strict=False))
            .when(text.str.contains(r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}$"))
            .then(text.str.to_datetime("%m/%d/%Y %H:%M", strict=False)))


def parse_rows(raw: pl.DataFrame) -> pl.DataFrame:
    """Typed rows: decimal quantity and price, timestamp, normalised customer, and ``skip`` (reason or null)."""
    text = {c: pl.col(c).str.strip_chars().replace("", None)
            for c in ("invoice", "stock_code", "quantity", "invoice_date", "unit_price", "customer", "country_name")}
    df = raw.with_columns(**text).with_columns(
        qty=pl.when(pl.col("quantity").str.contains(_NUMBER)).then(pl.col("quantity")).cast(DECIMAL, strict=False),
        price=pl.when(pl.col("unit_price").str.contains(_NUMBER)).then(pl.col("unit_price"))
        .cast(DECIMAL, strict=False),
        ts=_timestamp(pl.col("invoice_date")),
        customer=pl.when(pl.col("customer").is_in(["NA", "NaN", "nan", "N/A"])).then(None)
        .otherwise(pl.col("customer").str.replace(r"\.0+$", "")),
        cancel=pl.col("invoice").str.starts_with("C").fill_null(False),
    )
    skip = (pl.when(pl.col("invoice").is_null()).then(pl.lit("no invoice number"))
            .when(pl.col("qty").is_null()).then(pl.lit("quantity is not a number"))
            .when(pl.col("price").is_null()).then(pl.lit("unit price is not a number"))
            .when(pl.col("ts").is_null()).then(pl.lit("invoice date not recognised"))
            .when(pl.col("price") < 0).then(pl.lit("negative unit price (bad-debt adjustment)"))
            .when(pl.col("cancel") & (pl.col("qty") > 0)).then(pl.lit("positive quantity on a cancellation"))
            .when(~pl.col("cancel") & (pl.col("qty") < 0))
            .then(pl.lit("negative quantity on an ordinary invoice (stock adjustment)")))
    return df.with_columns(skip=skip, amount=round_money(pl.col("qty") * pl.col("price"), pl.lit(CURRENCY)),
                           customer_id=pl.col("customer").fill_null(NO_CUSTOMER), day=pl.col("ts").dt.date())


def _lines(rows: pl.DataFrame) -> pl.DataFrame:
    cur = pl.lit(CURRENCY)
    lines = rows.filter(~pl.col("cancel")).sort("invoice", "source_row").with_columns(
        line_no=pl.int_range(1, pl.len() + 1).over("invoice"))
    return as_text(lines.select(
        invoice_id="invoice", line_no="line_no", description="description",
        period_start=pl.col("day").dt.to_string("%Y-%m-%d"), period_end=pl.col("day").dt.to_string("%Y-%m-%d"),
        quantity=number_text(pl.col("qty")), unit_price=number_text(pl.col("price")),
        amount=to_text(pl.col("amount"), cur), discount=to_text(pl.lit(0).cast(DECIMAL), cur),
        tax_rate_pct=pl.lit("0"), tax_amount=to_text(pl.lit(0).cast(DECIMAL), cur), stock_code="stock_code",
        line_kind=pl.when(pl.col("stock_code").str.contains(r"^\d{5}[A-Za-z]*$")).then(pl.lit("product"))
        .otherwise(pl.lit("non-product")),
        invoice_time=pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S"), source_row="source_row"), "invoice_lines")


def _documents(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per invoice number: its customer (first row's), date, country and summed amount."""
    return (rows.sort("source_row").group_by("invoice", maintain_order=True)
            .agg(pl.col("customer_id").first(), pl.col("customer_id").n_unique().alias("customers"),
                 pl.col("ts").min(), pl.col("country_name").first(), pl.col("amount").sum(),
                 pl.col("cancel").first(), pl.len().alias("rows"))
            .with_columns(day=pl.col("ts").dt.date()).sort("invoice"))


def _invoices(docs: pl.DataFrame) -> pl.DataFrame:
    cur = pl.lit(CURRENCY)
    day = pl.col("day").dt.to_string("%Y-%m-%d")
    return as_text(docs.filter(~pl.col("cancel")).select(
        invoice_id="invoice", customer_id="customer_id", currency=cur, issue_date=day, due_date=day,
        period_start=pl.col("day").dt.month_start().dt.to_string("%Y-%m-%d"),
        period_end=pl.col("day").dt.month_end().dt.to_string("%Y-%m-%d"),
        subtotal=to_text(pl.col("amount"), cur), discount=to_text(pl.lit(0).cast(DECIMAL), cur),
        tax=to_text(pl.lit(0).cast(DECIMAL), cur), total=to_text(pl.col("amount"), cur),
        status=pl.when(pl.col("amount") <= 0).then(pl.lit("paid")).otherwise(pl.lit("open")),
        country_name="country_name", invoice_time=pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S")), "invoices")


def _credit_notes(docs: pl.DataFrame) -> pl.DataFrame:
    cur = pl.lit(CURRENCY)
    return as_text(docs.filter(pl.col("cancel")).select(
        credit_note_id="invoice", invoice_id="invoice", issue_date=pl.col("day").dt.to_string("%Y-%m-%d"),
        amount=to_text(-pl.col("amount"), cur), tax=to_text(pl.lit(0).cast(DECIMAL), cur),
        reason=pl.format("cancellation ({} source rows); the source names no original invoice", pl.col("rows")),
        customer_id="customer_id", currency=cur), "credit_notes")


def _customers(rows: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Customers with their most frequent country (ties: alphabetical), and how many had several."""
    counts = (rows.group_by("customer_id", "country_name").len()
              .sort(["customer_id", "len", "country_name"], descending=[False, True, False], nulls_last=True))
    several = counts.group_by("customer_id").len().filter(pl.col("len") > 1).height
    first = counts.group_by("customer_id", maintain_order=True).first()
    known = pl.col("customer_id") != NO_CUSTOMER
    frame = first.select(
        customer_id="customer_id",
        name=pl.when(known).then(None).otherwise(pl.lit("Unknown customer (rows without a CustomerID)")),
        country=pl.when(known).then(pl.col("country_name").replace_strict(COUNTRIES, default=PLACEHOLDER_COUNTRY)
                                .fill_null(PLACEHOLDER_COUNTRY))
        .otherwise(pl.lit(PLACEHOLDER_COUNTRY)),
        currency=pl.lit(CURRENCY), payment_terms_days=pl.lit("0"), tax_exempt=pl.lit("false"),
        country_name=pl.when(known).then(pl.col("country_name")).otherwise(pl.lit("(various)")))
    return as_text(frame.sort("customer_id"), "customers"), several


def import_online_retail(path: str | Path) -> ImportResult:
    """Map one UCI Online Retail CSV (either header variant) to contract tables with row accounting."""
    raw = read_online_retail(path)
    rows = parse_rows(raw)
    ok = rows.filter(pl.col("skip").is_null())
    if ok.height == 0:
        raise ImportSourceError(f"{path}: no row could be mapped")
    docs = _documents(ok)
    customers, several = _customers(ok)
    cancel_rows = ok.filter(pl.col("cancel")).height
    mapped = {"invoice_lines": ok.height - cancel_rows, "credit_notes (cancellation rows)": cancel_rows}
    skipped = {r["skip"]: r["len"] for r in rows.filter(pl.col("skip").is_not_null()).group_by("skip").len()
               .iter_rows(named=True)}
    notes = _notes(ok, docs, several)
    tables = {"customers": customers, "invoices": _invoices(docs), "invoice_lines": _lines(ok),
              "credit_notes": _credit_notes(docs),
              **placeholder_config(customers, str(ok["day"].min()), CURRENCY,
                                   "the source shows no tax")}
    return ImportResult(str(path), tables, raw.height, {k: v for k, v in mapped.items() if v}, skipped, notes)


def _notes(ok: pl.DataFrame, docs: pl.DataFrame, several: int) -> list[str]:
    """What the mapping assumed or noticed, with counts."""
    notes = [f"currency taken as {CURRENCY} (the source is a UK retailer and names no currency); no tax, no payments"]
    missing = ok.filter(pl.col("customer_id") == NO_CUSTOMER).height
    if missing:
        notes.append(f"{missing} rows have no CustomerID: billed to the placeholder customer {NO_CUSTOMER}")
    conflicts = docs.filter(pl.col("customers") > 1).height
    if conflicts:
        notes.append(f"{conflicts} invoice numbers name more than one customer: the first row's customer is used")
    if several:
        notes.append(f"{several} customers appear with more than one country: the most frequent one is used")
    unknown = sorted(set(ok["country_name"].drop_nulls().to_list()) - set(COUNTRIES))
    if unknown:
        notes.append(f"country names not recognised (mapped to {PLACEHOLDER_COUNTRY}): {', '.join(unknown)}")
    cols = ["invoice", "stock_code", "description", "quantity", "unit_price", "invoice_date", "customer"]
    repeats = ok.height - ok.unique(cols).height
    if repeats:
        notes.append(f"{repeats} rows repeat an earlier row exactly (same invoice, stock code, quantity, price and "
                     "time); they are kept as lines")
    codes = (ok.filter(~pl.col("stock_code").str.contains(r"^\d{5}[A-Za-z]*$")).group_by("stock_code").len()
             .sort(["len", "stock_code"], descending=[True, False]))
    if codes.height:
        listed = ", ".join(f"{r['stock_code']} {r['len']}" for r in codes.iter_rows(named=True))
        notes.append(f"non-product codes kept as lines (line_kind non-product): {listed}")
    zero = ok.filter(pl.col("price") == 0).height
    if zero:
        notes.append(f"{zero} rows have unit price 0: kept as lines of amount 0")
    return notes
