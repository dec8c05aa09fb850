"""The manifest of a monthly run: what went in (file hashes, parameters), with which software, how long."""
from __future__ import annotations

import hashlib
import platform
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("billing-workbooks", "polars", "pandas", "plotly", "papermill", "nbconvert", "nbformat", "ipykernel",
            "pyarrow")


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hashes(paths: list[Path], root: Path | None = None) -> list[dict]:
    """``{path, bytes, sha256}`` per file, paths relative to ``root`` when given, sorted by path."""
    rows = []
    for p in paths:
        name = p.relative_to(root).as_posix() if root is not None else str(p)
        rows.append({"path": name, "bytes": p.stat().st_size, "sha256": sha256(p)})
    return sorted(rows, key=lambda r: r["path"])


def dataset_files(folder: Path) -> list[Path]:
    """Every regular file in the dataset folder (recursively), hidden files excepted."""
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def versions() -> dict[str, str]:
    """Installed versions of the packages that shape the results, and Python's."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["billing_lib"] = out.pop("billing-workbooks")
    return out


def interpreter() -> dict[str, str]:
    """Where the run's Python lives (the kernel runs the same interpreter)."""
    return {"executable": sys.executable, "platform": platform.platform()}
