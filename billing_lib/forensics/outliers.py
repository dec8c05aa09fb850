"""Amounts out of line with their customer: the robust z-score against the customer's own history, and
Nigrini's relative size factor.

* **Robust z-score** (Iglewicz and Hoaglin's modified z): 0.6745 x (amount - median) / MAD, where median
  and MAD (median absolute deviation) are those of the customer's amounts in the same currency over the
  whole population. When more than half of the amounts are equal the MAD is 0; the mean absolute
  deviation x 1.2533 takes its place (as IBM SPSS does). Amounts with |z| of 3.5 or more that also differ
  from the median by 10% or more are outliers (a steady customer's 648.00 against 642.60 has a huge z and
  no interest); a customer needs at least five amounts to have a history.
* **Relative size factor**: per customer and currency, the largest amount divided by the second largest.
  A factor of 10 or more says the largest is out of proportion (a misplaced decimal point, an amount
  billed to the wrong customer).

The statistics are not money: they are computed in binary floating point from the exact amounts and shown
rounded; the amounts themselves stay exact.
"""
from __future__ import annotations

from decimal import Decimal

import polars as pl

from billing_lib.core.money import DECIMAL

Z_LIMIT = 3.5
MIN_HISTORY = 5
MIN_CHANGE = 0.10  # an outlier differs from its customer's median by at least this share of it
RSF_LIMIT = Decimal(10)
_K = 0.6745          # the 0.75 quantile of the standard normal: makes the MAD comparable with a standard deviation
_MEAN_AD = 1.253314  # sqrt(pi / 2): the mean absolute deviation made comparable with a standard deviation


def robust_outliers(population: pl.DataFrame, limit: float = Z_LIMIT, min_history: int = MIN_HISTORY,
                    min_change: float = MIN_CHANGE) -> pl.DataFrame:
    """Amounts whose robust z-score against their customer's amounts (same currency) reaches ``limit`` and
    that differ from the median by ``min_change`` of it or more:
    record, customer_id, currency, date, amount, history, median, mad, robust_z; largest |z| first."""
    group = ["customer_id", "currency"]
    owned = population.filter(pl.col("customer_id").is_not_null())
    x = pl.col("amount").cast(pl.Float64)
    stats = owned.with_columns(
        history=pl.len().over(group), median=pl.col("amount").cast(pl.Float64).median().over(group))
    stats = stats.with_columns(
        mad=(x - pl.col("median")).abs().median().over(group),
        mean_ad=(x - pl.col("median")).abs().mean().over(group))
    spread = (pl.when(pl.col("mad") > 0).then(pl.col("mad") / _K)
              .otherwise(pl.col("mean_ad") * _MEAN_AD))
    scored = stats.filter(pl.col("history") >= min_history).with_columns(
        robust_z=pl.when(spread > 0).then((x - pl.col("median")) / spread).otherwise(0.0))
    material = (x - pl.col("median")).abs() >= pl.col("median").abs() * min_change
    return (scored.filter((pl.col("robust_z").abs() >= limit) & material)
            .with_columns(pl.col("robust_z").round(2), pl.col("median").round(4), pl.col("mad").round(4))
            .select("record", "customer_id", "currency", "date", "amount", "history", "median", "mad", "robust_z")
            .sort([pl.col("robust_z").abs(), "customer_id", "record"], descending=[True, False, False]))


def relative_size_factor(population: pl.DataFrame, limit: Decimal = RSF_LIMIT) -> pl.DataFrame:
    """Per customer and currency with two amounts or more: the largest, the second largest, their ratio
    (RSF, rounded to 2 decimals) and whether it reaches ``limit``; largest factor first."""
    group = ["customer_id", "currency"]
    ranked = (population.filter(pl.col("customer_id").is_not_null())
              .sort(["amount", "record"], descending=[True, False])
              .group_by(group, maintain_order=True)
              .agg(pl.len().alias("amounts"), pl.col("record").first().alias("largest_record"),
                   pl.col("amount").first().alias("largest"), pl.col("amount").get(1, null_on_oob=True)
                   .alias("second")))
    ranked = ranked.filter((pl.col("amounts") >= 2) & (pl.col("second") > 0))
    rsf = (pl.col("largest").cast(DECIMAL) / pl.col("second").cast(DECIMAL)).round(2, mode="half_away_from_zero")
    lim = pl.lit(str(limit)).cast(DECIMAL)
    return (ranked.with_columns(rsf=rsf).with_columns(flagged=pl.col("rsf") >= lim)
            .sort(["rsf", "customer_id", "currency"], descending=[True, False, False]))
