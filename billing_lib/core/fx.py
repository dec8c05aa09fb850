"""Converting amounts to the base currency with the dataset's ``fx_rates``.

One unit of ``currency`` is worth ``rate_to_base`` units of the base currency;
the latest rate on or before the amount's date applies (DATA_CONTRACT.md,
``fx_rates``). The base currency converts at 1 whatever the table holds. An
amount without a usable rate stays unconverted (null), never guessed.
Arithmetic stays in polars Decimal.
"""
from __future__ import annotations

import polars as pl

from billing_lib.core.currency import is_currency
from billing_lib.core.money import DECIMAL, round_money
from billing_lib.data.dataset import Dataset
from billing_lib.errors import ParameterError

RATE = "rate_to_base"


def check_base_currency(code: str) -> str:
    """``code`` if it is an ISO 4217 currency; ParameterError otherwise."""
    if not isinstance(code, str) or not is_currency(code):
        raise ParameterError(f"base currency {code!r} is not an ISO 4217 currency code (for example EUR)")
    return code


def rates(ds: Dataset) -> pl.DataFrame:
    """The dataset's exchange rates (date, currency, rate_to_base), sorted by date; empty when absent."""
    return ds.frame("fx_rates").select("date", "currency", RATE).sort("date", "currency").collect()


def with_base_amount(frame: pl.DataFrame, fx: pl.DataFrame, base_currency: str, *, amount: str, currency: str,
                     on: str, out: str) -> pl.DataFrame:
    """Add ``rate_to_base`` and ``out`` (``amount`` in the base currency, full precision) to ``frame``.

    ``on`` is a Date column: the rate in force on that day is used; a row with
    no date takes the latest rate known. Rows keep their order.
    """
    check_base_currency(base_currency)
    idx = "__fx_row"
    left = frame.with_row_index(idx)
    dated = left.filter(pl.col(on).is_not_null()).sort(on)
    table = fx.sort("date").rename({"currency": "__fx_currency", "date": "__fx_date"})
    joined = dated.join_asof(table, left_on=on, right_on="__fx_date", by_left=currency, by_right="__fx_currency",
                             strategy="backward", check_sortedness=False).drop("__fx_date")
    latest = fx.sort("date").group_by("currency", maintain_order=True).last().select(
        pl.col("currency").alias(currency), pl.col(RATE))
    undated = left.filter(pl.col(on).is_null()).join(latest, on=currency, how="left")
    both = pl.concat([joined.select([*left.columns, RATE]), undated.select([*left.columns, RATE])],
                     how="vertical").sort(idx)
    rate = pl.when(pl.col(currency) == base_currency).then(pl.lit(1).cast(DECIMAL)).otherwise(pl.col(RATE))
    both = both.with_columns(rate.cast(DECIMAL).alias(RATE))
    return both.with_columns((pl.col(amount) * pl.col(RATE)).cast(DECIMAL).alias(out)).drop(idx)


def round_base(expr: pl.Expr, base_currency: str) -> pl.Expr:
    """Round an amount in the base currency to its minor unit (half away from zero)."""
    return round_money(expr, pl.lit(base_currency))
