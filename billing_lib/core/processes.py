"""Work shared out to processes: how many the machine gives this process, and a spawned pool of them.

Spawned, not forked: the parent runs polars' thread pool, which a fork would copy mid-flight. A worker ends
with the process that started it (Linux): killed, that process leaves no worker running on, still writing
(or still starting a workbook's kernel) for a run that is over.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent ends


def usable_cores() -> int:
    """The processors this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _end_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (AttributeError, OSError):  # not Linux: the worker outlives a killed parent until its task ends
        pass


def spawned_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, each ending when this process ends."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_end_with_parent)
