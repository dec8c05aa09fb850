"""The index page of a monthly run: one entry per workbook, linking its report, with its headline figures
and how they changed since the previous run (found by :mod:`billing_lib.runner.previous_run`).

Money figures are shown with :func:`billing_lib.reports.style.money_label`
(formatted for their currency): figures named ``*_base`` are in the run's
base currency, and a mapping of currency codes to amounts is money in each
currency (``dso_days`` excepted: days). The page has the reports' stylesheet,
no script, and fetches nothing. It shows no clock (when the run ran and how long it took are in the run's
``manifest.json``), so the same inputs give the same page.
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from billing_lib.core.currency import is_currency
from billing_lib.core.output import write_text_atomic
from billing_lib.reports.style import PAGE_CLASS, money_label, stylesheet

LABELS = {"decision": "decision", "drafts": "drafts", "approved": "approved to send", "held": "held back",
          "periods": "periods", "findings": "findings", "errors": "errors", "warnings": "warnings",
          "customers_affected": "customers affected", "at_stake_base": "money at stake",
          "unconverted_findings": "findings without exchange rate", "checks_with_findings": "checks with findings",
          "at_stake_by_currency": "money at stake by currency",
          "period": "period", "billed_revenue_base": "billed revenue",
          "revenue_change_base": "change on the previous month", "revenue_change_pct": "change in per cent",
          "billed_lines_without_rate": "billed lines without exchange rate",
          "receivables_closing": "receivables at month end", "receivables_over_90_days": "over 90 days past due",
          "receivables_over_90_days_base": "over 90 days past due, in the base currency",
          "receivables_doubtful": "doubtful receivables",
          "receivables_doubtful_base": "doubtful receivables, in the base currency",
          "dso_days": "days sales outstanding", "unbilled_charges": "unbilled charges",
          "controls_passed": "close controls passed", "controls_failed": "close controls failed",
          "flagged customers": "customers flagged against last month"}
NOT_MONEY = ("dso_days",)
DOWNLOAD_LABELS = {"exceptions.csv": "findings (CSV)", "exceptions.xlsx": "findings (Excel)",
                   "drafts/invoices.csv": "draft invoices (CSV)", "month_end_schedules.xlsx": "schedules (Excel)",
                   "resolution.xlsx": "resolution (Excel)", "forensic_samples.xlsx": "samples to test (Excel)"}


def download_label(path: str) -> str:
    """A result file's link text in words ("findings (Excel)"), else its file name."""
    for tail, label in DOWNLOAD_LABELS.items():
        if path == tail or path.endswith("/" + tail):
            return label
    return path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class PreviousRun:
    """A published run of the month before: its folder, when it finished, and its headline figures."""

    period: str
    folder: Path
    finished_utc: str
    headlines: dict[str, dict]  # workbook name -> headline figures (workbooks that published none are left out)


@dataclass(frozen=True)
class Entry:
    """One workbook on the index page."""

    name: str
    title: str
    report: str          # relative link to the HTML report
    notebook: str        # relative link to the executed notebook
    headline: dict | None
    files: tuple[str, ...] = ()  # relative links to result files for download (e.g. Excel schedules)
    summary: dict | None = None  # the report's summary (report_summary.read), whose verdict the entry shows


def _decimal(value) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _money_map(key: str, value) -> bool:
    """A mapping of currency codes to amounts (money in each currency)."""
    return (isinstance(value, dict) and key not in NOT_MONEY and bool(value)
            and all(is_currency(k) and (v is None or _decimal(v) is not None) for k, v in value.items()))


def _base_money(key: str, value) -> bool:
    return key.endswith("_base") and isinstance(value, str) and _decimal(value) is not None


def _value(key: str, value, headline: dict) -> str:
    base = headline.get("base_currency", "")
    if value is None:
        return "none"
    if _base_money(key, value) and base:
        return money_label(value, base)
    if _money_map(key, value):
        return ", ".join(money_label(v, k) if v is not None else f"none {k}" for k, v in sorted(value.items()))
    if key == "dso_days" and isinstance(value, dict):
        return ", ".join(f"{k} {v} days" for k, v in sorted(value.items())) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{v} {k}" for k, v in sorted(value.items())) or "none"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def _signed(diff: Decimal, text: str) -> str:
    return "no change" if diff == 0 else (f"+{text}" if diff > 0 else f"\u2212{text.lstrip('-')}")


def _change(key: str, now, before, headline: dict) -> str:
    """This run minus the previous one, where the figure is a number or money ("" where it is not)."""
    base = headline.get("base_currency", "")
    if _base_money(key, now) and _base_money(key, before) and base:
        diff = Decimal(now) - Decimal(before)
        return _signed(diff, money_label(abs(diff), base))
    if _money_map(key, now) and _money_map(key, before):
        parts = []
        for cur in sorted(set(now) | set(before)):
            diff = (_decimal(now.get(cur)) or Decimal(0)) - (_decimal(before.get(cur)) or Decimal(0))
            if diff != 0:
                parts.append(_signed(diff, money_label(abs(diff), cur)))
        return ", ".join(parts) or "no change"
    if isinstance(now, int) and isinstance(before, int) and not isinstance(now, bool):
        return _signed(Decimal(now - before), str(abs(now - before)))
    if now == before:
        return "no change"
    return ""


def _ordered(headline: dict) -> list[tuple[str, object]]:
    """Known figures in LABELS order, then any others by name (notebook JSON does not keep key order)."""
    known = [(k, headline[k]) for k in LABELS if k in headline]
    return known + sorted((k, v) for k, v in headline.items() if k not in LABELS)


def _figures(headline: dict | None, before: dict | None, previous_period: str | None) -> str:
    if not headline:
        return "<p>No headline figures published.</p>"
    compare = before is not None
    head = ("<thead><tr><th></th><th>this run</th>"
            f"<th>{html.escape(previous_period or '')}</th><th>change</th></tr></thead>") if compare else ""
    rows = []
    for k, v in _ordered(headline):
        if k == "base_currency":
            continue
        row = (f"<tr><th>{html.escape(LABELS.get(k, k.replace('_', ' ')))}</th>"
               f"<td>{html.escape(_value(k, v, headline))}</td>")
        if compare:
            if k in before:
                row += (f"<td>{html.escape(_value(k, before[k], before))}</td>"
                        f"<td class=\"billing-change\">{html.escape(_change(k, v, before[k], headline))}</td>")
            else:
                row += "<td>not published</td><td></td>"
        rows.append(row + "</tr>")
    return f"<table class=\"billing-figures\">{head}{''.join(rows)}</table>"


def _verdict(summary: dict | None) -> str:
    if not summary or not summary.get("verdict"):
        return ""
    status = "action" if summary.get("status") == "action" else "ok"
    return (f"<p class=\"billing-index-verdict billing-status-{status}\">"
            f"{html.escape(str(summary['verdict']))}</p>")


def _previous_note(previous: PreviousRun | None, wanted: str, page_dir: Path | None) -> str:
    if previous is None:
        return ("<p class=\"billing-previous-note\">No comparison: no published run of "
                f"{html.escape(wanted)} (the month before) was found in a folder beside this run's folder. "
                f"Run <code>billing run</code> for {html.escape(wanted)} with its output folder beside this one "
                "to see the changes from month to month.</p>")
    link = previous.folder / "index.html"
    href = os.path.relpath(link, page_dir) if page_dir is not None else str(link)
    return ("<p class=\"billing-previous-note\">Compared with the previous run: the latest published run of "
            f"<a href=\"{html.escape(Path(href).as_posix())}\">{html.escape(previous.period)}</a>, the month "
            f"before, found beside this run's folder (finished "
            f"{html.escape(previous.finished_utc.replace('T', ' ').removesuffix('+00:00'))} UTC). "
            "<em>change</em> is this run's figure minus that run's.</p>")


def render(title: str, subtitle: str, entries: list[Entry], previous: PreviousRun | None = None, *,
           previous_period: str | None = None, page_dir: Path | None = None) -> str:
    """The index page as a self-contained HTML document (no script, nothing fetched).

    ``previous_period`` is the month compared with (None: no comparison, e.g. a run of every month);
    ``previous`` the run found for it, if any; ``page_dir`` the folder the page is published in (for the
    relative link to the previous run's index).
    """
    note = _previous_note(previous, previous_period or previous.period, page_dir) if previous_period or previous \
        else ""
    sections = []
    for e in entries:
        before = previous.headlines.get(e.name) if previous else None
        figures = _figures(e.headline, before, previous.period if previous else None)
        links = "".join(f" · <a href=\"{html.escape(f)}\">{html.escape(download_label(f))}</a>" for f in e.files)
        sections.append(
            f"<section class=\"billing-index-entry\"><h2><a href=\"{html.escape(e.report)}\">"
            f"{html.escape(e.title)}</a></h2><p class=\"meta\"><a href=\"{html.escape(e.report)}\">report</a> · "
            f"<a href=\"{html.escape(e.notebook)}\">executed notebook</a>{links}</p>"
            f"{_verdict(e.summary)}{figures}</section>")
    items = "".join(sections)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style type="text/css">
{stylesheet()}</style></head>
<body class="{PAGE_CLASS} billing-index"><main>
<h1>{html.escape(title)}</h1><p class="meta">{html.escape(subtitle)}</p>
{note}
{items}
</main></body></html>
"""


def write_index(path: Path, title: str, subtitle: str, entries: list[Entry], previous: PreviousRun | None = None,
                *, previous_period: str | None = None, published_in: Path | None = None) -> None:
    """Write the index page to ``path`` (the caller stages it; ``published_in`` is the folder it ends up in)."""
    write_text_atomic(path, render(title, subtitle, entries, previous, previous_period=previous_period,
                                   page_dir=published_in))
