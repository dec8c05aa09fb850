"""billing_lib: load, rate, verify and report on billing data.

This module is the analysts' API: a workbook starts with ``import billing_lib as bl`` and calls
``bl.load_dataset``, ``bl.verify``, ``bl.show_table``... Every name of ``__all__`` is listed, with its home
and what it does, in docs/analyst-api.md. A name is imported from its home module on first use, so
``import billing_lib`` (and with it the ``billing`` command) loads no dataframe, chart or notebook library.
Modules inside the package import from a name's home, never from here.
"""
from __future__ import annotations

import importlib
import sys

__version__ = "0.1.0"

# jsonschema, which nbformat imports (and with it plotly and papermill), loads ``rfc3987_syntax`` when it is
# installed (Jupyter installs it), and that package builds some thirty parsers as it is imported: 1.3 s of
# every workbook kernel's start (python-jsonschema/jsonschema#1428). Nothing here checks IRIs against a
# schema; without it jsonschema leaves out that one format check. A process that imported it already keeps it.
sys.modules.setdefault("rfc3987_syntax", None)

# The facade's names: name -> (home module, attribute of it; None when the name is the module itself).
_HOMES: dict[str, tuple[str, str | None]] = {
    # a workbook's first cell
    "setup": ("billing_lib.workbook.environment", "setup"),
    "check_parameters": ("billing_lib.workbook.parameters", "check_parameters"),
    "progress_line": ("billing_lib.workbook.progress", "progress_line"),
    # data and months
    "load_dataset": ("billing_lib.data.loading", "load_dataset"),
    "Dataset": ("billing_lib.data.dataset", "Dataset"),
    "parse_period": ("billing_lib.core.periods", "parse_period"),
    "month_bounds": ("billing_lib.core.periods", "month_bounds"),
    # the audit
    "verify": ("billing_lib.verification", "verify"),
    "verify_on_engine": ("billing_lib.verification_engines", "verify_on_engine"),
    "verify_from_disk": ("billing_lib.verification", "verify_from_disk"),
    "write_results": ("billing_lib.verification", "write_results"),
    "write_findings_excel": ("billing_lib.verification", "write_findings_excel"),
    "analysis": ("billing_lib.workbook.analysis", None),
    "case_marking": ("billing_lib.cases.marking", None),
    "explore": ("billing_lib.workbook.explore", None),
    # showing results
    "show_table": ("billing_lib.workbook.display", "show_table"),
    "show_chart": ("billing_lib.workbook.display", "show_chart"),
    "show_list": ("billing_lib.workbook.display", "show_list"),
    "show_note": ("billing_lib.workbook.display", "show_note"),
    "show_top": ("billing_lib.workbook.display", "show_top"),
    "charts": ("billing_lib.reports.charts", None),
    "publish_summary": ("billing_lib.reports.summary", "publish_summary"),
    # the invoice run
    "prebilling": ("billing_lib.invoicing.prebilling", None),
    # investigating one customer, invoice or finding
    "investigate": ("billing_lib.investigation.subject", "investigate"),
    "story": ("billing_lib.investigation.story", None),
    "explain": ("billing_lib.investigation.explain", None),
    "resolution": ("billing_lib.investigation.resolution", None),
    "client_messages": ("billing_lib.investigation.messages", None),
    "investigation_charts": ("billing_lib.investigation.charts", None),
    "investigation_report": ("billing_lib.investigation.report", None),
    # the month-end close
    "apply_payments": ("billing_lib.engine.cash_application", "apply_payments"),
    "receivables": ("billing_lib.month_end.receivables", None),
    "revenue": ("billing_lib.month_end.revenue", None),
    "close_checklist": ("billing_lib.month_end.close_checklist", "close_checklist"),
    "month_end_report": ("billing_lib.month_end.report", None),
    "write_schedules": ("billing_lib.month_end.excel", "write_schedules"),
    # forensic analytics
    "forensics": ("billing_lib.forensics", None),
    # errors a workbook or a caller may meet
    "BillingInputError": ("billing_lib.errors", "BillingInputError"),
    "DatasetError": ("billing_lib.errors", "DatasetError"),
    "ParameterError": ("billing_lib.errors", "ParameterError"),
    "Problem": ("billing_lib.errors", "Problem"),
}

__all__ = [*_HOMES, "__version__"]


def __getattr__(name: str) -> object:
    """A facade name, imported from its home on first use (and kept)."""
    if name not in _HOMES:
        raise AttributeError(f"module 'billing_lib' has no attribute {name!r}; the analysts' names are "
                             f"listed in billing_lib.__all__ and docs/analyst-api.md")
    home, attribute = _HOMES[name]
    module = importlib.import_module(home)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
