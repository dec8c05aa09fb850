"""Metered usage events, drawn vectorized with numpy (no Python step per event).

Every usage subscription gets, for each billed month it overlaps (and the month
after it ends), a Poisson number of events spread uniformly over the whole
month, so some fall outside its active days (not billable). About one month in
twelve has no usage at all, and *quiet* subscriptions have none every other
month. Timestamps are written as UTC with ``Z``, without an offset (UTC too),
or in local time with an offset such as ``+02:00``.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from billing_lib.core.currency import minor_digits
from billing_lib.synth.config import PLAN_BY_ID, SynthConfig

USAGE_COLUMNS = ["event_id", "subscription_id", "event_time", "quantity"]
# usage kind -> (lowest, highest) quantity in integer units of 10^-scale; scale 0 unless given below
_SIZES = {"calls": (1, 600), "gigabytes": (10, 8000), "messages": (1, 60), "minutes": (1, 90)}
_SCALE = {"gigabytes": 2}
_OFFSETS = (("Z", 0), ("", 0), ("+02:00", 7200), ("+09:00", 32400), ("-05:00", -18000))
_OFFSET_WEIGHTS = (0.6, 0.2, 0.1, 0.05, 0.05)
_EPOCH = dt.date(1970, 1, 1)


def _sub_months(subs: pl.DataFrame, customers: pl.DataFrame, cfg: SynthConfig, quiet: list[str]) -> pl.DataFrame:
    """One row per (usage subscription, month) that may hold events, with its size class and scale."""
    kinds = {p.plan_id: p.usage_kind for p in PLAN_BY_ID.values() if p.billing == "usage"}
    months = pl.DataFrame({"month": cfg.month_starts, "month_no": list(range(len(cfg.month_starts)))})
    usage_subs = (subs.filter(pl.col("plan_id").is_in(list(kinds)))
                  .join(customers.select("customer_id", "currency"), on="customer_id")
                  .select("subscription_id", "currency",
                          pl.col("plan_id").replace_strict(kinds).alias("kind"),
                          pl.col("start_date").str.to_date(), pl.col("end_date").replace("", None).str.to_date()))
    return (usage_subs.join(months, how="cross")
            .filter((pl.col("start_date") <= pl.col("month").dt.month_end())
                    & (pl.col("end_date").is_null() | (pl.col("end_date").dt.offset_by("1mo") >= pl.col("month"))))
            .with_columns(quiet=pl.col("subscription_id").is_in(quiet) & (pl.col("month_no") % 2 == 1))
            .sort("subscription_id", "month"))


def usage_events(subs: pl.DataFrame, customers: pl.DataFrame, cfg: SynthConfig, quiet: list[str]) -> pl.DataFrame:
    """The ``usage`` table as text, sorted by subscription and time, event ids in that order."""
    rng = cfg.rng(21)
    rows = _sub_months(subs, customers, cfg, quiet)
    n = rows.height
    counts = rng.poisson(cfg.usage_events, size=n) * (rng.random(n) >= 0.08) * ~rows["quiet"].to_numpy()
    idx = np.repeat(np.arange(n), counts)
    total = int(idx.size)

    month_start = np.array([(m - _EPOCH).days for m in rows["month"].to_list()], dtype=np.int64) * 86400
    month_secs = rows["month"].dt.days_in_month().cast(pl.Int64).to_numpy() * 86400
    utc = month_start[idx] + rng.integers(0, month_secs[idx])

    kind = rows["kind"].to_numpy()[idx]
    currency = rows["currency"].to_numpy()[idx]
    low = np.ones(total, dtype=np.int64)
    high = np.full(total, 100, dtype=np.int64)
    scale = np.zeros(total, dtype=np.int64)
    for name, (lo, hi) in _SIZES.items():
        sel = kind == name
        low[sel], high[sel], scale[sel] = lo, hi, _SCALE.get(name, 0)
    for cur in np.unique(currency[kind == "transactions"]):   # transaction amounts in the minor unit
        sel = (kind == "transactions") & (currency == cur)
        digits = minor_digits(str(cur))
        low[sel], high[sel], scale[sel] = 10 ** digits, 400 * 10 ** digits, digits
    units = rng.integers(low, high + 1)

    which = rng.choice(len(_OFFSETS), size=total, p=_OFFSET_WEIGHTS)
    shift = np.array([o[1] for o in _OFFSETS], dtype=np.int64)[which]
    suffix = np.array([o[0] for o in _OFFSETS], dtype=object)[which]

    frame = pl.DataFrame({
        "subscription_id": rows["subscription_id"].to_numpy()[idx].astype(str),
        "utc": utc, "local": utc + shift, "suffix": pl.Series(suffix, dtype=pl.String),
        "units": units, "scale": scale,
    })
    pow10 = pl.lit(10, dtype=pl.Int64).pow(pl.col("scale"))
    # the fraction padded to `scale` digits: 10^scale + fraction printed without its leading 1 (no per-row
    # width in a string function, see money.to_text)
    frac = (pow10 + pl.col("units") % pow10).cast(pl.String).str.slice(1)
    quantity = pl.when(pl.col("scale") == 0).then(pl.col("units").cast(pl.String)).otherwise(
        pl.concat_str([(pl.col("units") // pow10).cast(pl.String), pl.lit("."), frac]))
    width = max(7, len(str(total)))
    return (frame.sort("subscription_id", "utc", "units", maintain_order=True)
            .with_columns(event_id=pl.format("E{}", pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(width)),
                          event_time=pl.concat_str([pl.from_epoch("local", time_unit="s")
                                                    .dt.strftime("%Y-%m-%dT%H:%M:%S"), pl.col("suffix")]),
                          quantity=quantity)
            .select(USAGE_COLUMNS))
