"""No silent 0 % tax: a line whose customer's country has no tax rate in force is a tax_mismatch finding
(detail tax_rate_missing), and billing generate refuses to rate such a customer (exit 2)."""
from __future__ import annotations

import subprocess
import sys

import polars as pl
from helpers import CUST_H, SUBS_H, table, write_dataset

from billing_lib.data.loading import load_dataset
from billing_lib.verification import verify

CUSTOMERS = table(CUST_H, "C1,Acme GmbH,a@acme.example,DE,EUR,30,false", "C2,Globex Inc,g@globex.example,US,EUR,30,false",
                  "C3,Initech,i@initech.example,US,EUR,30,true")
SUBSCRIPTIONS = table(SUBS_H, "S1,C1,SEAT,3,2024-01-01,,,", "S2,C2,SEAT,2,2024-01-01,,,", "S3,C3,SEAT,1,2024-01-01,,,")
INVOICES = """
    invoice_id,customer_id,currency,issue_date,due_date,period_start,period_end,subtotal,discount,tax,total,status
    INV-0000001,C1,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,30.00,0.00,5.70,35.70,open
    INV-0000002,C2,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,20.00,0.00,0.00,20.00,open
    INV-0000003,C3,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,10.00,0.00,0.00,10.00,open
"""
LINES = """
    invoice_id,line_no,subscription_id,plan_id,description,period_start,period_end,quantity,unit_price,amount,discount,tax_rate_pct,tax_amount
    INV-0000001,1,S1,SEAT,Seats,2024-01-01,2024-01-31,3,10.00,30.00,0.00,19,5.70
    INV-0000002,1,S2,SEAT,Seats,2024-01-01,2024-01-31,2,10.00,20.00,0.00,0,0.00
    INV-0000003,1,S3,SEAT,Seats,2024-01-01,2024-01-31,1,10.00,10.00,0.00,0,0.00
"""


def test_a_line_of_a_country_without_a_rate_in_force_is_a_finding(tmp_path):
    data = write_dataset(tmp_path / "d", customers=CUSTOMERS, subscriptions=SUBSCRIPTIONS, invoices=INVOICES,
                         invoice_lines=LINES)
    found = verify(load_dataset(data)).exceptions
    assert found["check"].to_list() == ["tax_mismatch"], \
        "only the US customer who is not exempt; the exempt one (C3) owes no tax whatever the rates"
    row = found.row(0, named=True)
    assert (row["customer_id"], row["invoice_id"], row["line_no"], row["expected"], row["actual"], row["at_stake"]) \
        == ("C2", "INV-0000002", 1, None, "0", None), "the rate due is unknown, and so is the money at stake"
    assert row["message"] == ("Invoice INV-0000002 line 1 charges tax at 0%, but tax_rates has no rate of US in "
                              "force on 2024-02-01: the tax due cannot be told. Add the country's rate to tax_rates.")
    with_rate = write_dataset(tmp_path / "e", customers=CUSTOMERS, subscriptions=SUBSCRIPTIONS, invoices=INVOICES,
                              invoice_lines=LINES, tax_rates="country,valid_from,valid_to,rate_pct\n"
                                                              "DE,2000-01-01,,19\nUS,2000-01-01,,0\n")
    assert verify(load_dataset(with_rate)).exceptions.is_empty(), "a stated rate of 0 % is a rate"


def test_generate_refuses_to_rate_a_customer_whose_country_has_no_rate(tmp_path):
    data = write_dataset(tmp_path / "d", customers=CUSTOMERS, subscriptions=SUBSCRIPTIONS,
                         tax_rates="country,valid_from,valid_to,rate_pct\nDE,2000-01-01,,19\nUS,2024-03-01,,7\n")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "billing_lib", "generate", str(data), "--period", "2024-01",
                           "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (f"{data / 'tax_rates.csv'}, column 'country': no tax rate of US is in force on 2024-02-01, so the 1 "
            "charge(s) of customer C2 (Globex Inc) cannot be rated") in done.stderr
    assert "C3" not in done.stderr and "C1" not in done.stderr, "exempt and rated customers are not named"
    assert not out.exists(), "nothing generated"
    later = subprocess.run([sys.executable, "-m", "billing_lib", "generate", str(data), "--period", "2024-03",
                            "--out", str(out)], capture_output=True, text=True)
    assert later.returncode == 0, later.stderr  # the US rate is in force from 2024-03-01 on
    lines = pl.read_csv(out / "invoice_lines.csv", infer_schema=False)
    assert sorted(lines["tax_rate_pct"].to_list()) == ["0", "19", "7"]


def test_an_investigation_names_the_missing_rate_and_corrects_no_money(tmp_path):
    from billing_lib.investigation.explain import explanations
    from billing_lib.investigation.resolution import corrections
    from billing_lib.investigation.subject import investigate
    data = write_dataset(tmp_path / "d", customers=CUSTOMERS, subscriptions=SUBSCRIPTIONS, invoices=INVOICES,
                         invoice_lines=LINES)
    case = investigate(load_dataset(data), customer_id="C2")
    told = explanations(case).row(0, named=True)
    assert "No tax rate of the customer's country is in force" in str(told)
    assert "tax_rates has no rate of US" in str(told)
    fix = corrections(case).row(0, named=True)
    assert fix["document"] == "no money" and "add the rate of the customer's country" in fix["action"], \
        "nothing is credited or billed on a rate nobody knows"
