"""What a check is and what a finding looks like.

A check is a small named function ``(ctx) -> LazyFrame`` of findings, registered
with its severity, scope and a one-line description (the pandera idea: the
description the user reads is separate from the engine that runs it).

A finding frame holds any of the ``KEY_COLUMNS`` that locate it (others are
filled with null), plus ``detail`` (what part is wrong, part of the stable id),
``expected``/``actual``/``difference`` as decimal text, ``currency``,
``at_stake`` (money the finding puts at risk, in that currency) and ``message``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import polars as pl

from billing_lib.core.money import DECIMAL

Severity = Literal["error", "warning", "info"]
Scope = Literal["customer", "global"]

KEY_COLUMNS = ["customer_id", "invoice_id", "line_no", "subscription_id", "payment_id"]
FINDING_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(), "invoice_id": pl.String(), "line_no": pl.Int64(), "subscription_id": pl.String(),
    "payment_id": pl.String(), "period": pl.String(), "detail": pl.String(), "expected": pl.String(),
    "actual": pl.String(), "difference": pl.String(), "currency": pl.String(), "at_stake": DECIMAL,
    "message": pl.String(),
}


@dataclass(frozen=True)
class Check:
    """A registered check: its catalogue name, severity, scope and the function that finds."""

    name: str
    severity: Severity
    scope: Scope
    description: str
    run: Callable[[object], pl.LazyFrame]


REGISTRY: dict[str, Check] = {}

# Datasets up to this many rows are checked with polars' in-memory engine: on the many small plans of a
# verification run it is about ten times faster than the streaming engine that "auto" picks. Larger ones
# keep "auto", whose streaming keeps the peak memory low (on the 1M-line benchmark the in-memory engine
# needed 6.2 GiB instead of 4.2).
IN_MEMORY_UP_TO_ROWS = 2_000_000


def check(name: str, *, severity: Severity = "error", scope: Scope = "customer"):
    """Register a check function under its catalogue ``name``; its docstring is its description."""
    def register(fn):
        doc = (fn.__doc__ or "").strip().splitlines()
        REGISTRY[name] = Check(name, severity, scope, doc[0] if doc else name, fn)
        return fn
    return register


def findings(frame: pl.LazyFrame, **columns: pl.Expr) -> pl.LazyFrame:
    """Shape ``frame`` into the finding schema from the given column expressions (missing ones are null)."""
    exprs = []
    for name, dtype in FINDING_SCHEMA.items():
        expr = columns.get(name)
        exprs.append((pl.lit(None) if expr is None else expr).cast(dtype).alias(name))
    return frame.select(exprs)


def empty_findings() -> pl.LazyFrame:
    """A finding frame with no rows."""
    return pl.LazyFrame(schema=FINDING_SCHEMA)
