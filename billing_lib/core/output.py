"""Writing results safely: one atomic writer for every output, and cells that cannot run as spreadsheet formulas.

Every file the project writes goes through :func:`replacing`: the content is written to a temporary file
beside the target, which then takes the target's place in one step (``os.replace``), so a reader sees the old
file or the new one, never half of one, whenever the writer stops. The temporary file gets the mode a new
file gets from the user's umask (``0o666 & ~umask``: 0644 under umask 022) before it is moved; ``mkstemp``
alone makes it private (0600), which would hide a report from the web server or colleague it is meant for.

- :func:`write_bytes_atomic`, :func:`write_text_atomic`: a file from bytes or text;
- :func:`write_workbook_atomic`: an openpyxl workbook, its timestamps pinned (``docProps/core.xml`` and the
  zip entries), so the same content gives the same bytes;
- :func:`atomic_outputs`: a staging folder whose files are moved into an output folder when the block
  succeeds (each file replaced whole; files the block did not write are left alone);
- :func:`staging_folder` and :func:`publish_folder`: a whole folder built beside its target and put in its
  place in one step (the monthly run's publishing), with :func:`clean_leftovers` for what a killed writer
  left behind.
"""
from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import errno
import io
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from billing_lib.errors import ParameterError

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = r"^[+-]?\d+(\.\d+)?$"
# the time written into a workbook's properties and zip entries, whenever it is written (reproducible bytes)
PINNED_TIME = dt.datetime(2000, 1, 1)
STAGING_SUFFIX = ".staging-"
PREVIOUS_SUFFIX = ".previous"


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


# ---- modes -------------------------------------------------------------------------------------------------

def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux: /proc/self/status)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it (briefly) and put it back
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode of a new file under the current umask: ``0o666 & ~umask`` (0644 under umask 022)."""
    return 0o666 & ~current_umask()


def folder_mode() -> int:
    """The mode of a new folder under the current umask: ``0o777 & ~umask`` (0755 under umask 022)."""
    return 0o777 & ~current_umask()


# ---- one file ----------------------------------------------------------------------------------------------

@contextlib.contextmanager
def replacing(path: str | Path, *, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; when the block succeeds it replaces ``path`` at once.

    The temporary file exists (empty) with the usual mode (:func:`file_mode`); write it by name (any writer
    that opens it for writing keeps that mode). If the block raises, the temporary file is removed and
    ``path`` is untouched. ``durable`` flushes the file and its folder to disk before returning (for
    records that must survive a power cut, e.g. sent e-mails). OSError when the folder cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        try:
            os.fchmod(fd, file_mode())
        finally:
            os.close(fd)
        yield tmp
        if durable:
            fsync_path(tmp)
        os.replace(tmp, path)
        if durable:
            fsync_path(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes, *, durable: bool = False) -> Path:
    """Write ``data`` to ``path`` so that readers see the old or the new content, never half of it."""
    with replacing(path, durable=durable) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str, *, durable: bool = False) -> Path:
    """Write ``text`` as UTF-8 (line ends as given) so that readers see the old or the new content."""
    return write_bytes_atomic(path, text.encode("utf-8"), durable=durable)


def workbook_bytes(workbook) -> bytes:
    """An openpyxl workbook as xlsx bytes that depend on its content only.

    openpyxl stamps the save time into ``docProps/core.xml`` and each zip entry; both get :data:`PINNED_TIME`.
    """
    from openpyxl.writer.excel import ExcelWriter
    workbook.properties.created = workbook.properties.modified = PINNED_TIME
    saved = io.BytesIO()
    with zipfile.ZipFile(saved, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(workbook, archive).save()  # what openpyxl's save_workbook does, without its clock
    pinned = io.BytesIO()
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(pinned, "w", zipfile.ZIP_DEFLATED) as dst:
        for entry in src.infolist():
            copy = zipfile.ZipInfo(entry.filename, date_time=PINNED_TIME.timetuple()[:6])
            copy.compress_type, copy.external_attr = entry.compress_type, entry.external_attr
            dst.writestr(copy, src.read(entry))
    return pinned.getvalue()


def write_workbook_atomic(path: str | Path, workbook) -> Path:
    """Write an openpyxl workbook to ``path`` atomically, the same content giving the same bytes."""
    return write_bytes_atomic(path, workbook_bytes(workbook))


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries (a rename in it), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- a folder of files -------------------------------------------------------------------------------------

@contextlib.contextmanager
def atomic_outputs(out_dir: str | Path) -> Iterator[Path]:
    """Yield a staging folder; on success move every file in it into ``out_dir`` (created if missing).

    Each file replaces its namesake whole; files of ``out_dir`` the block did not write stay. If the block
    raises, nothing in ``out_dir`` changes and the staging folder is removed.
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
        shutil.rmtree(staging, ignore_errors=True)


# ---- a whole folder in one step ----------------------------------------------------------------------------

@contextlib.contextmanager
def staging_folder(target: Path) -> Iterator[Path]:
    """Yield a new empty folder beside ``target`` (same file system) to build its next content in; it is
    removed after the block unless :func:`publish_folder` put it in ``target``'s place.

    Named ``.<target name>.staging-<random>`` with the usual folder mode; :func:`clean_leftovers` removes those
    of writers that were killed.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}{STAGING_SUFFIX}", dir=target.parent))
    try:
        os.chmod(folder, folder_mode())  # mkdtemp makes it private; it becomes the published folder
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish_folder(staged: Path, target: Path) -> Path | None:
    """Put the folder ``staged`` in ``target``'s place in one step; return the folder that now holds the
    previous content (the caller removes it), or None when ``target`` did not exist.

    Where the system can swap two folders atomically (Linux ``renameat2(RENAME_EXCHANGE)``, macOS
    ``renamex_np(RENAME_SWAP)``), a reader (or a kill) sees the complete old folder or the complete new one at
    every moment; the old content ends up at ``staged``'s path. Elsewhere the old folder is first renamed
    aside (``.<name>.previous``) and the new one moved in: if the writer is killed between the two renames,
    :func:`clean_leftovers` puts the old one back.
    """
    if staged.parent != target.parent:
        raise ValueError(f"{staged} must be beside {target} to replace it in one step")
    with contextlib.suppress(OSError):
        os.chmod(staged, target.stat().st_mode & 0o7777)  # the published folder keeps its permissions
    if not target.exists():
        os.rename(staged, target)
        previous = None
    elif _exchange(staged, target):
        previous = staged
    else:
        previous = _previous_of(target)
        shutil.rmtree(previous, ignore_errors=True)
        os.rename(target, previous)
        os.rename(staged, target)
    fsync_path(target.parent)
    return previous


def clean_leftovers(target: Path) -> list[Path]:
    """Remove the staging folders of writers of ``target`` that were killed (and restore a folder set aside by
    an interrupted :func:`publish_folder`); return what was removed. Call it holding the writer's lock."""
    aside = _previous_of(target)
    if aside.is_dir() and not target.exists():
        os.rename(aside, target)  # killed between the two renames: the previous content is the published one
    removed = sorted(p for p in target.parent.glob(f".{target.name}{STAGING_SUFFIX}*") if p.is_dir())
    removed += [aside] if aside.is_dir() else []
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def _previous_of(target: Path) -> Path:
    return target.with_name(f".{target.name}{PREVIOUS_SUFFIX}")


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically; False where the system or file system cannot (nothing was changed)."""
    libc = ctypes.CDLL(None, use_errno=True)
    names = (os.fsencode(a), os.fsencode(b))
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        at_fdcwd, rename_exchange = -100, 2
        done = libc.renameat2(at_fdcwd, names[0], at_fdcwd, names[1], rename_exchange) == 0
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        rename_swap = 2
        done = libc.renamex_np(names[0], names[1], rename_swap) == 0
    else:
        return False
    if done:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # not supported by this system or file system
        return False
    raise OSError(error, os.strerror(error), str(b))
