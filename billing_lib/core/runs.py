"""Positions within runs of equal keys, for frames sorted by those keys.

On a sorted frame, ``run_position(*keys)`` is what ``pl.int_range(pl.len()).over(*keys)`` gives, and
``run_last(*keys)`` what ``pl.int_range(pl.len()).over(*keys) == pl.len().over(*keys) - 1`` gives, in one
pass over the rows: a window over text keys hashes every row into its group (on a million rows about
0.5 s, against 0.02 s here). Nulls are equal to nulls, as in a group.
"""
from __future__ import annotations

import polars as pl


def _changes(keys: tuple[str, ...], offset: int) -> pl.Expr:
    """True where a row's keys differ from those of the row ``offset`` away (or there is no such row)."""
    no_such_row = pl.int_range(pl.len()).shift(offset).is_null()
    return pl.any_horizontal(no_such_row, *(pl.col(k).ne_missing(pl.col(k).shift(offset)) for k in keys))


def run_position(*keys: str) -> pl.Expr:
    """0-based position of each row within its run of rows with equal ``keys`` (UInt32)."""
    at = pl.int_range(pl.len(), dtype=pl.UInt32)
    return at - pl.when(_changes(keys, 1)).then(at).forward_fill()


def run_last(*keys: str) -> pl.Expr:
    """True on the last row of each run of rows with equal ``keys``."""
    return _changes(keys, -1)
