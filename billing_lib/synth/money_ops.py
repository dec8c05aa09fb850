"""Small exact-decimal helpers for planting and posting (no binary floats)."""
from __future__ import annotations

import polars as pl

from billing_lib.core.currency import digits_expr
from billing_lib.core.money import DECIMAL


def minor_unit(currency: pl.Expr) -> pl.Expr:
    """The smallest amount of each row's currency (0.01, 1, 0.001) as a decimal."""
    text = digits_expr(currency).replace_strict(
        [0, 1, 2, 3, 4], ["1", "0.1", "0.01", "0.001", "0.0001"], default="0.01", return_dtype=pl.String)
    return text.cast(DECIMAL)


def larger(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """The larger of two decimal expressions."""
    return pl.when(a >= b).then(a).otherwise(b).cast(DECIMAL)
