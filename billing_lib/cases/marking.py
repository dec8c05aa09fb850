"""What a verification run's findings stand for in the case log: new, still open, decided, or back again.

``billing verify DATA --out DIR --cases LOG`` records the run in the log and
writes ``case_status.csv`` next to the contract's ``exceptions.csv`` (which
keeps its shape): one row per finding, in the same order, with its standing and
whether reports should show it. Resolved and accepted findings are left out of
reports; a finding that comes back after its fix took effect is a
``regression`` and is shown again.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from billing_lib.cases.store import CaseLog
from billing_lib.core.money import money_text_where_currency
from billing_lib.core.output import atomic_outputs, neutralize_formulas

CASE_STATUS_FILE = "case_status.csv"
SHOWN = ("new", "open", "investigating", "regression")
STANDING_COLUMNS = ["exception_id", "check", "customer_id", "invoice_id", "period", "currency", "at_stake",
                    "case_status", "in_report", "resolution", "case_amount", "note", "updated_by", "updated_at"]


def record_findings(log: CaseLog, exceptions: pl.DataFrame, periods: list[str], *, checks: Iterable[str],
                    all_periods: bool = False, author: str | None = None, at: str | None = None) -> pl.DataFrame:
    """Record the findings in ``log`` and return them (in their order) with ``case_status`` and ``in_report``.

    ``checks``: the names of the checks the run ran (its summary's ``by_check``); ``all_periods``: the run
    verified every month (see :meth:`CaseLog.record_run`)."""
    rows = exceptions.with_columns(
        at_stake=money_text_where_currency(pl.col("at_stake"))
    ).to_dicts()
    standing = log.record_run(rows, periods, checks=checks, all_periods=all_periods, author=author, at=at)
    return with_standing(log, exceptions, standing)


def with_standing(log: CaseLog, exceptions: pl.DataFrame, standing: dict[str, str] | None = None) -> pl.DataFrame:
    """The findings with their case columns; without ``standing`` the log's current status is used
    (findings the log does not hold are ``new``)."""
    cases = log.cases().select(
        "exception_id", pl.col("status").alias("_status"), "resolution", pl.col("amount").alias("case_amount"),
        "note", pl.col("author").alias("updated_by"), "updated_at")
    frame = exceptions.join(cases, on="exception_id", how="left", maintain_order="left")
    if standing is None:
        frame = frame.with_columns(case_status=pl.col("_status").fill_null("new"))
    else:
        frame = frame.with_columns(case_status=pl.col("exception_id").replace_strict(
            standing, default=None, return_dtype=pl.String).fill_null(pl.col("_status")).fill_null("new"))
    return frame.with_columns(in_report=pl.col("case_status").is_in(SHOWN)).drop("_status")


def to_report(marked: pl.DataFrame) -> pl.DataFrame:
    """Only what reports should show: new, still open or investigating, and regressions."""
    return marked.filter(pl.col("in_report"))


def write_case_status(marked: pl.DataFrame, out_dir: str | Path) -> Path:
    """Write ``case_status.csv`` (formula-safe, deterministic for the same data and log) atomically."""
    table = marked.with_columns(
        at_stake=money_text_where_currency(pl.col("at_stake")),
        in_report=pl.when(pl.col("in_report")).then(pl.lit("yes")).otherwise(pl.lit("no")),
    ).select(STANDING_COLUMNS)
    with atomic_outputs(out_dir) as stage:
        neutralize_formulas(table).write_csv(stage / CASE_STATUS_FILE, line_terminator="\n")
    return Path(out_dir) / CASE_STATUS_FILE


def standing_counts(marked: pl.DataFrame) -> dict[str, int]:
    """Findings per case status (every status named, zero included)."""
    counts = dict(marked.group_by("case_status").len().iter_rows())
    return {s: int(counts.get(s, 0)) for s in ("new", "open", "investigating", "regression", "resolved",
                                                "accepted")}


def for_report(exceptions: pl.DataFrame, findings: pl.DataFrame, periods: list[str],
               case_log: str | Path | None, *, checks: Iterable[str], all_periods: bool = False,
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A workbook's view of a run through the case log: (findings to show, findings per case status).

    Without a log every finding is shown and the counts are empty. With one, the run is recorded (new
    findings become open cases, regressions are reopened) and only new, open, investigating and regressed
    findings are kept in ``findings`` (any frame with ``exception_id``, e.g. ``analysis.exceptions_table``).
    ``checks`` and ``all_periods`` say what the run covered, as for :func:`record_findings`.
    """
    counts_schema = {"case_status": pl.String, "findings": pl.Int64}
    if case_log is None:
        return findings, pl.DataFrame(schema=counts_schema)
    from billing_lib.cases.store import open_case_log
    marked = record_findings(open_case_log(case_log), exceptions, periods, checks=checks, all_periods=all_periods)
    shown = findings.join(marked.filter(pl.col("in_report")).select("exception_id", "case_status"),
                          on="exception_id", how="semi", maintain_order="left")
    counts = pl.DataFrame(list(standing_counts(marked).items()), schema=counts_schema, orient="row")
    return shown, counts
