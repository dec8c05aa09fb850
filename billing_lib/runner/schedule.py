"""Scheduled monthly runs (``billing schedule``, called by ``scripts/monthly-cron.sh`` and the CI example).

On a given day (the real date by default; ``--today`` or ``BILLING_TODAY``
for a fixed one) it runs the month before:

1. ``parameters/<YYYY-MM>.yaml`` is used when it exists, else created from
   ``parameters/template.yaml`` (every ``{period}`` outside comments replaced
   by the month),
   checked before it is written;
2. ``billing run`` executes the suite for it;
3. a summary says what ran and where the reports are, or what failed (the
   workbook, its error and the kept notebook) and that the earlier reports
   were left as they were; it is printed, and appended as Markdown to
   ``--summary FILE`` (``$GITHUB_STEP_SUMMARY`` in GitHub Actions), which is
   checked to be writable before anything runs.

The exit code is the run's: 0 done, 1 a workbook failed, 2 wrong parameters
or data.
"""
from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from billing_lib.core.periods import parse_period, period_name
from billing_lib.errors import BillingInputError, ParameterError
from billing_lib.reports.history import GENERATOR, month_run
from billing_lib.runner.params import load_params

TEMPLATE = "template.yaml"
PLACEHOLDER = "{period}"
TODAY_ENV = "BILLING_TODAY"


def parse_day(text: str, where: str = "--today") -> dt.date:
    """A ``YYYY-MM-DD`` date; ParameterError naming ``where`` otherwise."""
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise ParameterError(f"{where} {text!r} is not a date as YYYY-MM-DD (for example 2024-07-02)") from None


def today_utc() -> dt.date:
    """The day a scheduled run takes as today: ``$BILLING_TODAY`` when set, else the current UTC date."""
    fixed = os.environ.get(TODAY_ENV)
    return parse_day(fixed, f"${TODAY_ENV}") if fixed else dt.datetime.now(dt.UTC).date()


def previous_month(today: dt.date) -> str:
    """``YYYY-MM`` of the month before ``today``'s month."""
    return period_name((today.replace(day=1) - dt.timedelta(days=1)).replace(day=1))


def parameters_file(period: str, parameters_dir: Path, template: Path | None = None) -> tuple[Path, Path | None]:
    """The month's parameters file, created from the template when missing: (path, template used or None)."""
    parse_period(period)
    path = parameters_dir / f"{period}.yaml"
    if path.is_file():
        return path, None
    template = template or parameters_dir / TEMPLATE
    if not template.is_file():
        raise ParameterError(f"no parameters file {path} for {period}, and no template {template} to create it "
                             f"from: write one of them (see docs/monthly-run.md, 'Running every month automatically')")
    try:
        text = template.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ParameterError(f"template {template} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except OSError as exc:
        raise ParameterError(f"template {template} cannot be read ({exc.strerror or exc})") from None
    if PLACEHOLDER not in text:
        raise ParameterError(f"template {template} has no {PLACEHOLDER} placeholder: write period: \"{PLACEHOLDER}\" "
                             f"in it so each month gets its own parameters")
    filled = "".join(line if line.lstrip().startswith("#") else line.replace(PLACEHOLDER, period)
                     for line in text.splitlines(keepends=True))
    _write_checked(path, f"# created by billing schedule from {template}\n{filled}", period, template)
    return path, template


def _write_checked(path: Path, text: str, period: str, template: Path) -> None:
    """Write the filled-in template to ``path`` atomically, only once it loads as ``period``'s parameters."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ParameterError(f"cannot create {path} from {template}: the parameters folder {path.parent} "
                             f"cannot be written ({exc.strerror or exc}); give --parameters-dir a folder "
                             f"that exists and that you can write to") from None
    staged = path.parent / Path(name).name
    try:
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            raise ParameterError(f"cannot write {path} ({exc.strerror or exc})") from None
        try:
            checked = load_params(staged)
        except ParameterError as exc:
            raise ParameterError(str(exc).replace(str(staged), f"{path} (from {template})")) from None
        if checked.period != period:
            raise ParameterError(f"template {template}: period must be \"{PLACEHOLDER}\", "
                                 f"found {checked.period!r} once filled in")
        try:
            os.replace(staged, path)
        except OSError as exc:
            raise ParameterError(f"cannot write {path} ({exc.strerror or exc})") from None
    finally:
        staged.unlink(missing_ok=True)


@dataclass
class Summary:
    """What a scheduled run did, for people reading a cron mail or a CI summary."""

    period: str
    today: dt.date
    asked: bool = False  # the month was given (--period), not derived from today
    parameters: Path | None = None
    created_from: Path | None = None
    exit_code: int = 0
    problem: str | None = None
    output_dir: Path | None = None
    lines: list[str] = field(default_factory=list)

    def headline(self) -> str:
        outcome = {0: "done", 1: "FAILED (a workbook failed)" if not self.problem else "FAILED (unexpected error)",
                   2: "FAILED (wrong parameters or data)"}
        return (f"monthly billing run for {self.period}: {outcome.get(self.exit_code, 'FAILED')} "
                f"(exit {self.exit_code})")

    def details(self) -> list[str]:
        why = "as asked" if self.asked else f"the month before {self.today:%Y-%m-%d}"
        out = [f"month: {self.period} ({why})"]
        if self.parameters is not None:
            made = f" (created from {self.created_from})" if self.created_from else ""
            out.append(f"parameters: {self.parameters}{made}")
        if self.problem:
            out.append("problem: " + self.problem.replace("\n", "\n    "))
        out += self.lines
        return out

    def text(self) -> str:
        return "\n".join([self.headline(), *(f"  {line}" for line in self.details())])

    def markdown(self) -> str:
        return "\n".join([f"## {self.headline()}", "", *(f"- {line}" for line in self.details()), ""])


def _outcome_lines(summary: Summary) -> list[str]:
    """Where the reports are, or which workbook failed and why (from the notebooks the run kept)."""
    out = summary.output_dir
    if out is None:
        return ["nothing was run"]
    run = month_run(out)
    lines = []
    if summary.exit_code == 0:
        lines.append(f"reports: {out / 'index.html'}")
    elif run is not None:
        lines += [f"failed workbook {f.workbook}: {f.error} (kept in {out / 'failed' / (f.workbook + '.ipynb')})"
                  for f in run.failures]
        lines.append(f"earlier reports kept as they were: {out / 'index.html'}" if run.published
                     else "no reports published for this month")
    history = out.parent / "index.html"
    if history.is_file() and GENERATOR in history.read_text(encoding="utf-8", errors="replace"):
        lines.append(f"every month: {history}")
    return lines


def check_summary_file(summary_file: Path) -> None:
    """Stop before the run when ``--summary FILE`` could not be appended to (ParameterError naming it)."""
    problem = None
    if summary_file.is_dir():
        problem = "is a folder, not a file"
    elif summary_file.parent.exists() and not summary_file.parent.is_dir():
        problem = f"{summary_file.parent} is a file, not a folder"
    elif not summary_file.parent.is_dir():
        problem = f"its folder {summary_file.parent} does not exist"
    else:
        try:  # appending nothing creates the file as the summary would, and proves it can be written
            with open(summary_file, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            problem = f"cannot be written ({exc.strerror or exc})"
    if problem:
        raise ParameterError(f"--summary {summary_file}: {problem}; give a file in a folder that exists and "
                             f"that you can write to (nothing was run)")


def run_scheduled(today: dt.date, parameters_dir: Path = Path("parameters"), template: Path | None = None,
                  period: str | None = None, summary_file: Path | None = None) -> int:
    """Run the month before ``today`` (or ``period``); print the summary (and append it to ``summary_file``)."""
    from billing_lib.runner.monthly import run_monthly
    if summary_file is not None:
        check_summary_file(summary_file)
    summary = Summary(period or previous_month(today), today, asked=period is not None)
    try:
        summary.parameters, summary.created_from = parameters_file(summary.period, parameters_dir, template)
        summary.output_dir = load_params(summary.parameters).output_dir
        summary.exit_code = run_monthly(summary.parameters)
    except BillingInputError as exc:
        summary.exit_code, summary.problem = exc.exit_code, str(exc)
    except Exception as exc:  # a fault: summarised too, then raised for the traceback (exit 1)
        summary.exit_code, summary.problem = 1, f"unexpected error {type(exc).__name__}: {exc}"
        _publish(summary, summary_file)
        raise
    _publish(summary, summary_file)
    return summary.exit_code


def _publish(summary: Summary, summary_file: Path | None) -> None:
    summary.lines = _outcome_lines(summary)
    print(summary.text(), flush=True)
    if summary_file is not None:
        with open(summary_file, "a", encoding="utf-8") as fh:
            fh.write(summary.markdown())
