"""A loaded billing dataset: typed polars frames, one per table, with their source files.

A table is held in memory (a DataFrame) or, for data larger than memory, as a scan of the typed Parquet file
it was spilled to once validated (a LazyFrame, see :mod:`billing_lib.data.spill`); the code reading it
through :meth:`Dataset.frame` does not tell the two apart."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from billing_lib.data.contract import TABLES

if TYPE_CHECKING:  # pandas is imported only when a frame is asked for (keeps the command line quick)
    import pandas as pd

ROW = "_row"  # 0-based record number in the source file, kept for error messages


@dataclass
class Dataset:
    """Typed tables of one dataset; a table that is absent reads as an empty frame of its schema.

    ``counts``: the rows of tables held as scans (a DataFrame's rows are its height)."""

    folder: Path
    tables: dict[str, pl.DataFrame | pl.LazyFrame]
    files: dict[str, Path] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def frame(self, name: str) -> pl.LazyFrame:
        """The typed table ``name`` as a lazy frame (empty, with the contract's columns, when absent)."""
        if name in self.tables:
            return self.tables[name].lazy()
        if name not in TABLES:
            raise KeyError(f"{name!r} is not a table of the data contract")
        spec = TABLES[name]
        return pl.DataFrame(schema={ROW: pl.UInt32, **{c.name: c.dtype for c in spec.columns}}).lazy()

    def has(self, name: str) -> bool:
        """True when the table is present with at least one row."""
        return name in self.tables and self._rows(name) > 0

    def _rows(self, name: str) -> int:
        table = self.tables[name]
        return table.height if isinstance(table, pl.DataFrame) else self.counts[name]

    def to_pandas(self, name: str) -> pd.DataFrame:
        """The table as a pandas frame (money as Python Decimal objects), without the row-number column."""
        return self.frame(name).drop(ROW).collect().to_pandas()

    def row_counts(self) -> dict[str, int]:
        """Rows per table present in the dataset."""
        return {name: self._rows(name) for name in sorted(self.tables)}

    def without(self, name: str) -> Dataset:
        """The dataset without the table ``name`` (it then reads as absent); the other frames are shared."""
        return Dataset(folder=self.folder, tables={k: v for k, v in self.tables.items() if k != name},
                       files={k: v for k, v in self.files.items() if k != name}, counts=self.counts)

    def only_customers(self, customer_ids: list[str]) -> Dataset:
        """The part of the dataset that belongs to these customers (a shard for parallel checks): their rows of
        the tables customers own, in memory; the other tables as they are."""
        ids = pl.Series(customer_ids, dtype=pl.String).implode()
        out = {name: table for name, table in self.tables.items() if name not in OWNED}  # scans stay scans
        for name in ("customers", "subscriptions", "invoices", "payments"):
            if name in self.tables:
                out[name] = self.frame(name).filter(pl.col("customer_id").is_in(ids)).collect()
        if "usage" in self.tables:
            subs = self._owned(out, "subscriptions", "subscription_id")
            out["usage"] = self.frame("usage").filter(pl.col("subscription_id").is_in(subs)).collect()
        invoices = self._owned(out, "invoices", "invoice_id")
        for name in ("invoice_lines", "credit_notes"):
            if name in self.tables:
                out[name] = self.frame(name).filter(pl.col("invoice_id").is_in(invoices)).collect()
        return Dataset(folder=self.folder, tables=out, files=self.files, counts=self.counts)

    @staticmethod
    def _owned(tables: dict[str, pl.DataFrame], name: str, key: str) -> pl.Series:
        """The ``key`` values of a shard's table (none where the table is absent), for ``is_in``."""
        values = tables[name][key] if name in tables else pl.Series([], dtype=pl.String)
        return values.implode()


# the tables whose rows belong to a customer: a shard holds only its customers' rows of them
OWNED = ("customers", "subscriptions", "invoices", "payments", "usage", "invoice_lines", "credit_notes")
