"""Parameters of one synthetic dataset and the fixed catalogues it draws from.

Everything the generator needs to know besides the random draws lives here:
the countries with their currency and tax history, the price book in euros
(converted to the other currencies), and the mix of customers.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from billing_lib.core.periods import month_range, next_month, parse_period

FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class SynthConfig:
    """The arguments of :func:`billing_lib.synth.synthesize`, validated."""

    seed: int = 7
    customers: int = 60
    months: int = 6
    anomaly_rate: float = 0.03
    fmt: str = "csv"
    start: str = "2024-01"
    usage_events: float = 8.0

    @property
    def month_starts(self) -> list[dt.date]:
        """The first day of every billed month."""
        first = parse_period(self.start)
        last = first
        for _ in range(self.months - 1):
            last = next_month(last)
        return month_range(first, last)

    @property
    def first_day(self) -> dt.date:
        return self.month_starts[0]

    @property
    def last_day(self) -> dt.date:
        """The last day of the last billed month."""
        return next_month(self.month_starts[-1]) - dt.timedelta(days=1)

    def rng(self, purpose: int) -> np.random.Generator:
        """An independent random stream per purpose, so one part's draws never shift another's."""
        return np.random.default_rng([self.seed, purpose])


# country -> (currency, share of customers, tax rate in percent)
COUNTRIES: dict[str, tuple[str, int, str]] = {
    "DE": ("EUR", 24, "19"),
    "FR": ("EUR", 12, "20"),
    "NL": ("EUR", 9, "21"),
    "GB": ("GBP", 15, "20"),
    "US": ("USD", 24, "7.25"),
    "JP": ("JPY", 10, "10"),
    "KW": ("KWD", 6, "0"),
}
# the one rate that changes inside the billed months: country, old rate, new rate
RATE_CHANGE = ("DE", "19", "20")
# an older rate change, long before any billed month (history rows with valid_to)
HISTORY = ("GB", "17.5", dt.date(2008, 12, 1), dt.date(2011, 1, 4))

BASE_CURRENCY = "EUR"
# euro price of one unit of each currency at the start (8 decimals, integer units of 1e-8)
FX_START = {"GBP": 117_000_000, "USD": 92_000_000, "JPY": 620_000, "KWD": 298_000_000}
# price book conversion: price in currency = euro price x factor
PRICE_FACTOR = {"EUR": Decimal("1"), "GBP": Decimal("0.86"), "USD": Decimal("1.09"), "JPY": Decimal("162"),
                "KWD": Decimal("0.335")}
PAYMENT_TERMS = (0, 14, 14, 30, 30, 30, 45, 60)
DISCOUNTS = ("5", "10", "12.5", "15", "25")


@dataclass(frozen=True)
class PlanSpec:
    """One plan of the price book, priced in euros; tiers are (up_to, unit_price, flat_fee)."""

    plan_id: str
    product: str
    billing: str
    interval: str
    charge_model: str
    unit_price: str = ""
    package_size: str = ""
    free_units: str = ""
    rate_pct: str = ""
    fixed_fee: str = ""
    tiers: tuple[tuple[str, str, str], ...] = ()
    usage_kind: str = ""   # how usage events of this plan are sized (see usage.py)


PLANS: tuple[PlanSpec, ...] = (
    PlanSpec("SEAT-M", "Team seats", "recurring", "month", "per_unit", unit_price="12.00"),
    PlanSpec("BASE-M", "Platform base fee", "recurring", "month", "flat", unit_price="49.00"),
    PlanSpec("TEAM-V", "Team seats, volume priced", "recurring", "month", "volume",
             tiers=(("10", "15.00", "0"), ("50", "12.00", "0"), ("", "9.00", "25.00"))),
    PlanSpec("SEAT-Y", "Annual seats", "recurring", "year", "per_unit", unit_price="120.00"),
    PlanSpec("PLAT-Y", "Annual platform licence", "recurring", "year", "flat", unit_price="990.00"),
    PlanSpec("SUPP-Y", "Annual support, graduated", "recurring", "year", "graduated",
             tiers=(("5", "60.00", "100.00"), ("20", "45.00", "0"), ("", "30.00", "0"))),
    PlanSpec("API-G", "API calls", "usage", "month", "graduated", usage_kind="calls",
             tiers=(("1000", "0.0100", "0"), ("5000", "0.0080", "5.00"), ("", "0.0050", "10.00"))),
    PlanSpec("STOR-V", "Storage (GB)", "usage", "month", "volume", usage_kind="gigabytes",
             tiers=(("100", "0.50", "0"), ("1000", "0.40", "2.00"), ("", "0.30", "5.00"))),
    PlanSpec("SMS-P", "SMS bundles of 100", "usage", "month", "package", unit_price="4.00", package_size="100",
             free_units="50", usage_kind="messages"),
    PlanSpec("PAY-P", "Payment processing", "usage", "month", "percentage", rate_pct="2.9", fixed_fee="0.30",
             usage_kind="transactions"),
    PlanSpec("CALL-U", "Voice minutes", "usage", "month", "per_unit", unit_price="0.05", usage_kind="minutes"),
)
PLAN_BY_ID = {p.plan_id: p for p in PLANS}
RECURRING_PLANS = ("SEAT-M", "SEAT-M", "BASE-M", "TEAM-V", "SEAT-Y", "PLAT-Y", "SUPP-Y")
USAGE_PLANS = ("API-G", "STOR-V", "SMS-P", "PAY-P", "CALL-U")
