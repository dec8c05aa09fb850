"""Executing one workbook with papermill, and recording the executed notebook as it is published.

A workbook runs into the run's staging folder (its ``output_dir`` there, its executed notebook there);
:func:`record` then rewrites the executed notebook so that it depends on the inputs only: no execution
times, a fixed id for the cell papermill injects (random otherwise), and the injected parameters with their
published paths, as if the workbook had run in its final place.
"""
from __future__ import annotations

import time
from pathlib import Path

import nbformat
import papermill as pm
from papermill.translators import translate_parameters

from billing_lib.core.output import write_text_atomic
from billing_lib.errors import BillingInputError, ParameterError
from billing_lib.reports.packed_scripts import PLOTLY_PACKED_ID

# The kernel's own log is noise on the run's console: ipykernel 7 warns about TCP without encryption, and
# jupyter_client interrupts every kernel (SIGINT) before asking it to shut down, which ipykernel logs as
# "ERROR | KeyboardInterrupt caught in kernel." when the signal lands inside a message handler (a race seen
# under load, splitting a progress line). Cell errors still reach papermill; a dead kernel still fails the run.
QUIET_KERNEL = ["--IPKernelApp.log_level=CRITICAL"]
INJECTED_TAG = "injected-parameters"
CLOCK_KEYS = ("start_time", "end_time", "duration")  # papermill's timing of the notebook and of each cell


class WorkbookError(Exception):
    """Raised when a workbook fails while executing; the message names the notebook, the cell and the error."""

    exit_code = 1

    def __init__(self, message: str, executed: Path | None = None):
        super().__init__(message)
        self.executed = executed  # the executed notebook holding the error (absent when the kernel did not start)

    def __reduce__(self):  # raised in a worker process, it reaches the run whole
        return (WorkbookError, (str(self), self.executed))


def execute(notebook: Path, executed: Path, parameters: dict, kernel: str) -> None:
    """Run ``notebook`` into ``executed`` with the (declared) ``parameters``; WorkbookError when a cell fails."""
    executed.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(str(notebook), str(executed), parameters=parameters, kernel_name=kernel,
                            cwd=str(notebook.parent), progress_bar=False, log_output=False,
                            report_mode=False, extra_arguments=QUIET_KERNEL, record_timing=False)
    except pm.PapermillExecutionError as exc:
        raise WorkbookError(f"workbook {notebook.stem} failed in cell {exc.exec_count or exc.cell_index}: "
                            f"{exc.ename}: {_first_line(exc.evalue)}", executed) from None
    except BillingInputError:
        raise
    except Exception as exc:  # kernel could not start, died, timed out...
        raise WorkbookError(f"workbook {notebook.stem} could not be executed: {type(exc).__name__}: "
                            f"{_first_line(str(exc))}", executed) from exc


def execute_timed(notebook: Path, executed: Path, parameters: dict, kernel: str) -> float:
    """:func:`execute`, in a worker process of the run: the seconds it took. An input error comes back as a
    ParameterError with its message (the run's exit code 2 either way)."""
    start = time.perf_counter()
    try:
        execute(notebook, executed, parameters, kernel)
    except ParameterError:
        raise
    except BillingInputError as exc:  # some carry more than their message, which a process boundary drops
        raise ParameterError(str(exc)) from None
    return time.perf_counter() - start


def record(executed: Path, parameters: dict, published: Path) -> nbformat.NotebookNode:
    """Rewrite the executed notebook as published (``published``: its final path; ``parameters``: the
    parameters with their final paths), so that the same inputs give the same bytes; return it."""
    nb = nbformat.read(executed, as_version=4)
    run = nb.metadata.get("papermill", {})
    for key in CLOCK_KEYS:
        run.pop(key, None)
    run["parameters"], run["output_path"] = parameters, str(published)
    kernel = nb.metadata.get("kernelspec", {})
    for cell in nb.cells:
        for key in CLOCK_KEYS:
            cell.metadata.get("papermill", {}).pop(key, None)
        cell.metadata.pop("execution", None)
        if INJECTED_TAG in cell.metadata.get("tags", []):
            cell.id = INJECTED_TAG
            cell.source = translate_parameters(kernel.get("name"), kernel.get("language", "python"), parameters,
                                               "Parameters")
    text = nbformat.writes(nb)
    write_text_atomic(executed, text if text.endswith("\n") else text + "\n")
    return nb


LIBRARY_MARKS = (PLOTLY_PACKED_ID, "if (!window._itables_")  # outputs of setup() that embed plotly.js, DataTables
LEFT_OUT = ("<!-- plotly.js and the DataTables bundle are embedded in this workbook's HTML report; the "
            "published notebook leaves them out (JupyterLab draws its charts with its own plotly) -->")


def leave_out_libraries(published: Path) -> None:
    """Rewrite a published notebook without the script libraries its setup cell embedded (1 MB each time):
    the HTML report, exported before, carries them; the notebook keeps every figure's data and table."""
    nb = nbformat.read(published, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            html = out.get("data", {}).get("text/html", "")
            if any(mark in html for mark in LIBRARY_MARKS):
                out["data"] = {"text/html": LEFT_OUT, "text/plain": ""}
    text = nbformat.writes(nb)
    write_text_atomic(published, text if text.endswith("\n") else text + "\n")


def _first_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""
