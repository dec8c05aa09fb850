"""Executing one workbook with papermill, parameters injected, in the notebooks folder."""
from __future__ import annotations

import ast
import re
from pathlib import Path, PurePosixPath

import papermill as pm

from billing_lib.errors import BillingInputError

# The kernel's own log is noise on the run's console: ipykernel 7 warns about TCP without encryption, and
# jupyter_client interrupts every kernel (SIGINT) before asking it to shut down, which ipykernel logs as
# "ERROR | KeyboardInterrupt caught in kernel." when the signal lands inside a message handler (a race seen
# under load, splitting a progress line). Cell errors still reach papermill; a dead kernel still fails the run.
QUIET_KERNEL = ["--IPKernelApp.log_level=CRITICAL"]


class WorkbookError(Exception):
    """Raised when a workbook fails while executing; the message names the notebook, the cell and the error."""

    exit_code = 1


def declared_parameters(notebook: Path) -> dict[str, object]:
    """The parameters a workbook declares in its ``parameters`` cell, with their default values."""
    out: dict[str, object] = {}
    for name, info in pm.inspect_notebook(str(notebook)).items():
        try:
            out[name] = ast.literal_eval(info.get("default", "None"))
        except (ValueError, SyntaxError):
            out[name] = None
    return out


def results_folder(notebook: Path, declared: dict[str, object]) -> str:
    """The folder name (inside the run's output) a workbook writes its results to.

    It is the last part of the workbook's own default ``output_dir`` (``../out/2024-06/verification`` ->
    ``verification``), so other workbooks find them where the notebook says; else the name without ``NN_``.
    """
    default = declared.get("output_dir")
    if isinstance(default, str) and PurePosixPath(default).name:
        return PurePosixPath(default).name
    return re.sub(r"^\d+_", "", notebook.stem)


def execute(notebook: Path, executed: Path, parameters: dict, kernel: str) -> None:
    """Run ``notebook`` into ``executed`` with the (declared) ``parameters``; WorkbookError when a cell fails."""
    executed.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(str(notebook), str(executed), parameters=parameters, kernel_name=kernel,
                            cwd=str(notebook.parent), progress_bar=False, log_output=False,
                            report_mode=False, extra_arguments=QUIET_KERNEL)
    except pm.PapermillExecutionError as exc:
        raise WorkbookError(f"workbook {notebook.stem} failed in cell {exc.exec_count or exc.cell_index}: "
                            f"{exc.ename}: {_first_line(exc.evalue)}") from None
    except BillingInputError:
        raise
    except Exception as exc:  # kernel could not start, died, timed out...
        raise WorkbookError(f"workbook {notebook.stem} could not be executed: {type(exc).__name__}: "
                            f"{_first_line(str(exc))}") from exc


def _first_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""
