"""What every importer returns, and how an import is written as a dataset folder.

An importer reads one foreign source (an API's JSON, a public CSV) and returns
an :class:`ImportResult`: the contract tables as text frames (money as decimal
text, dates as ``YYYY-MM-DD``) and an account of the source rows, each either
mapped to a table or counted as skipped with its reason. ``write_import``
writes the tables atomically, checks that the folder loads under the data
contract, and leaves a ``import_report.json`` beside the tables.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import polars as pl

from billing_lib.core.currency import minor_digits
from billing_lib.core.output import atomic_outputs
from billing_lib.data.contract import FILE_SUFFIXES, TABLES, UNKNOWN_COUNTRY
from billing_lib.data.value_size import oversized_value
from billing_lib.errors import BillingInputError

REPORT_FILE = "import_report.json"
PLACEHOLDER_PLAN = "IMPORTED-NOT-RATED"
PLACEHOLDER_SUBSCRIPTION = "IMPORTED-NOT-RATED"
PLACEHOLDER_COUNTRY = UNKNOWN_COUNTRY  # ISO 3166 user-assigned code, used for "country unknown"


class ImportSourceError(BillingInputError):
    """The source cannot be read or is not in the format the importer expects."""


@dataclass
class ImportResult:
    """Contract tables built from a source, and where every source row went."""

    source: str
    tables: dict[str, pl.DataFrame]
    rows_read: int
    mapped: dict[str, int] = field(default_factory=dict)    # source rows per destination table
    skipped: dict[str, int] = field(default_factory=dict)   # source rows per reason they were left out
    notes: list[str] = field(default_factory=list)          # what the importer assumed or noticed

    @property
    def accounted(self) -> bool:
        """True when every source row is either mapped or counted as skipped."""
        return sum(self.mapped.values()) + sum(self.skipped.values()) == self.rows_read

    def report(self) -> dict:
        """The row accounting as plain data (what ``import_report.json`` holds)."""
        return {"source": self.source, "rows_read": self.rows_read, "mapped": dict(sorted(self.mapped.items())),
                "skipped": dict(sorted(self.skipped.items())), "accounted": self.accounted,
                "tables": {name: frame.height for name, frame in sorted(self.tables.items())},
                "notes": self.notes}

    def summary(self) -> str:
        """One paragraph for the command line."""
        tables = ", ".join(f"{n} {t}" for t, n in self.report()["tables"].items())
        skipped = sum(self.skipped.values())
        why = "; ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return (f"{self.rows_read} source rows: {self.rows_read - skipped} mapped, {skipped} skipped"
                + (f" ({why})" if why else "") + f". Tables: {tables}.")


def read_source_csv(path: str | Path, what: str) -> pl.DataFrame:
    """A source CSV as text columns with clean header names; ImportSourceError naming ``what`` when unusable."""
    path = Path(path)
    if not path.is_file():
        raise ImportSourceError(f"{what} source {str(path)!r} is not a file (give the CSV file)")
    huge = oversized_value(path)
    if huge is not None:
        raise ImportSourceError(f"{path}, row {huge.row}" + (f", column {huge.column!r}" if huge.column else "")
                                + f": {huge.message}")
    try:
        raw = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy", raise_if_empty=True)
    except (Exception, pl.exceptions.PanicException) as exc:  # polars raises several kinds for an unreadable CSV
        reason = str(exc).strip().splitlines()
        raise ImportSourceError(f"{path}: cannot be read as CSV: {reason[0] if reason else type(exc).__name__}") \
            from None
    names = [c.strip().lstrip("\ufeff").strip() for c in raw.columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ImportSourceError(f"{path}, row 1: the header names {', '.join(repr(n) for n in twice)} more than "
                                "once (after blanks are trimmed): each column needs its own name")
    return raw.rename(dict(zip(raw.columns, names, strict=True)))


def cents_to_text(cents: object, currency: str) -> str:
    """Integer minor units (Lago's ``*_amount_cents``) as exact decimal text in ``currency`` (100 EUR -> "1.00")."""
    if isinstance(cents, bool) or not isinstance(cents, (int, str, Decimal)):
        raise ValueError(f"{cents!r} is not a whole number of minor units")
    try:
        value = Decimal(str(cents).strip())
    except ArithmeticError:
        raise ValueError(f"{cents!r} is not a whole number of minor units") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"{cents!r} is not a whole number of minor units")
    return f"{value.quantize(Decimal(1)).scaleb(-minor_digits(currency)):f}"


def text_frame(rows: list[dict], table: str, extra: tuple[str, ...] = ()) -> pl.DataFrame:
    """Rows as an all-text frame with the contract's columns of ``table`` (in order) and ``extra`` columns."""
    names = [*TABLES[table].names, *extra]
    data = {n: [None if r.get(n) is None else str(r[n]) for r in rows] for n in names}
    return pl.DataFrame(data, schema={n: pl.String for n in names})


def as_text(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """``frame`` with the contract columns of ``table`` first (missing ones empty), every column as text."""
    names = TABLES[table].names
    extra = [c for c in frame.columns if c not in names]
    frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(n) for n in names if n not in frame.columns)
    return frame.select([pl.col(c).cast(pl.String) for c in [*names, *extra]])


def placeholder_config(customers: pl.DataFrame, start_date: str, currency: str, tax_note: str,
                       rates: dict[str, str] | None = None) -> dict[str, pl.DataFrame]:
    """Minimal plans, subscriptions and tax_rates so an imported folder loads.

    Sources without subscriptions get one plan (priced in ``currency`` and in
    every customer currency) and one subscription that cost nothing (a flat
    plan at 0, one day long): the rating engine expects no charge from them,
    so they add no findings. ``tax_rates`` holds the ``rates`` the source
    states (country -> percent) and rate 0 for the unknown country ZZ; a
    source that states no rates at all (``rates`` None: it shows no tax) gets
    rate 0 for every customer's country, with ``tax_note`` saying so. A country
    left without a row has no known rate: ``tax_mismatch`` reports its lines
    (``tax_rate_missing``) instead of taking 0 %.
    """
    first_customer = customers["customer_id"].sort()[0]
    currencies = sorted(set(customers["currency"].to_list()) | {currency})
    plans = text_frame([{"plan_id": PLACEHOLDER_PLAN, "currency": cur, "billing": "recurring",
                         "interval": "month", "charge_model": "flat", "unit_price": "0",
                         "product": "placeholder: imported documents are not rated from a contract"}
                        for cur in currencies], "plans")
    subs = text_frame([{"subscription_id": PLACEHOLDER_SUBSCRIPTION, "customer_id": first_customer,
                        "plan_id": PLACEHOLDER_PLAN, "quantity": "1", "start_date": start_date,
                        "end_date": start_date}], "subscriptions")
    shown_none = {} if rates is not None else {c: "0" for c in customers["country"].drop_nulls().to_list()}
    known = {PLACEHOLDER_COUNTRY: "0", **shown_none, **(rates or {})}
    taxes = text_frame([{"country": c, "valid_from": "1970-01-01", "rate_pct": r,
                         "note": tax_note if c != PLACEHOLDER_COUNTRY else "unknown country: no tax"}
                        for c, r in sorted(known.items())], "tax_rates", extra=("note",))
    return {"plans": plans, "subscriptions": subs, "tax_rates": taxes}


def write_import(result: ImportResult, out_dir: str | Path) -> list[Path]:
    """Write the tables as CSV and ``import_report.json`` into ``out_dir`` atomically.

    The staged folder is loaded with :func:`billing_lib.data.loading.load_dataset`
    before anything is replaced, so a folder that would not load is never
    written. Contract tables of an earlier run that this import does not hold
    (or holds in another format) are removed afterwards, so the folder is
    exactly the imported dataset.
    """
    from billing_lib.data.loading import load_dataset
    out = Path(out_dir)
    names = []
    with atomic_outputs(out) as stage:
        for name, frame in sorted(result.tables.items()):
            frame.write_csv(stage / f"{name}.csv", line_terminator="\n")
            names.append(f"{name}.csv")
        (stage / REPORT_FILE).write_text(json.dumps(result.report(), indent=2) + "\n", encoding="utf-8")
        load_dataset(stage)
    for name in TABLES:
        for suffix in FILE_SUFFIXES:
            path = out / f"{name}{suffix}"
            if path.name not in names and path.is_file():
                path.unlink()
    return [out / n for n in [*names, REPORT_FILE]]
