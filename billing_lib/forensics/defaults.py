"""The forensic tests' defaults, in one light module: the command line reads them without loading the tests."""
from __future__ import annotations

from decimal import Decimal

DEFAULT_AMOUNTS = "invoices.total"  # non-void invoice totals, each in its own currency
DEFAULT_MIN_AMOUNT = Decimal(10)  # digit tests take amounts whose absolute value is at least this
DEFAULT_DAYS = 7  # near-duplicate invoices: at most this many days apart
DEFAULT_SIMILARITY = 80  # duplicate customers: name similarity in % at least
DEFAULT_BOUNDS = (Decimal(0), Decimal(10), Decimal(100), Decimal(1000), Decimal(10000), Decimal(100000))
DEFAULT_CONFIDENCE = Decimal(95)
DEFAULT_TOLERABLE_PCT = Decimal(5)
DEFAULT_EXPECTED_PCT = Decimal(1)
DEFAULT_RANDOM_SIZE = 25
DEFAULT_SEED = 20240601
