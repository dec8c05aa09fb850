"""The pre-billing review (billing_lib.invoicing.prebilling) on a hand-made dataset, and workbook 00 through papermill.

May 2024 is invoiced by hand; June is drafted. Every customer shows one kind of change
(DE, EUR, 30 days terms, tax 19%; June has 30 days, May 31):

C1 3 seats x 10.00 both months (unchanged) · C2 first subscription from 1 June (new) ·
C3 ended 31 May (churned) · C4 100 then 300 API units x 0.10 (volume) · C5 started 16 May:
16/31 x 10.00 = 5.16 then 10.00 (proration) · C6 billed 2 x 7.50 in May, contract 10.00 (price) ·
C7 a year term from 10 June 2023, renewed 10 June 2024, last billed June 2023 (resumed, annual term).
"""
from __future__ import annotations

import json
import shutil
import textwrap
from decimal import Decimal
from pathlib import Path

import nbformat
import papermill as pm
import polars as pl
import pytest
from helpers import write_dataset

from billing_lib.data.loading import load_dataset
from billing_lib.invoicing import prebilling
from billing_lib.runner.kernel import kernel_for_this_python

ROOT = Path(__file__).resolve().parents[1]
D = Decimal

REVIEW = {
    "customers": """
        customer_id,name,email,country,currency,payment_terms_days,tax_exempt
        C1,Unchanged GmbH,a@c1.example,DE,EUR,30,false
        C2,<script>alert(1)</script> New,a@c2.example,DE,EUR,30,false
        C3,Churned GmbH,a@c3.example,DE,EUR,30,false
        C4,Volume GmbH,a@c4.example,DE,EUR,30,false
        C5,Proration GmbH,a@c5.example,DE,EUR,30,false
        C6,Price GmbH,a@c6.example,DE,EUR,30,false
        C7,株式会社 Annual,a@c7.example,DE,EUR,30,false
    """,
    "plans": """
        plan_id,currency,product,billing,interval,charge_model,unit_price,package_size,free_units,rate_pct,fixed_fee
        SEAT,EUR,Seats,recurring,month,per_unit,10.00,,,,
        API,EUR,API calls,usage,month,per_unit,0.10,,,,
        YEAR,EUR,Annual seats,recurring,year,per_unit,100.00,,,,
    """,
    "subscriptions": """
        subscription_id,customer_id,plan_id,quantity,start_date,end_date,discount_pct,unit_price_override
        S1,C1,SEAT,3,2024-01-01,,,
        S2,C2,SEAT,1,2024-06-01,,,
        S3,C3,SEAT,2,2024-01-01,2024-05-31,,
        S4,C4,API,,2024-01-01,,,
        S5,C5,SEAT,1,2024-05-16,,,
        S6,C6,SEAT,2,2024-01-01,,,
        S7,C7,YEAR,1,2023-06-10,,,
    """,
    "usage": """
        event_id,subscription_id,event_time,quantity
        U1,S4,2024-05-10T10:00:00Z,100
        U2,S4,2024-06-10T10:00:00Z,300
    """,
    "invoices": """
        invoice_id,customer_id,currency,issue_date,due_date,period_start,period_end,subtotal,discount,tax,total,status
        INV-0000001,C7,EUR,2023-07-01,2023-07-31,2023-06-01,2023-06-30,100.00,0.00,19.00,119.00,paid
        INV-0000002,C1,EUR,2024-06-01,2024-07-01,2024-05-01,2024-05-31,30.00,0.00,5.70,35.70,open
        INV-0000003,C3,EUR,2024-06-01,2024-07-01,2024-05-01,2024-05-31,20.00,0.00,3.80,23.80,open
        INV-0000004,C4,EUR,2024-06-01,2024-07-01,2024-05-01,2024-05-31,10.00,0.00,1.90,11.90,open
        INV-0000005,C5,EUR,2024-06-01,2024-07-01,2024-05-01,2024-05-31,5.16,0.00,0.98,6.14,open
        INV-0000006,C6,EUR,2024-06-01,2024-07-01,2024-05-01,2024-05-31,15.00,0.00,2.85,17.85,open
    """,
    "invoice_lines": """
        invoice_id,line_no,subscription_id,plan_id,description,period_start,period_end,quantity,unit_price,amount,discount,tax_rate_pct,tax_amount
        INV-0000001,1,S7,YEAR,Annual seats,2023-06-10,2024-06-09,1,100.00,100.00,0.00,19,19.00
        INV-0000002,1,S1,SEAT,Seats,2024-05-01,2024-05-31,3,10.00,30.00,0.00,19,5.70
        INV-0000003,1,S3,SEAT,Seats,2024-05-01,2024-05-31,2,10.00,20.00,0.00,19,3.80
        INV-0000004,1,S4,API,API calls,2024-05-01,2024-05-31,100,0.10,10.00,0.00,19,1.90
        INV-0000005,1,S5,SEAT,Seats,2024-05-16,2024-05-31,1,10.00,5.16,0.00,19,0.98
        INV-0000006,1,S6,SEAT,Seats,2024-05-01,2024-05-31,2,7.50,15.00,0.00,19,2.85
    """,
}
DRAFTS = ["INV-0000007", "INV-0000008", "INV-0000009", "INV-0000010", "INV-0000011", "INV-0000012"]


@pytest.fixture(scope="module")
def review_data(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("review") / "data", **REVIEW)


@pytest.fixture(scope="module")
def june(review_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("review_out")
    return prebilling.prepare_run(load_dataset(review_data), "2024-06", out), out


def test_drafts_are_generated_with_documents_and_pass_the_checks(june):
    run, out = june
    assert not run.already_invoiced
    assert run.drafts.headers.sort("number")["invoice_id"].to_list() == DRAFTS  # continues INV-0000006
    assert run.result.exceptions.height == 0
    for invoice_id in DRAFTS:
        assert (out / "drafts" / "documents" / f"{invoice_id}.pdf").read_bytes().startswith(b"%PDF-")
        assert (out / "drafts" / "documents" / f"{invoice_id}.html").is_file()
    invoices = pl.read_csv(out / "drafts" / "invoices.csv", infer_schema=False)
    assert invoices["total"].to_list() == ["35.70", "11.90", "35.70", "11.90", "23.80", "119.00"]


def test_customers_against_last_month_with_their_cause(june):
    run, _ = june
    changes = prebilling.customer_changes(run)
    got = {r["customer_id"]: (r["status"], r["last_month"], r["draft"], r["change_pct"], r["cause"], r["flagged"])
           for r in changes.iter_rows(named=True)}
    assert got == {
        "C1": ("unchanged", D("30"), D("30"), D("0"), "", False),
        "C2": ("new", D("0"), D("10"), None, "new subscription", True),
        "C3": ("churned", D("20"), D("0"), D("-100"), "ended subscription", True),
        "C4": ("changed", D("10"), D("30"), D("200"), "volume", True),         # (300 - 100) x 10.00 / 100
        "C5": ("changed", D("5.16"), D("10"), D("93.8"), "proration", True),   # 4.84 / 5.16 = 93.798..%
        "C6": ("changed", D("15"), D("20"), D("33.3"), "price", True),         # 5.00 / 15.00
        "C7": ("resumed", D("0"), D("100"), None, "annual term", True),
    }
    # flagged first, new before resumed before churned before changed
    assert changes["customer_id"].to_list()[:3] == ["C2", "C7", "C3"]
    summary = prebilling.change_summary(changes)
    assert summary.rows() == [("new", 1, 1), ("resumed", 1, 1), ("churned", 1, 1), ("changed", 3, 3),
                              ("unchanged", 1, 0)]
    shown = {r["customer_id"]: r["change_pct"] for r in prebilling.flagged_changes(changes).iter_rows(named=True)}
    # exact decimal text, never a float's ("200.0", "33.299999")
    assert shown == {"C2": None, "C7": None, "C3": "-100%", "C4": "+200%", "C5": "+93.8%", "C6": "+33.3%"}


def test_a_customer_billed_at_a_full_discount_is_not_churned(tmp_path):
    # C9 paid 10.00 in May; from June its subscription is at 100% discount: a draft of 0.00, still a customer
    tables = {name: textwrap.dedent(text) for name, text in REVIEW.items()}
    tables["customers"] += "C9,Free GmbH,a@c9.example,DE,EUR,30,false\n"
    tables["subscriptions"] += "S9,C9,SEAT,1,2024-01-01,2024-05-31,,\nS10,C9,SEAT,1,2024-06-01,,100,\n"
    tables["invoices"] += "INV-0000007,C9,EUR,2024-06-01,2024-07-01,2024-05-01,2024-05-31,10.00,0.00,1.90,11.90,open\n"
    tables["invoice_lines"] += "INV-0000007,1,S9,SEAT,Seats,2024-05-01,2024-05-31,1,10.00,10.00,0.00,19,1.90\n"
    run = prebilling.prepare_run(load_dataset(write_dataset(tmp_path / "data", **tables)), "2024-06", tmp_path / "out")
    (free,) = run.drafts.headers.filter(pl.col("customer_id") == "C9").iter_rows(named=True)
    assert free["total"] == 0
    got = {r["customer_id"]: (r["status"], r["last_month"], r["draft"])
           for r in prebilling.customer_changes(run).iter_rows(named=True)}
    assert got["C9"] == ("changed", D("10"), D("0"))
    assert got["C3"] == ("churned", D("20"), D("0"))  # no draft at all: churned


def test_totals_by_product_and_currency(june):
    run, _ = june
    by_product = {r["product"]: (r["lines"], r["amount"], r["tax"], r["total"])
                  for r in prebilling.totals_by_product(run).iter_rows(named=True)}
    assert by_product == {"Seats": (4, D("70"), D("13.30"), D("83.30")),     # 30 + 10 + 10 + 20
                          "API calls": (1, D("30"), D("5.70"), D("35.70")),
                          "Annual seats": (1, D("100"), D("19"), D("119"))}
    (eur,) = prebilling.totals_by_currency(run).iter_rows(named=True)
    assert (eur["invoices"], eur["subtotal"], eur["tax"], eur["total"]) == (6, D("200"), D("38"), D("238"))


def test_go_writes_every_draft_as_approved(june):
    run, out = june
    decision = prebilling.decide(run)
    assert decision.go and decision.reasons == ()
    prebilling.write_review(run, decision, out)
    approved = pl.read_csv(out / "approved_invoices.csv", infer_schema=False)
    assert approved.columns == ["invoice_id", "period", "content_hash"]
    assert approved["invoice_id"].to_list() == DRAFTS and set(approved["period"]) == {"2024-06"}
    # the hash billing send computes from the drafts it reads
    from billing_lib.invoicing.delivery.approval import folder_hashes
    assert dict(zip(approved["invoice_id"], approved["content_hash"], strict=True)) == folder_hashes(out / "drafts")
    assert len(set(approved["content_hash"])) == 6
    review = json.loads((out / "review.json").read_text())
    assert review["decision"] == "go" and review["period"] == "2024-06"
    assert (review["counts"]["drafts"], review["counts"]["approved"], review["counts"]["held"]) == (6, 6, 0)
    assert review["counts"]["totals"] == {"EUR": "238.00"} and review["counts"]["errors"] == 0
    assert prebilling.compare_with_issued(run).is_empty()
    assert "Decision: GO for 2024-06: 6 of 6" in prebilling.conclusions(decision, prebilling.customer_changes(run))[0]
    summary = prebilling.summary(run, decision, prebilling.customer_changes(run))
    assert summary.status == "ok" and summary.decisions == [] and summary.verdict.startswith("Go: the 6 draft")
    assert [(a.amount, a.currency) for a in summary.at_stake] == [(D("238.00"), "EUR")]


def test_a_draft_with_an_error_is_held_and_the_rest_approved(tmp_path):
    # C8's May invoice already billed 1 May to 30 June: June's draft would bill those days again
    tables = {name: textwrap.dedent(text) for name, text in REVIEW.items()}
    tables["customers"] += "C8,Twice GmbH,a@c8.example,DE,EUR,30,false\n"
    tables["subscriptions"] += "S8,C8,SEAT,1,2024-01-01,,,\n"
    tables["invoices"] += "INV-0000007,C8,EUR,2024-06-01,2024-07-01,2024-05-01,2024-05-31,20.00,0.00,3.80,23.80,open\n"
    tables["invoice_lines"] += "INV-0000007,1,S8,SEAT,Seats,2024-05-01,2024-06-30,1,10.00,20.00,0.00,19,3.80\n"
    ds = load_dataset(write_dataset(tmp_path / "data", **tables))
    run = prebilling.prepare_run(ds, "2024-06", tmp_path / "out")
    status = prebilling.draft_status(run)
    held = status.filter(~pl.col("approved"))
    assert held["customer_id"].to_list() == ["C8"] and held["errors"].to_list() == [1]
    assert set(prebilling.draft_findings(run)["check"]) == {"duplicate_charge"}
    decision = prebilling.decide(run)
    assert not decision.go and "1 error finding(s) on 1 draft(s)" in decision.reasons[0]
    summary = prebilling.summary(run, decision, prebilling.customer_changes(run))
    assert summary.status == "action" and summary.verdict == (
        "No-go for 2024-06: 1 error finding(s) on 1 draft(s) and the period. Do not send the drafts as they are.")
    assert summary.decisions[0].startswith("1 error finding(s) on 1 draft(s)")
    assert "6 approved to send, 1 held" in summary.found
    assert [a.label for a in summary.at_stake][-1] == "at stake in the findings"
    prebilling.write_review(run, decision, tmp_path / "out")
    approved = pl.read_csv(tmp_path / "out" / "approved_invoices.csv")["invoice_id"].to_list()
    assert approved == sorted(set(status["invoice_id"]) - set(held["invoice_id"])) and len(approved) == 6


def test_a_month_already_invoiced_is_no_go_and_compared_with_what_was_issued(june, tmp_path):
    run, out = june
    data = tmp_path / "data"
    shutil.copytree(run.data.folder, data)
    for name in ("invoices", "invoice_lines"):  # June issued exactly as drafted, except C6 at the May price
        issued = pl.read_csv(out / "drafts" / f"{name}.csv", infer_schema=False)
        if name == "invoices":
            issued = issued.with_columns(pl.when(pl.col("customer_id") == "C6").then(pl.lit("17.85"))
                                         .otherwise(pl.col("total")).alias("total"))
        both = pl.concat([pl.read_csv(data / f"{name}.csv", infer_schema=False), issued], how="diagonal")
        both.write_csv(data / f"{name}.csv")
    again = prebilling.prepare_run(load_dataset(data), "2024-06", tmp_path / "out")
    assert again.already_invoiced
    assert again.drafts.headers.sort("number")["invoice_id"].to_list() == DRAFTS  # numbered as before June
    decision = prebilling.decide(again)
    assert not decision.go and "already has 6 issued invoice(s)" in decision.reasons[0]
    prebilling.write_review(again, decision, tmp_path / "out")
    assert (tmp_path / "out" / "approved_invoices.csv").read_text() == "invoice_id,period,content_hash\n"
    compared = prebilling.compare_with_issued(again)
    assert compared.filter(pl.col("difference") != 0).rows() == [
        ("C6", "Price GmbH", "EUR", "INV-0000011", D("17.85"), D("23.80"), D("-5.95"))]
    assert "already has 6 issued invoice(s) (INV-0000007 to INV-0000012)" in prebilling.situation(again)


@pytest.mark.slow
def test_workbook_00_runs_with_papermill_and_writes_the_review(review_data, tmp_path):
    out = tmp_path / "invoice_run"
    executed = tmp_path / "00.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / "00_invoice_run.ipynb"), str(executed),
                        parameters={"data_dir": str(review_data), "period": "2024-06", "output_dir": str(out)},
                        cwd=str(ROOT / "notebooks"), progress_bar=False, kernel_name=kernel_for_this_python())
    assert json.loads((out / "review.json").read_text())["decision"] == "go"
    assert pl.read_csv(out / "approved_invoices.csv")["invoice_id"].to_list() == DRAFTS
    assert sorted(p.name for p in (out / "drafts" / "documents").glob("*.pdf")) == [f"{i}.pdf" for i in DRAFTS]
    nb = nbformat.read(executed, as_version=4)
    from billing_lib.reports.headline import read
    assert read(nb) == {"decision": "go", "drafts": 6, "approved": 6, "held": 0, "errors": 0, "warnings": 0,
                        "flagged customers": 6}
    html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", []))
    assert "<script>alert(1)</script> New" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; New" in html


def test_a_month_with_nothing_to_invoice_is_no_go(review_data, tmp_path):
    run = prebilling.prepare_run(load_dataset(review_data), "2023-01", tmp_path)
    decision = prebilling.decide(run)
    assert run.drafts.headers.is_empty() and not decision.go
    assert decision.reasons == ("nothing to invoice for 2023-01",)
    assert prebilling.situation(run).startswith("Nothing to invoice for 2023-01")
    prebilling.write_review(run, decision, tmp_path)
    assert (tmp_path / "approved_invoices.csv").read_text() == "invoice_id,period,content_hash\n"
    assert prebilling.customer_changes(run).is_empty() and prebilling.totals_by_product(run).is_empty()
