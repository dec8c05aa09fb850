"""The general ledger as the data contract keeps it: the chart of accounts and ledger balances.

Accounts (``gl_entries.account``): 1000 cash, 1100 accounts receivable, 2100 deferred revenue, 2200 sales tax
payable, 4000 revenue, 6100 bad debt expense. Amounts are signed as debit - credit.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from billing_lib.core.money import DECIMAL, ZERO
from billing_lib.data.dataset import Dataset

CASH = "1000"
RECEIVABLES = "1100"
DEFERRED_REVENUE = "2100"
SALES_TAX = "2200"
REVENUE = "4000"
BAD_DEBT = "6100"
ACCOUNT_NAMES = {CASH: "cash", RECEIVABLES: "accounts receivable", DEFERRED_REVENUE: "deferred revenue",
                 SALES_TAX: "sales tax payable", REVENUE: "revenue", BAD_DEBT: "bad debt expense"}


def signed_amount() -> pl.Expr:
    """A ledger line's amount as debit - credit (an empty side is 0)."""
    return (pl.col("debit").fill_null(ZERO) - pl.col("credit").fill_null(ZERO)).cast(DECIMAL)


def account_balance(ds: Dataset, account: str, as_of: dt.date) -> pl.DataFrame:
    """Debit-minus-credit balance of ``account`` per currency over the entries dated up to ``as_of``:
    columns ``currency`` and ``ledger``."""
    return (ds.frame("gl_entries").filter((pl.col("account") == account) & (pl.col("date") <= as_of))
            .group_by("currency").agg(signed_amount().sum().cast(DECIMAL).alias("ledger")).collect())
