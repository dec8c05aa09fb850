"""The monthly run (``billing run PARAMS.yaml``): every workbook through papermill, then the HTML reports.

:func:`run_monthly` reads as the pipeline it is, one step per stage:

1. **parameters**: the parameters file is read and checked (:mod:`billing_lib.runner.params`);
2. **lock**: one run per output folder at a time (:mod:`billing_lib.runner.lock`); what a killed run left
   behind is cleaned up;
3. **data**: the dataset is checked against the data contract and the inputs are hashed (a wrong input stops
   here with exit code 2, before any kernel starts);
4. **workbooks**: each workbook is executed with papermill on the current interpreter's kernel, from the
   notebooks folder, into a staging folder beside the output folder: its executed notebook in
   ``notebooks/<name>.ipynb`` and its results in its own folder (e.g. ``verification``);
5. **per-case runs**: a per-case workbook runs for the largest open cases (:mod:`billing_lib.runner.cases`);
6. **export**: each executed notebook becomes ``reports/<name>.html`` (outputs and text only, charts
   embedded, nothing fetched online);
7. **index and manifest**: ``index.html`` (a link, the verdict and the headline figures per workbook) and
   ``manifest.json`` (input hashes, parameters, package versions, timings);
8. **publish**: the staging folder takes the output folder's place in one step
   (:mod:`billing_lib.runner.publish`), and the page of every month's runs is refreshed
   (:mod:`billing_lib.reports.history`).

Nothing is published unless every workbook succeeded. When one fails, the run stops with exit code 1 and a
message naming the notebook, the cell and the error; the failed notebook is kept in
``<output_dir>/failed/`` and the previous output stays as it was. Killed at any moment, the run leaves the
previous output (or, once published, the new one) complete. The same inputs give the same files, byte for
byte, except the manifest's clock.
"""
from __future__ import annotations

import datetime as dt
from concurrent.futures import as_completed
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat
import polars as pl

from billing_lib.core.output import clean_leftovers, staging_folder, write_bytes_atomic
from billing_lib.core.periods import month_bounds
from billing_lib.core.processes import spawned_pool, usable_cores
from billing_lib.data.coverage import month_without_activity, stale_exchange_rates
from billing_lib.data.dataset import Dataset
from billing_lib.data.loading import load_dataset
from billing_lib.errors import ParameterError
from billing_lib.reports.export import export_html
from billing_lib.reports.headline import read as read_headline
from billing_lib.reports.history import update_history
from billing_lib.reports.index_page import Entry, write_index
from billing_lib.reports.summary import read as read_summary
from billing_lib.runner.cases import case_jobs, open_cases, run_exceptions
from billing_lib.runner.console import say, step
from billing_lib.runner.execute import WorkbookError, execute, execute_timed, leave_out_libraries, record
from billing_lib.runner.jobs import Job, is_per_case, job
from billing_lib.runner.kernel import kernel_for_this_python
from billing_lib.runner.lock import run_lock, this_process
from billing_lib.runner.manifest import inputs, write_manifest
from billing_lib.runner.params import RunParams, load_params
from billing_lib.runner.previous_run import find_previous_run, previous_period
from billing_lib.runner.publish import FAILED, publish_run

DOWNLOADS = ("*.xlsx", "exceptions.csv", "drafts/invoices.csv")  # result files worth a link from the index


def run_monthly(params_path: Path, *, redact: bool = False, workers: int | None = None) -> int:
    """Run every workbook of the parameters file and publish the reports; return the exit code. ``redact``
    masks customers' names, e-mail addresses and addresses in every report (as ``redact: true`` does).
    ``workers``: workbooks executed at a time (default: one per usable core; the files are the same)."""
    started = dt.datetime.now(dt.UTC)
    workers = usable_cores() if workers is None else workers
    if workers < 1:
        raise ParameterError(f"workers must be 1 or more, not {workers}")
    params = load_params(Path(params_path))
    if redact:
        params = replace(params, redact=True)
    out = params.output_dir
    say(f"billing run {params_path}: period {params.period or 'every invoiced month'}, data {params.data_dir}, "
        f"output {out}")
    with run_lock(out, this_process(started)) as stale:
        if stale is not None:
            say(f"billing run: taking over the lock of an earlier run that did not finish ({stale}); "
                f"its unfinished output is discarded, its published output is kept")
        clean_leftovers(out)
        ds, _ = step("data", "checking against the data contract",
                     lambda: load_dataset(params.data_dir, redact=params.redact))
        refuse_a_month_the_data_does_not_cover(ds, params)
        read = inputs(params.source, params.data_dir, ds.row_counts(), params.notebooks_dir, params.workbooks)
        values, kernel = run_values(params), kernel_for_this_python()
        regular = [w for w in params.workbooks if not is_per_case(w)]
        per_case = [w for w in params.workbooks if w not in regular]
        with staging_folder(out) as stage:
            try:
                done = run_jobs([job(w, values) for w in regular], stage, out, kernel, workers=workers)
                if per_case:
                    found = run_exceptions(results_folders(done, stage), ds, params.period)
                    cases = open_cases(found, ds, params.base_currency, params.investigations, params.case_log)
                    done += run_cases(per_case, cases, values, stage, out, kernel, params.investigations,
                                      workers=workers)
            except WorkbookError as exc:
                return failed(exc, out, params.period)
            entries, export_seconds = export_reports(done, stage, params.period)
            write_index(stage / "index.html", f"Billing workbooks {params.period or ''}".strip(), subtitle(params),
                        entries, find_previous_run(out, params.period),
                        previous_period=previous_period(params.period) if params.period else None,
                        published_in=out)
            write_manifest(stage, parameters=params.as_dict(), read=read, kernel=kernel, started=started,
                           workbooks=[timing(r, out, s) for r, s in zip(done, export_seconds, strict=True)],
                           results=[r.job.results for r in done if r.job.results])
            publish_run(stage, out, [w.stem for w in per_case])
        refresh_history(out, params.period)
    say(f"done: {len(done)} workbook{'s' if len(done) != 1 else ''} in "
        f"{(dt.datetime.now(dt.UTC) - started).total_seconds():.1f}s")
    print(out / "index.html")
    return 0


def refuse_a_month_the_data_does_not_cover(ds: Dataset, params: RunParams) -> None:
    """ParameterError (exit 2, nothing published) when the data has no activity in the run's month or its
    exchange rates are older than ``fx_max_age_days``: a verdict about such a month would be made up."""
    if params.period is None:
        return
    start, end = month_bounds(params.period)
    problem = month_without_activity(ds, start, end) or stale_exchange_rates(ds, end, params.fx_max_age_days)
    if problem:
        raise ParameterError(f"{params.source}: nothing run for {params.period}: {problem} ({params.data_dir})")


def run_values(params: RunParams) -> dict:
    """The run's values for the parameters a workbook may declare (paths absolute)."""
    return {"data_dir": str(params.data_dir), "period": params.period, "base_currency": params.base_currency,
            "case_log": str(params.case_log) if params.case_log else None, "redact": params.redact,
            "engine": params.engine, "spark_master": params.spark_master}


@dataclass(frozen=True)
class Executed:
    """A job executed into the staging folder: its executed notebook (as published) and how long it took."""

    job: Job
    notebook: Path
    seconds: float


def run_jobs(jobs: list[Job], stage: Path, out: Path, kernel: str, label: str = "", workers: int = 1) -> list[Executed]:
    """Execute each job into ``stage`` (``out`` is where the run is published), ``workers`` at a time (each
    job writes only its own files, so the files do not depend on how many); WorkbookError when one fails (the
    first in the jobs' order, once the jobs already running have ended; the others are not started)."""
    executed = [stage / "notebooks" / f"{current.name}.ipynb" for current in jobs]
    if workers > 1 and len(jobs) > 1:
        seconds = _run_in_pool(jobs, executed, stage, kernel, label, min(workers, len(jobs)))
    else:
        seconds = [step(f"[{label}{i}/{len(jobs)}] {current.name}", "executing",
                        lambda current=current, path=path: execute(current.notebook, path, current.parameters(stage),
                                                                   kernel))[1]
                   for i, (current, path) in enumerate(zip(jobs, executed, strict=True), 1)]
    for current, path in zip(jobs, executed, strict=True):
        record(path, current.parameters(out), out / "notebooks" / path.name)
    return [Executed(current, path, secs) for current, path, secs in zip(jobs, executed, seconds, strict=True)]


def _run_in_pool(jobs: list[Job], executed: list[Path], stage: Path, kernel: str, label: str,
                 workers: int) -> list[float]:
    """Execute the jobs in a pool of ``workers`` processes (papermill changes the working folder of its
    process: threads would share one), saying each one's end as it comes; their seconds, in the jobs' order."""
    say(f"executing {len(jobs)} workbooks, {workers} at a time")
    pool = spawned_pool(workers)
    try:
        futures = {pool.submit(execute_timed, current.notebook, path, current.parameters(stage), kernel): i
                   for i, (current, path) in enumerate(zip(jobs, executed, strict=True))}
        seconds: dict[int, float] = {}
        errors: dict[int, BaseException] = {}
        for future in as_completed(futures):
            i = futures[future]
            name = f"[{label}{i + 1}/{len(jobs)}] {jobs[i].name}"
            if future.exception() is not None:
                errors[i] = _as_workbook_error(future.exception(), jobs[i], executed[i])
                say(f"{name}: FAILED")
                for waiting in futures:  # no new workbook starts once one has failed
                    waiting.cancel()
            elif not future.cancelled():
                seconds[i] = future.result()
                say(f"{name}: done in {seconds[i]:.1f}s")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if errors:
        raise errors[min(errors)]
    return [seconds[i] for i in range(len(jobs))]


def _as_workbook_error(error: BaseException, current: Job, executed: Path) -> BaseException:
    """What a worker raised, as the run reports it: a workbook's or an input's error as it is; a worker that
    died (killed, out of memory) as that workbook's failure."""
    if isinstance(error, (WorkbookError, ParameterError)):
        return error
    return WorkbookError(f"workbook {current.name} could not be executed: {type(error).__name__}: {error}",
                         executed if executed.is_file() else None)


def results_folders(done: list[Executed], stage: Path) -> list[Path]:
    """The results folders of the executed workbooks, in the staging folder."""
    return [stage / r.job.results for r in done if r.job.results]


def run_cases(per_case: list[Path], cases: pl.DataFrame, values: dict, stage: Path, out: Path, kernel: str,
              asked: int, workers: int = 1) -> list[Executed]:
    """Execute each per-case workbook for each of the ``cases`` (``asked``: how many the parameters ask for)."""
    done = []
    for notebook in per_case:
        say(f"{notebook.stem}: {cases.height} case(s) to investigate (investigations: {asked})")
        done += run_jobs(case_jobs(notebook, cases, values), stage, out, kernel, label="case ", workers=workers)
    return done


def failed(error: WorkbookError, out: Path, period: str | None) -> int:
    """A workbook failed: keep its notebook in ``out/failed/``, say that nothing was published; exit code 1."""
    say(f"billing run: {error}\n  executed notebook with the error: {keep_failed(error, out)}\n"
        f"  nothing was published: {out / 'index.html'} and manifest.json are unchanged")
    refresh_history(out, period)
    return 1


def export_reports(done: list[Executed], stage: Path, period: str | None) -> tuple[list[Entry], list[float]]:
    """Export each executed notebook of the run of ``period`` to ``stage/reports/<name>.html``: the index
    entries and the seconds each export took."""
    entries, seconds = [], []
    for i, run in enumerate(done, 1):
        name = run.job.name
        _, secs = step(f"[{i}/{len(done)}] {name}", "writing the HTML report",
                       lambda run=run: export_html(run.notebook, stage / "reports" / f"{run.job.name}.html",
                                                   run.job.title, period))
        leave_out_libraries(run.notebook)  # the report has them now
        nb = nbformat.read(run.notebook, as_version=4)
        entries.append(Entry(name, run.job.title, f"reports/{name}.html", f"notebooks/{name}.ipynb",
                             read_headline(nb), downloads(stage, run.job.results), read_summary(nb)))
        seconds.append(secs)
    return entries, seconds


def downloads(stage: Path, results: str | None) -> tuple[str, ...]:
    """Result files of a workbook worth linking from the index (spreadsheets), relative to the run's folder."""
    if not results or not (stage / results).is_dir():
        return ()
    found = {p for pattern in DOWNLOADS for p in (stage / results).rglob(pattern)
             if not any(part.startswith(".") for part in p.relative_to(stage).parts)}
    return tuple(p.relative_to(stage).as_posix() for p in sorted(found))


def subtitle(params: RunParams) -> str:
    """The index page's line under its title (no clock: the page depends on the inputs only)."""
    return (f"Period {params.period or 'every invoiced month'} · data {params.data_dir.name} · "
            f"base currency {params.base_currency}")


def timing(run: Executed, out: Path, export_seconds: float) -> dict:
    """A workbook's entry in the manifest: its parameters as published and how long it took."""
    return {"workbook": run.job.name, "parameters": run.job.parameters(out),
            "execute_seconds": round(run.seconds, 3), "export_seconds": round(export_seconds, 3)}


def keep_failed(error: WorkbookError, out: Path) -> Path | str:
    """Copy the failed workbook's executed notebook to ``out/failed/`` (beside the published output)."""
    if error.executed is None or not error.executed.is_file():
        return "(none: the kernel did not start)"
    return write_bytes_atomic(out / FAILED / error.executed.name, error.executed.read_bytes())


def refresh_history(out: Path, period: str | None) -> None:
    """Refresh the page listing every month's run (``out/../index.html``, see reports/history.py)."""
    page = update_history(out, period)
    if page is not None:
        say(f"every month's runs: {page}")
