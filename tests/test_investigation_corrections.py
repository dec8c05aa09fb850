"""Corrections on hand-made invoices where the order of findings or the mix of lines matters: a credit
note reversed on an invoice of month and year-term lines, a line both billed twice and mispriced."""
from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest
from helpers import write_dataset

from billing_lib.data.loading import load_dataset
from billing_lib.investigation import resolution
from billing_lib.investigation.subject import investigate

# C1 (DE, 19 %) holds 3 monthly seats and one annual licence from June 2024. Invoice 1 bills June: seats
# 30.00 + licence for the year 120.00 = 150.00 net, 28.50 tax. Two credit notes of 100.00 + 19.00 credit
# 200.00 of it, more than the invoice's 150.00: the later one is reversed.
MIXED = {
    "plans": """
        plan_id,currency,product,billing,interval,charge_model,unit_price,package_size,free_units,rate_pct,fixed_fee
        SEAT,EUR,Seats,recurring,month,per_unit,10.00,,,,
        LIC,EUR,Licence,recurring,year,flat,120.00,,,,
    """,
    "subscriptions": """
        subscription_id,customer_id,plan_id,quantity,start_date,end_date,discount_pct,unit_price_override
        S1,C1,SEAT,3,2024-06-01,,,
        S2,C1,LIC,1,2024-06-01,,,
    """,
    "invoices": """
        invoice_id,customer_id,currency,issue_date,due_date,period_start,period_end,subtotal,discount,tax,total,status
        INV-0000001,C1,EUR,2024-06-01,2024-07-01,2024-06-01,2024-06-30,150.00,0.00,28.50,178.50,open
    """,
    "invoice_lines": """
        invoice_id,line_no,subscription_id,plan_id,description,period_start,period_end,quantity,unit_price,amount,discount,tax_rate_pct,tax_amount
        INV-0000001,1,S1,SEAT,Seats,2024-06-01,2024-06-30,3,10.00,30.00,0.00,19,5.70
        INV-0000001,2,S2,LIC,Licence,2024-06-01,2025-05-31,1,120.00,120.00,0.00,19,22.80
    """,
    "credit_notes": """
        credit_note_id,invoice_id,issue_date,amount,tax,reason
        CN-1,INV-0000001,2024-06-10,100.00,19.00,goodwill
        CN-2,INV-0000001,2024-06-20,100.00,19.00,goodwill again
    """,
}


def test_reversing_a_credit_note_of_a_mixed_invoice_splits_revenue_and_deferred_revenue(tmp_path):
    ds = load_dataset(write_dataset(tmp_path / "data", **MIXED))
    case = investigate(ds, invoice_id="INV-0000001")
    excess = case.all_findings.filter(pl.col("check") == "credit_note_excess")
    assert excess.height == 1
    fixes = resolution.corrections(case, excess)
    assert fixes.select("document", "net", "tax", "total", "deferred").rows() == [
        ("additional invoice", Decimal("100.00"), Decimal("19.00"), Decimal("119.00"), Decimal("80.00"))]
    ledger = resolution.ledger_effect(fixes)
    # 120 of the invoice's 150.00 net is the year term: 80 % of the reversed 100.00 goes back on 2100
    assert ledger.select("account", "debit", "credit").rows() == [
        ("1100", Decimal("119.00"), None), ("4000", None, Decimal("20.00")), ("2100", None, Decimal("80.00")),
        ("2200", None, Decimal("19.00"))]

# June is billed twice (a duplicate run), and the second copy with 7.00 tax instead of 5.70.
TWICE = {
    "invoices": """
        invoice_id,customer_id,currency,issue_date,due_date,period_start,period_end,subtotal,discount,tax,total,status
        INV-0000001,C1,EUR,2024-07-01,2024-07-31,2024-06-01,2024-06-30,30.00,0.00,5.70,35.70,open
        INV-0000002,C1,EUR,2024-07-01,2024-07-31,2024-06-01,2024-06-30,30.00,0.00,7.00,37.00,open
    """,
    "invoice_lines": """
        invoice_id,line_no,subscription_id,plan_id,description,period_start,period_end,quantity,unit_price,amount,discount,tax_rate_pct,tax_amount
        INV-0000001,1,S1,SEAT,Seats,2024-06-01,2024-06-30,3,10.00,30.00,0.00,19,5.70
        INV-0000002,1,S1,SEAT,Seats,2024-06-01,2024-06-30,3,10.00,30.00,0.00,19,7.00
    """,
}


@pytest.mark.parametrize("order", ["as_found", "reversed"])
def test_a_line_billed_twice_is_credited_in_full_whatever_else_is_wrong_with_it(tmp_path, order):
    ds = load_dataset(write_dataset(tmp_path / "data", **TWICE))
    case = investigate(ds, customer_id="C1")
    found = case.all_findings
    assert found["check"].to_list() == ["line_arithmetic", "duplicate_charge"]  # the catalogue's order
    dup, arith = (found.filter(pl.col("check") == c)["exception_id"][0] for c in ("duplicate_charge",
                                                                                   "line_arithmetic"))
    fixes = resolution.corrections(case, found if order == "as_found" else found.reverse())
    by_check = {r["check"]: r for r in fixes.iter_rows(named=True)}
    assert (by_check["duplicate_charge"]["document"], by_check["duplicate_charge"]["net"],
            by_check["duplicate_charge"]["tax"], by_check["duplicate_charge"]["total"]) == \
        ("credit note", Decimal("-30.00"), Decimal("-7.00"), Decimal("-37.00"))
    assert (by_check["line_arithmetic"]["document"], by_check["line_arithmetic"]["total"]) == \
        ("no money", Decimal("0"))
    assert by_check["line_arithmetic"]["action"] == f"corrected with {dup} (same line)"
    # the rows keep the findings' order
    assert fixes["exception_id"].to_list() == ([arith, dup] if order == "as_found" else [dup, arith])
    assert resolution.money_by_currency(fixes) == {"EUR": Decimal("-37.00")}
