#!/usr/bin/env python3
"""Kill a real monthly run with SIGKILL after N seconds and check that the previous output is still whole.

    python scripts/kill-run-check.py [PARAMS.yaml] [--delays 4 12 25]

Runs the month of PARAMS (default parameters/2024-06.yaml) once into a temporary output folder, then, for
each delay, starts a run of the same month asking for a different number of investigations (so its output
differs), sends SIGKILL to the billing process after that many seconds (its kernel notices and ends), and
checks the output folder: the same files with the same bytes as the published run, index and manifest
readable, every report whole. A last run must then finish (taking over the killed run's lock). Prints one
line per kill; exit 1 if any check fails. Nothing is written outside the temporary folder.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def problems(out: Path) -> list[str]:
    """What keeps ``out`` from being one whole run: unreadable index or manifest, a missing or cut report."""
    found = []
    try:
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"manifest.json: {exc}"]
    for name in manifest["outputs"]:
        path = out / name
        if not path.is_file():
            found.append(f"{name}: missing")
        elif path.suffix == ".html" and not path.read_text(encoding="utf-8").rstrip().endswith("</html>"):
            found.append(f"{name}: cut short")
        elif path.suffix == ".ipynb":
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                found.append(f"{name}: not a whole notebook")
    return found


def start(params: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "billing_lib", "run", str(params)], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="?", default="parameters/2024-06.yaml")
    parser.add_argument("--delays", nargs="+", type=float, default=[4, 12, 25])
    args = parser.parse_args()
    project = Path.cwd()
    work = Path(tempfile.mkdtemp(prefix="kill-run-"))
    base = yaml.safe_load(Path(args.params).read_text(encoding="utf-8"))
    out = work / "out" / str(base["period"])
    first = {**base, "output_dir": str(out), "data_dir": str((project / base["data_dir"]).resolve())}
    changed = {**first, "investigations": max(0, int(first.get("investigations", 3)) - 1)}
    for name, params in (("first.yaml", first), ("changed.yaml", changed)):
        (work / name).write_text(yaml.safe_dump(params), encoding="utf-8")

    began = time.monotonic()
    proc = start(work / "first.yaml", project)
    _, err = proc.communicate()
    if proc.returncode != 0:
        print(err, file=sys.stderr)
        return 1
    print(f"published run: {len(hashes(out))} files in {time.monotonic() - began:.0f} s ({out})")
    published, failures = hashes(out), 0
    for delay in args.delays:
        proc = start(work / "changed.yaml", project)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        doing = [line for line in proc.stderr.read().replace(" done in", "\n").splitlines() if line.strip()]
        time.sleep(2)
        with contextlib.suppress(ProcessLookupError):  # a kernel that has not noticed yet
            os.killpg(proc.pid, signal.SIGKILL)
        same, whole = hashes(out) == published, problems(out)
        failures += not same or bool(whole)
        print(f"killed at {delay:g} s while \"{doing[-1] if doing else 'starting'}\": previous output "
              f"{'unchanged' if same else 'CHANGED'}, {'whole' if not whole else 'BROKEN: ' + '; '.join(whole)}, "
              f"{len([p for p in out.parent.iterdir() if p.name.startswith('.')])} leftover(s) beside it")
    proc = start(work / "changed.yaml", project)
    _, err = proc.communicate()
    took_over = "taking over the lock" in err
    ok = proc.returncode == 0 and took_over and not problems(out)
    failures += not ok
    print(f"next run: exit {proc.returncode}, {'took over the stale lock' if took_over else 'NO takeover message'}, "
          f"output {'whole' if not problems(out) else 'BROKEN'}, "
          f"{len([p for p in out.parent.iterdir() if p.name.startswith('.')])} leftover(s) beside it")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
