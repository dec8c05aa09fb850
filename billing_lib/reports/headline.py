"""A workbook's headline figures, carried inside its executed notebook.

A workbook ends with :func:`publish`: its conclusions as HTML (what the report
shows) and, in the same output, its headline figures as JSON under
:data:`MIME_TYPE` (what the monthly run reads for the index page; HTML export
ignores the type).
"""
from __future__ import annotations

import html

from IPython.display import display
from nbformat import NotebookNode

MIME_TYPE = "application/vnd.billing-workbooks.headline+json"


def publish(figures: dict, lines: list[str]) -> None:
    """Display the conclusions ``lines`` (escaped) with the headline ``figures`` attached."""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    display({"text/html": f"<ul class=\"billing-conclusions\">{items}</ul>",
             "text/plain": "\n".join(lines), MIME_TYPE: figures}, raw=True)


def last_output(nb: NotebookNode, mime_type: str) -> dict | None:
    """The JSON an executed notebook displayed last under ``mime_type``, or None."""
    found = None
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if mime_type in data:
                found = dict(data[mime_type])
    return found


def read(nb: NotebookNode) -> dict | None:
    """The headline figures an executed notebook published last, or None."""
    return last_output(nb, MIME_TYPE)
