"""The investigation library on a small hand-made month: the subject and its errors, the customer's story,
the explanations, the corrections and a client message whose hostile customer name stays inert in HTML,
CSV and Excel."""
from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal

import openpyxl
import polars as pl
import pytest
from helpers import write_dataset
from workbook_data import HOSTILE_NAME, TABLES

from billing_lib.data.loading import load_dataset
from billing_lib.investigation import explain, messages, report, resolution, story
from billing_lib.investigation.subject import InvestigationError, investigate

FORMULA_NAME = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return load_dataset(write_dataset(tmp_path_factory.mktemp("inv") / "data", **TABLES))


@pytest.fixture(scope="module")
def formula_ds(tmp_path_factory):
    customers = TABLES["customers"].replace("Tokyo KK", '"' + FORMULA_NAME.replace('"', '""') + '"')
    return load_dataset(write_dataset(tmp_path_factory.mktemp("inv_formula") / "data",
                                      **{**TABLES, "customers": customers}))


@pytest.mark.parametrize("kwargs, message", [
    ({}, "give exactly one of customer_id, invoice_id or exception_id (given: none)"),
    ({"customer_id": "C1", "invoice_id": "INV-0000001"}, "give exactly one"),
    ({"customer_id": "C9"}, "customer_id 'C9' is not a customer"),
    ({"invoice_id": "INV-9"}, "invoice_id 'INV-9' is not an invoice"),
    ({"exception_id": "EX-0000000000000000"}, "exception_id 'EX-0000000000000000' is not among the findings of "
                                              "2024-05 to 2024-06"),
    ({"customer_id": "C1", "period_from": "2024-13"}, "is not a month as YYYY-MM"),
    ({"customer_id": "C1", "period_from": "2024-06", "period_to": "2024-05"}, "is after period_to"),
])
def test_a_wrong_subject_is_one_clear_sentence(ds, kwargs, message):
    with pytest.raises(InvestigationError) as err:
        investigate(ds, **kwargs)
    assert message in str(err.value)
    assert err.value._render_traceback_() == [f"InvestigationError: {err.value}"]


def test_each_kind_of_id_leads_to_the_customer_and_its_findings(ds):
    by_customer = investigate(ds, customer_id="C2")
    assert by_customer.findings["check"].to_list() == ["price_mismatch"]
    eid = by_customer.findings["exception_id"][0]
    by_invoice = investigate(ds, invoice_id="INV-0000005")
    by_exception = investigate(ds, exception_id=eid, period_from="2024-06", period_to="2024-06")
    assert by_invoice.customer_id == by_exception.customer_id == "C2"
    assert by_exception.months == [dt.date(2024, 6, 1)] and by_exception.range_text == "2024-06"
    assert by_exception.findings.filter(pl.col("focus"))["exception_id"].to_list() == [eid]
    assert report.summary_line(by_invoice).startswith("Investigating invoice INV-0000005 of customer C2 (")


def test_the_story_tables(ds):
    case = investigate(ds, customer_id="C2")
    prof = dict(story.profile(case).iter_rows())
    assert prof["name"] == HOSTILE_NAME and prof["payment terms"] == "30 days" and prof["currency"] == "USD"
    assert prof["tax rate in force on 2024-06-30"] == "0%"
    lines = story.line_comparison(case)
    assert lines.select("period", "status", "difference").rows() == [
        ("2024-05", "matches", Decimal("0")), ("2024-06", "differs", Decimal("300"))]
    st = story.statement(case)
    assert st["balance"].to_list() == [Decimal("1200"), Decimal("2700")]
    assert story.balances(case) == {"USD": Decimal("2700")}
    assert story.usage_vs_billed(case).is_empty()


def test_corrections_explanations_and_ledger_for_a_price_mismatch(ds):
    case = investigate(ds, customer_id="C2")
    fixes = resolution.corrections(case)
    assert fixes.select("document", "invoice_id", "currency", "net", "tax", "total").rows() == [
        ("credit note", "INV-0000005", "USD", Decimal("-300.00"), Decimal("0.00"), Decimal("-300.00"))]
    ledger = resolution.ledger_effect(fixes)
    assert ledger.select("account", "debit", "credit").rows() == [
        ("1100", None, Decimal("300.00")), ("4000", Decimal("300.00"), None)]
    why = explain.explanations(case).row(0, named=True)
    assert why["likely_root_cause"] == "price book" and "15" in why["in_plain_words"]
    head = report.headline(case, fixes, explain.explanations(case))
    assert head["correction_by_currency"] == {"USD": "-300.00"} and head["credit_notes"] == 1


def test_client_message_escapes_a_hostile_name_in_html(ds, tmp_path):
    case = investigate(ds, customer_id="C2")
    fixes, why = resolution.corrections(case), explain.explanations(case)
    m = messages.client_message(case, fixes, why)
    html_text = messages.render_html(m)
    assert "<script>" not in html_text and "&lt;script&gt;" in html_text and "&amp; Sons" in html_text
    text = messages.render_text(m)
    assert f"Dear {HOSTILE_NAME}," in text
    assert "credit note of 300.00 USD" in text and "USD: 2700.00 USD today, -300.00 USD" in text
    assert "2400.00 USD after them" in text
    paths = messages.write_resolution(tmp_path / "res", fixes, resolution.ledger_effect(fixes), [m])
    page = (tmp_path / "res" / "client_message-C2.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert {p.name for p in paths} >= {"corrections.csv", "client_messages.csv", "resolution.xlsx"}


def test_a_formula_name_is_neutralised_in_csv_and_excel(formula_ds, tmp_path):
    case = investigate(formula_ds, customer_id="C3")
    fixes, why = resolution.corrections(case), explain.explanations(case)
    assert fixes["total"].to_list() == [Decimal("-1650")]  # one seat of 1500 JPY too many, 10% tax
    m = messages.client_message(case, fixes, why)
    messages.write_resolution(tmp_path / "res", fixes, resolution.ledger_effect(fixes), [m])
    with open(tmp_path / "res" / "client_messages.csv", encoding="utf-8", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert row["name"] == "'" + FORMULA_NAME
    assert all(not v.startswith(("=", "+", "-", "@")) for v in row.values())
    wb = openpyxl.load_workbook(tmp_path / "res" / "resolution.xlsx")
    cells = [c for ws in wb.worksheets for r in ws.iter_rows() for c in r]
    assert any(c.value == FORMULA_NAME for c in cells)
    assert all(c.data_type != "f" for c in cells)
    totals = [c.value for c in wb["corrections"]["K"]][1:]
    assert totals == [-1650]  # money as a number, not text


def test_largest_open_cases_leave_out_decided_ones(ds, tmp_path):
    from billing_lib.cases.store import create_case_log
    from billing_lib.verification import verify
    found = verify(ds).exceptions
    top = report.largest_open_cases(found, ds, "EUR", 1)
    assert top["check"].to_list() == ["price_mismatch"]  # 300 USD beats 1 JPY seat (no JPY rate)
    log = create_case_log(tmp_path / "cases.sqlite")[0]
    log.record_run(found.with_columns(at_stake=pl.col("at_stake").cast(pl.String)).to_dicts(), ["2024-06"],
                   checks=found["check"].unique().to_list())
    log.update(top["exception_id"][0], status="accepted")
    after = report.largest_open_cases(found, ds, "EUR", 3, case_log=log.path)
    assert top["exception_id"][0] not in after["exception_id"].to_list()
    assert after["check"].to_list() == ["quantity_mismatch"]
