"""Turning typed frames into the contract's text columns, and writing them as CSV or Parquet.

Money is written as decimal text with exactly the digits of its currency,
quantities, prices and rates as plain decimals without trailing zeros,
dates as ``YYYY-MM-DD``. Every column is text, so CSV and Parquet hold the
same characters and repeated runs write identical bytes.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from billing_lib.core.money import number_text, to_text

DATE_FMT = "%Y-%m-%d"


def _date(name: str) -> pl.Expr:
    return pl.col(name).dt.strftime(DATE_FMT).alias(name)


def _money(name: str, currency: str = "currency") -> pl.Expr:
    return to_text(pl.col(name), pl.col(currency)).alias(name)


def _number(name: str) -> pl.Expr:
    return pl.when(pl.col(name).is_null()).then(None).otherwise(number_text(pl.col(name))).alias(name)


def invoices_text(headers: pl.DataFrame) -> pl.DataFrame:
    """The ``invoices`` table in number order."""
    return headers.sort("number").select(
        "invoice_id", "customer_id", "currency", _date("issue_date"), _date("due_date"), _date("period_start"),
        _date("period_end"), _money("subtotal"), _money("discount"), _money("tax"), _money("total"), "status")


def lines_text(lines: pl.DataFrame) -> pl.DataFrame:
    """The ``invoice_lines`` table; money in the currency of the invoice as issued."""
    return lines.sort("number", "line_no").select(
        "invoice_id", pl.col("line_no").cast(pl.String), "subscription_id", "plan_id", "description",
        _date("period_start"), _date("period_end"), _number("quantity"), _number("unit_price"),
        _money("amount", "invoice_currency"), _money("discount", "invoice_currency"), _number("tax_rate_pct"),
        _money("tax_amount", "invoice_currency"))


def credit_notes_text(notes: pl.DataFrame) -> pl.DataFrame:
    return notes.select("credit_note_id", "invoice_id", _date("issue_date"), _money("amount"), _money("tax"),
                        "reason")


def payments_text(pays: pl.DataFrame) -> pl.DataFrame:
    return pays.select("payment_id", "customer_id", "currency", _money("amount"), _date("received_date"),
                       "invoice_id", "reference")


def gl_text(gl: pl.DataFrame) -> pl.DataFrame:
    return gl.select("entry_id", pl.col("line_no").cast(pl.String), _date("date"), "account", _money("debit"),
                     _money("credit"), "currency", "source_type", "source_id")


def write_tables(folder: Path, tables: dict[str, pl.DataFrame], fmt: str) -> list[Path]:
    """Write each text table as ``NAME.csv`` (``NAME.parquet`` when fmt is parquet); ground truth is always CSV."""
    written = []
    for name, frame in sorted(tables.items()):
        frame = frame.select(pl.col(c).cast(pl.String) for c in frame.columns)
        if fmt == "parquet" and name != "ground_truth":
            path = folder / f"{name}.parquet"
            frame.write_parquet(path, compression="zstd", statistics=False)
        else:
            path = folder / f"{name}.csv"
            frame.write_csv(path, line_terminator="\n")
        written.append(path)
    return written
