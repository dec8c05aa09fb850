"""Customers and their subscriptions (reference data, one Python step per customer).

The first customers are hand-made *showcase* customers carrying the legitimate
hard cases (hostile names, JPY/KWD, tax exemption, a 100% discount, a negotiated
price, leap-year terms, the voided invoice); the rest are drawn at random.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from billing_lib.core.currency import minor_digits
from billing_lib.synth.config import (
    COUNTRIES,
    DISCOUNTS,
    PAYMENT_TERMS,
    PLAN_BY_ID,
    RECURRING_PLANS,
    USAGE_PLANS,
    SynthConfig,
)
from billing_lib.synth.names import SHOWCASE, company_name, email_for
from billing_lib.synth.pricebook import convert

CUSTOMER_COLUMNS = ["customer_id", "name", "email", "country", "currency", "payment_terms_days", "tax_exempt"]
SUBSCRIPTION_COLUMNS = ["subscription_id", "customer_id", "plan_id", "quantity", "start_date", "end_date",
                        "discount_pct", "unit_price_override"]


@dataclass
class People:
    """The customers and subscriptions drawn, plus which ids carry which showcase role."""

    customers: pl.DataFrame
    subscriptions: pl.DataFrame
    roles: dict[str, str] = field(default_factory=dict)       # role -> customer_id
    quiet: list[str] = field(default_factory=list)            # usage subscriptions with zero-usage months


def _iso(day: dt.date | None) -> str:
    return day.isoformat() if day else ""


def leap_day(cfg: SynthConfig) -> dt.date:
    """The latest 29 February on or before the last billed day (2024-02-29 for the default range)."""
    year = cfg.last_day.year
    while True:
        if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) and dt.date(year, 2, 29) <= cfg.last_day:
            return dt.date(year, 2, 29)
        year -= 1


def _negotiated(plan_id: str, currency: str, share: Decimal) -> str:
    price = Decimal(convert(PLAN_BY_ID[plan_id].unit_price, currency)) * share
    return f"{price.quantize(Decimal(1).scaleb(-minor_digits(currency)), rounding=ROUND_HALF_UP):f}"


class _Builder:
    def __init__(self, cfg: SynthConfig):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.customers: list[dict[str, str]] = []
        self.subs: list[dict[str, str]] = []
        self.roles: dict[str, str] = {}
        self.quiet: list[str] = []
        self.width = max(5, len(str(cfg.customers)))

    def customer(self, no: int, name: str, country: str, exempt: bool) -> tuple[str, str]:
        cid = f"C-{no:0{self.width}d}"
        currency = COUNTRIES[country][0]
        self.customers.append({"customer_id": cid, "name": name, "email": email_for(cid), "country": country,
                               "currency": currency, "payment_terms_days": str(self.rng.choice(PAYMENT_TERMS)),
                               "tax_exempt": "true" if exempt else "false"})
        return cid, currency

    def sub(self, cid: str, plan_id: str, qty: int | str, start: dt.date, end: dt.date | None = None,
            discount: str = "", override: str = "") -> str:
        sid = f"S-{len(self.subs) + 1:07d}"
        seats = "" if PLAN_BY_ID[plan_id].billing == "usage" else str(qty)
        self.subs.append({"subscription_id": sid, "customer_id": cid, "plan_id": plan_id, "quantity": seats,
                          "start_date": _iso(start), "end_date": _iso(end), "discount_pct": discount,
                          "unit_price_override": override})
        return sid

    def showcase(self, no: int, name: str, country: str, exempt: bool, role: str) -> None:
        cid, cur = self.customer(no, name, country, exempt)
        self.roles[role] = cid
        months = self.cfg.month_starts
        before = self.cfg.first_day - dt.timedelta(days=400)
        second = months[min(1, len(months) - 1)]
        if role == "leap_year":
            leap = leap_day(self.cfg)
            self.sub(cid, "SEAT-Y", 8, leap)
            self.sub(cid, "SEAT-M", 3, leap - dt.timedelta(days=19))  # starts 10 Feb: 20/29 days
            self.sub(cid, "API-G", 0, before)
        elif role == "yen":
            self.sub(cid, "SEAT-M", 7, before)
            self.sub(cid, "PAY-P", 0, before)
            self.sub(cid, "SMS-P", 0, before)
        elif role == "dinar":
            self.sub(cid, "TEAM-V", 23, before)
            self.sub(cid, "STOR-V", 0, before)
            self.quiet.append(self.sub(cid, "CALL-U", 0, before))
        elif role == "full_discount":
            self.sub(cid, "BASE-M", 1, before, discount="100")
            self.sub(cid, "SEAT-M", 10, before)
        elif role == "exempt":
            self.sub(cid, "SEAT-M", 5, before, discount="10")
            self.sub(cid, "API-G", 0, before)
        elif role == "negotiated":
            start = second.replace(day=13)
            end = months[-1].replace(day=17) if len(months) > 2 else None
            self.sub(cid, "SEAT-M", 6, start, end, override=_negotiated("SEAT-M", cur, Decimal("0.8")))
            self.sub(cid, "CALL-U", 0, start, end, override=_negotiated("CALL-U", cur, Decimal("0.9")))
        elif role == "void_pair":
            self.sub(cid, "SEAT-M", 12, before)
            self.sub(cid, "SMS-P", 0, before)

    def random_customer(self, no: int) -> None:
        r, cfg = self.rng, self.cfg
        country = r.choices(list(COUNTRIES), weights=[v[1] for v in COUNTRIES.values()])[0]
        cid, cur = self.customer(no, company_name(r, country, no), country, r.random() < 0.04)
        span = (cfg.last_day - cfg.first_day).days + 1
        if r.random() < 0.75:
            start = cfg.first_day - dt.timedelta(days=r.randrange(1, 700))
        else:
            start = cfg.first_day + dt.timedelta(days=r.randrange(span))
        end = None
        if r.random() < 0.12:
            end = cfg.first_day + dt.timedelta(days=r.randrange(span + 60))
            if end < start:
                end = start + dt.timedelta(days=r.randrange(10, 90))
        discount = r.choice(DISCOUNTS) if r.random() < 0.15 else ""
        plan_id = r.choice(RECURRING_PLANS)
        model = PLAN_BY_ID[plan_id].charge_model
        seats = 1 if model == "flat" else r.randrange(1, 80 if model == "volume" else 40)
        override = ""
        if model in ("flat", "per_unit") and r.random() < 0.06:
            override = _negotiated(plan_id, cur, Decimal(r.choice(("0.80", "0.85", "0.90", "0.95"))))
        self.sub(cid, plan_id, seats, start, end, discount, override)
        n_usage = r.choices((0, 1, 2, 3), weights=(30, 40, 20, 10))[0]
        for plan in sorted(r.sample(USAGE_PLANS, n_usage)):
            u_start = start + dt.timedelta(days=r.randrange(0, 60))
            u_end = end
            if r.random() < 0.08:
                u_end = max(u_start, cfg.first_day) + dt.timedelta(days=r.randrange(5, span + 30))
            if u_end is not None and u_end < u_start:
                u_end = u_start + dt.timedelta(days=r.randrange(5, 40))
            self.sub(cid, plan, 0, u_start, u_end, discount if r.random() < 0.5 else "")


def people(cfg: SynthConfig) -> People:
    """Draw every customer and subscription; showcase customers come first."""
    b = _Builder(cfg)
    for i in range(cfg.customers):
        if i < len(SHOWCASE):
            b.showcase(i + 1, *SHOWCASE[i])
        else:
            b.random_customer(i + 1)
    return People(pl.DataFrame(b.customers, schema={c: pl.String for c in CUSTOMER_COLUMNS}),
                  pl.DataFrame(b.subs, schema={c: pl.String for c in SUBSCRIPTION_COLUMNS}),
                  b.roles, b.quiet)
