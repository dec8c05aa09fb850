"""Per-case workbooks in the monthly run: a workbook that declares ``exception_id`` runs once per case.

The monthly run executes the ordinary workbooks (``NN_name.ipynb``) once each; a
*per-case* workbook (``02_discrepancy_investigation``) instead runs once for
each of the ``investigations`` largest open cases by money at stake (base
currency), after the ordinary workbooks, so it can use their exceptions
(``exceptions.parquet`` in a workbook's results folder; else the month is
verified here). With a ``case_log``, resolved and accepted findings are left
out. Each case gets its executed notebook and report named
``<workbook>-<exception_id>`` and its results in ``investigations/<exception_id>/``.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from billing_lib.checks.base import REGISTRY
from billing_lib.core.periods import parse_period
from billing_lib.data.dataset import Dataset
from billing_lib.investigation.messages import safe_name
from billing_lib.investigation.report import largest_open_cases
from billing_lib.reports.style import money_label
from billing_lib.runner.jobs import Job, job
from billing_lib.verification import verify

RESULTS = "investigations"


def run_exceptions(results: list[Path], ds: Dataset, period: str | None) -> pl.DataFrame:
    """The findings of this run: ``exceptions.parquet`` in one of the ``results`` folders (written by a workbook
    of the run), else ``ds`` verified for ``period``."""
    for folder in results:
        if (folder / "exceptions.parquet").is_file():
            return pl.read_parquet(folder / "exceptions.parquet")
    return verify(ds, [parse_period(period)] if period else None).exceptions


def case_title(case: dict) -> str:
    """A case as a reader names it: the check's title, the customer and the money at stake in its currency
    ("Duplicate charges, customer C-00009: €5,328.00")."""
    check = REGISTRY[case["check"]].title if case["check"] in REGISTRY else case["check"]
    who = f"customer {case['customer_id']}" if case["customer_id"] else "no customer"
    stake = money_label(case["at_stake"], case["currency"]) if case["at_stake"] is not None and case["currency"] \
        else ""
    return f"{check}, {who}" + (f": {stake}" if stake else "")


def case_jobs(notebook: Path, cases: pl.DataFrame, values: dict) -> list[Job]:
    """One job of the per-case ``notebook`` per row of ``cases`` (:func:`open_cases`), over the month of the
    run's ``values`` (``data_dir``, ``period``, ``base_currency``, ``case_log``)."""
    title = job(notebook, values).title
    period = values.get("period")
    common = {**values, "customer_id": None, "invoice_id": None, "period_from": period, "period_to": period}
    jobs = []
    for case in cases.iter_rows(named=True):
        folder = safe_name(case["exception_id"])
        jobs.append(job(notebook, {**common, "exception_id": case["exception_id"], "output_dir": f"{RESULTS}/{folder}"},
                        name=f"{notebook.stem}-{folder}", title=f"{title}: {case_title(case)}"))
    return jobs


def open_cases(exceptions: pl.DataFrame, ds: Dataset, base_currency: str, how_many: int,
               case_log: Path | None) -> pl.DataFrame:
    """The ``how_many`` largest open cases of ``exceptions`` by money at stake (none when 0)."""
    if how_many == 0:
        return pl.DataFrame({"exception_id": [], "customer_id": [], "check": [], "at_stake": [], "currency": []})
    return largest_open_cases(exceptions, ds, base_currency, how_many, case_log)


def stale_case(relative: str, per_case: list[str]) -> bool:
    """True for a file of an earlier run's case (``relative`` to the run's output folder) when the run has
    per-case workbooks (``per_case`` names them): their reports, notebooks and results are this run's only."""
    if not per_case:
        return False
    parts = relative.split("/")
    if parts[0] == RESULTS:
        return True
    return len(parts) == 2 and parts[0] in ("reports", "notebooks") and any(
        parts[1].startswith(f"{stem}-") for stem in per_case)
