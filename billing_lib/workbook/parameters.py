"""Checking a workbook's parameters right after its parameters cell, with one message for every mistake.

Each workbook calls :func:`check_parameters` with the values of its
parameters cell (or the values papermill injected). Every wrong value is
named with what was expected; together they make one
:class:`~billing_lib.errors.ParameterError`, which the friendly error handler
(:mod:`billing_lib.workbook.friendly_errors`) shows without a traceback. Relative
paths are taken from the notebook's folder and shown resolved.
"""
from __future__ import annotations

import os
from pathlib import Path

from billing_lib.core.fx import check_base_currency
from billing_lib.core.periods import parse_period
from billing_lib.data.loading import find_table_file
from billing_lib.errors import ParameterError

_UNSET = object()
FIX_HINT = ("Change the value in the parameters cell (the first code cell) and run the workbook again; "
            "for the monthly run, fix the parameters file (parameters/YYYY-MM.yaml).")


def _is_path_text(value: object) -> bool:
    return isinstance(value, (str, os.PathLike)) and bool(str(value).strip())


def data_dir_problem(value: object) -> str | None:
    """What is wrong with ``data_dir`` (a dataset folder), or None."""
    if not _is_path_text(value):
        return f"data_dir must be the path of a dataset folder as text, e.g. \"../data/sample\", not {value!r}"
    folder = Path(value).expanduser()
    if not folder.is_dir():
        return f"data_dir {str(value)!r} is not a folder (resolved to {folder.resolve()})"
    if find_table_file(folder, "customers") is None:
        return (f"data_dir {str(value)!r} holds no customers table (customers.csv, .parquet or .xlsx): "
                f"is it a dataset folder? (resolved to {folder.resolve()})")
    return None


def period_problem(value: object, *, required: bool = False, name: str = "period") -> str | None:
    """What is wrong with the month ``name`` ("YYYY-MM"; None allowed unless ``required``), or None."""
    if value is None:
        return f"{name} is required by this workbook: a month as text, e.g. \"2024-06\"" if required else None
    if isinstance(value, (int, float)):
        return f"{name} {value!r} is a number: write the month as text in quotes, e.g. \"2024-06\""
    try:
        parse_period(value)
    except ParameterError:
        return f"{name} {value!r} is not a month as YYYY-MM (for example 2024-03)"
    return None


def output_dir_problem(value: object) -> str | None:
    """What is wrong with ``output_dir`` (a folder to write to, created when missing), or None."""
    if not _is_path_text(value):
        return (f"output_dir must be the path of a folder as text, e.g. \"../scratch/2024-06/verification\", "
                f"not {value!r}")
    folder = Path(value).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        return f"output_dir {str(value)!r} is a file, not a folder (resolved to {folder})"
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return f"output_dir {str(value)!r} cannot be created: {existing} is not a writable folder"
    return None


def base_currency_problem(value: object) -> str | None:
    """What is wrong with ``base_currency`` (an ISO 4217 code), or None."""
    try:
        check_base_currency(value)
    except ParameterError as exc:
        return str(exc)
    return None


def import_problem(kind: object, source: object) -> str | None:
    """What is wrong with an optional import (``import_kind`` and ``import_source`` go together), or None."""
    from billing_lib.data.importers import IMPORTERS
    if kind is None and source is None:
        return None
    if kind is None or source is None:
        return "import_kind and import_source go together: set both to import a foreign export, or neither"
    if kind not in IMPORTERS:
        return f"import_kind {kind!r} is not one of {', '.join(repr(k) for k in sorted(IMPORTERS))}"
    if not _is_path_text(source) or not Path(source).expanduser().exists():
        return f"import_source {source!r} does not exist (resolved to {Path(str(source)).expanduser().resolve()})"
    return None


def check_parameters(*, data_dir: object = _UNSET, period: object = _UNSET, output_dir: object = _UNSET,
                     base_currency: object = _UNSET, period_required: bool = False,
                     import_kind: object = None, import_source: object = None,
                     period_from: object = None, period_to: object = None) -> None:
    """Check the parameters given; ParameterError naming every wrong one and how to fix it.

    ``period_from``/``period_to`` (a range of months, None: open) and the import pair are checked when given.
    """
    found = []
    if data_dir is not _UNSET:
        found.append(data_dir_problem(data_dir))
    if period is not _UNSET:
        found.append(period_problem(period, required=period_required))
    if output_dir is not _UNSET:
        found.append(output_dir_problem(output_dir))
    if base_currency is not _UNSET:
        found.append(base_currency_problem(base_currency))
    found.append(import_problem(import_kind, import_source))
    found.append(period_problem(period_from, name="period_from"))
    found.append(period_problem(period_to, name="period_to"))
    if not any(found[-2:]) and period_from is not None and period_to is not None and period_from > period_to:
        found.append(f"period_from {period_from!r} is after period_to {period_to!r}")
    problems = [p for p in found if p]
    if problems:
        # the first line names every problem: the monthly run reports a failed workbook by it
        raise ParameterError("; ".join(problems) + "\n" + FIX_HINT)
