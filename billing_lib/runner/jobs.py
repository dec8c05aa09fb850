"""What the monthly run executes: one job per workbook, with the parameters the workbook declares.

A job's ``values`` are the run's values for the parameters its notebook declares, in the notebook's order;
its ``output_dir`` (where the workbook writes its results) is a folder *inside the run's output*, so the same
job runs into the staging folder and is recorded with its published path (:meth:`Job.parameters`).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import papermill as pm

from billing_lib.reports.export import notebook_title

RESULTS_PARAMETER = "output_dir"
CASE_PARAMETER = "exception_id"


@dataclass(frozen=True)
class Job:
    """One execution of a workbook: its executed notebook and report are both called ``name``."""

    notebook: Path
    name: str
    title: str
    values: dict  # declared parameter -> value; output_dir relative to the run's output folder

    @property
    def results(self) -> str | None:
        """The folder (relative to the run's output) the workbook writes its results to, if it takes one."""
        return self.values.get(RESULTS_PARAMETER)

    def parameters(self, root: Path) -> dict:
        """The values to inject when the run's output folder is ``root`` (paths absolute)."""
        return {k: str(root / v) if k == RESULTS_PARAMETER else v for k, v in self.values.items()}


def declared_parameters(notebook: Path) -> dict[str, object]:
    """The parameters a workbook declares in its ``parameters`` cell, with their default values, in order."""
    out: dict[str, object] = {}
    for name, info in pm.inspect_notebook(str(notebook)).items():
        try:
            out[name] = ast.literal_eval(info.get("default", "None"))
        except (ValueError, SyntaxError):
            out[name] = None
    return out


def is_per_case(notebook: Path) -> bool:
    """True when the workbook takes an ``exception_id`` parameter (it investigates one case)."""
    return CASE_PARAMETER in declared_parameters(notebook)


def results_folder(notebook: Path, declared: dict[str, object]) -> str:
    """The folder name (inside the run's output) a workbook writes its results to.

    It is the last part of the workbook's own default ``output_dir`` (``../scratch/2024-06/verification`` ->
    ``verification``), so other workbooks find them where the notebook says; else the name without ``NN_``.
    """
    default = declared.get(RESULTS_PARAMETER)
    if isinstance(default, str) and PurePosixPath(default).name:
        return PurePosixPath(default).name
    return re.sub(r"^\d+_", "", notebook.stem)


def job(notebook: Path, values: dict, *, name: str | None = None, title: str | None = None) -> Job:
    """The job of ``notebook`` given the run's ``values``: those the notebook declares, in its order; the
    results folder is the workbook's own unless ``values`` names one."""
    declared = declared_parameters(notebook)
    values = {RESULTS_PARAMETER: results_folder(notebook, declared), **values}
    return Job(notebook, name or notebook.stem, title or notebook_title(notebook),
               {k: values[k] for k in declared if k in values})
