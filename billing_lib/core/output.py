"""Writing results safely: atomic replacement, and cells that cannot run as spreadsheet formulas."""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from billing_lib.errors import ParameterError

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = r"^[+-]?\d+(\.\d+)?$"


def neutralize_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with an apostrophe.

    Plain numbers such as ``-12.50`` are left alone: they are values, not formulas.
    """
    exprs = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            col = pl.col(name)
            risky = col.str.slice(0, 1).is_in(FORMULA_TRIGGERS)
            exprs.append(pl.when(risky & ~col.str.contains(_PLAIN_NUMBER))
                         .then(pl.concat_str([pl.lit("'"), col])).otherwise(col).alias(name))
    return frame.with_columns(exprs) if exprs else frame


@contextlib.contextmanager
def atomic_outputs(out_dir: str | Path) -> Iterator[Path]:
    """Yield a staging folder; on success move every file in it into ``out_dir`` (created if missing).

    If the block raises, nothing in ``out_dir`` changes and the staging folder is removed.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    except OSError as exc:
        raise ParameterError(f"output folder {str(out)!r} cannot be created or written to: "
                             f"{exc.strerror or exc}") from None
    try:
        yield staging
        for path in sorted(staging.rglob("*")):
            target = out / path.relative_to(staging)
            if path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
    finally:
        for path in sorted(staging.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        staging.rmdir()


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a text file so that readers see the old or the new content, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
