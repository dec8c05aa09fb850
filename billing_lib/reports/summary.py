"""The one-screen summary that opens every report: what was checked, what was found, money at stake, what
needs a decision.

A workbook builds a :class:`Summary` from its results (e.g.
:func:`billing_lib.workbook.analysis.summary`) and ends with :func:`publish_summary`,
which shows the summary and attaches the workbook's headline figures for the
index page (as :func:`billing_lib.reports.headline.publish` does). The summary output
is marked with :data:`MIME_TYPE`; the report export (:func:`summary_first`)
moves it to the top of the report, under the title, so a manager reads it
first and the detail after it. A workbook that only calls
``headline.publish`` gets its conclusions moved there instead.

Every text from data is escaped; money is shown with
:func:`billing_lib.reports.style.money_label` (formatted for its currency).
"""
from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from IPython.display import display
from nbformat import NotebookNode

from billing_lib.reports import headline
from billing_lib.reports.style import money_label

MIME_TYPE = "application/vnd.billing-workbooks.summary+json"
STATUS_OK = "ok"
STATUS_ACTION = "action"
_SUMMARY_HEADING = re.compile(r"^#+\s*(summary|conclusions?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Amount:
    """One sum of money at stake, in its currency (``amount`` None: not known, e.g. no exchange rate)."""

    label: str
    amount: Decimal | None
    currency: str


@dataclass(frozen=True)
class Summary:
    """What a report says in one screen. ``verdict`` is the one sentence to read if nothing else;
    ``decisions`` empty means nothing waits on a decision."""

    verdict: str
    checked: list[str]
    found: list[str]
    at_stake: list[Amount] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def status(self) -> str:
        """``action`` when something needs a decision, else ``ok``."""
        return STATUS_ACTION if self.decisions else STATUS_OK

    def as_json(self) -> dict:
        """JSON-ready copy (amounts as text)."""
        data = asdict(self)
        data["at_stake"] = [{**a, "amount": None if a["amount"] is None else str(a["amount"])}
                            for a in data["at_stake"]]
        data["status"] = self.status
        return data


def _items(lines: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"


def _amounts(amounts: list[Amount]) -> str:
    """The first amount large (the total), the others as a list under it."""
    if not amounts:
        return "<p>Nothing: no money is at stake.</p>"
    shown = [(html.escape(money_label(a.amount, a.currency) if a.amount is not None else "unknown"),
              html.escape(a.label)) for a in amounts]
    first, rest = shown[0], shown[1:]
    out = (f"<p><span class=\"billing-amount\">{first[0]}</span><br>"
           f"<span class=\"billing-amount-label\">{first[1]}</span></p>")
    if rest:
        out += "<ul>" + "".join(f"<li><b>{amount}</b> {label}</li>" for amount, label in rest) + "</ul>"
    return out


def summary_html(summary: Summary, heading: str = "Summary") -> str:
    """The summary as an HTML block (classes of ``templates/report.css``), every text escaped."""
    decisions = (_items(summary.decisions) if summary.decisions
                 else "<p class=\"billing-decision-none\">Nothing: no decision is waiting.</p>")
    blocks = [("What was checked", _items(summary.checked)), ("What was found", _items(summary.found)),
              ("Money at stake", _amounts(summary.at_stake)), ("Needs a decision", decisions)]
    grid = "".join(f"<div class=\"billing-summary-block\"><h3>{html.escape(title)}</h3>{body}</div>"
                   for title, body in blocks)
    foot = f"<div class=\"billing-summary-foot\">{html.escape(summary.note)}</div>" if summary.note else ""
    return (f"<section class=\"billing-summary billing-status-{summary.status}\" aria-label=\"{html.escape(heading)}\">"
            f"<p class=\"billing-verdict\">{html.escape(summary.verdict)}</p>"
            f"<div class=\"billing-summary-grid\">{grid}</div>{foot}</section>")


def summary_text(summary: Summary) -> str:
    """The summary as plain text (for front-ends that show no HTML)."""
    stake = [f"{a.label}: {money_label(a.amount, a.currency) if a.amount is not None else 'unknown'}"
             for a in summary.at_stake] or ["none"]
    parts = [summary.verdict, "Checked: " + "; ".join(summary.checked), "Found: " + "; ".join(summary.found),
             "Money at stake: " + "; ".join(stake),
             "Needs a decision: " + ("; ".join(summary.decisions) if summary.decisions else "nothing")]
    return "\n".join(parts + ([summary.note] if summary.note else []))


def publish_summary(summary: Summary, figures: dict | None = None) -> None:
    """Display ``summary`` (placed first in the exported report) with the headline ``figures`` attached
    for the index page."""
    data = {"text/html": summary_html(summary), "text/plain": summary_text(summary),
            MIME_TYPE: summary.as_json()}
    if figures is not None:
        data[headline.MIME_TYPE] = figures
    display(data, raw=True)


def read(nb: NotebookNode) -> dict | None:
    """The summary an executed notebook published last (JSON form, see :meth:`Summary.as_json`), or None."""
    return headline.last_output(nb, MIME_TYPE)


def _has(cell: NotebookNode, mime: str) -> bool:
    return any(mime in out.get("data", {}) for out in cell.get("outputs", []))


def _summary_heading(cell: NotebookNode) -> bool:
    """A markdown cell that only introduces the summary: a lone heading, or a "Summary"/"Conclusions" section."""
    lines = [line for line in cell.source.splitlines() if line.strip()]
    if cell.cell_type != "markdown" or not lines or not lines[0].startswith("#"):
        return False
    return len(lines) == 1 or bool(_SUMMARY_HEADING.match(lines[0]))


def _framed_conclusions(cell: NotebookNode) -> NotebookNode:
    """A copy of a cell that published only headline figures, its HTML conclusions framed like a summary."""
    outputs = []
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if headline.MIME_TYPE in data and "text/html" in data:
            body = "".join(data["text/html"]) if isinstance(data["text/html"], list) else data["text/html"]
            framed = (f"<section class=\"billing-summary billing-status-neutral\" aria-label=\"Summary\">"
                      f"<p class=\"billing-verdict\">Summary</p><div class=\"billing-summary-block\">{body}</div>"
                      "</section>")
            out = NotebookNode({**out, "data": NotebookNode({**data, "text/html": framed})})
        outputs.append(out)
    return NotebookNode({**cell, "outputs": outputs})


def summary_first(nb: NotebookNode) -> NotebookNode:
    """A copy of the executed notebook with its summary cell moved right under the title (the first
    ``# heading``): the cell that published a :class:`Summary`, else the one that published headline
    figures (its conclusions then framed like a summary). The markdown cell just above it goes too when it only
    introduces it (a lone heading, or a section headed "Summary" or "Conclusions"): its content moved. Nothing
    changes when the notebook published neither."""
    nb = NotebookNode(nb.copy())
    cells = list(nb.cells)
    found = next((i for i in range(len(cells) - 1, -1, -1) if _has(cells[i], MIME_TYPE)), None)
    wrap = found is None
    if found is None:
        found = next((i for i in range(len(cells) - 1, -1, -1) if _has(cells[i], headline.MIME_TYPE)), None)
    if found is None:
        return nb
    summary = cells.pop(found)
    if wrap:
        summary = _framed_conclusions(summary)
    if found > 0 and _summary_heading(cells[found - 1]):
        cells.pop(found - 1)
    at = 0
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown" and any(line.startswith("# ") for line in cell.source.splitlines()):
            at = i
            break
    title_cell = cells[at]
    lines = title_cell.source.splitlines()
    head = next((k for k, line in enumerate(lines) if line.startswith("# ")), None)
    if title_cell.cell_type == "markdown" and head is not None:
        title = NotebookNode({**title_cell, "source": "\n".join(lines[:head + 1])})
        rest = "\n".join(lines[head + 1:]).strip("\n")
        parts = [title, summary]
        if rest.strip():
            parts.append(NotebookNode({**title_cell, "source": rest, "id": f"{title_cell.get('id', 'title')}-intro"}))
        cells[at:at + 1] = parts
    else:
        cells.insert(0, summary)
    nb.cells = cells
    return nb
