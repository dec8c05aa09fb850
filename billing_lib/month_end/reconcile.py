"""A month-end schedule against a ledger account, document by document (BlackLine-style reconciliation).

Both sides are given per document (source_type, source_id, currency) as of the same day; what differs is a
reconciling item that names the document behind the difference.
"""
from __future__ import annotations

import polars as pl

from billing_lib.core.money import DECIMAL, ZERO

KEYS = ["source_type", "source_id", "currency"]
COLUMNS = {"source_type": pl.String, "source_id": pl.String, "currency": pl.String, "schedule": DECIMAL,
           "ledger": DECIMAL, "difference": DECIMAL}


def document_differences(schedule: pl.DataFrame, ledger: pl.DataFrame) -> pl.DataFrame:
    """The documents whose amount differs: source_type, source_id, currency, schedule, ledger, difference
    (ledger - schedule), sorted. ``schedule`` and ``ledger`` hold KEYS and a ``schedule`` / ``ledger`` column;
    several rows of one document are added up."""
    mine = schedule.group_by(KEYS).agg(pl.col("schedule").sum().cast(DECIMAL))
    theirs = ledger.group_by(KEYS).agg(pl.col("ledger").sum().cast(DECIMAL))
    return (mine.join(theirs, on=KEYS, how="full", coalesce=True, nulls_equal=True)
            .with_columns(pl.col("schedule", "ledger").fill_null(ZERO).cast(DECIMAL))
            .with_columns(difference=(pl.col("ledger") - pl.col("schedule")).cast(DECIMAL))
            .filter(pl.col("difference") != 0)
            .select(list(COLUMNS)).cast(COLUMNS)
            .sort("currency", "source_type", "source_id", nulls_last=True))
