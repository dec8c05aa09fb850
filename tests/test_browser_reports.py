"""The exported reports of a real monthly run, opened in a real headless Chromium cut off from the network.

Two monthly runs on the bundled sample (May, then June 2024, side by side as
``out/2024-05`` and ``out/2024-06``) give the reports and the index page. Each
page must draw every chart, make its tables interactive, send no request off
the machine and log no error. Deliberately broken pages prove that the check
catches a blank chart, a request to the network, a console error and a script
error. A full-page screenshot of each page is kept under
``test-artifacts/browser/`` (gitignored; the path is printed).

Needs Debian's Chromium (``.ci/run`` installs it) and the ``playwright``
package (a test extra): without them these tests skip, saying why.
"""
from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import nbformat
import pytest

from billing_lib.reports.browser_check import check_pages, opened, text_without_scripts, unavailable_reason
from billing_lib.reports.headline import read as read_headline
from billing_lib.reports.style import money_label
from billing_lib.workbook.environment import offline_plotlyjs

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
TABLE_MARK = 'class="billing-interactive"'
MINUS = "\u2212"

NO_BROWSER = unavailable_reason()
IN_CI = os.environ.get("CI", "").lower() == "true"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(NO_BROWSER is not None and not IN_CI, reason=f"no real browser: {NO_BROWSER}")]


@pytest.fixture(autouse=True)
def _browser_required_in_ci():
    """CI installs Chromium (.ci/run): there, a missing browser is a failure, not a skip."""
    if NO_BROWSER is not None:
        pytest.fail(f"no real browser in CI: {NO_BROWSER}")


@pytest.fixture(scope="module")
def runs(sample_runs) -> dict[str, Path]:
    """The sample's monthly runs of May and June 2024, side by side (tests/conftest.py)."""
    return sample_runs


@pytest.fixture(scope="module")
def checked(runs, request):
    """Every report and the index page of June, opened in Chromium: {page file name: PageCheck}."""
    out = runs["2024-06"]
    pages = [*sorted((out / "reports").glob("*.html")), out / "index.html"]
    checks = check_pages(pages, ARTIFACTS / "2024-06")
    # past pytest's output capture, so the path shows in every run's log
    with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print(f"\nbrowser screenshots of the reports: {ARTIFACTS / '2024-06'}", flush=True)
    return {c.path.name: c for c in checks}


def _outputs(nb_path: Path) -> list[dict]:
    nb = nbformat.read(nb_path, as_version=4)
    return [o for c in nb.cells for o in c.get("outputs", [])]


def test_every_page_of_the_run_is_checked(runs, checked):
    reports = sorted(p.name for p in (runs["2024-06"] / "reports").glob("*.html"))
    assert len(reports) >= 2
    assert sorted(checked) == sorted([*reports, "index.html"])


def test_pages_send_nothing_off_the_machine_and_log_no_error(checked):
    for name, check in checked.items():
        assert check.problems == [], name
        assert check.refused == [] and check.console_errors == [] and check.page_errors == [], name
        assert check.dialogs == [], name  # a customer called <script>alert(...)</script> stays text
        assert check.requests and all(url.startswith(("file:", "data:", "blob:")) for url in check.requests), name


def test_every_chart_of_every_report_is_drawn(runs, checked):
    out = runs["2024-06"]
    total = 0
    for nb_path in sorted((out / "notebooks").glob("*.ipynb")):
        check = checked[f"{nb_path.stem}.html"]
        figures = [o for o in _outputs(nb_path) if PLOTLY_MIME in o.get("data", {})]
        assert len(check.charts) == len(figures), nb_path.stem  # every figure of the notebook is on the page
        for chart, figure in zip(check.charts, figures, strict=True):
            assert chart.drawn, chart
            assert chart.data == len(figure["data"][PLOTLY_MIME]["data"])
        total += len(check.charts)
    assert total >= 5  # invoices by month, findings by check, customers, currencies, aging, bridge


def test_every_table_is_sortable_and_searchable(runs, checked):
    out = runs["2024-06"]
    for nb_path in sorted((out / "notebooks").glob("*.ipynb")):
        check = checked[f"{nb_path.stem}.html"]
        tables = [o for o in _outputs(nb_path) if TABLE_MARK in "".join(o.get("data", {}).get("text/html", ""))]
        assert len(check.tables) == len(tables) > 0, nb_path.stem
        assert all(t.ready and t.search and t.rows > 0 for t in check.tables), check.tables


def test_screenshots_are_kept(checked):
    for name, check in checked.items():
        assert check.screenshot is not None and check.screenshot.is_file(), name
        data = check.screenshot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name


def test_report_opens_with_a_one_screen_summary(runs):
    for report in sorted((runs["2024-06"] / "reports").glob("*.html")):
        with opened(report) as (page, check):
            assert check.problems == []
            boxes = page.evaluate("""() => {
              const box = el => el ? el.getBoundingClientRect().toJSON() : null;
              return {title: box(document.querySelector('h1')), summary: box(document.querySelector('.billing-summary')),
                      section: box(document.querySelector('h2')),
                      blocks: Array.from(document.querySelectorAll('.billing-summary-block h3')).map(h => h.textContent)};
            }""")
        assert boxes["summary"] is not None, report.name
        assert boxes["title"]["bottom"] <= boxes["summary"]["top"] < boxes["section"]["top"], report.name
        assert boxes["summary"]["bottom"] <= 900, report.name  # fits the first screen of a 1280x900 window
        assert boxes["blocks"] == ["What was checked", "What was found", "Money at stake", "Needs a decision"]


def test_a_table_sorts_and_searches_in_the_browser(runs):
    report = runs["2024-06"] / "reports" / "01_invoice_verification.html"
    with opened(report) as (page, _):
        box = page.locator(".billing-interactive").first  # data health: one row per contract table
        # the column read in one go in the page (row by row from here could straddle a redraw)
        cells = lambda col: box.evaluate(  # noqa: E731
            "(el, col) => Array.from(el.querySelectorAll('table.dataTable tbody tr'), r => r.cells[col].innerText)",
            col)
        assert cells(0)[:2] == ["customers", "plans"]  # the library's order
        header = box.locator("table.dataTable thead th", has_text="rows")
        header.click()
        page.wait_for_function("h => h.getAttribute('aria-sort') === 'ascending'", arg=header.element_handle())
        counts = [int(v) for v in cells(3)]
        assert counts == sorted(counts) and len(counts) > 1  # sorted as numbers, ascending
        box.locator("input[type=search]").fill("invoice_lines")
        page.wait_for_function("() => document.querySelector('.billing-interactive tbody').rows.length === 1")
        assert cells(0) == ["invoice_lines"]


def test_index_compares_with_the_previous_month(runs, checked):
    assert checked["index.html"].problems == []
    index = (runs["2024-06"] / "index.html").read_text(encoding="utf-8")
    assert 'href="../2024-05/index.html"' in index and "the month before" in index
    before = read_headline(nbformat.read(runs["2024-05"] / "notebooks" / "01_invoice_verification.ipynb", 4))
    now = read_headline(nbformat.read(runs["2024-06"] / "notebooks" / "01_invoice_verification.ipynb", 4))
    diff = now["findings"] - before["findings"]
    change = "no change" if diff == 0 else f"{'+' if diff > 0 else MINUS}{abs(diff)}"
    assert (f"<tr><th>findings</th><td>{now['findings']}</td><td>{before['findings']}</td>"
            f"<td class=\"billing-change\">{change}</td></tr>") in index
    stake = Decimal(now["at_stake_base"]) - Decimal(before["at_stake_base"])
    sign = "" if stake == 0 else ("+" if stake > 0 else MINUS)
    assert f"<td class=\"billing-change\">{sign}{money_label(abs(stake), 'EUR')}</td></tr>" in index if stake else \
        "<th>money at stake</th>" in index


def test_the_first_month_has_nothing_to_compare_with(runs):
    index = (runs["2024-05"] / "index.html").read_text(encoding="utf-8")
    assert "No comparison: no published run of 2024-04 (the month before)" in index


def test_without_scripts_a_line_stands_for_each_chart_and_tables_show_every_row(runs, checked):
    """A mail preview runs no script: each chart says it needs one, tables show all their rows, and
    ITables' notice about trusting a notebook never shows."""
    out = runs["2024-06"]
    pages = sorted((out / "reports").glob("*.html"))
    texts = text_without_scripts(pages)
    for page in pages:
        text = texts[page]
        charts = len(checked[page.name].charts)
        assert charts > 0 and text.count("this chart needs JavaScript") == charts, (page.name, charts)
        assert "trusted" not in text and "Loading ITables" not in text, page.name
    verification = texts[out / "reports" / "01_invoice_verification.html"]
    assert "gl_entries.csv" in verification  # the 12th row of the data-health table: beyond a first page of 10


def test_with_scripts_the_no_script_lines_are_hidden(checked):
    page, check = next((p, c) for p, c in checked.items() if p == "01_invoice_verification.html")
    with opened(check.path) as (browser_page, _):
        text = browser_page.evaluate("() => document.body.innerText")
    assert "this chart needs JavaScript" not in text


# --- the check itself fails on broken pages ---------------------------------------------------------------

def _page(folder: Path, name: str, body: str, plotly: bool = False) -> Path:
    script = f"<script>{offline_plotlyjs()}</script>" if plotly else ""
    path = folder / name
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'>{script}</head><body>{body}</body></html>",
                    encoding="utf-8")
    return path


DRAWN = ("<div id='ok' class='plotly-graph-div' style='height:300px'></div>"
         "<script>Plotly.newPlot('ok', [{type: 'bar', x: [1, 2], y: ['a', 'b'], orientation: 'h'}]);</script>")


def test_a_sound_page_passes(tmp_path):
    [check] = check_pages([_page(tmp_path, "sound.html", DRAWN, plotly=True)], ready_timeout_ms=5_000)
    assert check.problems == [] and len(check.charts) == 1 and check.charts[0].drawn


def test_a_blank_chart_fails(tmp_path):
    pages = [_page(tmp_path, "no_plot.html", "<div id='a' class='plotly-graph-div'></div>", plotly=True),
             _page(tmp_path, "no_data.html", "<div id='b' class='plotly-graph-div' style='height:300px'></div>"
                                             "<script>Plotly.newPlot('b', []);</script>", plotly=True)]
    for check in check_pages(pages, ready_timeout_ms=2_000):
        assert len(check.charts) == 1 and not check.charts[0].drawn
        assert [p for p in check.problems if "is blank" in p], check.path.name


def test_a_request_to_the_network_fails(tmp_path):
    body = DRAWN + "<img src='https://example.com/pixel.png'><script>fetch('http://203.0.113.9/x').catch(() => 0)</script>"
    [check] = check_pages([_page(tmp_path, "online.html", body, plotly=True)], ready_timeout_ms=5_000)
    assert "https://example.com/pixel.png" in check.refused and "http://203.0.113.9/x" in check.refused
    assert [p for p in check.problems if p.startswith("request to the network")]


def test_a_console_error_fails(tmp_path):
    body = DRAWN + "<script>console.error('something broke')</script>"
    [check] = check_pages([_page(tmp_path, "console.html", body, plotly=True)], ready_timeout_ms=5_000)
    assert check.console_errors == ["something broke"] and "console error: something broke" in check.problems


def test_a_script_error_fails(tmp_path):
    body = DRAWN + "<script>no_such_function()</script>"
    [check] = check_pages([_page(tmp_path, "script.html", body, plotly=True)], ready_timeout_ms=5_000)
    assert any("no_such_function" in e for e in check.page_errors)
    assert [p for p in check.problems if p.startswith("script error")]


def test_a_table_left_static_fails(tmp_path):
    body = DRAWN + "<div class='billing-interactive'><table id='billing_table_1_x'><tr><td>1</td></tr></table></div>"
    [check] = check_pages([_page(tmp_path, "table.html", body, plotly=True)], ready_timeout_ms=2_000)
    assert [p for p in check.problems if "is not interactive" in p]
