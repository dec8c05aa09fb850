"""How much memory this process may still take: what the machine has available, within the limit of its
control group (a container's memory limit) where one is set."""
from __future__ import annotations

import os
from pathlib import Path

from billing_lib.errors import ParameterError

_MEMINFO = Path("/proc/meminfo")
_CGROUP = Path("/sys/fs/cgroup")  # cgroup v2: memory.max and memory.current of this process's group


def available_memory(meminfo: Path = _MEMINFO, cgroup: Path = _CGROUP) -> int | None:
    """Bytes of memory available to this process (Linux: ``MemAvailable``, capped by the control group's
    ``memory.max`` less its ``memory.current``), or None where it cannot be told."""
    try:
        fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
        available = int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None
    try:
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            available = min(available, int(limit) - int((cgroup / "memory.current").read_text()))
    except (OSError, ValueError):
        pass
    return max(available, 0)


MEMORY_SETTING = "BILLING_MEMORY"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def memory_budget() -> int | None:
    """The bytes a run may take: the setting ``BILLING_MEMORY`` (``16G``, ``512M``, bytes) where it is set,
    else :func:`available_memory`."""
    setting = os.environ.get(MEMORY_SETTING, "").strip().upper().removesuffix("B").removesuffix("I")
    if not setting:
        return available_memory()
    number, unit = (setting[:-1], setting[-1]) if setting[-1] in _UNITS else (setting, "")
    try:
        budget = float(number) * _UNITS[unit]
    except ValueError:
        budget = -1
    if budget <= 0:
        raise ParameterError(f"{MEMORY_SETTING}={os.environ[MEMORY_SETTING]!r} is not an amount of memory; "
                             "write it as 16G, 512M or a number of bytes")
    return int(budget)
