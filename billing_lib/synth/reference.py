"""All reference (configuration) tables of a synthetic dataset, as text frames."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from billing_lib.synth.config import SynthConfig
from billing_lib.synth.customers import People, people
from billing_lib.synth.pricebook import price_book
from billing_lib.synth.rates import fx_rates, tax_rates
from billing_lib.synth.usage import usage_events


@dataclass
class Reference:
    """The reference tables (text) and who plays which showcase role."""

    tables: dict[str, pl.DataFrame]
    people: People


def reference_tables(cfg: SynthConfig) -> Reference:
    """customers, plans, plan_tiers, subscriptions, usage, tax_rates and fx_rates for ``cfg``."""
    who = people(cfg)
    currencies = sorted(set(who.customers["currency"].to_list()))
    plans, tiers = price_book(currencies)
    tables = {
        "customers": who.customers,
        "plans": plans,
        "plan_tiers": tiers,
        "subscriptions": who.subscriptions,
        "usage": usage_events(who.subscriptions, who.customers, cfg, who.quiet),
        "tax_rates": tax_rates(cfg),
        "fx_rates": fx_rates(cfg, currencies, cfg.first_day - dt.timedelta(days=31)),
    }
    return Reference(tables, who)
