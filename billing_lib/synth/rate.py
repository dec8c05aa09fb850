"""Rate the synthetic reference data with the project's own rating engine.

The text frames are typed by the loader's own per-table validation
(:func:`billing_lib.data.loading.validate_table`), so the engine sees exactly
what ``load_dataset`` would give it for the written files.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from billing_lib.data.contract import TABLES
from billing_lib.data.dataset import Dataset
from billing_lib.engine.rating import expected_charges
from billing_lib.errors import DatasetError


def typed_dataset(tables: dict[str, pl.DataFrame], folder: Path) -> Dataset:
    """A Dataset of the given text tables, typed and checked as the loader does; DatasetError if invalid."""
    from billing_lib.data.loading import validate_table
    typed, problems = {}, []
    for name, frame in tables.items():
        typed[name], found = validate_table(TABLES[name], frame, f"{name} (synthetic)", 2)
        problems += found
    if problems:
        raise DatasetError(str(folder), problems)
    return Dataset(folder=folder, tables=typed)


def rated_charges(ds: Dataset, months: list[dt.date]) -> pl.DataFrame:
    """The charges the contract bills in ``months``, without the charges of zero (they get no line)."""
    return expected_charges(ds, months).filter(pl.col("amount") != 0).collect()
