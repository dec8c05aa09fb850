"""Whether a dataset can speak for a month: activity in the month, and exchange rates recent enough.

A scheduled run fed the wrong folder (last year's export, the bundled sample) must not publish a verdict
about a month its data never saw: the monthly run asks these questions before any workbook executes.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from billing_lib.data.dataset import Dataset

DEFAULT_FX_MAX_AGE_DAYS = 45  # the newest exchange rate may be at most this many days older than the month's end


def _dates(ds: Dataset) -> list[pl.LazyFrame]:
    """Every dated record of the activity tables as one ``day`` column each."""
    return [
        ds.frame("usage").select(pl.col("event_time").dt.date().alias("day")),
        ds.frame("invoices").select(pl.col("issue_date").alias("day")),
        ds.frame("invoices").select(pl.col("period_end").alias("day")),
        ds.frame("payments").select(pl.col("received_date").alias("day")),
        ds.frame("credit_notes").select(pl.col("issue_date").alias("day")),
    ]


def month_without_activity(ds: Dataset, start: dt.date, end: dt.date) -> str | None:
    """Why the data says nothing about the month ``start``..``end``, or None when it has any usage event,
    invoice (issued, or covering days of the month), payment or credit note dated in it."""
    days = pl.concat(_dates(ds)).drop_nulls()
    invoices = ds.frame("invoices").filter((pl.col("period_start") <= end) & (pl.col("period_end") >= start))
    found = pl.collect_all([days.filter(pl.col("day").is_between(start, end)).select(pl.len()),
                            invoices.select(pl.len()),
                            days.select(pl.col("day").min().alias("first"), pl.col("day").max().alias("last"))])
    if found[0].item() or found[1].item():
        return None
    first, last = found[2].row(0)
    held = f"its records run from {first} to {last}" if first else "it holds no dated record at all"
    return (f"the data has no usage event, invoice, payment or credit note in {start:%Y-%m} ({held}); "
            f"point data_dir at the export that holds this month")


def stale_exchange_rates(ds: Dataset, end: dt.date, max_age_days: int) -> str | None:
    """Why the exchange rates are too old to convert the month ending ``end``, or None. A dataset without
    ``fx_rates`` rows is not judged here (its reports say which amounts could not be converted)."""
    newest = ds.frame("fx_rates").select(pl.col("date").max()).collect().item()
    if newest is None or (end - newest).days <= max_age_days:
        return None
    return (f"the newest exchange rate in fx_rates is of {newest}, {(end - newest).days} days before the end of "
            f"{end:%Y-%m} (at most {max_age_days} allowed, fx_max_age_days); add the month's rates")
