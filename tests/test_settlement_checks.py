"""Cash application and the settlement and ledger checks on a tiny dataset: two monthly invoices of one
customer, paid by a named payment and an instalment named only in the bank reference, one partly paid,
one credit note, and a ledger that posts all of it as the contract's Accounts say."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from helpers import edited, engine_dataset, write_dataset

from billing_lib.data.loading import load_dataset
from billing_lib.engine.cash_application import apply_payments
from billing_lib.verification import verify

pytestmark = pytest.mark.usefixtures("each_engine")

NEW_CHECKS = ["unapplied_payment", "payment_mismatch", "status_mismatch", "credit_note_excess", "gl_mismatch"]

INVOICES = """
    invoice_id,customer_id,currency,issue_date,due_date,period_start,period_end,subtotal,discount,tax,total,status
    INV-0000001,C1,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,30.00,0.00,5.70,35.70,paid
    INV-0000002,C1,EUR,2024-03-01,2024-03-31,2024-02-01,2024-02-29,30.00,0.00,5.70,35.70,open
"""
LINES = """
    invoice_id,line_no,subscription_id,plan_id,description,period_start,period_end,quantity,unit_price,amount,discount,tax_rate_pct,tax_amount
    INV-0000001,1,S1,SEAT,Seats,2024-01-01,2024-01-31,3,10.00,30.00,0.00,19,5.70
    INV-0000002,1,S1,SEAT,Seats,2024-02-01,2024-02-29,3,10.00,30.00,0.00,19,5.70
"""
# PAY-1 names INV-0000001; PAY-2 pays the rest of it, named only in the reference; PAY-3 pays INV-0000002 in part
PAYMENTS = """
    payment_id,customer_id,currency,amount,received_date,invoice_id,reference
    PAY-1,C1,EUR,20.00,2024-02-10,INV-0000001,INV-0000001
    PAY-2,C1,EUR,15.70,2024-02-20,,"Rest of INV-0000001, thanks"
    PAY-3,C1,EUR,10.00,2024-02-25,INV-0000002,Part payment
"""
NOTES = """
    credit_note_id,invoice_id,issue_date,amount,tax,reason
    CN-1,INV-0000002,2024-02-28,5.00,0.95,Goodwill
"""
GL = """
    entry_id,line_no,date,account,debit,credit,currency,source_type,source_id
    JE-1,1,2024-02-01,1100,35.70,,EUR,invoice,INV-0000001
    JE-1,2,2024-02-01,4000,,30.00,EUR,invoice,INV-0000001
    JE-1,3,2024-02-01,2200,,5.70,EUR,invoice,INV-0000001
    JE-2,1,2024-02-10,1000,20.00,,EUR,payment,PAY-1
    JE-2,2,2024-02-10,1100,,20.00,EUR,payment,PAY-1
    JE-3,1,2024-02-20,1000,15.70,,EUR,payment,PAY-2
    JE-3,2,2024-02-20,1100,,15.70,EUR,payment,PAY-2
    JE-4,1,2024-02-25,1000,10.00,,EUR,payment,PAY-3
    JE-4,2,2024-02-25,1100,,10.00,EUR,payment,PAY-3
    JE-5,1,2024-02-28,4000,5.00,,EUR,credit_note,CN-1
    JE-5,2,2024-02-28,2200,0.95,,EUR,credit_note,CN-1
    JE-5,3,2024-02-28,1100,,5.95,EUR,credit_note,CN-1
    JE-6,1,2024-03-01,1100,35.70,,EUR,invoice,INV-0000002
    JE-6,2,2024-03-01,4000,,30.00,EUR,invoice,INV-0000002
    JE-6,3,2024-03-01,2200,,5.70,EUR,invoice,INV-0000002
"""


def _findings(tmp_path, replace=(), add=None) -> pl.DataFrame:
    tables = edited(dict(invoices=INVOICES, invoice_lines=LINES, payments=PAYMENTS, credit_notes=NOTES,
                         gl_entries=GL), replace, add)
    return verify(engine_dataset(load_dataset(write_dataset(tmp_path / "data", **tables)))).exceptions


def _only(found: pl.DataFrame, check: str) -> pl.DataFrame:
    mine = found.filter(pl.col("check") == check)
    others = found.filter(pl.col("check") != check)
    assert others.height == 0, others.select("check", "message").to_dicts()
    assert mine["message"].str.ends_with(".").all()
    return mine


def test_clean_settlement_has_no_findings(tmp_path):
    found = _findings(tmp_path)
    assert found.height == 0, found.select("check", "message").to_dicts()


def test_cash_application_methods(tmp_path):
    ds = load_dataset(write_dataset(tmp_path / "d", invoices=INVOICES, invoice_lines=LINES, payments=PAYMENTS,
                                    credit_notes=NOTES))
    apps = apply_payments(ds.frame("invoices"), ds.frame("payments"), ds.frame("credit_notes"))
    assert apps.select("payment_id", "invoice_id", "method").rows() == [
        ("PAY-1", "INV-0000001", "invoice_id"), ("PAY-2", "INV-0000001", "reference"),
        ("PAY-3", "INV-0000002", "invoice_id")]
    assert apps["applied"].to_list() == [Decimal("20"), Decimal("15.7"), Decimal("10")]


def test_cash_application_by_amount_and_by_sum():
    d = dt.date
    invoices = pl.DataFrame({
        "invoice_id": ["I1", "I2", "I3", "I4"], "customer_id": ["C1"] * 4, "currency": ["EUR"] * 4,
        "issue_date": [d(2024, 2, 1), d(2024, 3, 1), d(2024, 4, 1), d(2024, 5, 1)],
        "total": [Decimal("10.00"), Decimal("20.00"), Decimal("7.00"), Decimal("99.00")],
        "status": ["open"] * 4})
    payments = pl.DataFrame({
        "payment_id": ["P1", "P2", "P3"], "customer_id": ["C1"] * 3, "currency": ["EUR"] * 3,
        "amount": [Decimal("7.00"), Decimal("30.00"), Decimal("5.00")],
        "received_date": [d(2024, 4, 10)] * 3, "invoice_id": pl.Series([None] * 3, dtype=pl.String),
        "reference": ["transfer", None, "C1 I4"]})
    notes = pl.DataFrame(schema={"invoice_id": pl.String, "amount": pl.Decimal(38, 10), "tax": pl.Decimal(38, 10)})
    apps = apply_payments(invoices, payments, notes)
    assert apps.select("payment_id", "invoice_id", "method").rows() == [
        ("P1", "I3", "amount"), ("P2", "I1", "sum"), ("P2", "I2", "sum"), ("P3", "I4", "reference")]


def test_payment_found_by_amount_alone_is_applied(tmp_path):
    found = _findings(tmp_path, [("payments", '"Rest of INV-0000001, thanks"', "bank transfer")])
    assert found.height == 0, found.select("check", "message").to_dicts()


def test_payment_that_matches_nothing_is_unapplied(tmp_path):
    found = _findings(tmp_path, add={
        "payments": "PAY-4,C1,EUR,12.34,2024-02-26,,bank transfer",
        "gl_entries": "JE-7,1,2024-02-26,1000,12.34,,EUR,payment,PAY-4\nJE-7,2,2024-02-26,1100,,12.34,EUR,payment,PAY-4"})
    row = _only(found, "unapplied_payment").row(0, named=True)
    assert (row["payment_id"], row["invoice_id"], row["actual"]) == ("PAY-4", None, "12.34")


def test_payment_recorded_twice(tmp_path):
    found = _findings(tmp_path, add={
        "payments": "PAY-5,C1,EUR,20.00,2024-02-10,INV-0000001,INV-0000001",
        "gl_entries": "JE-8,1,2024-02-10,1000,20.00,,EUR,payment,PAY-5\nJE-8,2,2024-02-10,1100,,20.00,EUR,payment,PAY-5"})
    mine = _only(found, "payment_mismatch")
    assert mine.select("payment_id", "invoice_id").rows() == [("PAY-5", "INV-0000001")]
    assert "PAY-1" in mine["message"][0]


def test_overpaid_invoice(tmp_path):
    found = _findings(tmp_path, [("payments", "PAY-2,C1,EUR,15.70", "PAY-2,C1,EUR,25.70"),
                                 ("gl_entries", "1000,15.70,,EUR,payment,PAY-2", "1000,25.70,,EUR,payment,PAY-2"),
                                 ("gl_entries", "1100,,15.70,EUR,payment,PAY-2", "1100,,25.70,EUR,payment,PAY-2")])
    row = _only(found, "payment_mismatch").row(0, named=True)
    assert (row["invoice_id"], row["payment_id"]) == ("INV-0000001", "PAY-2")
    assert (row["expected"], row["actual"], row["difference"]) == ("35.70", "45.70", "10.00")


@pytest.mark.parametrize("old,new,invoice_id,expected", [
    ("35.70,paid", "35.70,open", "INV-0000001", "paid"),
    ("35.70,open", "35.70,paid", "INV-0000002", "open"),
])
def test_status_that_contradicts_the_balance(tmp_path, old, new, invoice_id, expected):
    row = _only(_findings(tmp_path, [("invoices", old, new)]), "status_mismatch").row(0, named=True)
    assert (row["invoice_id"], row["expected"]) == (invoice_id, expected)


@pytest.mark.parametrize("amount,tax,found_expected", [
    ("31.00", "0.00", ("30.00", "31.00")),     # amounts above subtotal - discount
    ("30.00", "6.00", ("35.70", "36.00")),     # amounts plus tax above the total
    ("25.00", "4.75", None),                   # within the limits
])
def test_credit_note_excess(tmp_path, amount, tax, found_expected):
    found = _findings(tmp_path, [("credit_notes", "5.00,0.95", f"{amount},{tax}")])
    mine = found.filter(pl.col("check") == "credit_note_excess")
    if found_expected is None:
        assert mine.height == 0
        return
    assert mine.select("invoice_id", "expected", "actual").rows() == [("INV-0000002", *found_expected)]


def test_document_not_posted(tmp_path):
    found = _findings(tmp_path, [("gl_entries", "JE-2,1,2024-02-10,1000,20.00,,EUR,payment,PAY-1\n"
                                  "JE-2,2,2024-02-10,1100,,20.00,EUR,payment,PAY-1\n", "")])
    row = _only(found, "gl_mismatch").row(0, named=True)
    assert (row["payment_id"], row["invoice_id"]) == ("PAY-1", None)
    assert "not posted" in row["message"]


def test_invoice_posted_to_the_wrong_account(tmp_path):
    found = _findings(tmp_path, [("gl_entries", "JE-1,1,2024-02-01,1100", "JE-1,1,2024-02-01,1200")])
    row = _only(found, "gl_mismatch").row(0, named=True)
    assert row["invoice_id"] == "INV-0000001"
    assert row["expected"] == "1100 Dr 35.70; 1200 Dr 0.00" and row["actual"] == "1100 Dr 0.00; 1200 Dr 35.70"


def test_manual_entry_breaks_the_receivables_and_revenue_ties_and_releases_do_not(tmp_path):
    release = "JE-9,1,2024-02-29,2100,10.00,,EUR,revenue_release,INV-0000001\n" \
              "JE-9,2,2024-02-29,4000,,10.00,EUR,revenue_release,INV-0000001"
    assert _findings(tmp_path / "r", add={"gl_entries": release}).height == 0
    manual = "JE-10,1,2024-02-15,1100,5.00,,EUR,manual,\nJE-10,2,2024-02-15,4000,,5.00,EUR,manual,"
    found = _findings(tmp_path / "m", add={"gl_entries": manual}).filter(pl.col("check") == "gl_mismatch")
    assert found["invoice_id"].to_list() == [None, None]
    ar, revenue = sorted(found.rows(named=True), key=lambda r: "4000" in r["message"])
    assert ar["difference"] == "5.00" and "account 1100" in ar["message"]
    # revenue is tied together with deferred revenue: 5.00 more credit than the invoices and credit notes give
    assert revenue["difference"] == "-5.00" and "account 4000/2100 (revenue and deferred revenue)" in revenue["message"]
