"""How well the checks find planted mistakes: recall and precision against a ``ground_truth.csv``.

A planted mistake is *found* when an exception of its check locates it: same
invoice (and line, where the truth names one), or for a mistake without an
invoice (an unbilled charge) the same subscription and period, or the same
payment. An error or warning *points at* a planted mistake when it locates
any planted mistake this way, whatever the check.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

_KEYS = ["invoice_id", "line_no", "subscription_id", "payment_id", "period"]


@dataclass(frozen=True)
class Score:
    """Recall per check and overall precision of one verification run."""

    per_check: pl.DataFrame     # check, planted, found, recall
    missed: pl.DataFrame        # planted mistakes no exception of their check located
    unexplained: pl.DataFrame   # errors and warnings that point at no planted mistake
    recall: float
    precision: float


def _normalize(frame: pl.DataFrame) -> pl.DataFrame:
    cols = [pl.col(c).cast(pl.String).replace("", None).alias(c) if c in frame.columns
            else pl.lit(None, pl.String).alias(c) for c in _KEYS]
    return frame.with_columns(cols)


def _locates(truth: pl.DataFrame, exc: pl.DataFrame, same_check: bool) -> pl.DataFrame:
    """Pairs (truth row, exception row) where the exception locates the planted mistake."""
    t = truth.with_row_index("t_row")
    e = exc.with_row_index("e_row")
    by_invoice = t.filter(pl.col("invoice_id").is_not_null()).join(e, on="invoice_id", suffix="_e").filter(
        pl.col("line_no").is_null() | pl.col("line_no_e").is_null() | (pl.col("line_no") == pl.col("line_no_e")))
    by_sub = t.filter(pl.col("invoice_id").is_null() & pl.col("subscription_id").is_not_null()).join(
        e, on=["subscription_id"], suffix="_e").filter(
        pl.col("period").is_null() | (pl.col("period") == pl.col("period_e")))
    by_payment = t.filter(pl.col("invoice_id").is_null() & pl.col("payment_id").is_not_null()).join(
        e, on="payment_id", suffix="_e")
    pairs = pl.concat([f.select("t_row", "e_row", "check", "check_e")
                       for f in (by_invoice, by_sub, by_payment)])
    if same_check:
        pairs = pairs.filter(pl.col("check") == pl.col("check_e"))
    return pairs


def score(exceptions: pl.DataFrame, ground_truth: pl.DataFrame) -> Score:
    """Compare a run's exceptions with the planted mistakes of its dataset."""
    truth = _normalize(ground_truth).with_row_index("t_row")
    exc = _normalize(exceptions).with_row_index("e_row")
    found_rows = _locates(truth.drop("t_row"), exc.drop("e_row"), same_check=True)["t_row"].unique()
    truth = truth.with_columns(found=pl.col("t_row").is_in(found_rows.implode()))
    per_check = (truth.group_by("check").agg(planted=pl.len(), found=pl.col("found").sum())
                 .with_columns(recall=pl.col("found") / pl.col("planted")).sort("check"))
    flagged = exc.filter(pl.col("severity").is_in(["error", "warning"]))
    explained = _locates(truth.drop("t_row", "found"), flagged.drop("e_row"), same_check=False)["e_row"].unique()
    flagged = flagged.with_row_index("f_row")
    unexplained = flagged.filter(~pl.col("f_row").is_in(explained.implode())).drop("f_row", "e_row")
    recall = truth["found"].mean() if truth.height else 1.0
    precision = 1 - unexplained.height / flagged.height if flagged.height else 1.0
    return Score(per_check, truth.filter(~pl.col("found")).drop("t_row", "found"), unexplained,
                 float(recall), float(precision))
