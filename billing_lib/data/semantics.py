"""Rules across rows and tables of the configuration that a column-by-column check cannot see.

A plan must carry what its charge model needs (tiers, a package size, a rate);
a subscription cannot end before it starts. Unknown references in billing
documents are *findings* of verification, not load errors, so they are not here.
"""
from __future__ import annotations

import polars as pl

from billing_lib.data.dataset import ROW, Dataset
from billing_lib.data.source_rows import MAX_PROBLEMS_PER_COLUMN, first_row_number
from billing_lib.errors import Problem


def _rows(ds: Dataset, table: str, bad: pl.DataFrame, column: str, message) -> list[Problem]:
    path = ds.files[table]
    offset = first_row_number(path)
    return [Problem(str(path), r[ROW] + offset, column, message(r))
            for r in bad.head(MAX_PROBLEMS_PER_COLUMN).iter_rows(named=True)]


def reference_problems(ds: Dataset) -> list[Problem]:
    """Problems in how the configuration tables fit together."""
    out: list[Problem] = []
    plans = ds.frame("plans").collect()
    subs = ds.frame("subscriptions").select(ROW, "subscription_id", "start_date", "end_date").collect()
    tiers = ds.frame("plan_tiers").collect()

    bad = plans.filter((pl.col("charge_model") == "package") & (pl.col("package_size") <= 0))
    out += _rows(ds, "plans", bad, "package_size",
                 lambda r: f"plan {r['plan_id']!r} uses the package model and needs a package_size above 0")
    bad = plans.filter(pl.col("charge_model").is_in(["flat", "per_unit", "package"]) & pl.col("unit_price").is_null())
    out += _rows(ds, "plans", bad, "unit_price",
                 lambda r: f"plan {r['plan_id']!r} uses the {r['charge_model']} model and needs a unit_price")
    tiered = plans.filter(pl.col("charge_model").is_in(["graduated", "volume"]))
    no_tiers = tiered.join(tiers.select("plan_id", "currency").unique(), on=["plan_id", "currency"], how="anti")
    out += _rows(ds, "plans", no_tiers, "charge_model",
                 lambda r: f"plan {r['plan_id']!r} ({r['currency']}) is {r['charge_model']} but plan_tiers has "
                           "no tiers for it")
    if tiers.height:
        ordered = tiers.sort("plan_id", "currency", "tier").with_columns(
            prev=pl.col("up_to").shift(1).over("plan_id", "currency"),
            last=pl.col("tier") == pl.col("tier").max().over("plan_id", "currency"),
            first=pl.col("tier") == pl.col("tier").min().over("plan_id", "currency"),
        )
        bad = ordered.filter(~pl.col("last") & pl.col("up_to").is_null())
        out += _rows(ds, "plan_tiers", bad, "up_to",
                     lambda r: f"tier {r['tier']} of plan {r['plan_id']!r} has no up_to; only the last tier is open")
        bad = ordered.filter(pl.col("last") & pl.col("up_to").is_not_null())
        out += _rows(ds, "plan_tiers", bad, "up_to",
                     lambda r: f"tier {r['tier']} is the last tier of plan {r['plan_id']!r} ({r['currency']}); "
                               "its up_to must be empty (no bound), else larger quantities have no price")
        bad = ordered.filter(~pl.col("first") & (pl.col("up_to") <= pl.col("prev")))
        out += _rows(ds, "plan_tiers", bad, "up_to",
                     lambda r: f"tier {r['tier']} of plan {r['plan_id']!r} ends at or below the tier before it; "
                               "up_to must rise")
        bad = ordered.filter(pl.col("unit_price").is_null())
        out += _rows(ds, "plan_tiers", bad, "unit_price",
                     lambda r: f"tier {r['tier']} of plan {r['plan_id']!r} has no unit_price")
    bad = subs.filter(pl.col("end_date") < pl.col("start_date"))
    out += _rows(ds, "subscriptions", bad, "end_date",
                 lambda r: f"subscription {r['subscription_id']!r} ends ({r['end_date']}) before it starts "
                           f"({r['start_date']})")
    if "tax_rates" in ds.tables:
        bad = ds.frame("tax_rates").collect().filter(pl.col("valid_to") < pl.col("valid_from"))
        out += _rows(ds, "tax_rates", bad, "valid_to", lambda r: "valid_to is before valid_from")
    return out
