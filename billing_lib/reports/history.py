"""The run history: ``out/index.html`` lists every month's run side by side, newest first, with links.

Each monthly run writes its own folder (``out/2024-05``, ``out/2024-06``...).
After every run, :func:`update_history` rewrites the page in the folder that
holds them (the parent of the run's ``output_dir``) from what is on disk:

- a folder with a ``manifest.json`` is a published run: its period, when it
  ran, the dataset, links to its index page and reports, and a few headline
  figures read from its executed notebooks;
- a folder with a ``failed/`` subfolder had a failed latest attempt: the
  failing workbook and its error are shown with a link to the kept notebook
  (the reports of an earlier success, if any, stay listed).

The page depends only on those files (no clock), so the same runs give the
same page. It is written only for the month-per-folder layout (``output_dir`` named
after its period) and never replaces an ``index.html`` it did not write.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from billing_lib.core.output import write_text_atomic
from billing_lib.reports.export import notebook_title
from billing_lib.reports.headline import read as read_headline

GENERATOR = "billing-workbooks run history"
MARKER = f'<meta name="generator" content="{GENERATOR}">'
# headline figures worth a glance across months (label, key); the month's own index page has them all
FIGURES = (("invoice run", "decision"), ("findings", "findings"), ("money at stake", "at_stake_base"),
           ("billed revenue", "billed_revenue_base"), ("controls passed", "controls_passed"))


@dataclass(frozen=True)
class Failure:
    """A workbook whose latest run failed, kept in ``<month>/failed/``."""

    workbook: str
    error: str
    notebook: str  # link relative to the history page


@dataclass(frozen=True)
class MonthRun:
    """What the history page shows of one month's folder."""

    folder: str
    period: str
    finished_utc: str | None
    data: str | None
    base_currency: str | None
    reports: tuple[tuple[str, str], ...]       # (workbook title, link)
    figures: tuple[tuple[str, str], ...]       # (label, value)
    failures: tuple[Failure, ...]

    @property
    def published(self) -> bool:
        return self.finished_utc is not None


def _error_of(notebook: Path) -> str:
    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception:  # an unreadable kept notebook still shows up, just without its error
        return "(the kept notebook cannot be read)"
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                first = next((line for line in str(out.get("evalue", "")).splitlines() if line.strip()), "")
                return f"{out.get('ename', 'Error')}: {first}".rstrip(": ")
    return "(no error output: the kernel stopped)"


def _figures(folder: Path, workbooks: list[str]) -> tuple[tuple[str, str], ...]:
    found: dict[str, str] = {}
    for name in workbooks:
        path = folder / "notebooks" / f"{name}.ipynb"
        if not path.is_file():
            continue
        head = read_headline(nbformat.read(path, as_version=4)) or {}
        base = head.get("base_currency", "")
        for label, key in FIGURES:
            value = head.get(key)
            if label not in found and isinstance(value, (str, int)) and not isinstance(value, bool):
                found[label] = f"{value} {base}".strip() if key.endswith("_base") else str(value)
    return tuple((label, found[label]) for label, _ in FIGURES if label in found)


def _title(folder: Path, workbook: str) -> str:
    """The report's own title (a per-case report names its case), else the notebook's heading, else the name."""
    report = folder / "reports" / f"{workbook}.html"
    with open(report, encoding="utf-8", errors="replace") as fh:
        head = fh.read(20_000)  # the <title> is in the head, before the embedded plotly.js
    found = re.search(r"<title>(.*?)</title>", head, re.S)
    if found and found.group(1).strip():
        title = html.unescape(found.group(1).strip())
        # the page names its month ("... · 2024-06"); here it stands in that month's row already
        for period in (folder.name, "all months"):
            title = title.removesuffix(f" · {period}")
        return title
    executed = folder / "notebooks" / f"{workbook}.ipynb"
    return notebook_title(executed) if executed.is_file() else workbook


def month_run(folder: Path) -> MonthRun | None:
    """The run recorded in ``folder``, or None when it holds neither a published run nor a failed one."""
    manifest_path, failed = folder / "manifest.json", folder / "failed"
    if not manifest_path.is_file() and not failed.is_dir():
        return None
    failures = tuple(Failure(p.stem, _error_of(p), f"{folder.name}/failed/{p.name}")
                     for p in sorted(failed.glob("*.ipynb"))) if failed.is_dir() else ()
    if not manifest_path.is_file():
        return MonthRun(folder.name, folder.name, None, None, None, (), (), failures)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        params, run = manifest["parameters"], manifest["run"]
    except (ValueError, KeyError, TypeError):
        return MonthRun(folder.name, folder.name, None, None, None, (), (), failures)
    workbooks = [w["workbook"] for w in manifest.get("workbooks", [])]
    reports = tuple((_title(folder, name), f"{folder.name}/reports/{name}.html") for name in workbooks
                    if (folder / "reports" / f"{name}.html").is_file())
    return MonthRun(folder.name, params.get("period") or folder.name, run.get("finished_utc"),
                    Path(params.get("data_dir", "")).name or None, params.get("base_currency"), reports,
                    _figures(folder, workbooks), failures)


def collect(root: Path) -> list[MonthRun]:
    """Every month's run under ``root``, newest period first."""
    runs = [r for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") for r in [month_run(p)] if r]
    return sorted(runs, key=lambda r: (r.period, r.folder), reverse=True)


def _e(text: object) -> str:
    return html.escape(str(text))


def _row(run: MonthRun) -> str:
    month = (f'<a href="{_e(run.folder)}/index.html">{_e(run.period)}</a>' if run.published else _e(run.period))
    if run.failures:
        status = "<span class=\"failed\">latest run failed</span>" + "".join(
            f'<br><a href="{_e(f.notebook)}">{_e(f.workbook)}</a>: {_e(f.error)}' for f in run.failures)
        if run.published:
            status += "<br>the reports below are from the previous successful run"
    else:
        status = "published"
    ran = _e(run.finished_utc.replace("T", " ").replace("+00:00", " UTC")) if run.finished_utc else ""
    reports = "<br>".join(f'<a href="{_e(link)}">{_e(name)}</a>' for name, link in run.reports)
    figures = "<br>".join(f"{_e(label)}: {_e(value)}" for label, value in run.figures)
    data = _e(" · ".join(x for x in (run.data, run.base_currency) if x))
    return (f"<tr><td>{month}</td><td>{status}</td><td>{ran}</td><td>{data}</td><td>{reports}</td>"
            f"<td>{figures}</td></tr>")


def render(runs: list[MonthRun]) -> str:
    """The history page as a self-contained HTML document (no script, nothing fetched)."""
    body = ("<table><thead><tr><th>month</th><th>status</th><th>finished</th><th>data · base currency</th>"
            "<th>reports</th><th>headline</th></tr></thead><tbody>" + "".join(_row(r) for r in runs)
            + "</tbody></table>") if runs else "<p>No monthly run yet.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{MARKER}<title>Billing workbooks: every month</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; vertical-align: top; padding: 6px 12px 6px 0; border-top: 1px solid #ddd; }}
th {{ font-weight: normal; color: #555; }} .failed {{ color: #b00020; font-weight: bold; }}
</style></head>
<body><h1>Billing workbooks: every month</h1>
<p>One row per monthly run, newest first. Each month keeps its own folder of reports.</p>
{body}
</body></html>
"""


def update_history(output_dir: Path, period: str | None) -> Path | None:
    """Rewrite the history page beside ``output_dir`` (in its parent); return its path.

    Only for the month-per-folder layout (``output_dir`` named after the period, as the default
    ``out/<period>``), and never over an ``index.html`` that this module did not write: None then.
    """
    folder = Path(output_dir).resolve()
    if folder.name != (period or "all"):
        return None
    root = folder.parent
    page = root / "index.html"
    if page.is_file() and MARKER not in page.read_text(encoding="utf-8", errors="replace"):
        return None
    write_text_atomic(page, render(collect(root)))
    return page
