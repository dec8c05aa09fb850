"""Tables that can be sorted and searched, offline, in JupyterLab and in the exported HTML reports.

Built on ITables (DataTables for pandas and polars) in its offline mode:
:func:`init` embeds the DataTables bundle once in the notebook (no CDN), and
:func:`table_html` renders a pandas frame as a DataTable that uses it. Values
are escaped by ITables (its ``allow_html`` stays off), and each table carries
a static copy of its first page that shows where scripts do not run. Tables are
never downsampled: a report shows every row, ten rows a page and a search box.
Table ids follow a counter and the table's content, so a report is the same
from one run to the next.
"""
from __future__ import annotations

import hashlib
import itertools

import pandas as pd
from IPython.display import HTML, display
from IPython.utils.capture import capture_output
from itables import init_notebook_mode, to_html_datatable

PAGE_LENGTH = 10
_counter = itertools.count(1)


def init() -> None:
    """Embed the DataTables bundle in the notebook, once (call before the first table).

    ITables' offline mode shows two outputs: a module script that waits for the bundle, then the bundle.
    A browser page defers module scripts, but JupyterLab runs each output's scripts as it inserts them, so
    the first would log an error there (the bundle is not yet defined). They are shown as one output,
    the bundle first.
    """
    with capture_output() as captured:
        init_notebook_mode(all_interactive=False, connected=False)
    parts = [out.data.get("text/html", "") for out in captured.outputs]
    display(HTML("\n".join(reversed(parts))))


def _layout(rows: int) -> dict:
    """Search on every table; the page-size menu, row count and pages only where there is more than a page."""
    paged = rows > PAGE_LENGTH
    return {"topStart": "pageLength" if paged else None, "topEnd": "search",
            "bottomStart": "info" if paged else None, "bottomEnd": "paging" if paged else None}


def table_html(frame: pd.DataFrame) -> str:
    """The frame as an interactive table (sortable, searchable) with every value escaped."""
    digest = hashlib.sha256(frame.to_json(orient="split", default_handler=str).encode("utf-8")).hexdigest()[:10]
    table_id = f"billing_table_{next(_counter)}_{digest}"
    rows = len(frame)
    return ("<div class=\"billing-interactive\">"
            + to_html_datatable(frame, connected=False, table_id=table_id, showIndex=False, show_dtypes=False,
                                classes="display compact", maxBytes=0, maxRows=0, allow_html=False,
                                display_logo_when_loading=False, layout=_layout(rows), order=[],
                                text_in_header_can_be_selected=False,  # a click anywhere on a header sorts
                                pageLength=PAGE_LENGTH, lengthMenu=[PAGE_LENGTH, 25, 100, -1],
                                style="table-layout:auto;width:auto;margin:0;caption-side:bottom")
            + "</div>")
