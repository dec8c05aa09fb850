"""How a problem points at a row of its source file, shared by the loader and the rules across tables."""
from __future__ import annotations

from pathlib import Path

MAX_PROBLEMS_PER_COLUMN = 20  # problems listed one by one per column; the rest are counted


def first_row_number(path: Path) -> int:
    """Row number of the first data record: spreadsheet rows for CSV/Excel (header = row 1), records for Parquet."""
    return 1 if path.suffix == ".parquet" else 2
