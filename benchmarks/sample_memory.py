"""Run a command and sample the resident memory of its process tree by role, twice a second.

    python benchmarks/sample_memory.py -- billing verify DATA --out OUT --engine spark

Prints, when the command ends, the peak resident memory (MiB) of each role and of the whole tree at once:
``driver`` (the command's own Python process), ``jvm`` (Spark's Java process: in local mode the driver JVM
and its executors), ``python workers`` (Spark's Python daemon and workers, all together) and ``other``.
/usr/bin/time -v reports only the largest single process; Spark spreads its memory over several.
Linux only (reads /proc). Exits with the command's exit code.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

PAGE = 4096


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _rss_mib(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def _role(pid: int, root: int) -> str:
    if pid == root:
        return "driver"
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    if "java" in cmd.split(" ")[0]:
        return "jvm"
    if "pyspark" in cmd or "daemon" in cmd or "worker" in cmd:
        return "python workers"
    return "other"


def main(argv: list[str]) -> int:
    command = argv[argv.index("--") + 1:] if "--" in argv else argv
    proc = subprocess.Popen(command)
    peaks: dict[str, float] = {}
    start = time.monotonic()
    while proc.poll() is None:
        now: dict[str, float] = {}
        for pid in _tree(proc.pid):
            role = _role(pid, proc.pid)
            now[role] = now.get(role, 0.0) + _rss_mib(pid)
        now["whole tree"] = sum(now.values())
        for role, mib in now.items():
            peaks[role] = max(peaks.get(role, 0.0), mib)
        time.sleep(0.5)
    wall = time.monotonic() - start
    print(f"sample_memory: {wall:.1f} s wall; peak resident MiB: "
          + ", ".join(f"{role} {mib:,.0f}" for role, mib in sorted(peaks.items())), file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
