"""The one look of the project's HTML: a stylesheet shared by the reports, the index page and the workbooks.

The stylesheet lives in ``templates/report.css``. The report export puts it
in every page's head; :func:`billing_lib.notebook_env.setup` shows it once in
a workbook so tables and the summary look the same in JupyterLab (its rules
are scoped to the project's own classes, the page-wide ones to
``body.billing-report``). Money is shown with :func:`money_label`, which
labels :func:`billing_lib.currency.format_money` with the currency.
"""
from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from importlib import resources

from .currency import format_money

PAGE_CLASS = "billing-report"
_PLAIN_NUMBER = re.compile(r"^[-+−\d\s.,'\u00a0\u202f]*$")


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """The project's CSS text."""
    return resources.files("billing_lib").joinpath("templates/report.css").read_text(encoding="utf-8")


def style_element() -> str:
    """The stylesheet as a ``<style>`` element, ready to put in a page or a notebook output."""
    return f"<style type=\"text/css\">\n{stylesheet()}</style>"


def money_label(amount: Decimal | str | None, currency: str) -> str:
    """``amount`` formatted for ``currency`` by :func:`format_money`, followed by the code when the
    formatted text does not already show the currency ("1234.50 EUR"); "" for None."""
    if amount is None or amount == "":
        return ""
    text = format_money(Decimal(str(amount)), currency)
    return f"{text} {currency}" if _PLAIN_NUMBER.match(text) else text
