"""Each check on a tiny, readable dataset: a clean month gives no finding; one planted mistake gives
exactly the finding of the check that owns it. Every test runs under both polars engines (the streaming one
on tables split into one-row chunks, the shape of a large dataset)."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from helpers import edited, engine_dataset, write_dataset

from billing_lib.checks.base import REGISTRY
from billing_lib.data.loading import load_dataset
from billing_lib.verification import verify

pytestmark = pytest.mark.usefixtures("each_engine")

CUSTOMERS = """
    customer_id,name,email,country,currency,payment_terms_days,tax_exempt
    C1,Acme GmbH,a@acme.example,DE,EUR,30,false
    C2,Tokyo KK,b@tokyo.example,JP,JPY,14,false
    C3,Exempt Ltd,c@exempt.example,DE,EUR,30,true
"""
PLANS = """
    plan_id,currency,product,billing,interval,charge_model,unit_price,package_size,free_units,rate_pct,fixed_fee
    SEAT,EUR,Seats,recurring,month,per_unit,10.00,,,,
    SEAT,JPY,Seats,recurring,month,per_unit,1500,,,,
    API,EUR,API calls,usage,month,graduated,,,,,
"""
TIERS = """
    plan_id,currency,tier,up_to,unit_price,flat_fee
    API,EUR,1,100,0.10,
    API,EUR,2,,0.05,
"""
SUBS = """
    subscription_id,customer_id,plan_id,quantity,start_date,end_date,discount_pct,unit_price_override
    S1,C1,SEAT,3,2024-01-01,,10,
    S2,C1,API,,2024-01-01,,,
    S3,C1,SEAT,2,2023-06-01,2024-01-15,,
    S4,C2,SEAT,1,2024-01-01,,,
    S5,C3,SEAT,1,2024-01-01,,,
"""
USAGE = """
    event_id,subscription_id,event_time,quantity
    E1,S2,2024-01-03T10:00:00Z,120
    E2,S2,2024-01-20T10:00:00Z,30
"""
TAX = """
    country,valid_from,valid_to,rate_pct
    DE,2000-01-01,,19
    JP,2000-01-01,,10
"""
# S1: 3 x 10.00 = 30.00, 10% off 3.00, tax 19% of 27.00 = 5.13
# S2: 150 units graduated: 100 x 0.10 + 50 x 0.05 = 12.50, tax 2.38 (2.375 rounds away from zero)
# S3: 2 x 10.00 prorated 15/31 days = 9.677... -> 9.68, tax 1.84 (1.8392)
# S4: 1 x 1500 JPY, tax 150
# S5: exempt: 10.00, no tax
INVOICES = """
    invoice_id,customer_id,currency,issue_date,due_date,period_start,period_end,subtotal,discount,tax,total,status
    INV-0000001,C1,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,52.18,3.00,9.35,58.53,open
    INV-0000002,C2,JPY,2024-02-01,2024-02-15,2024-01-01,2024-01-31,1500,0,150,1650,open
    INV-0000003,C3,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,10.00,0.00,0.00,10.00,paid
"""
LINES = """
    invoice_id,line_no,subscription_id,plan_id,description,period_start,period_end,quantity,unit_price,amount,discount,tax_rate_pct,tax_amount
    INV-0000001,1,S1,SEAT,Seats,2024-01-01,2024-01-31,3,10.00,30.00,3.00,19,5.13
    INV-0000001,2,S2,API,API calls,2024-01-01,2024-01-31,150,,12.50,0.00,19,2.38
    INV-0000001,3,S3,SEAT,Seats prorated,2024-01-01,2024-01-15,2,10.00,9.68,0.00,19,1.84
    INV-0000002,1,S4,SEAT,Seats,2024-01-01,2024-01-31,1,1500,1500,0,10,150
    INV-0000003,1,S5,SEAT,Seats,2024-01-01,2024-01-31,1,10.00,10.00,0.00,0,0.00
"""


def _dataset(tmp_path, replace: list[tuple[str, str, str]] = (), **extra):
    tables = edited(dict(customers=CUSTOMERS, plans=PLANS, plan_tiers=TIERS, subscriptions=SUBS, usage=USAGE,
                         tax_rates=TAX, invoices=INVOICES, invoice_lines=LINES, **extra), replace)
    return engine_dataset(load_dataset(write_dataset(tmp_path / "data", **tables)))


def _findings(tmp_path, replace=(), **extra) -> pl.DataFrame:
    result = verify(_dataset(tmp_path, replace, **extra), [dt.date(2024, 1, 1)])
    return result.exceptions


def test_clean_month_has_no_findings(tmp_path):
    found = _findings(tmp_path)
    assert found.height == 0, found.select("check", "message").to_dicts()


def test_every_catalogue_check_is_registered_with_a_description():
    expected = {"line_arithmetic", "invoice_totals", "price_mismatch", "quantity_mismatch", "discount_mismatch",
                "tax_mismatch", "unbilled_charge", "duplicate_charge", "billed_outside_term", "currency_mismatch",
                "invoice_number_gap", "date_inconsistency", "orphan_reference"}
    assert expected <= set(REGISTRY)
    assert all(c.description and c.severity in ("error", "warning", "info") for c in REGISTRY.values())
    assert REGISTRY["invoice_number_gap"].scope == "global"


CASES = [
    # (id, replacements, expected check, invoice_id, line_no, subscription_id, expected, actual)
    ("tax amount off by a cent", [("invoice_lines", "19,5.13", "19,5.14"),
                                  ("invoices", "9.35,58.53", "9.36,58.54")],
     "line_arithmetic", "INV-0000001", 1, "S1", "5.13", "5.14"),
    ("header total wrong", [("invoices", "9.35,58.53", "9.35,58.63")],
     "invoice_totals", "INV-0000001", None, None, "58.53", "58.63"),
    ("seat price wrong", [("invoice_lines", "3,10.00,30.00,3.00,19,5.13", "3,11.00,33.00,3.30,19,5.64"),
                          ("invoices", "52.18,3.00,9.35,58.53", "55.18,3.30,9.86,61.74")],
     "price_mismatch", "INV-0000001", 1, "S1", "10.00", "11.00"),
    ("proration wrong", [("invoice_lines", "2,10.00,9.68,0.00,19,1.84", "2,10.00,10.00,0.00,19,1.90"),
                         ("invoices", "52.18,3.00,9.35,58.53", "52.50,3.00,9.41,58.91")],
     "price_mismatch", "INV-0000001", 3, "S3", "9.68", "10.00"),
    ("usage tier rated flat", [("invoice_lines", "150,,12.50,0.00,19,2.38", "150,,15.00,0.00,19,2.85"),
                               ("invoices", "52.18,3.00,9.35,58.53", "54.68,3.00,9.82,61.50")],
     "price_mismatch", "INV-0000001", 2, "S2", "12.50", "15.00"),
    ("seats billed wrong", [("invoice_lines", "3,10.00,30.00,3.00,19,5.13", "4,10.00,40.00,4.00,19,6.84"),
                            ("invoices", "52.18,3.00,9.35,58.53", "62.18,4.00,11.06,69.24")],
     "quantity_mismatch", "INV-0000001", 1, "S1", "3", "4"),
    ("discount missing", [("invoice_lines", "3,10.00,30.00,3.00,19,5.13", "3,10.00,30.00,0.00,19,5.70"),
                          ("invoices", "52.18,3.00,9.35,58.53", "52.18,0.00,9.92,62.10")],
     "discount_mismatch", "INV-0000001", 1, "S1", "3.00", "0.00"),
    ("tax on exempt customer", [("invoice_lines", "10.00,0.00,0,0.00", "10.00,0.00,19,1.90"),
                                ("invoices", "10.00,0.00,0.00,10.00", "10.00,0.00,1.90,11.90")],
     "tax_mismatch", "INV-0000003", 1, "S5", "0", "19"),
    ("line dropped", [("invoice_lines", "INV-0000001,2,S2,API,API calls,2024-01-01,2024-01-31,150,,12.50,0.00,19,2.38\n", ""),
                      ("invoices", "52.18,3.00,9.35,58.53", "39.68,3.00,6.97,43.65")],
     "unbilled_charge", None, None, "S2", "14.88", "0.00"),
    ("line billed twice", [("invoice_lines", "INV-0000002,1,S4,SEAT,Seats,2024-01-01,2024-01-31,1,1500,1500,0,10,150",
                            "INV-0000002,1,S4,SEAT,Seats,2024-01-01,2024-01-31,1,1500,1500,0,10,150\n"
                            "INV-0000002,2,S4,SEAT,Seats,2024-01-01,2024-01-31,1,1500,1500,0,10,150"),
                           ("invoices", "3000,0,300,3300" if False else "1500,0,150,1650", "3000,0,300,3300")],
     "duplicate_charge", "INV-0000002", 2, "S4", "0", "1650"),
    ("ended subscription billed whole month",
     [("invoice_lines", "2024-01-01,2024-01-15,2,10.00,9.68,0.00,19,1.84", "2024-01-01,2024-01-31,2,10.00,20.00,0.00,19,3.80"),
      ("invoices", "52.18,3.00,9.35,58.53", "62.50,3.00,11.31,70.81")],
     "billed_outside_term", "INV-0000001", 3, "S3", "2023-06-01 to 2024-01-15", "2024-01-01 to 2024-01-31"),
    ("invoice in the wrong currency", [("invoices", "INV-0000003,C3,EUR", "INV-0000003,C3,USD")],
     "currency_mismatch", "INV-0000003", None, None, "EUR", "USD"),
    ("due date off by a day", [("invoices", "INV-0000002,C2,JPY,2024-02-01,2024-02-15", "INV-0000002,C2,JPY,2024-02-01,2024-02-16")],
     "date_inconsistency", "INV-0000002", None, None, "2024-02-15", "2024-02-16"),
    ("line names a ghost subscription", [("invoice_lines", "INV-0000003,1,S5,", "INV-0000003,1,S-GHOST,")],
     "orphan_reference", "INV-0000003", 1, None, "an existing subscription_id", "S-GHOST"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_one_planted_mistake_gives_one_finding_of_its_check(tmp_path, case):
    _, replace, check, invoice_id, line_no, sub, expected, actual = case
    found = _findings(tmp_path, replace)
    mine = found.filter(pl.col("check") == check)
    assert mine.height == 1, found.select("check", "invoice_id", "line_no", "message").to_dicts()
    row = mine.row(0, named=True)
    assert (row["invoice_id"], row["line_no"]) == (invoice_id, line_no)
    if sub is not None:
        assert row["subscription_id"] == sub
    assert (row["expected"], row["actual"]) == (expected, actual)
    assert row["message"].endswith(".") and len(row["message"]) > 20
    others = found.filter(pl.col("check") != check)
    # a mistake may only echo in other checks on the very same invoice (e.g. an unbilled S2 also leaves no line)
    assert set(others["invoice_id"].drop_nulls()) <= {invoice_id}, others.select("check", "message").to_dicts()


def test_number_gap_and_repeat(tmp_path):
    found = _findings(tmp_path, [("invoices", "INV-0000002,C2", "INV-0000004,C2"),
                                 ("invoice_lines", "INV-0000002,1,S4", "INV-0000004,1,S4")])
    gap = found.filter(pl.col("check") == "invoice_number_gap")
    assert gap["invoice_id"].to_list() == ["INV-0000002"]
    repeat = _findings(tmp_path / "r", [("invoices", "INV-0000003,C3", "INV-0000002,C3")])
    rows = repeat.filter(pl.col("check") == "invoice_number_gap")
    assert rows["invoice_id"].to_list() == ["INV-0000002"] and rows["actual"].to_list() == ["2"]


def test_void_invoices_are_skipped_but_keep_their_number(tmp_path):
    # voiding INV-0000002 leaves S4 unbilled, but the number sequence stays whole
    found = _findings(tmp_path, [("invoices", "1500,0,150,1650,open", "1500,0,150,1650,void")])
    assert found["check"].to_list() == ["unbilled_charge"]
    assert found["subscription_id"].to_list() == ["S4"]


def test_exception_ids_are_stable_and_unique(tmp_path):
    replace = [("invoices", "9.35,58.53", "9.35,58.63"), ("invoices", "INV-0000003,C3,EUR", "INV-0000003,C3,USD")]
    first = _findings(tmp_path / "a", replace)
    second = _findings(tmp_path / "b", replace)
    assert first["exception_id"].to_list() == second["exception_id"].to_list()
    assert first["exception_id"].is_unique().all()
    assert first.height == 2


def test_sparse_invoice_numbers_are_reported_as_ranges_not_listed(tmp_path):
    # random 10-digit ids (as some ERPs export) must not make the gap check list billions of numbers
    found = _findings(tmp_path, [("invoices", "INV-0000002,C2", "INV-9000000002,C2"),
                                 ("invoice_lines", "INV-0000002,1,S4", "INV-9000000002,1,S4")])
    gaps = found.filter(pl.col("check") == "invoice_number_gap")
    assert gaps.height == 2  # INV-0000002 between 1 and 3, then one range up to 9000000002
    assert any("numbers are missing" in m for m in gaps["message"])


def test_fewer_days_than_due_is_a_price_mismatch(tmp_path):
    # S1 is active all January; billing only 1-15 January (prorated right for those days) under-bills it
    found = _findings(tmp_path, [
        ("invoice_lines", "INV-0000001,1,S1,SEAT,Seats,2024-01-01,2024-01-31,3,10.00,30.00,3.00,19,5.13",
         "INV-0000001,1,S1,SEAT,Seats,2024-01-01,2024-01-15,3,10.00,14.52,1.45,19,2.48"),
        ("invoices", "52.18,3.00,9.35,58.53", "36.70,1.45,6.70,41.95")])
    assert found["check"].to_list() == ["price_mismatch"]
    assert found.row(0, named=True)["expected"] == "30.00"


def test_late_billing_of_other_days_is_not_a_duplicate(tmp_path):
    # S5's December days billed late on the January invoice: other days, so no duplicate (S5 started
    # in January, so the December line is billed outside its term instead)
    found = _findings(tmp_path, [
        ("invoice_lines", "INV-0000003,1,S5,SEAT,Seats,2024-01-01,2024-01-31,1,10.00,10.00,0.00,0,0.00",
         "INV-0000003,1,S5,SEAT,Seats,2024-01-01,2024-01-31,1,10.00,10.00,0.00,0,0.00\n"
         "INV-0000003,2,S5,SEAT,Seats,2023-12-01,2023-12-31,1,10.00,10.00,0.00,0,0.00"),
        ("invoices", "10.00,0.00,0.00,10.00", "20.00,0.00,0.00,20.00")])
    assert "duplicate_charge" not in found["check"].to_list()
    assert found.filter(pl.col("check") == "billed_outside_term")["line_no"].to_list() == [2]


def test_a_month_without_any_invoice_is_still_verified(tmp_path):
    ds = _dataset(tmp_path, [("invoices", "INV-0000002,C2,JPY,2024-02-01,2024-02-15,2024-01-01,2024-01-31",
                              "INV-0000002,C2,JPY,2024-04-01,2024-04-15,2024-03-01,2024-03-31")])
    result = verify(ds)
    assert result.summary["periods"] == ["2024-01", "2024-02", "2024-03"]
    unbilled = result.exceptions.filter(pl.col("check") == "unbilled_charge")
    assert "2024-02" in unbilled["period"].to_list()


def test_void_invoice_of_an_unknown_customer_is_skipped(tmp_path):
    found = _findings(tmp_path, [("invoices", "10.00,0.00,0.00,10.00,paid",
                                  "10.00,0.00,0.00,10.00,paid\n"
                                  "INV-0000004,C-GONE,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,0,0,0,0,void")])
    assert found.height == 0, found.select("check", "message").to_dicts()
