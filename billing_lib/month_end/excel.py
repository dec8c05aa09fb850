"""Month-end schedules for finance as one Excel workbook: a sheet per schedule, numbers as numbers.

:func:`write_schedules` writes polars (or pandas) frames with openpyxl:

* money (``Decimal``) is written as a *numeric* cell, rounded half away from
  zero to the minor unit of its currency, with a number format showing exactly
  those digits (the row's ``currency`` column; ``*_base`` columns take the base
  currency); a Decimal that is no money (``dso``, ``*_pct``, rates: :data:`NOT_MONEY`)
  shows two decimals, as the reports do; other numbers, dates and booleans keep their own cell types;
* every text cell is written as a string cell, so a customer called
  ``=HYPERLINK("...")`` stays text: no cell of the file can run as a formula;
* the header row is bold on a grey fill, frozen, with a filter; columns are
  sized to their content;
* the file is replaced atomically: readers see the previous file or the new one; the same schedules give
  the same bytes (no save time in the file).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from billing_lib.core.currency import is_currency, minor_digits
from billing_lib.core.output import write_workbook_atomic

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE3E8")
DATE_FORMAT = "yyyy-mm-dd"
DEFAULT_DIGITS = 2
MAX_WIDTH = 60
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
NOT_MONEY = re.compile(r"(^dso$|^days|_days$|_pct$|^pct|^rate|_rate$|^share)")


def number_format(digits: int) -> str:
    """Excel number format with thousands separators and exactly ``digits`` decimals ("#,##0.00")."""
    return "#,##0" + ("." + "0" * digits if digits > 0 else "")


def sheet_title(name: str, taken: set[str]) -> str:
    """A valid, unique sheet title for ``name`` (at most 31 characters, none of []:*?/\\)."""
    base = _SHEET_BAD.sub("_", str(name)).strip("'") or "Sheet"
    title, n = base[:31], 1
    while title.lower() in taken:
        n += 1
        suffix = f" ({n})"
        title = base[:31 - len(suffix)] + suffix
    taken.add(title.lower())
    return title


def _rows(frame) -> tuple[list[str], list[tuple]]:
    """Column names and rows of Python values of a polars or pandas frame (pandas NaN/NaT -> None)."""
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if isinstance(frame, pl.DataFrame):
        return list(frame.columns), frame.rows()
    import pandas as pd
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"schedule must be a polars or pandas DataFrame, got {type(frame).__name__}")

    def plain(value):
        if value is None or (not isinstance(value, (str, bytes, Decimal)) and pd.isna(value)):
            return None
        if isinstance(value, pd.Timestamp):
            return value.to_pydatetime()
        return value.item() if hasattr(value, "item") and not isinstance(value, (str, Decimal)) else value
    return [str(c) for c in frame.columns], [tuple(plain(v) for v in row)
                                             for row in frame.itertuples(index=False, name=None)]


def is_money_column(column: str) -> bool:
    """False for the Decimal columns that hold no money (days sales outstanding, percentages, rates)."""
    return not NOT_MONEY.search(column)


def _digits(column: str, row: dict, base_currency: str | None) -> int:
    """Minor-unit digits for a money cell: the base currency for ``*_base`` columns, else the row's currency;
    two for a Decimal that is no money (DSO 21.52 days in JPY is not rounded to yen)."""
    if not is_money_column(column):
        return DEFAULT_DIGITS
    code = base_currency if column.endswith("_base") and base_currency else row.get("currency")
    return minor_digits(code) if isinstance(code, str) and is_currency(code) else DEFAULT_DIGITS


def _text(value: str) -> str:
    """Text without the control characters the xlsx format cannot hold (tab, CR and LF are kept)."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def _put(ws, r: int, c: int, value, column: str, row: dict, base_currency: str | None) -> str:
    """Write one cell with its proper type; return how it reads (for the column width)."""
    cell = ws.cell(row=r, column=c)
    if value is None:
        return ""
    if isinstance(value, bool):
        cell.value = value
        return "FALSE"
    if isinstance(value, Decimal):
        digits = _digits(column, row, base_currency)
        cell.value = value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
        cell.number_format = number_format(digits)
        return f"{cell.value:,}"
    if isinstance(value, int):
        cell.value = value
        return str(value)
    if isinstance(value, float):
        cell.value = value
        return f"{value:,.2f}"
    if isinstance(value, (dt.date, dt.datetime)):
        cell.value = value
        cell.number_format = DATE_FORMAT if not isinstance(value, dt.datetime) else "yyyy-mm-dd hh:mm:ss"
        return "yyyy-mm-dd" if not isinstance(value, dt.datetime) else "yyyy-mm-dd hh:mm:ss"
    text = _text(value if isinstance(value, str) else str(value))
    cell.value = text
    cell.data_type = "s"  # never a formula, whatever the text starts with
    return text


def _sheet(ws, frame, base_currency: str | None) -> None:
    columns, rows = _rows(frame)
    widths = [len(c) for c in columns]
    for c, name in enumerate(columns, 1):
        cell = ws.cell(row=1, column=c)
        cell.value = _text(name)
        cell.data_type = "s"
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(vertical="top")
    for r, values in enumerate(rows, 2):
        named = dict(zip(columns, values, strict=True))
        for c, (name, value) in enumerate(zip(columns, values, strict=True), 1):
            shown = _put(ws, r, c, value, name, named, base_currency)
            widths[c - 1] = max(widths[c - 1], max((len(line) for line in shown.splitlines()), default=0))
    for c, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(c)].width = min(MAX_WIDTH, width + 2)
    ws.freeze_panes = "A2"
    if columns:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(1, len(rows) + 1)}"


def write_schedules(path: str | Path, schedules: Mapping[str, object], *, base_currency: str | None = None) -> Path:
    """Write each schedule (a polars or pandas DataFrame) to its own sheet of the xlsx file ``path``.

    Sheets follow the order of ``schedules``; their titles are the keys (made
    valid for Excel). ``base_currency`` gives the digits of ``*_base`` money
    columns. The file is replaced atomically (:func:`billing_lib.core.output.write_workbook_atomic`), the same
    schedules giving the same bytes.
    """
    if not schedules:
        raise ValueError("write_schedules needs at least one schedule")
    path = Path(path)
    wb = Workbook()
    wb.remove(wb.active)
    taken: set[str] = set()
    for name, frame in schedules.items():
        _sheet(wb.create_sheet(sheet_title(name, taken)), frame, base_currency)
    write_workbook_atomic(path, wb)
    return path
