"""Audit samples: monetary-unit sampling (MUS) sized by the AICPA method, and simple random sampling.

**Sample size** (AICPA Audit Guide *Audit Sampling*, 2008, tables unchanged in 2012 and 2014; T. R. Stewart,
*Technical Notes on the AICPA Audit Guide Audit Sampling*, 2012): the smallest n for which the upper
misstatement limit, with the expected misstatement found in the sample, stays within the tolerable
misstatement: GammaInv(confidence, 1 + n x expected / book value) / n <= tolerable / book value. The
gamma quantile is computed here (regularised incomplete gamma function, Numerical Recipes 6.2), without
a statistics package; the tests reproduce the guide's published sample-size table.

**Selection**: systematic selection of monetary units with a random start. The population is each
currency's positive amounts in record order; the interval is their sum / n; the start is drawn from the
seed; an item is hit once for every selected unit it holds (an item at least as large as the interval is
always hit: a key item). Zero and negative amounts cannot be hit and are left to other procedures.

**Simple random sampling**: each record gets a key from SHA-256 of the seed and its record; the n lowest keys
are the sample. Both draws depend only on the seed and the data, not on row order, platform or version:
the same seed gives the same sample.
"""
from __future__ import annotations

import bisect
import hashlib
import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

import polars as pl

from billing_lib.core.money import DECIMAL
from billing_lib.errors import ParameterError
from billing_lib.forensics.defaults import (
    DEFAULT_CONFIDENCE,
    DEFAULT_EXPECTED_PCT,
    DEFAULT_RANDOM_SIZE,
    DEFAULT_SEED,
    DEFAULT_TOLERABLE_PCT,
)

_EXACT = Decimal("1e-10")  # DECIMAL's scale
AUDITOR_COLUMNS = ("audited_amount", "difference", "conclusion", "checked_by", "checked_on", "notes")


def gamma_p(a: float, x: float) -> float:
    """The regularised lower incomplete gamma function P(a, x) (series below a + 1, continued fraction above)."""
    if x <= 0:
        return 0.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        k = a
        for _ in range(100_000):
            k += 1
            term *= x / k
            total += term
            if abs(term) < abs(total) * 1e-17:
                break
        return total * math.exp(log_front)
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 100_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-17:
            break
    return 1.0 - math.exp(log_front) * h


def gamma_quantile(p: float, a: float) -> float:
    """x with P(a, x) = p (bisection to full double precision), e.g. gamma_quantile(0.95, 1) = 2.9957."""
    lo, hi = 0.0, max(1.0, a)
    while gamma_p(a, hi) < p:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if gamma_p(a, mid) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return hi


def mus_sample_size(tolerable_share: float, expected_share: float, confidence: float) -> int:
    """The AICPA monetary-unit sample size for tolerable and expected misstatement given as shares of the
    book value (0.05 = 5%) and confidence as a share (0.95)."""
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence must lie between 0 and 100%, not {confidence * 100:g}%")
    if not 0 < tolerable_share <= 1:
        raise ParameterError(f"tolerable misstatement must be more than 0% and at most 100% of the population, "
                             f"not {tolerable_share * 100:g}%")
    if not 0 <= expected_share < tolerable_share:
        raise ParameterError(f"expected misstatement ({expected_share * 100:g}%) must be 0 or more and below the "
                             f"tolerable misstatement ({tolerable_share * 100:g}%)")

    def fits(n: int) -> bool:
        return gamma_quantile(confidence, 1 + n * expected_share) / n <= tolerable_share

    n = max(1, math.ceil(gamma_quantile(confidence, 1) / tolerable_share))
    while not fits(n):  # grows while the expected misstatement eats into the tolerable
        n = max(n + 1, math.ceil(n * 1.5)) if n < 1_000_000 else n + 1
        if n > 100_000_000:
            raise ParameterError("the expected misstatement is too close to the tolerable misstatement: no "
                                 "sample size reaches the confidence asked for")
    step = n
    while step > 1:  # back down to the smallest n that fits
        step = max(1, step // 2)
        while n - step >= 1 and fits(n - step):
            n -= step
    return n


@dataclass(frozen=True)
class SamplePlan:
    """The parameters of a sample and what they give, for one currency."""

    currency: str | None
    book_value: Decimal     # sum of the positive amounts
    items: int              # positive amounts (those that can be hit)
    confidence: Decimal     # %
    tolerable_pct: Decimal  # % of the book value
    expected_pct: Decimal   # % of the book value
    size: int
    interval: Decimal | None
    start: Decimal | None
    seed: int

    def as_row(self) -> dict:
        return {"currency": self.currency, "book_value": self.book_value, "items": self.items,
                "confidence_pct": self.confidence, "tolerable_pct": self.tolerable_pct,
                "expected_pct": self.expected_pct, "sample_size": self.size, "interval": self.interval,
                "random_start": self.start, "seed": self.seed}


def _unit_fraction(seed: int, label: str) -> Decimal:
    """A number in [0, 1) drawn from the seed and a label (SHA-256), as an exact decimal."""
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return Decimal(int.from_bytes(digest[:8], "big")) / Decimal(2 ** 64)


def monetary_unit_sample(population: pl.DataFrame, *, confidence: Decimal = DEFAULT_CONFIDENCE,
                         tolerable_pct: Decimal = DEFAULT_TOLERABLE_PCT, expected_pct: Decimal = DEFAULT_EXPECTED_PCT,
                         seed: int = DEFAULT_SEED) -> tuple[list[SamplePlan], pl.DataFrame]:
    """(the plan per currency, the selected items: currency, record, customer_id, date, amount, cumulative
    (the running sum up to and with the item), selected_at (the first selected unit inside it), hits,
    key_item (at least as large as the interval)); per currency in record order."""
    size = mus_sample_size(float(tolerable_pct) / 100, float(expected_pct) / 100, float(confidence) / 100)
    positive = population.filter(pl.col("amount") > 0).sort("record")
    plans, parts = [], []
    for currency in sorted(positive["currency"].unique().to_list(), key=lambda c: (c is None, c or "")):
        part = positive.filter(pl.col("currency").is_null() if currency is None else pl.col("currency") == currency)
        part = part.with_columns(cumulative=pl.col("amount").cum_sum())
        book = part["amount"].sum()
        interval = (book / size).quantize(_EXACT, rounding=ROUND_DOWN)  # every unit below the book value
        start = (interval * _unit_fraction(seed, f"mus:{currency}")).quantize(_EXACT)
        plans.append(SamplePlan(currency, book, part.height, confidence, tolerable_pct, expected_pct, size,
                                interval, start, seed))
        upper = part["cumulative"].to_list()
        hits: dict[int, list[Decimal]] = {}
        for k in range(size):  # the selected units start + k x interval, each in the item whose range holds it
            unit = start + k * interval
            hits.setdefault(bisect.bisect_right(upper, unit), []).append(unit)
        picked = sorted(i for i in hits if i < len(upper))
        parts.append(part[picked].with_columns(
            selected_at=pl.Series([hits[i][0] for i in picked], dtype=DECIMAL),
            hits=pl.Series([len(hits[i]) for i in picked], dtype=pl.Int64),
            key_item=pl.col("amount") >= pl.lit(str(interval)).cast(DECIMAL)))
    schema = {"currency": pl.String, "record": pl.String, "customer_id": pl.String, "date": pl.Date,
              "amount": DECIMAL, "cumulative": DECIMAL, "selected_at": DECIMAL, "hits": pl.Int64,
              "key_item": pl.Boolean}
    sample = pl.concat([p.select(list(schema)) for p in parts]) if parts else pl.DataFrame(schema=schema)
    return plans, sample.cast(schema)


def random_sample(population: pl.DataFrame, size: int = DEFAULT_RANDOM_SIZE, seed: int = DEFAULT_SEED) -> pl.DataFrame:
    """``size`` records drawn without replacement (all of them when fewer), in record order."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ParameterError(f"random sample size must be a whole number 0 or more, not {size!r}")
    records = population["record"].to_list()  # one SHA-256 per record: about a second per million
    keys = pl.Series("__key", [hashlib.sha256(f"{seed}:srs:{r}".encode()).hexdigest() for r in records])
    return (population.with_columns(keys).sort("__key").head(size).drop("__key").sort("record"))


def with_auditor_columns(sample: pl.DataFrame) -> pl.DataFrame:
    """The sample with empty columns for the auditor: audited amount, difference, conclusion, by whom, when,
    notes."""
    return sample.with_columns(pl.lit(None, pl.String).alias(c) for c in AUDITOR_COLUMNS)
