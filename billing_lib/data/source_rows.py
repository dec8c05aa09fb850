"""How a problem points at a row of its source file, shared by the loader and the rules across tables."""
from __future__ import annotations

from pathlib import Path

from billing_lib.errors import Problem

MAX_PROBLEMS_PER_COLUMN = 20  # problems listed one by one per column; the rest are counted


def first_row_number(path: Path) -> int:
    """Row number of the first data record: spreadsheet rows for CSV/Excel (header = row 1), records for Parquet."""
    return 1 if path.suffix == ".parquet" else 2


def merged_problems(problems: list[Problem]) -> list[Problem]:
    """Problems found in parts of one table (shards of it, or batches of its rows), as the table's: the first
    rows of each column up to the loader's limit, the rest counted; problems of no row once each."""
    listed = sorted((p for p in problems if p.row is not None), key=lambda p: (p.file, p.column or "", p.row))
    more: dict[tuple, int] = {}
    for p in problems:
        if p.row is None and p.message.endswith(" more rows like these"):
            more[(p.file, p.column)] = more.get((p.file, p.column), 0) + int(p.message.split()[0])
    out, shown = [], {}
    for p in listed:
        key = (p.file, p.column)
        shown[key] = shown.get(key, 0) + 1
        if shown[key] <= MAX_PROBLEMS_PER_COLUMN:
            out.append(p)
        else:
            more[key] = more.get(key, 0) + 1
    out += [Problem(f, None, c, f"{n} more rows like these") for (f, c), n in sorted(more.items(), key=str)]
    rowless = [p for p in problems if p.row is None and not p.message.endswith(" more rows like these")]
    out += list(dict.fromkeys(rowless))  # a column missing from every part is said once
    return out
