"""Tables that can be sorted and searched, offline, in JupyterLab and in the exported HTML reports.

Built on ITables (DataTables for pandas and polars) in its offline mode:
:func:`init` embeds the DataTables bundle once in the notebook (no CDN), and
:func:`table_html` renders a pandas frame as a DataTable that uses it. Values
are escaped by ITables (its ``allow_html`` stays off), and each table carries
a static copy that shows where scripts do not run: every row of a table up to
:data:`STATIC_ROWS` rows, else the first of them and a line that says how many
more there are. The bundle is embedded compressed
(:mod:`billing_lib.reports.packed_scripts`), and ITables' "is your notebook
trusted?" notice, meant for notebooks, is left out. Tables are
never downsampled: a report shows every row, ten rows a page and a search box.
Table ids follow a counter and the table's content, so a report is the same
from one run to the next.
"""
from __future__ import annotations

import hashlib
import html
import itertools
import re

import pandas as pd
from IPython.display import HTML, display
from IPython.utils.capture import capture_output
from itables import init_notebook_mode, to_html_datatable

from billing_lib.reports.packed_scripts import pack_itables_bundle

PAGE_LENGTH = 10
STATIC_ROWS = 200
_NOSCRIPT = re.compile(r"<noscript>.*?</noscript>", re.S)
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
    display(HTML(pack_itables_bundle(_NOSCRIPT.sub("", "\n".join(reversed(parts))))))


def static_table(frame: pd.DataFrame, rows: int = STATIC_ROWS) -> str:
    """The frame as a plain HTML table (values escaped), its first ``rows`` rows and a line for the rest."""
    shown = frame.head(rows).astype(object).where(frame.head(rows).notna(), "")
    head = "".join(f"<th>{html.escape(str(c), quote=False)}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v), quote=False)}</td>" for v in row) + "</tr>"
                   for row in shown.itertuples(index=False, name=None))
    more = len(frame) - len(shown)
    foot = (f'<tfoot><tr><td colspan="{len(frame.columns)}">{more:,} more rows: open the report in a web '
            "browser to page through them all</td></tr></tfoot>") if more > 0 else ""
    return f'<table class="billing-static-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>{foot}</table>'


def _with_static_copy(table: str, table_id: str, frame: pd.DataFrame) -> str:
    """ITables' table with its fallback (first page, a padlock asking to trust the notebook) replaced."""
    fallback = re.compile(rf'(<div id="{re.escape(table_id)}_fallback">).*?(</div><script>)', re.S)
    return fallback.sub(lambda m: m.group(1) + static_table(frame) + m.group(2), table, count=1)


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
    table = to_html_datatable(frame, connected=False, table_id=table_id, showIndex=False, show_dtypes=False,
                              classes="display compact", maxBytes=0, maxRows=0, allow_html=False,
                              display_logo_when_loading=False, layout=_layout(rows), order=[],
                              text_in_header_can_be_selected=False,  # a click anywhere on a header sorts
                              pageLength=PAGE_LENGTH, lengthMenu=[PAGE_LENGTH, 25, 100, -1],
                              style="table-layout:auto;width:auto;margin:0;caption-side:bottom")
    return f'<div class="billing-interactive">{_with_static_copy(table, table_id, frame)}</div>'
