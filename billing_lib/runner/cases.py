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

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from billing_lib.data.dataset import Dataset
from billing_lib.runner.execute import declared_parameters
from billing_lib.runner.params import RunParams

CASE_PARAMETER = "exception_id"
RESULTS = "investigations"


@dataclass(frozen=True)
class CaseRun:
    """One execution of a per-case workbook."""

    notebook: Path
    name: str
    title: str
    parameters: dict


def is_per_case(notebook: Path) -> bool:
    """True when the workbook takes an ``exception_id`` parameter (it investigates one case)."""
    return CASE_PARAMETER in declared_parameters(notebook)


def split_per_case(workbooks: tuple[Path, ...]) -> tuple[list[Path], list[Path]]:
    """(ordinary workbooks, per-case workbooks), each in the given order."""
    flags = [is_per_case(w) for w in workbooks]
    pairs = list(zip(workbooks, flags, strict=True))
    return [w for w, f in pairs if not f], [w for w, f in pairs if f]


def run_exceptions(params: RunParams, ds: Dataset, result_folders: list[str | None]) -> pl.DataFrame:
    """The findings of this run: ``exceptions.parquet`` written by a workbook of the run, else ``ds`` verified."""
    for folder in result_folders:
        if folder and (Path(folder) / "exceptions.parquet").is_file():
            return pl.read_parquet(Path(folder) / "exceptions.parquet")
    from billing_lib.core.periods import parse_period
    from billing_lib.verify import verify
    return verify(ds, [parse_period(params.period)] if params.period else None).exceptions


def case_runs(params: RunParams, ds: Dataset, notebook: Path, title: str, exceptions: pl.DataFrame) -> list[CaseRun]:
    """The runs of ``notebook`` for the largest open cases of ``exceptions`` in ``ds`` (``params.investigations``
    many)."""
    if params.investigations == 0:
        return []
    from billing_lib.investigation.messages import safe_name
    from billing_lib.investigation.report import largest_open_cases
    cases = largest_open_cases(exceptions, ds, params.base_currency,
                               params.investigations, params.case_log)
    declared = declared_parameters(notebook)
    runs = []
    for case in cases.iter_rows(named=True):
        eid = case["exception_id"]
        values = {"customer_id": None, "invoice_id": None, "exception_id": eid, "data_dir": str(params.data_dir),
                  "period_from": params.period, "period_to": params.period,
                  "output_dir": str(params.output_dir / RESULTS / safe_name(eid)),
                  "base_currency": params.base_currency,
                  "case_log": str(params.case_log) if params.case_log else None}
        who = case["customer_id"] or "no customer"
        stake = f"{case['at_stake']:f}".rstrip("0").rstrip(".") if case["at_stake"] is not None else ""
        runs.append(CaseRun(notebook, f"{notebook.stem}-{safe_name(eid)}",
                            f"{title}: {case['check']} of {who} ({stake} {case['currency'] or ''})".strip(),
                            {k: v for k, v in values.items() if k in declared}))
    return runs


def remove_stale_cases(out: Path, per_case: list[Path], published: list[str]) -> list[Path]:
    """After a successful run, remove the reports, notebooks and results of cases an earlier run investigated
    and this one did not (case names change from month to month; the index links only this run's)."""
    import shutil
    keep = set(published)
    removed: list[Path] = []
    for notebook in per_case:
        for folder, suffix in (("reports", ".html"), ("notebooks", ".ipynb")):
            for path in sorted((out / folder).glob(f"{notebook.stem}-*{suffix}")):
                if path.name[: -len(suffix)] not in keep:
                    path.unlink()
                    removed.append(path)
    # a case's name is "<workbook>-<case folder>": take the workbook's own prefix off (its name may hold "-")
    prefixes = [f"{notebook.stem}-" for notebook in per_case]
    kept_ids = {name[len(prefix):] for name in keep for prefix in prefixes if name.startswith(prefix)}
    results = out / RESULTS
    if per_case and results.is_dir():
        for path in sorted(results.iterdir()):
            if path.is_dir() and path.name not in kept_ids:
                shutil.rmtree(path)
                removed.append(path)
    return removed
