"""Sharing without personal data: a dataset whose customers' names, e-mail addresses and addresses are masked.

Reports made from a redacted dataset can go beyond finance: every id (customer, invoice, payment...), amount,
date, country and currency stays as it is, so findings, totals and schedules are the same figures; what
names a person or a company is replaced.

- ``customers.name`` becomes ``Customer <customer_id>``; ``customers.email`` is emptied; every text column of
  ``customers`` beyond the contract (an importer's ``address``, ``city``, ``postal_code``, ``phone``...) is
  emptied.
- In every free-text column of the other tables (a bank ``reference``, a line's ``description``, a credit
  note's ``reason``, and text columns beyond the contract), a customer's name or e-mail address written
  inside the text is replaced by the same mask (literal match, ASCII case ignored). Names shorter than
  :data:`SHORTEST_NAME` characters are left inside free text: masking them would mangle ordinary words.
"""
from __future__ import annotations

import polars as pl

from billing_lib.data.contract import TABLES
from billing_lib.data.dataset import ROW, Dataset

SHORTEST_NAME = 3  # names at least this long are masked inside free text too
MASKED_EMAIL = "redacted"  # what an e-mail address written inside free text becomes


def customer_mask(customer_id: pl.Expr) -> pl.Expr:
    """The name a redacted customer is shown with: ``Customer C-00001``."""
    return pl.concat_str(pl.lit("Customer "), customer_id)


def redact(ds: Dataset) -> Dataset:
    """``ds`` with the customers' names, e-mail addresses and addresses masked (see the module docstring)."""
    customers = ds.tables.get("customers")
    if customers is None:
        return ds
    contract = set(TABLES["customers"].names) | {ROW}
    personal = [c for c, t in customers.schema.items() if c not in contract and t == pl.String]
    masked = customers.with_columns(
        customer_mask(pl.col("customer_id")).alias("name"),
        pl.lit(None, dtype=pl.String).alias("email"),
        *(pl.lit(None, dtype=pl.String).alias(c) for c in personal))
    patterns, masks = _replacements(customers)
    tables = {name: masked if name == "customers" else _mask_text(frame, name, patterns, masks)
              for name, frame in ds.tables.items()}
    return Dataset(folder=ds.folder, tables=tables, files=ds.files)


def _replacements(customers: pl.DataFrame) -> tuple[list[str], list[str]]:
    """Each name (long enough) and e-mail address, longest first, with what it becomes inside free text."""
    names = (customers.select("customer_id", "name").drop_nulls("name")
             .filter(pl.col("name").str.strip_chars().str.len_chars() >= SHORTEST_NAME)
             .select(pl.col("name").str.strip_chars().alias("find"),
                     customer_mask(pl.col("customer_id")).alias("mask")))
    emails = (customers.select(pl.col("email").alias("find")).drop_nulls()
              .filter(pl.col("find").str.len_chars() > 0).with_columns(mask=pl.lit(MASKED_EMAIL)))
    both = (pl.concat([names, emails]).unique("find", keep="first", maintain_order=True)
            .sort(pl.col("find").str.len_chars(), "find", descending=[True, False]))
    return both["find"].to_list(), both["mask"].to_list()


def _mask_text(frame: pl.DataFrame, table: str, patterns: list[str], masks: list[str]) -> pl.DataFrame:
    """The free-text columns of ``frame`` (contract kind ``text`` and text beyond the contract) with every
    pattern replaced by its mask."""
    if not patterns:
        return frame
    spec = TABLES.get(table)
    kinds = {c.name: c.kind for c in spec.columns} if spec else {}
    text = [c for c, t in frame.schema.items() if t == pl.String and kinds.get(c, "text") == "text" and c != ROW]
    return frame.with_columns(pl.col(c).str.replace_many(patterns, masks, ascii_case_insensitive=True)
                              for c in text)
