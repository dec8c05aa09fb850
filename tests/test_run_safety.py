"""A monthly run repeats exactly, runs once at a time, and killed at any moment leaves a complete output.

Real ``billing run`` processes on a small dataset: one run publishes every workbook (with an investigation);
a rerun must give the same bytes in every published file; then runs on changed data are killed with SIGKILL
at several points (a workbook executing, a kernel left orphaned, during publishing through the
``BILLING_RUN_PAUSE`` hook) and the output folder must still hold the first run, every file whole; killed once
published, it holds the new run, complete. A second run of the same folder while one runs is refused (exit 2).
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import pytest
from workbook_data import write_workbook_dataset

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
WAIT_SECONDS = 600
# the only values of the manifest that say when the run ran: every other byte of the output is the inputs'
MANIFEST_CLOCK = (("run", "started_utc"), ("run", "finished_utc"))
MANIFEST_WORKBOOK_CLOCK = ("execute_seconds", "export_seconds")


class Run:
    """A ``billing run`` in its own process group (umask 022), its stderr read as it comes."""

    def __init__(self, folder: Path, params: str, *args: str, **env: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "billing_lib", "run", params, *args], cwd=folder,
                                     env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True, preexec_fn=lambda: os.umask(0o022))
        self.stderr = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while chunk := self.proc.stderr.read(1):
            self.stderr += chunk

    def wait_for(self, text: str) -> None:
        """Wait until the run has written ``text`` to stderr (fail if it ends or takes too long first)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while text not in self.stderr:
            assert self.proc.poll() is None or text in self.stderr, f"ended before {text!r}:\n{self.stderr}"
            assert time.monotonic() < deadline, f"no {text!r} after {WAIT_SECONDS}s:\n{self.stderr}"
            time.sleep(0.05)

    def kill(self, *, group: bool = True) -> None:
        """SIGKILL the run (and by default its kernel, its process group), and wait for it to end."""
        (os.killpg if group else os.kill)(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=60) == -signal.SIGKILL

    def finish(self) -> int:
        code = self.proc.wait(timeout=WAIT_SECONDS)
        self._reader.join(timeout=10)
        return code


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _without_clock(manifest: dict) -> dict:
    manifest = copy.deepcopy(manifest)
    for section, key in MANIFEST_CLOCK:
        del manifest[section][key]
    for workbook in manifest["workbooks"]:
        for key in MANIFEST_WORKBOOK_CLOCK:
            del workbook[key]
    return manifest


def assert_complete(out: Path) -> dict:
    """The output folder holds one whole run: manifest and index readable, every output present, every report
    and notebook whole, every result file as the manifest hashed it, every link of the index resolving."""
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert all((out / name).is_file() for name in manifest["outputs"]), manifest["outputs"]
    for result in manifest["results"]:
        assert hashlib.sha256((out / result["path"]).read_bytes()).hexdigest() == result["sha256"], result
    reports = [name for name in manifest["outputs"] if name.startswith("reports/")]
    assert reports and len(reports) == len(manifest["workbooks"])
    for name in reports:
        assert (out / name).read_text(encoding="utf-8").rstrip().endswith("</html>"), name
        nbformat.read(out / "notebooks" / (Path(name).stem + ".ipynb"), as_version=4)
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.rstrip().endswith("</html>")
    links = re.findall(r'href="([^"#]+)"', index)
    assert all((out / link).exists() for link in links if not link.startswith("..")), links
    return manifest


def _workers_of(pid: int) -> list[int]:
    """The pool workers a killed run started (spawned Python processes of its process group, kernels aside)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            if int(stat[2]) == pid and stat[0] != "Z" and b"multiprocessing" in command:
                found.append(int(entry.name))
    return found


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    """A published run of every workbook (one investigation): (folder, output folder, file hashes)."""
    folder = tmp_path_factory.mktemp("safety")
    write_workbook_dataset(folder / "data")
    shutil.copytree(folder / "data", folder / "data2")
    with open(folder / "data2" / "fx_rates.csv", "a", encoding="utf-8") as fh:
        fh.write("2024-06-01,JPY,0.0058\n")  # the JPY finding gets a rate: reports and figures change
    common = f"""
        period: "2024-06"
        output_dir: out/2024-06
        notebooks_dir: {NOTEBOOKS}
        investigations: 1
    """
    (folder / "run.yaml").write_text(textwrap.dedent(common) + "data_dir: data\n", encoding="utf-8")
    (folder / "changed.yaml").write_text(textwrap.dedent(common) + "data_dir: data2\n"
                                         "workbooks: [01_invoice_verification, 03_month_end_close]\n",
                                         encoding="utf-8")
    run = Run(folder, "run.yaml")
    assert run.finish() == 0, run.stderr
    out = folder / "out" / "2024-06"
    assert_complete(out)
    return folder, out, _hashes(out)


@pytest.mark.slow
def test_a_published_report_and_the_run_history_are_readable_by_others(first):
    _, out, _ = first
    published = [out / "index.html", *sorted((out / "reports").glob("*.html")), out.parent / "index.html",
                 *sorted(out.rglob("*.xlsx")), out / "manifest.json"]
    assert len(published) >= 6
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in published} == {p.name: "0o644" for p in published}
    folders = [out, out / "reports", out / "notebooks", out / "month_end"]
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in folders} == {p.name: "0o755" for p in folders}


@pytest.mark.slow
def test_a_rerun_gives_the_same_bytes_in_every_published_file(first):
    folder, out, before = first
    manifest_before = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    history_before = (out.parent / "index.html").read_text(encoding="utf-8")
    run = Run(folder, "run.yaml", "--workers", "1")  # the first ran a workbook per core: the same files
    assert run.finish() == 0, run.stderr
    after = _hashes(out)
    assert set(after) == set(before)
    different = sorted(name for name in after if after[name] != before[name])
    assert different == ["manifest.json"]  # its clock: when the run ran and how long each workbook took
    manifest_after = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert _without_clock(manifest_after) == _without_clock(manifest_before)
    # the page of every month shows when each run finished, and nothing else changed
    finished = manifest_after["run"]["finished_utc"]
    clock = re.compile(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</td>")
    history = (out.parent / "index.html").read_text(encoding="utf-8")
    assert finished.replace("T", " ").replace("+00:00", " UTC") in history
    assert clock.sub("<td>clock</td>", history) == clock.sub("<td>clock</td>", history_before)
    assert _leftovers(out) == []


@pytest.mark.slow
@pytest.mark.parametrize("moment, group", [
    ("executing 2 workbooks, 2 at a time", True),  # the run, its workers and their kernels
    # one workbook's results are staged; only the billing process, as the OOM killer would: its workers end
    # with it, and their kernels notice their parent is gone and end
    (": done in", False),
])
def test_killed_while_a_workbook_executes_the_previous_output_stays_whole(first, moment, group):
    folder, out, _ = first
    before = _hashes(out)  # the output as published now
    run = Run(folder, "changed.yaml", "--workers", "2")
    run.wait_for(moment)
    time.sleep(1)
    run.kill(group=group)
    if not group:  # the workers end with the run: none is left to write or to start a kernel
        deadline = time.monotonic() + 30
        while _workers_of(run.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _workers_of(run.proc.pid)
    assert _hashes(out) == before
    assert_complete(out)
    with contextlib.suppress(ProcessLookupError):  # leave no kernel to the next test
        os.killpg(run.proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_second_run_of_the_same_output_is_refused_and_killed_while_publishing_the_output_stays_whole(first):
    folder, out, _ = first
    before = _hashes(out)  # the output as published now
    run = Run(folder, "changed.yaml", BILLING_RUN_PAUSE="swap")  # staged, carried over, about to swap
    run.wait_for("paused at swap")
    second = subprocess.run([sys.executable, "-m", "billing_lib", "run", "run.yaml"], cwd=folder,
                            capture_output=True, text=True, timeout=WAIT_SECONDS)
    assert second.returncode == 2, second.stderr
    assert f"another billing run is writing the output folder {out}" in second.stderr
    assert f"pid {run.proc.pid} on " in second.stderr and "started 20" in second.stderr
    assert "Traceback" not in second.stderr
    run.kill()
    assert _hashes(out) == before
    assert_complete(out)


@pytest.mark.slow
def test_killed_once_published_the_new_output_is_whole_and_the_next_run_takes_over_the_stale_lock(first):
    folder, out, _ = first
    before = _hashes(out)  # the output as published now
    run = Run(folder, "changed.yaml", BILLING_RUN_PAUSE="swapped")  # swapped in, previous not yet removed
    run.wait_for("paused at swapped")
    run.kill()
    manifest = assert_complete(out)
    assert manifest["parameters"]["data_dir"].endswith("data2")
    now = _hashes(out)
    assert now["reports/01_invoice_verification.html"] != before["reports/01_invoice_verification.html"]
    # kept from the first run: the reports of the workbooks the changed run does not execute
    assert now["reports/00_invoice_run.html"] == before["reports/00_invoice_run.html"]
    assert _leftovers(out)  # the lock and the folder holding the previous content

    again = Run(folder, "changed.yaml")
    assert again.finish() == 0, again.stderr
    assert "taking over the lock of an earlier run that did not finish (pid" in again.stderr
    assert _leftovers(out) == []
    assert_complete(out)
    assert _hashes(out) == now | {"manifest.json": _hashes(out)["manifest.json"]}  # the same inputs again
