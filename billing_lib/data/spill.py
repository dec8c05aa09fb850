"""Validated tables kept on disk instead of in memory, for datasets larger than memory.

``load_dataset(folder, spill_to=work)`` writes each table, once read and validated, to ``work`` as typed
Parquet and holds it as a scan: the whole dataset is never in memory at once, and every plan reads only the
columns it needs. A verification in shards (``billing verify --shards N``) then loads one shard of customers
at a time (see :func:`billing_lib.verification.verify_sharded`).
"""
from __future__ import annotations

from pathlib import Path

import polars as pl


def spill_table(frame: pl.DataFrame, folder: Path, name: str) -> pl.LazyFrame:
    """Write a typed table to ``folder/<name>.parquet`` (fast compression, no statistics: it is read back by
    this run only) and return a scan of it."""
    path = folder / f"{name}.parquet"
    frame.write_parquet(path, compression="lz4", statistics=False)
    return pl.scan_parquet(path)


IN_MEMORY_FILESYSTEMS = ("tmpfs", "ramfs")


def filesystem_type(path: Path, mounts: Path = Path("/proc/mounts")) -> str | None:
    """The type of the file system ``path`` is on (Linux: the longest mount point above it in
    ``/proc/mounts``), or None where it cannot be told."""
    try:
        table = [line.split() for line in mounts.read_text().splitlines()]
    except OSError:
        return None
    target = str(Path(path).resolve())
    best, kind = "", None
    for fields in table:
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind
