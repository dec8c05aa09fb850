"""The one call a workbook starts with: charts that survive HTML export offline, tidy tables.

plotly 6+ renders in Jupyter with a MIME type that nbconvert drops, so
exported charts come out blank. :func:`setup` registers the ``billing``
renderer: each figure is output both as plotly's MIME bundle (interactive in
JupyterLab) and as HTML that calls ``Plotly.newPlot`` on the copy of plotly.js
that :func:`setup` embeds once in the notebook, gzip-compressed
(:mod:`billing_lib.reports.packed_scripts`; no CDN, no MathJax). Where scripts do not run, a line in
place of each chart says so. The two
default URLs in plotly.js that name an online CDN (topojson for geo maps, maki
icons for map layers; neither is used by the workbooks) are blanked in that
copy, so a report refers to no online resource. :func:`setup` also embeds the
DataTables bundle for the interactive tables (:mod:`billing_lib.reports.interactive_tables`)
and the project's stylesheet (:mod:`billing_lib.reports.style`), so tables and
the summary look the same in JupyterLab and in the reports. A figure's element id
is derived from its content (:func:`figure_id`), not random, so the same data
gives the same report.
"""
from __future__ import annotations

import hashlib
import html
import itertools
from pathlib import Path

import pandas as pd
import plotly.io as pio
import polars as pl
from IPython.display import HTML, display
from plotly.io.base_renderers import MimetypeRenderer

from billing_lib.reports import interactive_tables
from billing_lib.reports.packed_scripts import needs_scripts_note, packed_plotly_html
from billing_lib.reports.style import style_element
from billing_lib.workbook import friendly_errors

RENDERER = "billing"
PLOTLY_BUNDLE = Path(__file__).resolve().parents[1] / "assets" / "plotly-finance.min.js"  # plotly.js 4.1.0
_CDN_DEFAULTS = {
    "https://cdn.plot.ly/un/": "",
    "https://cdn.jsdelivr.net/npm/@mapbox/maki@8.2.0/icons/": "maki-icons/",
}
_figure_counter = itertools.count(1)


def figure_id(fig_dict: dict) -> str:
    """The HTML id of a figure's element: a counter and the figure's content (plotly's own is random), so a
    report is the same from one run to the next."""
    digest = hashlib.sha256(pio.to_json(fig_dict, validate=False).encode("utf-8")).hexdigest()[:12]
    return f"billing-figure-{next(_figure_counter)}-{digest}"


class OfflineRenderer(MimetypeRenderer):
    """Figure as plotly JSON plus self-contained HTML relying on the plotly.js embedded by :func:`setup`."""

    def to_mimebundle(self, fig_dict: dict) -> dict:
        body = pio.to_html(fig_dict, include_plotlyjs=False, include_mathjax=False, full_html=False,
                           div_id=figure_id(fig_dict),
                           default_width="100%", default_height=450, validate=False,
                           config={"displaylogo": False, "responsive": True})
        title = fig_dict.get("layout", {}).get("title")
        title = html.unescape(str((title.get("text") if isinstance(title, dict) else title) or "Chart"))
        return {"application/vnd.plotly.v1+json": {"data": fig_dict.get("data", []),
                                                   "layout": fig_dict.get("layout", {}),
                                                   "config": {"displaylogo": False}},
                "text/html": needs_scripts_note(title) + body}


def offline_plotlyjs() -> str:
    """plotly.js with its online default URLs blanked, safe to put inside a ``<script>`` element.

    It is plotly.js's own partial bundle "finance" (:data:`PLOTLY_BUNDLE`, MIT licence beside it): the bar,
    scatter and waterfall traces the workbooks draw, at 1.3 MB instead of the full bundle's 4.8 MB embedded in
    every report. A chart of another trace type would not draw: ``tests/test_browser_reports.py`` opens every
    report in Chromium and fails on any chart that did not render."""
    js = PLOTLY_BUNDLE.read_text(encoding="utf-8")
    for url, local in _CDN_DEFAULTS.items():
        js = js.replace(url, local)
    return js.replace("</script", "<\\/script")


def setup() -> None:
    """Prepare a workbook: offline plotly renderer with plotly.js embedded once; pandas/polars display options."""
    friendly_errors.install()  # a wrong parameter or dataset shows as one message, not a traceback
    pio.renderers[RENDERER] = OfflineRenderer()
    pio.renderers.default = RENDERER
    display(HTML("<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
                 + packed_plotly_html(offline_plotlyjs())))
    pd.set_option("display.max_columns", 50)
    pd.set_option("display.max_colwidth", 120)
    pd.set_option("display.width", 160)
    pl.Config.set_tbl_rows(30)
    pl.Config.set_tbl_cols(20)
    pl.Config.set_fmt_str_lengths(120)
    # sortable, searchable tables (their DataTables bundle, once) and the reports' look, in JupyterLab too
    interactive_tables.init()
    display(HTML(style_element()))
