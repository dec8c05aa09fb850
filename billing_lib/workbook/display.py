"""Showing tables and notes in a workbook, safely.

Every value that comes from data is HTML-escaped before it reaches the
notebook (a customer may be called ``<script>``). Money columns are shown as
decimal text with their currency's minor-unit digits; an empty table shows a
sentence instead of a blank grid. :func:`show_table` shows an interactive
table (sort, search: :mod:`billing_lib.reports.interactive_tables`), with a plain-text
copy for front-ends that show no HTML.
"""
from __future__ import annotations

import html
from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go
import polars as pl
from IPython.display import HTML, display

from billing_lib.core.currency import is_currency
from billing_lib.core.money import number_text, to_text
from billing_lib.reports import interactive_tables


def money_as_text(frame: pl.DataFrame, money: Mapping[str, str]) -> pl.DataFrame:
    """Turn Decimal ``money`` columns into text; each maps to a currency code or a currency column."""
    exprs = []
    for col, cur in money.items():
        if col in frame.columns:
            code = pl.col(cur) if cur in frame.columns else pl.lit(cur)
            exprs.append(to_text(pl.col(col), code).alias(col))
    return frame.with_columns(exprs) if exprs else frame


def _header(name: str, money: Mapping[str, str]) -> str:
    label = name.replace("_", " ")
    if label.endswith(" base"):
        label = label[:-5]
    cur = money.get(name)
    if cur and is_currency(cur):
        label += f" ({cur})"
    return label


def display_frame(frame: pl.DataFrame, money: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The frame as shown to a reader: money as text, flags as yes/no, friendly headers (pandas, no index)."""
    money = dict(money or {})
    shown = money_as_text(frame, money)
    flags = [c for c, t in shown.schema.items() if t == pl.Boolean]
    shown = shown.with_columns(pl.col(c).replace_strict({True: "yes", False: "no"}, default=None,
                                                      return_dtype=pl.String) for c in flags)
    # other decimals (rates, days, quantities) without the trailing zeros of their fixed scale
    numbers = [c for c, t in shown.schema.items() if isinstance(t, pl.Decimal)]
    shown = shown.with_columns(number_text(pl.col(c)).alias(c) for c in numbers)
    pdf = shown.to_pandas()
    pdf.columns = [_header(c, money) for c in shown.columns]
    return pdf


def table_html(frame: pl.DataFrame, money: Mapping[str, str] | None = None) -> str:
    """The frame as a static escaped HTML table (money as text, friendly headers, no index)."""
    return display_frame(frame, money).to_html(index=False, escape=True, na_rep="", border=0,
                                               classes="billing-table")


def show_table(frame: pl.DataFrame, money: Mapping[str, str] | None = None, *,
               empty: str | None = "No rows.") -> None:
    """Display ``frame`` as an escaped table; when it has no rows, the sentence ``empty`` (None: nothing)."""
    if frame.is_empty():
        if empty is not None:
            show_note(empty)
    else:
        shown = display_frame(frame, money)
        gaps = [c for c in shown.columns if shown[c].isna().any()]
        if gaps:  # an empty cell reads as empty, not "None" or "NaN"
            shown[gaps] = shown[gaps].astype(object).where(shown[gaps].notna(), "")
        display({"text/html": interactive_tables.table_html(shown),
                 "text/plain": shown.to_string(index=False, na_rep="")}, raw=True)


def show_note(text: str) -> None:
    """Display one escaped paragraph of text."""
    display(HTML(f"<p>{html.escape(text)}</p>"))


def show_list(lines: list[str]) -> None:
    """Display escaped sentences as a bulleted list."""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    display(HTML(f"<ul>{items}</ul>"))


def show_chart(fig: go.Figure | None, *, empty: str = "No findings: nothing to chart.") -> None:
    """Show a figure, or the sentence ``empty`` when there was nothing to plot (``fig`` is None)."""
    if fig is None:
        show_note(empty)
    else:
        fig.show()


def show_top(frame: pl.DataFrame, file: str, money: Mapping[str, str] | None = None, *,
             empty: str | None = "No rows.", limit: int = 200) -> None:
    """:func:`show_table` of the first ``limit`` rows, saying how many more the file ``file`` holds, so that a
    report stays readable however many rows a test finds."""
    show_table(frame.head(limit), money, empty=empty)
    if frame.height > limit:
        show_note(f"The first {limit:,} of {frame.height:,} rows; {file} holds them all.")
