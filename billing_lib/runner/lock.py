"""One monthly run per output folder at a time: a lock file beside the folder.

``out/.2024-06.lock`` (beside ``out/2024-06``) is held with ``flock`` for the whole run and records who holds
it: the process id, the host, when the run started and its command. A second run of the same output folder
finds it held and stops at once with :class:`RunLocked` (exit 2) naming the holder. The operating system
releases the lock when its holder ends, however it ends; a lock file still holding a record without a live
holder is a *stale* lock, left by a run that was killed: the next run takes it over and says so. A finished
run removes its lock file.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from billing_lib.core.output import file_mode
from billing_lib.errors import BillingInputError, ParameterError


class RunLocked(BillingInputError):
    """Raised when another run holds the lock of the same output folder; the message names it."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a run's lock."""

    pid: int
    host: str
    started_utc: str
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started_utc.replace('T', ' ')}: {self.command}"


def lock_path(output_dir: Path) -> Path:
    """The lock file of an output folder: ``.<name>.lock`` beside it."""
    return output_dir.parent / f".{output_dir.name}.lock"


def this_process(started: dt.datetime) -> Holder:
    """The record of this process as the holder of a run that started at ``started``."""
    command = " ".join(["billing", *sys.argv[1:]]) if sys.argv else "billing"
    return Holder(os.getpid(), socket.gethostname(), started.isoformat(timespec="seconds"), command)


@contextlib.contextmanager
def run_lock(output_dir: Path, holder: Holder) -> Iterator[Holder | None]:
    """Hold the lock of ``output_dir`` for the block as ``holder``; yield the stale holder taken over (a run
    that was killed) or None. :class:`RunLocked` when a live run holds it."""
    path = lock_path(output_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _acquire(path, output_dir)
    except OSError as exc:
        raise ParameterError(f"cannot lock the output folder {output_dir} (lock file {path}): "
                             f"{exc.strerror or exc}") from None
    try:
        stale = _read(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(asdict(holder), sort_keys=True) + "\n").encode("utf-8"), 0)
        yield stale
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # while still holding it, so that no one locks a file that is going away
        os.close(fd)


def _acquire(path: Path, output_dir: Path) -> int:
    """An open descriptor of the lock file, locked by this process."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, file_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            who = f"({holder})" if holder else "(its record is not readable)"
            raise RunLocked(f"another billing run is writing the output folder {output_dir} {who}; "
                            f"wait until it has finished, or stop it, then run again "
                            f"(the lock is {path})") from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the previous holder removed the file as we opened it: lock the new one


def _read(fd: int) -> Holder | None:
    """The holder recorded in the lock file, or None when it is empty or not a record."""
    try:
        data = json.loads(os.pread(fd, 65536, 0).decode("utf-8"))
        return Holder(int(data["pid"]), str(data["host"]), str(data["started_utc"]), str(data["command"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
