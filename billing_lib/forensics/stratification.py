"""Stratification: how the population's amounts and money spread over value bands, per currency (as IDEA and
ACL's STRATIFY do).

Bands are given by their lower bounds (``0, 10, 100, 1000, 10000, 100000`` by default, each band holding
the amounts from its bound up to the next one, the next bound excluded); negative amounts form a band of
their own below them. Per band: the count of amounts, their sum, and the shares of the currency's count
and of its money (absolute amounts, so credits do not cancel sales), in % to 2 decimals. Sums stay
exact decimals.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

import polars as pl

from billing_lib.core.money import DECIMAL
from billing_lib.errors import ParameterError
from billing_lib.forensics.defaults import DEFAULT_BOUNDS


def parse_bounds(text: str) -> tuple[Decimal, ...]:
    """Band bounds from ``"0,100,1000"``: increasing decimals, the first at least 0; ParameterError otherwise."""
    try:
        bounds = tuple(Decimal(part.strip()) for part in str(text).split(","))
    except InvalidOperation:
        raise ParameterError(f"--bands {text!r} is not a list of numbers such as 0,100,1000,10000") from None
    if not bounds or bounds[0] < 0 or any(b <= a for a, b in zip(bounds, bounds[1:], strict=False)) \
            or not all(b.is_finite() for b in bounds):
        raise ParameterError(f"--bands {text!r}: bounds must start at 0 or more and increase, e.g. 0,100,1000")
    return bounds


def _label(lower: Decimal | None, upper: Decimal | None) -> str:
    if lower is None:
        return f"below {upper:,}"
    return f"{lower:,} and over" if upper is None else f"{lower:,} to under {upper:,}"


def stratify(population: pl.DataFrame, bounds: tuple[Decimal, ...] = DEFAULT_BOUNDS) -> pl.DataFrame:
    """currency, band (its number: 0 for amounts below the first bound), label, lower, upper, count, amount,
    count_share and amount_share (in %, 2 decimals); every band of every currency, empty ones included."""
    edges: list[tuple[int, Decimal | None, Decimal | None]] = [(0, None, bounds[0])]
    edges += [(k + 1, b, bounds[k + 1] if k + 1 < len(bounds) else None) for k, b in enumerate(bounds)]
    band = pl.lit(0)
    for number, lower, _ in edges[1:]:
        band = pl.when(pl.col("amount") >= pl.lit(str(lower)).cast(DECIMAL)).then(pl.lit(number)).otherwise(band)
    banded = population.with_columns(band=band.cast(pl.Int64), currency=pl.col("currency").fill_null(""))
    sums = banded.group_by("currency", "band").agg(
        pl.len().cast(pl.Int64).alias("count"), pl.col("amount").sum().alias("amount"),
        pl.col("amount").abs().sum().alias("__abs"))
    grid = pl.DataFrame([(n, _label(lo, up), lo, up) for n, lo, up in edges],
                        schema={"band": pl.Int64, "label": pl.String, "lower": DECIMAL, "upper": DECIMAL},
                        orient="row")
    currencies = banded.select("currency").unique()
    out = (currencies.join(grid, how="cross").join(sums, on=["currency", "band"], how="left")
           .with_columns(pl.col("count").fill_null(0), pl.col("amount").fill_null(0).cast(DECIMAL),
                         pl.col("__abs").fill_null(0).cast(DECIMAL)))
    count_total = pl.col("count").sum().over("currency")
    money_total = pl.col("__abs").sum().over("currency")
    share = 100 * pl.col("count") / count_total  # shares are statistics: floats, shown to 2 decimals
    money = 100 * pl.col("__abs").cast(pl.Float64) / money_total.cast(pl.Float64)
    out = out.with_columns(count_share=pl.when(count_total > 0).then(share).otherwise(0.0).round(2),
                           amount_share=pl.when(money_total > 0).then(money).otherwise(0.0).round(2))
    return (out.drop("__abs").with_columns(pl.col("currency").replace("", None))
            .sort("currency", "band", nulls_last=True))
