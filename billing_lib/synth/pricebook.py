"""The price book: ``plans`` (one row per plan and currency) and ``plan_tiers``."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from billing_lib.core.currency import format_money, minor_digits
from billing_lib.synth.config import PLANS, PRICE_FACTOR, PlanSpec

PLAN_COLUMNS = ["plan_id", "currency", "product", "billing", "interval", "charge_model", "unit_price",
                "package_size", "free_units", "rate_pct", "fixed_fee"]
TIER_COLUMNS = ["plan_id", "currency", "tier", "up_to", "unit_price", "flat_fee"]


def convert(euro: str, currency: str, extra_digits: int = 0) -> str:
    """A euro price in ``currency``, kept to the currency's digits (plus ``extra_digits`` for unit rates)."""
    if euro == "":
        return ""
    value = Decimal(euro) * PRICE_FACTOR[currency]
    digits = minor_digits(currency) + extra_digits
    if extra_digits == 0:
        return format_money(value, currency)
    return f"{value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP):f}"


def _plan_row(plan: PlanSpec, currency: str) -> dict[str, str]:
    return {"plan_id": plan.plan_id, "currency": currency, "product": plan.product, "billing": plan.billing,
            "interval": plan.interval, "charge_model": plan.charge_model,
            "unit_price": convert(plan.unit_price, currency, 2 if plan.billing == "usage" else 0),
            "package_size": plan.package_size, "free_units": plan.free_units, "rate_pct": plan.rate_pct,
            "fixed_fee": convert(plan.fixed_fee, currency)}


def price_book(currencies: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``plans`` and ``plan_tiers`` as text frames, every plan priced in every currency in use."""
    plans, tiers = [], []
    for plan in PLANS:
        for cur in sorted(currencies):
            plans.append(_plan_row(plan, cur))
            for no, (up_to, price, fee) in enumerate(plan.tiers, start=1):
                tiers.append({"plan_id": plan.plan_id, "currency": cur, "tier": str(no), "up_to": up_to,
                              "unit_price": convert(price, cur, 2), "flat_fee": convert(fee, cur)})
    return (pl.DataFrame(plans, schema={c: pl.String for c in PLAN_COLUMNS}),
            pl.DataFrame(tiers, schema={c: pl.String for c in TIER_COLUMNS}))
