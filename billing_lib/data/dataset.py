"""A loaded billing dataset: typed polars frames, one per table, with their source files."""
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
    """Typed tables of one dataset; a table that is absent reads as an empty frame of its schema."""

    folder: Path
    tables: dict[str, pl.DataFrame]
    files: dict[str, Path] = field(default_factory=dict)

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
        return name in self.tables and self.tables[name].height > 0

    def to_pandas(self, name: str) -> pd.DataFrame:
        """The table as a pandas frame (money as Python Decimal objects), without the row-number column."""
        return self.frame(name).drop(ROW).collect().to_pandas()

    def row_counts(self) -> dict[str, int]:
        """Rows per table present in the dataset."""
        return {name: frame.height for name, frame in sorted(self.tables.items())}

    def without(self, name: str) -> Dataset:
        """The dataset without the table ``name`` (it then reads as absent); the other frames are shared."""
        return Dataset(folder=self.folder, tables={k: v for k, v in self.tables.items() if k != name},
                       files={k: v for k, v in self.files.items() if k != name})

    def only_customers(self, customer_ids: list[str]) -> Dataset:
        """The part of the dataset that belongs to these customers (a shard for parallel checks)."""
        ids = pl.Series(customer_ids, dtype=pl.String)
        t = self.tables
        out = dict(t)
        out["customers"] = t["customers"].filter(pl.col("customer_id").is_in(ids.implode()))
        out["subscriptions"] = t["subscriptions"].filter(pl.col("customer_id").is_in(ids.implode()))
        subs = out["subscriptions"]["subscription_id"]
        if "usage" in t:
            out["usage"] = t["usage"].filter(pl.col("subscription_id").is_in(subs.implode()))
        for name in ("invoices", "payments"):
            if name in t:
                out[name] = t[name].filter(pl.col("customer_id").is_in(ids.implode()))
        invoices = out["invoices"]["invoice_id"] if "invoices" in out else pl.Series([], dtype=pl.String)
        for name in ("invoice_lines", "credit_notes"):
            if name in t:
                out[name] = t[name].filter(pl.col("invoice_id").is_in(invoices.implode()))
        return Dataset(folder=self.folder, tables=out, files=self.files)
