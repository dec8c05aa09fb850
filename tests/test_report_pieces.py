"""The pieces of a manager's report: the summary and its place in the report, the interactive tables, money
labels, the index page's comparison with the previous run (hand-made notebooks and run folders)."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import nbformat
import pandas as pd
import polars as pl
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from billing_lib.month_end import report
from billing_lib.reports import headline, interactive_tables
from billing_lib.reports.export import export_html
from billing_lib.reports.index_page import Entry, render
from billing_lib.reports.style import money_label, stylesheet
from billing_lib.reports.summary import MIME_TYPE, Amount, Summary, read, summary_first, summary_html
from billing_lib.runner.previous_run import find_previous_run, previous_period
from billing_lib.workbook import analysis

HOSTILE = '<script>alert("x")</script> & Co'


def _summary(**kw) -> Summary:
    base = dict(verdict="2 errors to correct.", checked=["32 invoices"], found=["2 findings"],
                at_stake=[Amount("at stake", Decimal("1234.5"), "EUR"), Amount("in JPY documents", Decimal(7918), "JPY")],
                decisions=["Correct the 2 errors."])
    return Summary(**{**base, **kw})


def test_money_label_shows_the_currency_its_digits_and_grouped_thousands():
    assert money_label(Decimal("1234.5"), "EUR") == "€1,234.50"
    assert money_label("7918", "JPY") == "¥7,918"
    assert money_label(Decimal("41.0041"), "KWD") == "KWD\u00a041.004"
    assert money_label(Decimal("-12.5"), "USD") == "-$12.50"
    assert money_label(None, "EUR") == ""


def test_summary_html_has_four_blocks_and_escapes_everything():
    page = summary_html(_summary(found=[HOSTILE], decisions=[HOSTILE]))
    assert HOSTILE not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in page
    for title in ("What was checked", "What was found", "Money at stake", "Needs a decision"):
        assert f"<h3>{title}</h3>" in page
    assert "€1,234.50" in page and "¥7,918" in page
    assert "billing-status-action" in page


def test_summary_without_decisions_says_so_and_is_ok():
    s = _summary(decisions=[])
    assert s.status == "ok" and "billing-status-ok" in summary_html(s) and "no decision is waiting" in summary_html(s)
    assert s.as_json()["at_stake"][0] == {"label": "at stake", "amount": "1234.5", "currency": "EUR"}


def _notebook(final_output: dict, before_last: str = "## Summary\n\nWhat the report says.") -> nbformat.NotebookNode:
    summary_cell = new_code_cell("publish_summary(...)", outputs=[final_output])
    return new_notebook(cells=[
        new_markdown_cell("# Invoice verification\n\nThis workbook checks invoices."),
        new_code_cell("setup()"),
        new_markdown_cell("## 1. Data health"),
        new_code_cell("show_table(...)", outputs=[new_output("display_data", data={"text/plain": "table"})]),
        new_markdown_cell(before_last),
        summary_cell,
    ])


def _display(data: dict) -> dict:
    return new_output("display_data", data={"text/plain": "summary", **data})


def test_summary_first_moves_the_summary_under_the_title():
    nb = _notebook(_display({"text/html": summary_html(_summary()), MIME_TYPE: _summary().as_json()}))
    moved = summary_first(nb)
    sources = [c.source for c in moved.cells]
    assert sources[0] == "# Invoice verification"
    assert sources[1] == "publish_summary(...)"
    assert sources[2] == "This workbook checks invoices."
    assert "## Summary\n\nWhat the report says." not in sources  # its introduction went with it
    assert sources[-1] == "show_table(...)"
    assert len(nb.cells) == 6 and nb.cells[-1].source == "publish_summary(...)"  # the input is left alone
    assert read(moved)["verdict"] == "2 errors to correct."


def test_summary_first_falls_back_to_the_headline_conclusions():
    nb = _notebook(_display({"text/html": "<ul><li>2 findings</li></ul>", headline.MIME_TYPE: {"findings": 2}}),
                   before_last="## Conclusions")
    moved = summary_first(nb)
    assert [c.source for c in moved.cells][:2] == ["# Invoice verification", "publish_summary(...)"]
    assert "## Conclusions" not in [c.source for c in moved.cells]
    framed = moved.cells[1].outputs[0].data["text/html"]
    assert framed.startswith('<section class="billing-summary billing-status-neutral"')
    assert "<ul><li>2 findings</li></ul>" in framed
    assert nb.cells[-1].outputs[0].data["text/html"] == "<ul><li>2 findings</li></ul>"  # the input is left alone


def test_summary_first_keeps_a_section_that_is_not_about_the_summary():
    nb = _notebook(_display({MIME_TYPE: _summary().as_json()}), before_last="## 6. Exceptions\n\nWritten out.")
    assert "## 6. Exceptions\n\nWritten out." in [c.source for c in summary_first(nb).cells]


def test_summary_first_leaves_a_notebook_without_summary_as_it_is():
    nb = _notebook(_display({"text/html": "<p>x</p>"}))
    assert [c.source for c in summary_first(nb).cells] == [c.source for c in nb.cells]


def test_export_puts_the_stylesheet_and_the_summary_first(tmp_path):
    nb = _notebook(_display({"text/html": summary_html(_summary()), MIME_TYPE: _summary().as_json()}))
    executed = tmp_path / "01_x.ipynb"
    nbformat.write(nb, executed)
    export_html(executed, tmp_path / "01_x.html", "Invoice verification")
    page = (tmp_path / "01_x.html").read_text(encoding="utf-8")
    assert stylesheet().strip()[:200] in page and 'class="jp-Notebook billing-report"' in page
    body = page.split("<body", 1)[1]
    assert body.index("<h1") < body.index('class="billing-summary') < body.index("This workbook checks")
    assert body.index('class="billing-summary') < body.index("1. Data health")
    assert 'href="../index.html"' in body


def test_interactive_table_escapes_values_and_is_deterministic():
    frame = pd.DataFrame({"customer": [HOSTILE, "Tokyo KK"], "at stake (EUR)": ["12.50", "3.00"]})
    first = interactive_tables.table_html(frame)
    again = interactive_tables.table_html(frame)
    other = interactive_tables.table_html(frame.head(1))
    assert HOSTILE not in first and "<script>alert" not in first
    assert "&lt;script&gt;alert" in first  # in the data and in the static copy
    ids = [re.search(r'id="billing_table_(\d+)_(\w+)"', page).groups() for page in (first, again, other)]
    assert ids[0][1] == ids[1][1] != ids[2][1] and ids[0][0] != ids[1][0]  # ids follow content and a counter
    assert "https://www.unpkg.com" not in first and "cdn" not in first.lower()


def test_analysis_summary_counts_and_decisions():
    head = {"periods": ["2024-06"], "findings": 3, "errors": 2, "warnings": 1, "checks_with_findings": ["a", "b"],
            "customers_affected": 2, "base_currency": "EUR", "at_stake_base": "276.00", "unconverted_findings": 1,
            "at_stake_by_currency": {"USD": "300.00", "JPY": "1500"}}
    checks = pl.DataFrame({"check": ["duplicate_charge", "b", "c"], "findings": [2, 1, 0]})
    months = pl.DataFrame({"period": ["2024-05", "2024-06"], "invoices": [3, 4], "void": [0, 1],
                           "verified": [False, True]})
    s = analysis.summary(head, checks, months)
    assert s.verdict == "2 errors to correct in the invoices and ledger of 2024-06."
    assert s.checked[0] == "4 invoices for 2024-06 (1 void, checked for numbering only)"
    assert "Most findings: Duplicate charges (2), b (1)" in s.found  # a check by its title
    assert [(a.amount, a.currency) for a in s.at_stake] == [(Decimal("276.00"), "EUR"), (Decimal("1500"), "JPY"),
                                                           (Decimal("300.00"), "USD")]
    assert len(s.decisions) == 3 and "fx_rates" in s.decisions[2]


def test_analysis_summary_without_findings_needs_no_decision():
    head = {"periods": ["2024-06"], "findings": 0, "errors": 0, "warnings": 0, "checks_with_findings": [],
            "customers_affected": 0, "base_currency": "EUR", "at_stake_base": "0.00", "unconverted_findings": 0,
            "at_stake_by_currency": {}}
    s = analysis.summary(head, pl.DataFrame({"check": ["a"], "findings": [0]}),
                         pl.DataFrame({"period": ["2024-06"], "invoices": [4], "void": [0], "verified": [True]}))
    assert s.status == "ok" and s.decisions == [] and s.verdict.startswith("No findings")


def test_month_end_summary_lists_failed_controls_and_unbilled_revenue():
    figures = {"period": "2024-06", "base_currency": "EUR", "billed_revenue_base": "1410.00",
               "billed_lines_without_rate": 0, "receivables_closing": {"EUR": "35.70", "USD": "1500.00"},
               "receivables_over_90_days": {"EUR": "0.00", "USD": "99.50"}, "dso_days": {}, "unbilled_charges": 1,
               "controls_passed": "7 of 9", "controls_failed": ["fx_rates_complete", "no_unbilled_revenue"],
               "revenue_change_base": "-10.00", "revenue_change_pct": "-1 %",
               "receivables_over_90_days_base": "91.54", "receivables_doubtful_base": "0.00"}
    unbilled = pl.DataFrame({"currency": ["EUR", "EUR"], "net": [Decimal("10.00"), Decimal("2.50")]})
    s = report.summary(figures, unbilled)
    assert s.verdict == "Not ready to close: 2 of 9 controls failed."
    assert "Billed revenue €1,410.00, down €10.00 (-1 %) on 2024-05" in s.found
    assert [(a.label, a.amount, a.currency) for a in s.at_stake] == [
        ("receivables over 90 days past due or doubtful, in EUR", Decimal("91.54"), "EUR"),  # one total leads
        ("receivables over 90 days past due", Decimal("99.50"), "USD"),
        ("revenue not yet billed", Decimal("12.50"), "EUR")]
    assert s.decisions[0] == "Resolve the failed controls before signing off: fx_rates_complete, no_unbilled_revenue."


# --- the previous run and the index page ------------------------------------------------------------------

def _published_run(folder: Path, period: str, finished: str, figures: dict, name: str = "01_x") -> Path:
    (folder / "notebooks").mkdir(parents=True)
    nb = new_notebook(cells=[new_code_cell("publish(...)", outputs=[
        _display({headline.MIME_TYPE: figures})])])
    nbformat.write(nb, folder / "notebooks" / f"{name}.ipynb")
    (folder / "manifest.json").write_text(json.dumps({
        "run": {"finished_utc": finished}, "parameters": {"period": period, "workbooks": [name]}}))
    return folder


def test_previous_period_crosses_the_year():
    assert previous_period("2024-01") == "2023-12" and previous_period("2024-06") == "2024-05"


def test_the_latest_run_of_the_month_before_beside_this_one_is_found(tmp_path):
    _published_run(tmp_path / "2024-05", "2024-05", "2024-06-01T10:00:00+00:00", {"findings": 1})
    _published_run(tmp_path / "may-rerun", "2024-05", "2024-06-02T10:00:00+00:00", {"findings": 4})
    _published_run(tmp_path / "2024-04", "2024-04", "2024-06-03T10:00:00+00:00", {"findings": 9})
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    found = find_previous_run(tmp_path / "2024-06", "2024-06")
    assert found is not None and found.folder.name == "may-rerun" and found.headlines == {"01_x": {"findings": 4}}
    assert find_previous_run(tmp_path / "2024-06", None) is None
    assert find_previous_run(tmp_path / "2024-09", "2024-09") is None


def test_index_compares_each_figure_with_the_previous_run(tmp_path):
    before = {"findings": 5, "base_currency": "EUR", "at_stake_base": "100.00",
              "at_stake_by_currency": {"USD": "10.00", "JPY": "500"}, "checks_with_findings": ["a"]}
    _published_run(tmp_path / "2024-05", "2024-05", "2024-06-01T10:00:00+00:00", before)
    now = {"findings": 3, "base_currency": "EUR", "at_stake_base": "150.50", "at_stake_by_currency": {"USD": "10.00"},
           "checks_with_findings": ["a"], "customers_affected": 2}
    previous = find_previous_run(tmp_path / "2024-06", "2024-06")
    page = render("t", "s", [Entry("01_x", HOSTILE, "reports/01_x.html", "notebooks/01_x.ipynb", now,
                                   summary={"verdict": HOSTILE, "status": "action"})],
                  previous, previous_period="2024-05", page_dir=tmp_path / "2024-06")
    assert HOSTILE not in page and page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co") == 2
    assert '<a href="../2024-05/index.html">2024-05</a>' in page
    assert "<tr><th>findings</th><td>3</td><td>5</td><td class=\"billing-change\">\u22122</td></tr>" in page
    eur = lambda v: money_label(Decimal(v), "EUR")  # noqa: E731
    assert f"<td>{eur('150.50')}</td><td>{eur('100.00')}</td><td class=\"billing-change\">+{eur('50.50')}</td>" in page
    assert f"<td class=\"billing-change\">\u2212{money_label(Decimal(500), 'JPY')}</td>" in page  # JPY gone
    assert "<th>checks with findings</th><td>a</td><td>a</td><td class=\"billing-change\">no change</td>" in page
    assert "<th>customers affected</th><td>2</td><td>not published</td>" in page
    assert "<script" not in page


def test_index_without_a_previous_run_says_why(tmp_path):
    page = render("t", "s", [Entry("01_x", "X", "r.html", "n.ipynb", {"findings": 1})], None,
                  previous_period="2024-05", page_dir=tmp_path)
    assert "No comparison: no published run of 2024-05 (the month before)" in page
    assert "<tr><th>findings</th><td>1</td></tr>" in page


def test_index_of_every_month_has_no_previous(tmp_path):
    page = render("t", "s", [], None, previous_period=None, page_dir=tmp_path)
    assert "No comparison" not in page and "Compared with" not in page


def test_displayed_tables_show_money_with_currency_digits_and_other_decimals_trimmed():
    from billing_lib.core.money import DECIMAL
    from billing_lib.workbook.display import display_frame
    frame = pl.DataFrame({"currency": ["JPY", "KWD"], "closing": [Decimal("76812"), Decimal("483.6924")],
                          "dso": [Decimal("21.52"), Decimal("30")], "ties": [True, False]},
                         schema={"currency": pl.String, "closing": DECIMAL, "dso": DECIMAL, "ties": pl.Boolean})
    shown = display_frame(frame, {"closing": "currency"})
    assert shown.to_dict("list") == {"currency": ["JPY", "KWD"], "closing": ["76812", "483.692"],
                                     "dso": ["21.52", "30"], "ties": ["yes", "no"]}


def test_investigation_summary_proposes_corrections_to_decide():
    from billing_lib.investigation import report as investigation_report
    head = {"subject": "exception EX-1 of customer C-1", "customer": HOSTILE, "customer_id": "C-1",
            "finding_asked": "Unapplied payments", "invoice_asked": None,
            "periods": ["2024-05", "2024-06"], "findings": 2,
            "credit_notes": 1, "additional_invoices": 0, "other_corrections": {"refund": 1},
            "correction_by_currency": {"JPY": "-7829"}, "likely_root_causes": ["manual edit"]}
    s = investigation_report.summary(head)
    assert s.status == "action" and s.verdict == f"Unapplied payments for {HOSTILE} (C-1): 2 findings to resolve."
    assert s.checked[0] == "Exception EX-1 of customer C-1, over 2024-05 to 2024-06"
    assert [(a.amount, a.currency) for a in s.at_stake] == [(Decimal("-7829"), "JPY")]
    assert "Most likely root causes: manual edit" in s.found
    assert s.decisions[0].startswith("Approve 1 credit note and 1 refund, or accept")  # the refund is the fix
    assert HOSTILE not in summary_html(s)
    on_invoice = investigation_report.summary({**head, "finding_asked": None, "invoice_asked": "INV-7",
                                               "findings": 1, "other_corrections": {}})
    assert on_invoice.verdict == f"{HOSTILE} (C-1), invoice INV-7: 1 finding to resolve."
    clean = investigation_report.summary({**head, "findings": 0, "correction_by_currency": {}})
    assert clean.status == "ok" and clean.found == ["No findings."]
