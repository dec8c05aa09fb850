"""Tax-inclusive prices (invoices.tax_behavior = inclusive): the line amounts hold the tax, so a line's tax is
round((amount - discount) x rate / (100 + rate)), the total is subtotal - discount and revenue is total - tax;
loading, the checks, month-end revenue and the ledger postings all take it so."""
from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest
from helpers import table, write_dataset

from billing_lib.data.loading import load_dataset
from billing_lib.errors import DatasetError
from billing_lib.month_end.revenue import billed_revenue
from billing_lib.verification import verify

INVOICES = "invoice_id,customer_id,currency,issue_date,due_date,period_start,period_end,subtotal,discount,tax,total," \
           "status,tax_behavior"
LINES = "invoice_id,line_no,subscription_id,plan_id,description,period_start,period_end,quantity,unit_price,amount," \
        "discount,tax_rate_pct,tax_amount"
GL = "entry_id,line_no,date,account,debit,credit,currency,source_type,source_id"
# 3 seats at 10.00 gross = 30.00, 10% off = 27.00 of which 19% VAT is included: 27 x 19/119 = 4.31
GOOD_LINE = "INV-1,1,S1,SEAT,Seats,2024-01-01,2024-01-31,3,10.00,30.00,3.00,19,4.31"
GOOD_INVOICE = "INV-1,C1,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,30.00,3.00,4.31,27.00,open,inclusive"
POSTED = ["JE-1,1,2024-02-01,1100,27.00,,EUR,invoice,INV-1", "JE-1,2,2024-02-01,4000,,22.69,EUR,invoice,INV-1",
          "JE-1,3,2024-02-01,2200,,4.31,EUR,invoice,INV-1"]
SUBSCRIPTION = """
    subscription_id,customer_id,plan_id,quantity,start_date,end_date,discount_pct,unit_price_override
    S1,C1,SEAT,3,2024-01-01,,10,
"""


def dataset(tmp_path, invoice=GOOD_INVOICE, line=GOOD_LINE, gl=POSTED):
    folder = write_dataset(tmp_path / "data", subscriptions=SUBSCRIPTION, invoices=table(INVOICES, invoice),
                           invoice_lines=table(LINES, line), gl_entries=table(GL, *gl))
    return load_dataset(folder)


def errors(ds) -> list[tuple[str, str]]:
    found = verify(ds).exceptions.filter(pl.col("severity") != "info")
    return [(r["check"], r["message"]) for r in found.iter_rows(named=True)]


def test_a_consistent_inclusive_invoice_raises_no_finding(tmp_path):
    assert errors(dataset(tmp_path)) == []


def test_an_exclusive_invoice_keeps_tax_on_top(tmp_path):
    invoice = "INV-1,C1,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,30.00,3.00,5.13,32.13,open,"
    line = "INV-1,1,S1,SEAT,Seats,2024-01-01,2024-01-31,3,10.00,30.00,3.00,19,5.13"
    gl = ["JE-1,1,2024-02-01,1100,32.13,,EUR,invoice,INV-1", "JE-1,2,2024-02-01,4000,,27.00,EUR,invoice,INV-1",
          "JE-1,3,2024-02-01,2200,,5.13,EUR,invoice,INV-1"]
    assert errors(dataset(tmp_path, invoice, line, gl)) == []   # an empty tax_behavior is exclusive


def test_tax_added_on_top_of_an_inclusive_price_is_found(tmp_path):
    line = "INV-1,1,S1,SEAT,Seats,2024-01-01,2024-01-31,3,10.00,30.00,3.00,19,5.13"
    invoice = "INV-1,C1,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,30.00,3.00,5.13,32.13,open,inclusive"
    found = errors(dataset(tmp_path, invoice, line))
    assert ("line_arithmetic", "Invoice INV-1 line 1 shows tax 5.13 EUR, but the 19% included in its net amount "
                               "27.00 is 4.31.") in found
    assert ("invoice_totals", "Invoice INV-1 shows total 32.13 EUR, but subtotal - discount (tax included) is "
                              "27.00.") in found


def test_revenue_of_an_inclusive_invoice_is_total_less_tax(tmp_path):
    revenue = billed_revenue(dataset(tmp_path), "2024-01", by=["customer_id"])
    assert revenue.select("customer_id", "net").rows() == [("C1", Decimal("22.69"))]


def test_ledger_posting_revenue_with_the_tax_still_in_it_is_found(tmp_path):
    gl = ["JE-1,1,2024-02-01,1100,27.00,,EUR,invoice,INV-1", "JE-1,2,2024-02-01,4000,,27.00,EUR,invoice,INV-1"]
    checks = [check for check, _ in errors(dataset(tmp_path, gl=gl))]
    assert "gl_mismatch" in checks


def test_a_tax_behavior_the_contract_does_not_know_is_a_load_error(tmp_path):
    with pytest.raises(DatasetError, match="tax_behavior.*'gross' is not one of exclusive, inclusive"):
        dataset(tmp_path, invoice=GOOD_INVOICE.replace("inclusive", "gross"))
