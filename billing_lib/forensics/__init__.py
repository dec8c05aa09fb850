"""Forensic analytics an auditor asks for: digit tests, duplicates, outliers, value bands and samples.

:mod:`.population` picks the amounts (by default the totals of non-void invoices); :mod:`.digits` runs
Benford's law tests (first, second, first-two, last-two digits, summation); :mod:`.duplicates` finds
repeated amounts, near-duplicate invoices and probable duplicate customers; :mod:`.outliers` the amounts
out of line with their customer's history and the relative size factor; :mod:`.stratification` the value
bands; :mod:`.sampling` the monetary-unit and random samples. :mod:`.command` runs them all and writes
the files (``billing forensics``); :mod:`.findings` says what they found in plain words and
:mod:`.charts` draws them for the workbook ``04_forensic_analytics``.
"""
from __future__ import annotations

import importlib

# what a workbook calls (``bl.forensics.analyse`` ...): name -> home module; imported on first use, so that the
# ``billing`` command, which imports this package for its arguments, loads no chart library
_HOMES = {"analyse": "command", "plan_table": "command", "write_results": "command", "months_ending": "population",
          "parse_amounts": "population", "Options": "results", "charts": None, "findings": None}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'billing_lib.forensics' has no attribute {name!r}")
    home = _HOMES[name]
    module = importlib.import_module(f"billing_lib.forensics.{home or name}")
    return module if home is None else getattr(module, name)
