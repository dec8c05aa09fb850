"""The run the index page compares with: the latest published run of the month before, beside this one.

"Previous" means the month before this run's period (for 2024-06, 2024-05),
as published by an earlier ``billing run``: a folder next to this run's
output folder (``out/2024-05`` beside ``out/2024-06``, whatever its name)
whose ``manifest.json`` names that period (hidden folders, such as a run's
staging folder, excepted). When several do, the one that finished last is
taken. Its headline figures are read back from its executed notebooks, so any
earlier run can be compared without a file of its own.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import nbformat

from billing_lib.core.periods import parse_period, period_name
from billing_lib.reports.headline import read as read_headline
from billing_lib.reports.index_page import PreviousRun


def previous_period(period: str) -> str:
    """The month before ``period`` ("2024-01" -> "2023-12")."""
    start = parse_period(period)
    return period_name((start - dt.timedelta(days=1)).replace(day=1))


def _manifest(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _headlines(folder: Path, workbooks: list[str]) -> dict[str, dict]:
    out = {}
    for name in workbooks:
        try:
            figures = read_headline(nbformat.read(folder / "notebooks" / f"{name}.ipynb", as_version=4))
        except (OSError, ValueError):
            continue
        if figures:
            out[name] = figures
    return out


def find_previous_run(output_dir: Path, period: str | None) -> PreviousRun | None:
    """The latest published run of the month before ``period`` in a folder beside ``output_dir``, or None
    (no period, or no such run)."""
    if period is None:
        return None
    wanted = previous_period(period)
    here = output_dir.resolve()
    found: list[tuple[str, Path, dict]] = []
    if not here.parent.is_dir():
        return None
    for folder in sorted(p for p in here.parent.iterdir()
                         if p.is_dir() and not p.name.startswith(".") and p.resolve() != here):
        manifest = _manifest(folder)
        if not manifest or manifest.get("parameters", {}).get("period") != wanted:
            continue
        found.append((str(manifest.get("run", {}).get("finished_utc", "")), folder, manifest))
    if not found:
        return None
    finished, folder, manifest = max(found, key=lambda item: (item[0], item[1].name))
    workbooks = [str(w) for w in manifest.get("parameters", {}).get("workbooks", [])]
    return PreviousRun(wanted, folder, finished, _headlines(folder, workbooks))
