"""Publishing a monthly run: the run's staging folder takes the output folder's place in one step.

The whole run (executed notebooks, reports, each workbook's results, index, manifest) is built in a staging
folder beside the output folder (:func:`billing_lib.core.output.staging_folder`). Publishing first links into
it what the output folder holds that this run does not replace, so that it stays published:

- kept: reports and executed notebooks of workbooks this run did not execute, and any other file put there;
- not kept: ``failed/`` (the notebooks of a failed attempt), the previous index and manifest, each results
  folder this run wrote (a workbook's results are those of its latest run, whole) and, when the run has a
  per-case workbook, the previous run's cases (:func:`billing_lib.runner.cases.stale_case`).

Then the staging folder and the output folder are swapped atomically
(:func:`billing_lib.core.output.publish_folder`): killed at any moment, the run leaves the complete previous
output or the complete new one, never a mix, and never half a file.

``BILLING_RUN_PAUSE`` (a test hook) stops the run at a named point of publishing until it is killed:
``publish`` (the run is staged, nothing carried over), ``swap`` (carried over, not yet swapped) or
``swapped`` (published, the previous content not yet removed).
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from billing_lib.core.output import publish_folder
from billing_lib.runner.cases import stale_case
from billing_lib.runner.console import say

FAILED = "failed"
MERGED = ("notebooks", "reports")  # folders shared by every workbook: this run's files join the others
PAUSE_ENV = "BILLING_RUN_PAUSE"


def kept(relative: str, written: set[str], per_case: list[str]) -> bool:
    """Whether a file of the previous output (path ``relative`` to it) stays published, given the top-level
    names this run wrote and its per-case workbooks."""
    top = relative.split("/", 1)[0]
    if top == FAILED or stale_case(relative, per_case):
        return False
    return top not in written or top in MERGED


def carry_over(previous: Path, staged: Path, per_case: list[str]) -> list[str]:
    """Link into ``staged`` the files of ``previous`` that stay published (see :func:`kept`) and that this run
    did not write; return their paths relative to the folder."""
    if not previous.is_dir():
        return []
    written = {p.name for p in staged.iterdir()}
    carried = []
    for folder, dirs, files in os.walk(previous):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".staging-"))  # a killed writer's leftovers
        for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            source = Path(folder, name)
            relative = source.relative_to(previous).as_posix()
            target = staged / relative
            if not kept(relative, written, per_case) or target.exists() or target.is_symlink():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _link(source, target)
            carried.append(relative)
    return carried


def publish_run(staged: Path, out: Path, per_case: list[str]) -> None:
    """Publish the run staged in ``staged`` as ``out`` in one step, keeping what stays of the previous output."""
    pause_point("publish")
    carry_over(out, staged, per_case)
    pause_point("swap")
    previous = publish_folder(staged, out)
    pause_point("swapped")
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def pause_point(name: str) -> None:
    """Stop here until killed when ``$BILLING_RUN_PAUSE`` names this point (tests of a kill while publishing)."""
    if os.environ.get(PAUSE_ENV) == name:
        say(f"billing run: paused at {name} ({PAUSE_ENV}); waiting to be stopped")
        while True:
            time.sleep(60)


def _link(source: Path, target: Path) -> None:
    """``target`` as a second name of ``source`` (no copy); a copy where the file system has no hard links."""
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
