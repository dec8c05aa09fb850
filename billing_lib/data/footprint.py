"""How large a dataset is once read: the bytes of its tables as text (CSV, Excel) or as uncompressed columns
(Parquet, from the files' metadata). Nothing is read but file sizes and Parquet footers."""
from __future__ import annotations

from pathlib import Path

from billing_lib.data.contract import TABLES
from billing_lib.data.loading import find_table_file
from billing_lib.errors import DatasetError

EXCEL_GROWTH = 4  # an .xlsx file is zipped XML: its cells take several times the file's size as text


def table_bytes(path: Path) -> int:
    """The bytes one table file holds as values."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq
        try:
            meta = pq.read_metadata(path)
        except (OSError, ValueError):  # a damaged file: the loader names it; count its size meanwhile
            return path.stat().st_size
        return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if path.suffix == ".xlsx":
        return path.stat().st_size * EXCEL_GROWTH
    return path.stat().st_size


def dataset_bytes(folder: str | Path) -> int:
    """The bytes the contract's tables in ``folder`` hold as values (files that are not tables are left out)."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    total = 0
    for name in TABLES:
        try:
            path = find_table_file(folder, name)
        except DatasetError:  # a table given twice, or a folder: the loader reports it
            continue
        total += table_bytes(path) if path is not None else 0
    return total
