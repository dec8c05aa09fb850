"""The amounts the forensic tests look at: one money column of one table, each row located, dated and owned.

The default is the total of every invoice that is not void, in its own currency (``invoices.total``);
``TABLE.COLUMN`` names another decimal column of a billing document or of usage. Each row keeps a
``record`` (its key as text: ``INV-0000123``, ``INV-0000123/2`` for a line), its ``customer_id`` and
``currency`` where the table (or its invoice) has them, the ``date`` that places it in a month and the
``amount`` as an exact decimal. :class:`Population` also accounts for every row of the table: the
rows kept, and those left out because their invoice is void, they fall outside the months asked
for or their amount is empty.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl

from billing_lib.core.money import DECIMAL
from billing_lib.core.periods import parse_period
from billing_lib.data.contract import TABLES
from billing_lib.data.dataset import Dataset
from billing_lib.errors import ParameterError
from billing_lib.forensics.defaults import DEFAULT_AMOUNTS

COLUMNS = ("record", "customer_id", "currency", "date", "amount")


@dataclass(frozen=True)
class Source:
    """How a table's rows are located (key), dated, and tied to a customer and currency."""

    key: tuple[str, ...]
    date: str                       # the column that dates a row (from the invoice when ``via_invoice``)
    via_invoice: bool = False       # customer, currency, status and date come from the row's invoice
    via_subscription: bool = False  # customer comes from the row's subscription (usage)


SOURCES = {
    "invoices": Source(("invoice_id",), "period_start"),
    "invoice_lines": Source(("invoice_id", "line_no"), "period_start", via_invoice=True),
    "credit_notes": Source(("credit_note_id",), "issue_date", via_invoice=True),
    "payments": Source(("payment_id",), "received_date"),
    "usage": Source(("event_id",), "event_time", via_subscription=True),
    "gl_entries": Source(("entry_id", "line_no"), "date"),
}


@dataclass(frozen=True)
class Population:
    """The rows of one amount column kept for the tests, and what happened to every other row."""

    source: str                 # "invoices.total"
    months: tuple[dt.date, ...]  # the months kept (first days); empty: every month
    frame: pl.DataFrame         # COLUMNS, sorted by record
    accounted: dict[str, int] = field(default_factory=dict)  # rows read, kept, and left out per reason

    @property
    def span(self) -> str:
        """The months in words: "2024-06", "2024-01 to 2024-06" or "every month"."""
        if not self.months:
            return "every month"
        first, last = min(self.months), max(self.months)
        name = f"{first:%Y-%m}"
        return name if first == last else f"{name} to {last:%Y-%m}"

    def tested(self, min_amount: Decimal) -> pl.DataFrame:
        """The rows whose absolute amount is at least ``min_amount`` (and never zero): the digit tests' data."""
        limit = pl.lit(str(min_amount)).cast(DECIMAL)
        return self.frame.filter((pl.col("amount").abs() >= limit) & (pl.col("amount") != 0))


def amount_choices() -> list[str]:
    """Every ``TABLE.COLUMN`` the tests can take: the decimal columns of the tables in :data:`SOURCES`."""
    return [f"{t}.{c.name}" for t in SOURCES for c in TABLES[t].columns if c.kind == "decimal"]


def parse_amounts(spec: str) -> tuple[str, str]:
    """(table, column) of ``TABLE.COLUMN``; ParameterError naming the choices when it is not one."""
    choices = amount_choices()
    if not isinstance(spec, str) or spec not in choices:
        raise ParameterError(f"--amounts {spec!r} is not a decimal column the forensic tests can take; "
                             f"choose one of: {', '.join(choices)}")
    table, column = spec.split(".", 1)
    return table, column


def months_ending(period: str | None, months: int) -> tuple[dt.date, ...]:
    """The ``months`` months ending with ``period`` (first days), or () for every month."""
    if period is None:
        return ()
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise ParameterError(f"months must be a whole number 1 or more, not {months!r}")
    last = parse_period(period)
    index = last.year * 12 + last.month - 1
    return tuple(dt.date((index - k) // 12, (index - k) % 12 + 1, 1) for k in range(months - 1, -1, -1))


def _located(ds: Dataset, table: str, column: str) -> pl.DataFrame:
    """Every row of the table with record, customer_id, currency, date, amount and whether it is void."""
    src = SOURCES[table]
    frame = ds.frame(table).collect()
    record = (pl.col(src.key[0]) if len(src.key) == 1 else
              pl.concat_str([pl.col(k).cast(pl.String) for k in src.key], separator="/"))
    out = frame.with_columns(record.alias("record"), pl.col(column).cast(DECIMAL).alias("amount"))
    if src.via_invoice:
        inv = ds.frame("invoices").select(
            "invoice_id", pl.col("customer_id"), pl.col("currency"), pl.col("status"),
            pl.col("period_start").alias("__invoice_date")).collect()
        own = [c for c in ("customer_id", "currency") if c in out.columns]  # an importer may add them
        out = (out.drop([c for c in ("status",) if c in out.columns]).rename({c: f"__own_{c}" for c in own})
               .join(inv, on="invoice_id", how="left")
               .with_columns(pl.coalesce(f"__own_{c}", c).alias(c) for c in own))
        lines = table == "invoice_lines"  # a line is dated by its invoice and void with it; a credit note is not
        date = pl.col("__invoice_date") if lines else pl.col(src.date)
        void = (pl.col("status") == "void") if lines else pl.lit(False)
    elif src.via_subscription:
        subs = ds.frame("subscriptions").select("subscription_id", "customer_id").collect()
        out = out.join(subs, on="subscription_id", how="left").with_columns(currency=pl.lit(None, pl.String))
        date, void = pl.col(src.date).dt.date(), pl.lit(False)
    else:
        void = pl.col("status") == "void" if table == "invoices" else pl.lit(False)
        date = pl.col(src.date)
        if "customer_id" not in out.columns:
            out = out.with_columns(customer_id=pl.lit(None, pl.String))
    return out.select("record", "customer_id", "currency", date.cast(pl.Date).alias("date"), "amount",
                      void.fill_null(False).alias("void"))


def load_population(ds: Dataset, amounts: str = DEFAULT_AMOUNTS, months: tuple[dt.date, ...] = ()) -> Population:
    """The rows of ``amounts`` (``TABLE.COLUMN``) in ``months`` (every month when empty), void ones left out."""
    table, column = parse_amounts(amounts)
    rows = _located(ds, table, column)
    void = rows.filter(pl.col("void"))
    live = rows.filter(~pl.col("void"))
    if months:
        in_months = pl.col("date").dt.month_start().is_in(pl.Series(list(months), dtype=pl.Date).implode())
        outside, inside = live.filter(~in_months.fill_null(False)), live.filter(in_months.fill_null(False))
    else:
        outside, inside = live.clear(), live
    empty = inside.filter(pl.col("amount").is_null())
    kept = inside.filter(pl.col("amount").is_not_null()).select(COLUMNS).sort("record")
    accounted = {"rows": rows.height, "kept": kept.height, "void": void.height, "outside_months": outside.height,
                 "empty_amount": empty.height}
    return Population(amounts, tuple(sorted(months)), kept, accounted)
