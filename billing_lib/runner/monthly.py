"""The monthly run (``billing run PARAMS.yaml``): every workbook through papermill, then the HTML reports.

For a parameters file (see :mod:`billing_lib.runner.params`) it:

1. checks the parameters and that the dataset follows the data contract
   (a wrong input stops here with exit code 2, before any kernel starts);
2. executes each workbook with papermill on the current interpreter's kernel,
   from the notebooks folder, with absolute paths as parameters, into
   ``<output_dir>/notebooks/<name>.ipynb``; each workbook writes its own
   results into ``<output_dir>/<folder>`` (e.g. ``verification``);
3. exports each executed notebook to ``<output_dir>/reports/<name>.html``
   (outputs and text only, charts embedded, nothing fetched online);
4. writes ``<output_dir>/index.html`` (a link and the headline figures per
   workbook) and ``<output_dir>/manifest.json`` (input hashes, parameters,
   package versions, timings).

Notebooks, reports, index and manifest are staged and published together
only when every workbook succeeded. When one fails, the run stops with exit
code 1 and a message naming the notebook, the cell and the error; the failed
notebook is kept in ``<output_dir>/failed/`` for inspection and the previous
index and manifest stay as they were.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path

from billing_lib.core.output import atomic_outputs
from billing_lib.data.dataset import Dataset
from billing_lib.data.loading import load_dataset
from billing_lib.reports.export import export_html, notebook_title
from billing_lib.reports.headline import read as read_headline
from billing_lib.reports.history import update_history
from billing_lib.reports.index_page import Entry, write_index
from billing_lib.reports.summary import read as read_summary
from billing_lib.runner.cases import case_runs, remove_stale_cases, run_exceptions, split_per_case
from billing_lib.runner.execute import WorkbookError, declared_parameters, execute, results_folder
from billing_lib.runner.kernel import kernel_for_this_python
from billing_lib.runner.manifest import dataset_files, file_hashes, interpreter, sha256, versions
from billing_lib.runner.params import RunParams, load_params
from billing_lib.runner.previous_run import find_previous_run, previous_period


def _say(text: str, end: str = "\n") -> None:
    print(text, end=end, file=sys.stderr, flush=True)


def _step(prefix: str, what: str, action) -> float:
    """Run ``action`` showing ``prefix: what... done in Xs``; return the seconds it took."""
    _say(f"{prefix}: {what}...", end=" ")
    start = time.perf_counter()
    try:
        action()
    except BaseException:
        _say("FAILED")
        raise
    seconds = time.perf_counter() - start
    _say(f"done in {seconds:.1f}s")
    return seconds


def workbook_parameters(params: RunParams, notebook: Path) -> dict:
    """The run's values for the parameters ``notebook`` declares (paths absolute)."""
    declared = declared_parameters(notebook)
    values = {"data_dir": str(params.data_dir), "period": params.period,
              "output_dir": str(params.output_dir / results_folder(notebook, declared)),
              "base_currency": params.base_currency,
              "case_log": str(params.case_log) if params.case_log else None}  # for the workbooks that take it
    return {k: v for k, v in values.items() if k in declared}


def run_monthly(params_path: Path) -> int:
    """Run every workbook of the parameters file and publish the reports; return the exit code."""
    started = dt.datetime.now(dt.UTC)
    params = load_params(Path(params_path))
    out = params.output_dir
    _say(f"billing run {params_path}: period {params.period or 'every invoiced month'}, data {params.data_dir}, "
         f"output {out}")
    loaded: list[Dataset] = []
    _step("data", "checking against the data contract", lambda: loaded.append(load_dataset(params.data_dir)))
    ds = loaded[0]
    ds_rows = ds.row_counts()
    kernel = kernel_for_this_python()
    regular, per_case = split_per_case(params.workbooks)  # per-case workbooks run once per case
    total = len(regular)
    entries: list[Entry] = []
    timings: list[dict] = []
    try:
        with atomic_outputs(out) as stage:
            def run_one(prefix: str, notebook: Path, name: str, parameters: dict, title: str) -> None:
                executed = stage / "notebooks" / f"{name}.ipynb"
                try:
                    secs_run = _step(prefix, "executing",
                                     lambda: execute(notebook, executed, parameters, kernel))
                except WorkbookError as exc:
                    kept = _keep_failed(executed, out / "failed" / f"{name}.ipynb")
                    raise WorkbookError(f"{exc}\n  executed notebook with the error: {kept}") from None
                secs_export = _step(prefix, "writing the HTML report",
                                    lambda: export_html(executed, stage / "reports" / f"{name}.html", title))
                executed_nb = _read_nb(executed)
                entries.append(Entry(name, title, f"reports/{name}.html", f"notebooks/{name}.ipynb",
                                     read_headline(executed_nb), secs_run + secs_export,
                                     _downloads(parameters.get("output_dir"), out), read_summary(executed_nb)))
                timings.append({"workbook": name, "parameters": parameters, "execute_seconds": round(secs_run, 3),
                                "export_seconds": round(secs_export, 3)})

            for i, notebook in enumerate(regular, 1):
                run_one(f"[{i}/{total}] {notebook.stem}", notebook, notebook.stem,
                        workbook_parameters(params, notebook), notebook_title(notebook))
            # -- per-case workbooks: the largest open cases by money at stake, after the others --
            found = (run_exceptions(params, ds, [t["parameters"].get("output_dir") for t in timings])
                     if per_case else None)
            for notebook in per_case:
                runs = case_runs(params, ds, notebook, notebook_title(notebook), found)
                _say(f"{notebook.stem}: {len(runs)} case(s) to investigate (investigations: {params.investigations})")
                for j, case in enumerate(runs, 1):
                    run_one(f"[case {j}/{len(runs)}] {case.name}", notebook, case.name, case.parameters, case.title)
            subtitle = (f"Period {params.period or 'every invoiced month'} · data {params.data_dir.name} · "
                        f"base currency {params.base_currency} · run {started:%Y-%m-%d %H:%M} UTC")
            write_index(stage / "index.html", f"Billing workbooks {params.period or ''}".strip(), subtitle,
                        entries, find_previous_run(out, params.period),
                        previous_period=previous_period(params.period) if params.period else None,
                        published_in=out)
            manifest = _manifest(params, kernel, started, timings, ds_rows, stage)
            (stage / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                                 encoding="utf-8")
    except WorkbookError as exc:
        _say(f"billing run: {exc}\n  nothing was published: {out / 'index.html'} and manifest.json are unchanged")
        _history(params)
        return 1
    shutil.rmtree(out / "failed", ignore_errors=True)
    remove_stale_cases(out, per_case, [e.name for e in entries])  # cases of earlier runs
    _history(params)
    done = len(entries)
    _say(f"done: {done} workbook{'s' if done != 1 else ''} in "
         f"{(dt.datetime.now(dt.UTC) - started).total_seconds():.1f}s")
    print(out / "index.html")
    return 0


def _history(params: RunParams) -> None:
    """Refresh the page listing every month's run (out/index.html), see runner/history.py."""
    page = update_history(params.output_dir, params.period)
    if page is not None:
        _say(f"every month's runs: {page}")


DOWNLOADS = ("*.xlsx",)


def _downloads(folder: str | None, out: Path) -> tuple[str, ...]:
    """Result files of a workbook worth linking from the index (spreadsheets), relative to the run's output."""
    if not folder or not Path(folder).is_dir():
        return ()
    found = sorted({p for pattern in DOWNLOADS for p in Path(folder).rglob(pattern) if not p.name.startswith(".")})
    root = out.resolve()
    return tuple(p.resolve().relative_to(root).as_posix() for p in found if p.resolve().is_relative_to(root))


def _read_nb(path: Path):
    import nbformat
    return nbformat.read(path, as_version=4)


def _keep_failed(executed: Path, target: Path) -> Path | str:
    if not executed.is_file():
        return "(none: the kernel did not start)"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(executed, target)
    return target


def _manifest(params: RunParams, kernel: str, started: dt.datetime, timings: list[dict],
              rows: dict[str, int], stage: Path) -> dict:
    """Inputs (hashes), parameters, versions, timings and outputs of the run."""
    out = params.output_dir
    results = sorted({p for t in timings for p in _result_files(t["parameters"].get("output_dir"))})
    outputs = [p for p in sorted(stage.rglob("*")) if p.is_file()]
    return {
        "run": {"started_utc": started.isoformat(timespec="seconds"),
                "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "kernel": kernel, **interpreter()},
        "parameters": params.as_dict(),
        "inputs": {
            "parameters_file": {"path": str(params.source), "sha256": sha256(params.source)},
            "data": file_hashes(dataset_files(params.data_dir), params.data_dir),
            "data_rows": rows,
            "workbooks": file_hashes(list(params.workbooks), params.notebooks_dir),
        },
        "versions": versions(),
        "workbooks": timings,
        "outputs": [p.relative_to(stage).as_posix() for p in outputs] + ["manifest.json"],
        "results": file_hashes(results, out) if results else [],
    }


def _result_files(folder: str | None) -> list[Path]:
    if not folder or not Path(folder).is_dir():
        return []
    return [p for p in Path(folder).rglob("*") if p.is_file() and not p.name.startswith(".")]
