"""Billing periods: calendar months named ``YYYY-MM``."""
from __future__ import annotations

import datetime as dt
import re

import polars as pl

from billing_lib.errors import ParameterError

FIRST_YEAR, LAST_YEAR = 1900, 2999  # the billing months a period may name
_PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_period(text: str) -> dt.date:
    """The first day of the month ``YYYY-MM``; ParameterError if malformed."""
    m = _PERIOD_RE.match(str(text).strip())
    if not m:
        raise ParameterError(f"period {text!r} is not a month as YYYY-MM (for example 2024-03)")
    year = int(m.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:  # a typo; far years would also overflow date arithmetic
        raise ParameterError(f"period {text!r} is outside the years {FIRST_YEAR} to {LAST_YEAR}: check the year")
    return dt.date(year, int(m.group(2)), 1)


def period_name(month_start: dt.date) -> str:
    """``YYYY-MM`` of a date."""
    return f"{month_start.year:04d}-{month_start.month:02d}"


def month_end(month_start: dt.date) -> dt.date:
    """The last day of the month that ``month_start`` lies in."""
    nxt = dt.date(month_start.year + month_start.month // 12, month_start.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def month_bounds(period: str | dt.date) -> tuple[dt.date, dt.date]:
    """(first day, last day) of a period given as ``YYYY-MM`` or as any date in the month."""
    start = parse_period(period) if isinstance(period, str) else period.replace(day=1)
    return start, month_end(start)


def next_month(month_start: dt.date) -> dt.date:
    """The first day of the following month."""
    return month_end(month_start) + dt.timedelta(days=1)


def month_before(month_start: dt.date) -> dt.date:
    """The first day of the month before ``month_start``'s."""
    return (month_start.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def month_range(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every month start from ``first``'s month to ``last``'s month, inclusive."""
    out, cur = [], first.replace(day=1)
    while cur <= last:
        out.append(cur)
        cur = next_month(cur)
    return out


def periods_frame(months: list[dt.date]) -> pl.LazyFrame:
    """One row per month: period (month start), period_end, days_in_month, issue_date (first of next month)."""
    starts = sorted(set(months))
    return pl.LazyFrame({"period": starts}, schema={"period": pl.Date}).with_columns(
        period_end=pl.col("period").dt.month_end(),
        days_in_month=pl.col("period").dt.days_in_month().cast(pl.Int64),
        issue_date=pl.col("period").dt.offset_by("1mo"),
    )


def month_diff(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    """Whole calendar months from ``earlier``'s month to ``later``'s month."""
    return (later.dt.year().cast(pl.Int64) * 12 + later.dt.month().cast(pl.Int64)) - (
        earlier.dt.year().cast(pl.Int64) * 12 + earlier.dt.month().cast(pl.Int64))
