"""The choices of a forensic run and everything it found, as typed records."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl

from billing_lib.forensics.defaults import (
    DEFAULT_AMOUNTS,
    DEFAULT_BOUNDS,
    DEFAULT_CONFIDENCE,
    DEFAULT_DAYS,
    DEFAULT_EXPECTED_PCT,
    DEFAULT_MIN_AMOUNT,
    DEFAULT_RANDOM_SIZE,
    DEFAULT_SEED,
    DEFAULT_SIMILARITY,
    DEFAULT_TOLERABLE_PCT,
)
from billing_lib.forensics.population import Population
from billing_lib.forensics.sampling import SamplePlan


@dataclass(frozen=True)
class Options:
    """What to test and how (the command's options; defaults as in docs/forensics.md)."""

    amounts: str = DEFAULT_AMOUNTS
    min_amount: Decimal = DEFAULT_MIN_AMOUNT
    days: int = DEFAULT_DAYS
    similarity: int = DEFAULT_SIMILARITY
    bounds: tuple[Decimal, ...] = DEFAULT_BOUNDS
    confidence: Decimal = DEFAULT_CONFIDENCE
    tolerable_pct: Decimal = DEFAULT_TOLERABLE_PCT
    expected_pct: Decimal = DEFAULT_EXPECTED_PCT
    random_size: int = DEFAULT_RANDOM_SIZE
    seed: int = DEFAULT_SEED

    def as_dict(self) -> dict:
        """JSON-ready (decimals as text)."""
        return {"amounts": self.amounts, "min_amount": str(self.min_amount), "days": self.days,
                "similarity": self.similarity, "bands": [str(b) for b in self.bounds],
                "confidence_pct": str(self.confidence), "tolerable_pct": str(self.tolerable_pct),
                "expected_pct": str(self.expected_pct), "random_size": self.random_size, "seed": self.seed}


@dataclass(frozen=True)
class ForensicsResult:
    """Every table of a forensic run (polars frames, money as exact decimals)."""

    options: Options
    population: Population
    tested: pl.DataFrame                 # the amounts the digit tests took
    benford: pl.DataFrame                # benford.csv
    benford_summary: pl.DataFrame        # benford_summary.csv
    summation: pl.DataFrame
    duplication: pl.DataFrame
    duplication_by_customer: pl.DataFrame
    invoice_duplicates: pl.DataFrame
    customer_duplicates: pl.DataFrame
    outliers: pl.DataFrame
    rsf: pl.DataFrame
    strata: pl.DataFrame
    mus_plans: list[SamplePlan]
    mus_sample: pl.DataFrame
    random_sample: pl.DataFrame
    findings: list[str] = field(default_factory=list)
