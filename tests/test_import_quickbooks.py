"""billing import quickbooks: QuickBooks Online API v3 JSON (query responses, entities, Airbyte JSON Lines)."""
from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import polars as pl

from billing_lib.data.importers import import_quickbooks, write_import
from billing_lib.data.loading import load_dataset
from billing_lib.verification import verify


def item(n: int, amount, qty, price, taxable: bool = True) -> dict:
    return {"Id": str(n), "LineNum": n, "Description": f"item {n}", "Amount": amount,
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": "5", "name": "Rock Fountain"}, "Qty": qty, "UnitPrice": price,
                                    "TaxCodeRef": {"value": "TAX" if taxable else "NON"}}}


def query_response() -> dict:
    """An invoice with a taxable and an untaxed line, a 10% discount line, a bundle, 8% tax; paid partly, with
    a credit memo applied in the same payment; and a payment with an unapplied remainder."""
    invoice = {
        "Id": "201", "DocNumber": "2001", "TxnDate": "2024-03-05", "DueDate": "2024-04-04",
        "CurrencyRef": {"value": "USD"}, "CustomerRef": {"value": "9", "name": "Amy"}, "SalesTermRef": {"value": "3"},
        "Line": [item(1, 200.0, 2, 100), item(2, 50, 1, 50, taxable=False),
                 {"Id": "3", "DetailType": "GroupLineDetail", "Amount": 30,
                  "GroupLineDetail": {"Line": [item(4, 30, 3, 10)]}},
                 {"Amount": 280.0, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}},
                 {"Amount": 28.0, "DetailType": "DiscountLineDetail",
                  "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 10}}],
        "TxnTaxDetail": {"TotalTax": 16.56, "TaxLine": [{"Amount": 16.56, "DetailType": "TaxLineDetail",
                                                         "TaxLineDetail": {"TaxRateRef": {"value": "3"},
                                                                           "TaxPercent": 8,
                                                                           "NetAmountTaxable": 207.0}}]},
        "TotalAmt": 268.56, "Balance": 0}
    memo = {"Id": "301", "DocNumber": "CM-1", "TxnDate": "2024-03-10", "CurrencyRef": {"value": "USD"},
            "CustomerRef": {"value": "9"}, "TotalAmt": 68.56, "TxnTaxDetail": {"TotalTax": 0},
            "Line": [item(1, 68.56, 1, 68.56, taxable=False)], "RemainingCredit": 0}
    payment = {"Id": "401", "TxnDate": "2024-03-20", "CurrencyRef": {"value": "USD"}, "CustomerRef": {"value": "9"},
               "TotalAmt": 200.0, "UnappliedAmt": 0, "PaymentRefNum": "CHK 1001",
               "Line": [{"Amount": 268.56, "LinkedTxn": [{"TxnId": "201", "TxnType": "Invoice"}]},
                        {"Amount": 68.56, "LinkedTxn": [{"TxnId": "301", "TxnType": "CreditMemo"}]}]}
    spare = {"Id": "402", "TxnDate": "2024-03-21", "CurrencyRef": {"value": "USD"}, "CustomerRef": {"value": "9"},
             "TotalAmt": 15.0, "UnappliedAmt": 15.0, "Line": []}
    customer = {"Id": "9", "DisplayName": "Amy's Bird Sanctuary", "PrimaryEmailAddr": {"Address": "amy@example.com"},
                "BillAddr": {"Country": "USA"}, "CurrencyRef": {"value": "USD"}, "SalesTermRef": {"value": "3"},
                "Taxable": True}
    return {"QueryResponse": {"Invoice": [invoice], "CreditMemo": [memo], "Payment": [payment, spare],
                              "Customer": [customer], "Term": [{"Id": "3", "Name": "Net 30", "DueDays": 30}],
                              "startPosition": 1, "maxResults": 8}}


def test_query_response_maps_lines_discount_tax_payments_and_credit(tmp_path):
    (tmp_path / "qbo.json").write_text(json.dumps(query_response()), encoding="utf-8")
    result = import_quickbooks(tmp_path / "qbo.json")
    assert result.accounted
    inv = result.tables["invoices"].to_dicts()[0]
    assert {k: inv[k] for k in ("invoice_id", "subtotal", "discount", "tax", "total", "status")} == {
        "invoice_id": "2001", "subtotal": "280.00", "discount": "28.00", "tax": "16.56", "total": "268.56",
        "status": "paid"}
    lines = result.tables["invoice_lines"].to_dicts()
    # the discount spread pro rata over 200, 50 and 30 (20.00, 5.00, 3.00); 8% on the taxable nets
    assert [(x["amount"], x["discount"], x["tax_rate_pct"], x["tax_amount"]) for x in lines] == [
        ("200.00", "20.00", "8", "14.40"), ("50.00", "5.00", "0", "0.00"), ("30.00", "3.00", "8", "2.16")]
    assert result.by_source["lines"]["skipped"] == {"the summary subtotal line (the sum of the item lines)": 1}
    pays = {p["payment_id"]: p for p in result.tables["payments"].to_dicts()}
    assert (pays["401"]["amount"], pays["401"]["invoice_id"], pays["401"]["reference"]) == ("200.00", "2001",
                                                                                            "CHK 1001")
    assert (pays["402/unapplied"]["amount"], pays["402/unapplied"]["invoice_id"]) == ("15.00", None)
    note = result.tables["credit_notes"].to_dicts()[0]
    assert (note["credit_note_id"], note["invoice_id"], note["amount"]) == ("CM-1", "2001", "68.56")
    customer = result.tables["customers"].to_dicts()[0]
    assert (customer["country"], customer["payment_terms_days"]) == ("US", "30")


def test_the_invoice_verifies_clean_but_the_unapplied_remainder(tmp_path):
    (tmp_path / "qbo.json").write_text(json.dumps(query_response()), encoding="utf-8")
    write_import(import_quickbooks(tmp_path / "qbo.json"), tmp_path / "out")
    found = verify(load_dataset(tmp_path / "out")).exceptions.filter(pl.col("severity") != "info")
    assert found.select("check", "payment_id").to_dicts() == [{"check": "unapplied_payment",
                                                               "payment_id": "402/unapplied"}]


def test_airbyte_lines_and_entity_responses_read_alike(tmp_path):
    response = query_response()["QueryResponse"]
    lines = [json.dumps({"stream": "invoices", "data": {**response["Invoice"][0], "airbyte_cursor": "x"},
                         "emitted_at": 1})]
    (tmp_path / "records.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "customer.json").write_text(json.dumps({"Customer": response["Customer"][0], "time": "t"}),
                                            encoding="utf-8")
    result = import_quickbooks(tmp_path)
    assert result.tables["invoices"]["total"].to_list() == ["268.56"]
    assert result.tables["customers"]["name"].to_list() == ["Amy's Bird Sanctuary"]
    assert Decimal(result.tables["invoice_lines"]["tax_amount"].to_list()[0]) == Decimal("14.40")


def test_no_invoice_is_a_clear_error(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"QueryResponse": {"Customer": []}}), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "billing_lib", "import", "quickbooks", str(tmp_path / "c.json"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 2 and "holds no Invoice or SalesReceipt" in done.stderr
