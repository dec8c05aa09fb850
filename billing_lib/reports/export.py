"""Exporting an executed workbook to an HTML report: no code, charts embedded, nothing fetched online.

nbconvert's ``lab`` template is used with input cells and prompts excluded;
its head scripts that load require.js, MathJax and mermaid from a CDN are
left out (the workbooks need none of them: plotly.js is embedded by
:func:`billing_lib.workbook.environment.setup`). Every report gets the project's
stylesheet (:mod:`billing_lib.reports.style`), a bar linking the month's index
page, and its summary first (:func:`billing_lib.reports.summary.summary_first`).
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter

from billing_lib.core.output import write_text_atomic
from billing_lib.reports.style import PAGE_CLASS, stylesheet
from billing_lib.reports.summary import summary_first

TEMPLATE_NAME = "billing_offline_report.html.j2"
TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}
<style type="text/css">
{{ resources.billing_css }}
</style>
{%- endblock html_head_css -%}
{%- block body_header -%}
<body class="jp-Notebook {{ resources.billing_page_class }}" data-jp-theme-light="true"
 data-jp-theme-name="JupyterLab Light">
<main>
<nav class="billing-report-bar"><a href="../index.html">&larr; all reports of this run</a>
<span>{{ resources.billing_report_name | e }}</span></nav>
{%- endblock body_header -%}
{%- block body_footer -%}
<footer class="billing-report-footer">{{ resources.billing_report_name | e }} · made by billing-workbooks
from the executed notebook <code>{{ resources.billing_notebook | e }}</code></footer>
</main>
</body>
{%- endblock body_footer -%}
"""


def exporter() -> HTMLExporter:
    """An HTML exporter that shows outputs and markdown only and refers to no online resource."""
    return HTMLExporter(template_name="lab", template_file=TEMPLATE_NAME,
                        extra_loaders=[DictLoader({TEMPLATE_NAME: TEMPLATE})],
                        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)


def export_html(executed: Path, report: Path, title: str, period: str | None = None) -> None:
    """Write the HTML report of the executed notebook ``executed`` to ``report`` (the caller stages it). The
    page's ``<title>`` and navigation bar name the ``period`` it covers ("all months" for None), so a report
    forwarded on its own still says which month it is about."""
    nb = summary_first(nbformat.read(executed, as_version=4))
    named = f"{title} · {period or 'all months'}"
    nb.metadata["title"] = named
    body, _ = exporter().from_notebook_node(nb, resources={
        "metadata": {"name": named}, "billing_css": stylesheet(), "billing_page_class": PAGE_CLASS,
        "billing_report_name": named, "billing_notebook": f"notebooks/{executed.name}"})
    write_text_atomic(report, body)


def notebook_title(nb_path: Path) -> str:
    """The first ``# heading`` of a notebook's markdown, else its file name."""
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return nb_path.stem
