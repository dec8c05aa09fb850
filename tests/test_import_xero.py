"""billing import xero: Xero Accounting API response bodies (an Invoices response alone is enough)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from billing_lib.data.importers import import_xero, write_import
from billing_lib.data.importers.xero import xero_day
from billing_lib.data.loading import load_dataset
from billing_lib.verification import verify

CONTACT = {"ContactID": "c-1", "ContactNumber": "CUST-7", "Name": "Kiwi Ltd", "EmailAddress": "ap@kiwi.example",
           "DefaultCurrency": "NZD", "Addresses": [{"AddressType": "POBOX", "Country": "New Zealand"}],
           "PaymentTerms": {"Sales": {"Day": 20, "Type": "DAYSAFTERBILLDATE"}}}


def invoice(iid: str, number: str, kind: str, lines: list[dict], sub: str, tax: str, total: str, status="PAID",
            **extra) -> dict:
    return {"Type": "ACCREC", "InvoiceID": iid, "InvoiceNumber": number, "Contact": {"ContactID": "c-1",
            "ContactNumber": "CUST-7", "Name": "Kiwi Ltd"}, "Date": "/Date(1717200000000+0000)/",
            "DateString": "2024-06-01T00:00:00", "DueDate": "/Date(1718928000000+0000)/", "Status": status,
            "LineAmountTypes": kind, "LineItems": lines, "SubTotal": sub, "TotalTax": tax, "Total": total,
            "CurrencyCode": "NZD", **extra}


def line(qty: str, unit: str, amount: str, tax_type: str, tax: str, **extra) -> dict:
    return {"Description": "Consulting", "Quantity": qty, "UnitAmount": unit, "LineAmount": amount,
            "TaxType": tax_type, "TaxAmount": tax, "AccountCode": "200", **extra}


def recording() -> dict:
    """A consistent recording: GST exclusive and inclusive, no tax, a discount, a credit note and payments inline."""
    exclusive = invoice("i-1", "INV-0001", "Exclusive", [line("2.0000", "50.00", "100.00", "OUTPUT2", "15.00")],
                        "100.00", "15.00", "115.00",
                        Payments=[{"PaymentID": "p-1", "Date": "/Date(1717804800000+0000)/", "Amount": "115.00",
                                   "Reference": "INV-0001"}])
    inclusive = invoice("i-2", "INV-0002", "Inclusive", [line("1.0000", "89.00", "89.00", "OUTPUT2", "11.61")],
                        "77.39", "11.61", "89.00",
                        Payments=[{"PaymentID": "p-2", "Date": "/Date(1717804800000+0000)/", "Amount": "50.00"}],
                        CreditNotes=[{"CreditNoteID": "cn-1", "CreditNoteNumber": "CN-0001", "AppliedAmount": "39.00",
                                      "Total": "39.00", "TotalTax": "5.09", "DateString": "2024-06-05T00:00:00"}])
    discounted = invoice("i-3", "INV-0003", "Exclusive",
                         [line("4.0000", "25.00", "90.00", "OUTPUT2", "13.50", DiscountRate="10.00")],
                         "90.00", "13.50", "103.50", status="AUTHORISED")
    untaxed = invoice("i-4", "INV-0003", "NoTax", [line("1.0000", "10.00", "10.00", "NONE", "0.00")],
                      "10.00", "0.00", "10.00", status="AUTHORISED")   # the number repeats: keyed by InvoiceID
    bill = {**invoice("i-5", "B-1", "Exclusive", [], "0", "0", "0"), "Type": "ACCPAY"}
    draft = invoice("i-6", "INV-0006", "Exclusive", [line("1", "5", "5.00", "OUTPUT2", "0.75")], "5.00", "0.75",
                    "5.75", status="DRAFT")
    return {"Id": "x", "Status": "OK", "Invoices": [exclusive, inclusive, discounted, untaxed, bill, draft]}


@pytest.fixture
def folder(tmp_path) -> Path:
    src = tmp_path / "xero"
    src.mkdir()
    (src / "page-1.json").write_text(json.dumps(recording()), encoding="utf-8")
    (src / "who.json").write_text(json.dumps({"Contacts": [CONTACT]}), encoding="utf-8")
    return src


def test_an_invoices_response_alone_maps_documents_payments_and_credits(folder):
    result = import_xero(folder)
    assert result.accounted
    inv = {r["invoice_number"] + r["invoice_id"][-1]: r for r in result.tables["invoices"].to_dicts()}
    assert set(inv) == {"INV-00011", "INV-00022", "INV-00033", "INV-00034"}   # bill and draft skipped
    assert (inv["INV-00022"]["tax_behavior"], inv["INV-00022"]["subtotal"], inv["INV-00022"]["total"]) == (
        "inclusive", "89.00", "89.00")
    assert (inv["INV-00033"]["subtotal"], inv["INV-00033"]["discount"], inv["INV-00033"]["total"]) == (
        "100.00", "10.00", "103.50")
    lines = {r["invoice_id"]: r for r in result.tables["invoice_lines"].to_dicts()}
    assert (lines["i-3"]["amount"], lines["i-3"]["discount"], lines["i-3"]["tax_rate_pct"]) == ("100.00", "10.00",
                                                                                               "15")
    assert lines["i-2"]["tax_rate_pct"] == "15"    # implied by the tax type's lines: no TaxRates response
    customer = result.tables["customers"].to_dicts()[0]
    assert (customer["customer_id"], customer["country"], customer["payment_terms_days"]) == ("CUST-7", "NZ", "20")
    assert result.tables["payments"]["customer_id"].to_list() == ["CUST-7", "CUST-7"]
    note = result.tables["credit_notes"].to_dicts()[0]
    assert (note["invoice_id"], note["amount"], note["tax"]) == ("i-2", "33.91", "5.09")
    assert result.by_source["invoices"]["skipped"] == {"not a sales invoice (Type ACCPAY)": 1,
                                                       "a draft (not issued)": 1}


def test_consistent_invoices_raise_no_finding(folder, tmp_path):
    write_import(import_xero(folder), tmp_path / "out")
    found = verify(load_dataset(tmp_path / "out")).exceptions
    assert found.filter(pl.col("severity") != "info").select("check", "message").to_dicts() == []


def test_payments_response_and_inline_payments_are_one_payment(folder):
    payments = {"Payments": [{"PaymentID": "p-1", "Date": "/Date(1717804800000+0000)/", "Amount": "115.00",
                              "PaymentType": "ACCRECPAYMENT", "Status": "AUTHORISED", "Reference": "INV-0001",
                              "Invoice": {"InvoiceID": "i-1", "Type": "ACCREC"}},
                             {"PaymentID": "p-9", "Date": "/Date(1717804800000+0000)/", "Amount": "2.00",
                              "PaymentType": "ARCREDITPAYMENT", "Invoice": {"InvoiceID": "cn-1"}}]}
    (folder / "payments.json").write_text(json.dumps(payments), encoding="utf-8")
    result = import_xero(folder)
    assert sorted(result.tables["payments"]["payment_id"].to_list()) == ["p-1", "p-2"]
    assert result.by_source["invoice payments"]["skipped"] == {
        "the same payment read before (inline and in the Payments response)": 1}
    assert "a cash refund of a credit note (money paid out; the contract has no refunds)" in \
        result.by_source["payments"]["skipped"]


@pytest.mark.parametrize("value, day", [("/Date(1563753600000+0000)/", "2019-07-22"),
                                        ("\\/Date(1563753600000)\\/", "2019-07-22"),
                                        ("2019-07-22T00:00:00", "2019-07-22")])
def test_xero_dates(value, day):
    assert xero_day({"Date": value}, "Date") == day


def test_no_sales_invoice_is_a_clear_error(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"Contacts": [CONTACT]}), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "billing_lib", "import", "xero", str(tmp_path), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 2 and "holds no Invoices, CreditNotes or Payments" in done.stderr
