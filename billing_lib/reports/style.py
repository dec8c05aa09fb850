"""The one look of the project's HTML: a stylesheet shared by the reports, the index page and the workbooks.

The stylesheet lives in ``templates/report.css``. The report export puts it
in every page's head; :func:`billing_lib.workbook.environment.setup` shows it once in
a workbook so tables and the summary look the same in JupyterLab (its rules
are scoped to the project's own classes, the page-wide ones to
``body.billing-report``). Money is shown with :func:`money_label`: the
project's Babel-based :func:`billing_lib.core.currency.format_money_local` in the
reports' language (English), so every amount has its currency's symbol or
code, its digits and grouped thousands ("€6,480.30", "¥7,918", "KWD 41.004").
"""
from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from importlib import resources

from billing_lib.core.currency import format_money_local

PAGE_CLASS = "billing-report"
REPORT_LOCALE = "en"  # the reports are written in English


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """The project's CSS text."""
    return resources.files("billing_lib").joinpath("templates/report.css").read_text(encoding="utf-8")


def style_element() -> str:
    """The stylesheet as a ``<style>`` element, ready to put in a page or a notebook output."""
    return f"<style type=\"text/css\">\n{stylesheet()}</style>"


def money_label(amount: Decimal | str | None, currency: str) -> str:
    """``amount`` formatted for ``currency`` as the reports show it ("€1,234.50"); "" for None."""
    if amount is None or amount == "":
        return ""
    return format_money_local(Decimal(str(amount)), currency, REPORT_LOCALE)
