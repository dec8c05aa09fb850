"""Tax rates by country (with one change inside the billed months) and daily exchange rates to EUR."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from billing_lib.core.periods import next_month
from billing_lib.synth.config import BASE_CURRENCY, COUNTRIES, FX_START, HISTORY, RATE_CHANGE, SynthConfig

TAX_COLUMNS = ["country", "valid_from", "valid_to", "rate_pct"]
FX_COLUMNS = ["date", "currency", "rate_to_base"]
SINCE = dt.date(2000, 1, 1)


def rate_change_date(cfg: SynthConfig) -> dt.date:
    """The day the changing country's new rate takes effect: the issue date of the middle billed month."""
    months = cfg.month_starts
    return next_month(months[(len(months) - 1) // 2])


def tax_rates(cfg: SynthConfig) -> pl.DataFrame:
    """One open-ended rate per country, a historical change for one, and a change inside the range for one."""
    change = rate_change_date(cfg)
    rows = []
    for country, (_cur, _share, rate) in sorted(COUNTRIES.items()):
        if country == RATE_CHANGE[0]:
            old, new = RATE_CHANGE[1], RATE_CHANGE[2]
            rows.append((country, SINCE, change - dt.timedelta(days=1), old))
            rows.append((country, change, None, new))
        elif country == HISTORY[0]:
            old_rate, old_from, new_from = HISTORY[1], HISTORY[2], HISTORY[3]
            rows.append((country, old_from, new_from - dt.timedelta(days=1), old_rate))
            rows.append((country, new_from, None, rate))
        else:
            rows.append((country, SINCE, None, rate))
    return pl.DataFrame([{"country": c, "valid_from": f.isoformat(), "valid_to": t.isoformat() if t else "",
                          "rate_pct": r} for c, f, t, r in rows], schema={c: pl.String for c in TAX_COLUMNS})


def fx_rates(cfg: SynthConfig, currencies: list[str], first: dt.date) -> pl.DataFrame:
    """Daily rates (8 decimals) of every non-base currency in use from ``first`` to 150 days past the range.

    A bounded random walk in integer units of 1e-8, so no binary float is involved.
    """
    rng = cfg.rng(11)
    days = (cfg.last_day + dt.timedelta(days=150) - first).days + 1
    out = []
    for cur in sorted(c for c in currencies if c != BASE_CURRENCY):
        steps = rng.integers(-40, 41, size=days)  # basis points per day
        value = FX_START[cur]
        for i in range(days):
            value = value + value * int(steps[i]) // 10_000
            value = min(max(value, FX_START[cur] * 8 // 10), FX_START[cur] * 12 // 10)
            out.append({"date": (first + dt.timedelta(days=i)).isoformat(), "currency": cur,
                        "rate_to_base": f"{Decimal(value).scaleb(-8):f}"})
    return pl.DataFrame(out, schema={c: pl.String for c in FX_COLUMNS}).sort("date", "currency")
