"""Month-end schedules on tiny hand-made datasets; every expected figure is worked out in the comment beside it."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from billing_lib.loading import load_dataset
from billing_lib.month_end import receivables

from helpers import INV_H, header, table, write_dataset

D = Decimal
PAY_H = header("payments")
CN_H = header("credit_notes")
AS_OF = dt.date(2024, 6, 30)


def _inv(inv_id: str, issue: str, due: str, total: str, status: str = "open", customer: str = "C1",
         currency: str = "EUR", period: tuple[str, str] = ("2024-02-01", "2024-02-29")) -> str:
    return f"{inv_id},{customer},{currency},{issue},{due},{period[0]},{period[1]},{total},0,0,{total},{status}"


# ---------------------------------------------------------------- receivables

@pytest.fixture(scope="module")
def aging_ds(tmp_path_factory):
    # one invoice per boundary: due = 2024-06-30 minus the days past due
    invoices = table(
        INV_H,
        _inv("INV-0000001", "2024-03-01", "2024-06-30", "10.00"),   # 0 days past due
        _inv("INV-0000002", "2024-03-01", "2024-06-29", "20.00"),   # 1
        _inv("INV-0000003", "2024-03-01", "2024-05-31", "30.00"),   # 30
        _inv("INV-0000004", "2024-03-01", "2024-05-30", "40.00"),   # 31
        _inv("INV-0000005", "2024-03-01", "2024-05-01", "50.00"),   # 60
        _inv("INV-0000006", "2024-03-01", "2024-04-30", "60.00"),   # 61
        _inv("INV-0000007", "2024-03-01", "2024-04-01", "70.00"),   # 90
        _inv("INV-0000008", "2024-03-01", "2024-03-31", "80.00"),   # 91
        _inv("INV-0000009", "2024-03-01", "2024-03-31", "999.00", "void"),  # void: left out
        _inv("INV-0000010", "2024-07-01", "2024-07-31", "500.00"),  # issued after the cut-off
    )
    payments = table(
        PAY_H,
        "P1,C1,EUR,5.00,2024-06-01,INV-0000002,",     # partial payment on the 1-day invoice
        "P2,C1,EUR,12.34,2024-06-10,,no invoice named",  # unapplied cash, held 20 days at the cut-off
        "P3,C1,EUR,60.00,2024-07-02,INV-0000006,",    # after the cut-off: not yet collected
    )
    notes = table(CN_H, "CN1,INV-0000008,2024-05-15,8.00,2.00,goodwill")
    folder = write_dataset(tmp_path_factory.mktemp("aging") / "data", invoices=invoices, payments=payments,
                           credit_notes=notes)
    return load_dataset(folder)


def test_days_past_due_fall_in_their_buckets_at_the_boundaries(aging_ds):
    detail = receivables.aging_detail(aging_ds, AS_OF)
    got = dict(zip(detail["days_past_due"], detail["bucket"]))
    assert got == {0: "current", 1: "days_1_30", 30: "days_1_30", 31: "days_31_60", 60: "days_31_60",
                   61: "days_61_90", 90: "days_61_90", 91: "over_90"}


def test_aging_buckets_per_customer(aging_ds):
    row = receivables.aging(aging_ds, AS_OF).row(0, named=True)
    assert row["current"] == D("10.00")        # INV-1
    assert row["days_1_30"] == D("45.00")      # (20.00 - 5.00 paid) + 30.00
    assert row["days_31_60"] == D("90.00")     # 40.00 + 50.00
    assert row["days_61_90"] == D("130.00")    # 60.00 (its payment is after the cut-off) + 70.00
    assert row["over_90"] == D("70.00")        # 80.00 - credit note (8.00 + 2.00 tax)
    assert row["total"] == D("345.00")         # 10 + 45 + 90 + 130 + 70
    assert row["unapplied_cash"] == D("12.34")  # P2 names no invoice
    assert row["net"] == D("332.66")           # 345.00 - 12.34


def test_open_balance_per_invoice(aging_ds):
    items = receivables.open_invoices(aging_ds, AS_OF)
    by_id = {r["invoice_id"]: r for r in items.iter_rows(named=True)}
    assert "INV-0000009" not in by_id and "INV-0000010" not in by_id   # void; issued after the cut-off
    assert by_id["INV-0000002"]["collected"] == D("5.00")
    assert by_id["INV-0000008"]["credited"] == D("10.00")              # 8.00 + 2.00 tax
    assert by_id["INV-0000008"]["open_balance"] == D("70.00")          # 80.00 - 10.00


def test_unapplied_cash_and_an_applications_frame(aging_ds):
    cash = receivables.unapplied_cash(aging_ds, AS_OF)
    assert cash.select("payment_id", "unapplied", "days_held").rows() == [("P2", D("12.34"), 20)]
    # a cash-application step that applies P2 to INV-0000001 instead
    apps = pl.DataFrame({"payment_id": ["P1", "P2"], "invoice_id": ["INV-0000002", "INV-0000001"],
                         "amount": [D("5.00"), D("10.00")]})
    row = receivables.aging(aging_ds, AS_OF, apps).row(0, named=True)
    assert row["current"] == D("0.00")         # 10.00 - 10.00 applied from P2
    assert row["unapplied_cash"] == D("2.34")  # 12.34 - 10.00


@pytest.fixture(scope="module")
def rf_ds(tmp_path_factory):
    invoices = table(
        INV_H,
        _inv("INV-0000001", "2024-02-01", "2024-03-02", "119.00"),
        _inv("INV-0000002", "2024-03-01", "2024-03-31", "238.00"),
        _inv("INV-0000003", "2024-02-01", "2024-03-02", "59.50", "uncollectible"),
        _inv("INV-0000004", "2024-03-01", "2024-03-31", "1000.00", "void"),
        _inv("INV-0000005", "2024-04-01", "2024-05-01", "77.00"),
    )
    payments = table(
        PAY_H,
        "P1,C1,EUR,50.00,2024-02-20,INV-0000001,",
        "P2,C1,EUR,69.00,2024-03-05,INV-0000001,",
        "P3,C1,EUR,100.00,2024-04-02,INV-0000002,",
        "P4,C1,EUR,9.50,2024-02-25,INV-0000003,",
    )
    notes = table(CN_H, "CN1,INV-0000002,2024-03-10,20.00,3.80,price")
    return load_dataset(write_dataset(tmp_path_factory.mktemp("rf") / "data", invoices=invoices,
                                      payments=payments, credit_notes=notes))


def test_roll_forward_identity(rf_ds):
    row = receivables.roll_forward(rf_ds, "2024-03").row(0, named=True)
    assert row["opening"] == D("119.00")      # INV-1 119.00 - 50.00 + INV-3 59.50 - 9.50 (as of 2024-02-29)
    assert row["invoiced"] == D("238.00")     # INV-2 (INV-4 is void, INV-5 is issued in April)
    assert row["collected"] == D("69.00")     # P2 (P3 comes in April)
    assert row["credited"] == D("23.80")      # CN1 20.00 + 3.80 tax
    assert row["written_off"] == D("50.00")   # INV-3 uncollectible: 59.50 - 9.50 left at its due date 03-02
    assert row["closing"] == D("214.20")      # 119 + 238 - 69 - 23.80 - 50 = INV-2 238.00 - 23.80
    assert row["ties"] is True
    assert row["ledger_ar"] is None           # no ledger in this dataset
    april = receivables.roll_forward(rf_ds, "2024-04").row(0, named=True)
    assert april["opening"] == row["closing"]
    assert april["closing"] == D("191.20")    # 214.20 + 77.00 - 100.00


def test_dso(rf_ds):
    row = receivables.dso(rf_ds, "2024-03").row(0, named=True)
    assert row["days"] == 31
    assert row["dso"] == D("27.90")           # 214.20 / 238.00 x 31 = 0.9 x 31
