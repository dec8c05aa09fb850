"""The manifest of a monthly run: what went in (file hashes, parameters), with which software, how long, and
what came out.

It is the one file of a run that records the clock (when the run started and finished, how long each
workbook took); every other file of the run depends on the inputs only.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import sys
from importlib import metadata
from pathlib import Path

from billing_lib.core.output import write_text_atomic

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


def inputs(parameters_file: Path, data_dir: Path, data_rows: dict[str, int], notebooks_dir: Path,
           workbooks: tuple[Path, ...]) -> dict:
    """What the run reads, hashed when it starts: the parameters file, the dataset (and its row counts) and
    the workbooks."""
    return {"parameters_file": {"path": str(parameters_file), "sha256": sha256(parameters_file)},
            "data": file_hashes(dataset_files(data_dir), data_dir),
            "data_rows": data_rows,
            "workbooks": file_hashes(list(workbooks), notebooks_dir)}


def write_manifest(folder: Path, *, parameters: dict, read: dict, kernel: str, started: dt.datetime,
                   workbooks: list[dict], results: list[str]) -> dict:
    """Write ``folder/manifest.json`` for the run built in ``folder``; return it.

    ``read`` is :func:`inputs`; ``workbooks`` one entry per executed workbook (name, parameters, timings);
    ``results`` the workbooks' results folders (relative to ``folder``), whose files are hashed; every other
    file of ``folder`` is listed as an output.
    """
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    is_result = [any(p.relative_to(folder).as_posix().startswith(f"{r}/") for r in results) for p in files]
    manifest = {
        "run": {"started_utc": started.isoformat(timespec="seconds"),
                "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "kernel": kernel, **interpreter()},
        "parameters": parameters,
        "inputs": read,
        "versions": versions(),
        "workbooks": workbooks,
        "outputs": [p.relative_to(folder).as_posix() for p, r in zip(files, is_result, strict=True) if not r]
        + ["manifest.json"],
        "results": file_hashes([p for p, r in zip(files, is_result, strict=True) if r], folder),
    }
    write_text_atomic(folder / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
