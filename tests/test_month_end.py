"""Month-end schedules on tiny hand-made datasets; every expected figure is worked out in the comment beside it."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from helpers import INV_H, header, table, write_dataset

from billing_lib.data.loading import load_dataset
from billing_lib.month_end import close_checklist, receivables, revenue

D = Decimal
PAY_H = header("payments")
CN_H = header("credit_notes")
LINE_H = header("invoice_lines")
FX_H = header("fx_rates")
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
    got = dict(zip(detail["days_past_due"], detail["bucket"], strict=True))
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
    # the cash-application module names the column ``applied``
    same = receivables.aging(aging_ds, AS_OF, apps.rename({"amount": "applied"})).row(0, named=True)
    assert same == row


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
    assert row["written_off"] == D("0")       # INV-3 is uncollectible, but no ledger writes it off
    assert row["voided"] == D("0")            # INV-4 is void and never reversed by a ledger: never counted
    assert row["closing"] == D("264.20")      # 119 + 238 - 69 - 23.80 = INV-2 214.20 + INV-3 50.00
    assert row["ties"] is True
    assert row["ledger_ar"] is None           # no ledger in this dataset
    april = receivables.roll_forward(rf_ds, "2024-04").row(0, named=True)
    assert april["opening"] == row["closing"]
    assert april["closing"] == D("241.20")    # 264.20 + 77.00 - 100.00


def test_an_uncollectible_invoice_is_doubtful_until_the_ledger_writes_it_off(rf_ds):
    row = receivables.aging(rf_ds, dt.date(2024, 3, 31)).row(0, named=True)
    assert row["doubtful"] == D("50.00")       # INV-3 59.50 - 9.50 paid, whatever its age
    assert row["current"] == D("214.20")       # INV-2 due 03-31: 238.00 - 23.80
    assert row["days_1_30"] == D("0")          # INV-3 is 29 days past due, but doubtful
    assert row["total"] == D("264.20") and row["net"] == D("264.20")


def test_dso(rf_ds):
    row = receivables.dso(rf_ds, "2024-03").row(0, named=True)
    assert row["days"] == 31
    assert row["dso"] == D("34.41")           # 264.20 / 238.00 x 31 = 34.4126..


# ---------------------------------------------------------------- revenue

def _line(inv_id: str, no: int, sub: str, plan: str, start: str, end: str, qty: str, price: str, amount: str,
          discount: str = "0.00") -> str:
    return f"{inv_id},{no},{sub},{plan},,{start},{end},{qty},{price},{amount},{discount},0,0.00"


FEB = ("2024-02-01", "2024-02-29")
MAR = ("2024-03-01", "2024-03-31")


@pytest.fixture(scope="module")
def fx_ds(tmp_path_factory):
    customers = table(header("customers"), "C1,Eins,,DE,EUR,30,false", "C2,Two,,US,USD,30,false",
                      "C3,San,,JP,JPY,30,false")
    plans = table(header("plans"), "SEAT,EUR,Seats,recurring,month,per_unit,10.00,,,,",
                  "SEAT,USD,Seats,recurring,month,per_unit,10.00,,,,",
                  "SEAT,JPY,Seats,recurring,month,per_unit,1000,,,,")
    taxes = table(header("tax_rates"), "DE,2000-01-01,,19", "US,2000-01-01,,0", "JP,2000-01-01,,10")
    subs = table(header("subscriptions"), "S1,C1,SEAT,5,2024-01-01,,,", "S2,C2,SEAT,11,2024-01-01,,,",
                 "S3,C3,SEAT,1,2024-01-01,,,")
    rates = table(FX_H, "2024-01-01,EUR,1.5", "2024-02-28,USD,0.90", "2024-03-01,USD,0.92", "2024-03-05,USD,0.95")
    invoices = table(INV_H,
                     _inv("INV-0000001", "2024-03-01", "2024-03-31", "50.00", customer="C1", period=FEB),
                     _inv("INV-0000002", "2024-03-01", "2024-03-31", "100.00", customer="C2", currency="USD",
                          period=FEB),
                     _inv("INV-0000003", "2024-03-01", "2024-03-31", "1000", customer="C3", currency="JPY",
                          period=FEB),
                     _inv("INV-0000004", "2024-04-01", "2024-05-01", "200.00", customer="C2", currency="USD",
                          period=MAR))
    lines = table(LINE_H,
                  _line("INV-0000001", 1, "S1", "SEAT", *FEB, "5", "10.00", "50.00"),
                  _line("INV-0000002", 1, "S2", "SEAT", *FEB, "11", "10.00", "110.00", "10.00"),
                  _line("INV-0000003", 1, "S3", "SEAT", *FEB, "1", "1000", "1000", "0"),
                  _line("INV-0000004", 1, "S2", "SEAT", *MAR, "20", "10.00", "200.00"))
    return load_dataset(write_dataset(tmp_path_factory.mktemp("fx") / "data", customers=customers, plans=plans,
                                      tax_rates=taxes, subscriptions=subs, fx_rates=rates, invoices=invoices,
                                      invoice_lines=lines))


def test_billed_revenue_in_the_base_currency(fx_ds):
    feb = revenue.billed_revenue(fx_ds, "2024-02", "EUR", by=["customer_id"])
    rows = {r["customer_id"]: r for r in feb.iter_rows(named=True)}
    assert rows["C1"]["net_base"] == D("50.00")     # EUR is the base: rate 1 (its 1.5 row is ignored)
    assert rows["C2"]["net"] == D("100.00")         # 110.00 - 10.00 discount
    assert rows["C2"]["net_base"] == D("92.00")     # 100.00 x 0.92, the rate dated on the issue date 03-01
    assert rows["C3"]["net_base"] is None           # no JPY rate: not guessed
    assert rows["C3"]["unconverted"] == 1
    mar = revenue.billed_revenue(fx_ds, "2024-03", "EUR", by=["product"])
    assert mar.select("product", "currency", "net_base").rows() == [("Seats", "USD", D("190.00"))]
    # issued 04-01: the latest rate before it is the 03-05 one, 200.00 x 0.95


def test_missing_fx_rates_are_reported(fx_ds):
    missing = revenue.missing_fx_rates(fx_ds, "2024-02", "EUR")
    assert missing.rows() == [("JPY", dt.date(2024, 3, 1), 1, D("1000"))]
    assert revenue.missing_fx_rates(fx_ds, None, "EUR").height == 1      # March is USD, rated at 0.95


@pytest.fixture(scope="module")
def deferred_ds(tmp_path_factory):
    customers = table(header("customers"), "C1,Eins,,DE,EUR,30,false", "C2,Zwei,,DE,EUR,30,false")
    plans = table(header("plans"), "SEAT,EUR,Seats,recurring,month,per_unit,10.00,,,,",
                  "SEAT-Y,EUR,Annual seats,recurring,year,per_unit,1000.00,,,,")
    subs = table(header("subscriptions"), "S1,C1,SEAT-Y,1,2024-02-01,,,", "S2,C2,SEAT-Y,1,2024-02-29,,,365.00",
                 "S3,C1,SEAT,1,2024-03-01,2024-05-31,,")
    invoices = table(INV_H,
                     _inv("INV-0000001", "2024-03-01", "2024-03-31", "1000.00", customer="C1", period=FEB),
                     _inv("INV-0000002", "2024-03-01", "2024-03-31", "365.00", customer="C2", period=FEB),
                     _inv("INV-0000003", "2024-04-01", "2024-05-01", "92.00", customer="C1", period=MAR))
    lines = table(LINE_H,
                  # a 366-day term: 2024-02-01..2025-01-31 holds 2024-02-29
                  _line("INV-0000001", 1, "S1", "SEAT-Y", "2024-02-01", "2025-01-31", "1", "1000.00", "1000.00"),
                  # a term starting on the leap day: 2024-02-29..2025-02-27, 365 days
                  _line("INV-0000002", 1, "S2", "SEAT-Y", "2024-02-29", "2025-02-27", "1", "365.00", "365.00"),
                  # a month plan billed for three months ahead: deferred by its service days (92 > 31)
                  _line("INV-0000003", 1, "S3", "SEAT", "2024-03-01", "2024-05-31", "1", "92.00", "92.00"))
    return load_dataset(write_dataset(tmp_path_factory.mktemp("deferred") / "data", customers=customers,
                                      plans=plans, subscriptions=subs, invoices=invoices, invoice_lines=lines))


def test_a_366_day_term_earns_per_day_and_sums_exactly(deferred_ds):
    sched = revenue.deferred_schedule(deferred_ds).filter(pl.col("invoice_id") == "INV-0000001")
    assert sched["term_days"][0] == 366
    # cumulative = round(1000.00 x days elapsed / 366); release = cumulative - the month before
    assert sched["recognised"].to_list() == [
        D("79.23"),   # Feb 2024, 29 days: 79.2349.. -> 79.23
        D("84.70"),   # Mar, 60 days: 163.9344.. -> 163.93 - 79.23
        D("81.97"),   # Apr, 90: 245.9016.. -> 245.90 - 163.93
        D("84.70"),   # May, 121: 330.6010.. -> 330.60 - 245.90
        D("81.97"),   # Jun, 151: 412.5683.. -> 412.57 - 330.60
        D("84.70"),   # Jul, 182: 497.2677.. -> 497.27 - 412.57
        D("84.70"),   # Aug, 213: 581.9672.. -> 581.97 - 497.27
        D("81.96"),   # Sep, 243: 663.9344.. -> 663.93 - 581.97 (rounding each month alone would give 81.97)
        D("84.70"),   # Oct, 274: 748.6338.. -> 748.63 - 663.93
        D("81.97"),   # Nov, 304: 830.6010.. -> 830.60 - 748.63
        D("84.70"),   # Dec, 335: 915.3005.. -> 915.30 - 830.60
        D("84.70"),   # Jan 2025, 366: 1000.00 - 915.30
    ]
    assert sum(sched["recognised"].to_list()) == D("1000.00")   # rounding each month alone: 1000.01
    assert sched["remaining"][-1] == D("0")
    # invoiced 2024-03-01: nothing is released at the end of February; March catches up 29 + 31 days
    assert sched["released"][:3].to_list() == [D("0"), D("163.93"), D("81.97")]
    assert sched["unbilled"][:2].to_list() == [D("79.23"), D("0")]
    assert sched["deferred"][:2].to_list() == [D("0"), D("836.07")]   # 1000.00 - 163.93
    assert sum(sched["released"].to_list()) == D("1000.00")


def test_a_term_starting_on_the_leap_day(deferred_ds):
    sched = revenue.deferred_schedule(deferred_ds).filter(pl.col("invoice_id") == "INV-0000002")
    assert sched["term_days"][0] == 365                       # 2024-02-29..2025-02-27
    assert sched["recognised"][0] == D("1.00")                # 365.00 / 365 days x 1 day (Feb 29)
    assert sched["recognised"][1] == D("31.00")               # March
    assert sched["recognised"][-1] == D("27.00")              # 2025-02-01..27
    assert sum(sched["recognised"].to_list()) == D("365.00")


def test_deferred_revenue_roll_forward(deferred_ds):
    # February: the terms are served but their invoices are issued on 03-01: nothing is deferred, never negative
    assert revenue.deferred_revenue(deferred_ds, "2024-02").is_empty()
    feb = revenue.accrued_revenue(deferred_ds, "2024-02").row(0, named=True)
    assert feb["earned"] == D("80.23") and feb["closing"] == D("80.23")   # 79.23 + 1.00, unbilled
    mar = revenue.deferred_revenue(deferred_ds, "2024-03").row(0, named=True)
    assert mar["opening"] == D("0")
    assert mar["billed_in_advance"] == D("1365.00")  # 1000.00 + 365.00 issued 03-01
    assert mar["released"] == D("195.93")            # INV-1 163.93 (Feb + Mar) + INV-2 32.00 (Feb 29 + Mar)
    assert mar["closing"] == D("1169.07")            # 1365.00 - 195.93; INV-3 (S3) is issued 04-01
    assert mar["ties"] is True
    accrued = revenue.accrued_revenue(deferred_ds, "2024-03").row(0, named=True)
    assert (accrued["opening"], accrued["earned"], accrued["invoiced"], accrued["closing"]) == (
        D("80.23"), D("31.00"), D("80.23"), D("31.00"))  # S3's March days (92.00 / 92 days x 31) not yet billed
    apr = revenue.deferred_revenue(deferred_ds, "2024-04").row(0, named=True)
    assert apr["billed_in_advance"] == D("92.00")
    assert apr["released"] == D("172.97")            # 81.97 + 30.00 + S3 61.00 (March and April)
    assert apr["closing"] == D("1088.10")            # 1169.07 + 92.00 - 172.97


def test_deferred_waterfall(deferred_ds):
    wf = {r["billing_month"]: r for r in revenue.deferred_waterfall(deferred_ds).iter_rows(named=True)}
    assert wf["2024-02"]["billed"] == D("1365.00")
    assert wf["2024-02"]["2024-02"] == D("0")         # not invoiced before 03-01: nothing released
    assert wf["2024-02"]["2024-03"] == D("195.93")    # 163.93 + 32.00: February's days caught up
    assert wf["2024-02"]["2025-02"] == D("27.00")
    assert wf["2024-03"]["2024-03"] == D("0") and wf["2024-03"]["2024-04"] == D("61.00")
    assert wf["2024-03"]["2024-05"] == D("31.00")
    months = [c for c in wf["2024-02"] if c[:2] == "20"]
    assert sum(wf["2024-02"][m] for m in months) == D("1365.00")


def test_revenue_recognised_from_deferrals(deferred_ds):
    row = revenue.revenue_recognised(deferred_ds, "2024-03").row(0, named=True)
    assert row["from_billings"] == D("0")            # every March line is a deferred one
    assert row["from_deferred"] == D("115.70")       # March's days of INV-1 and INV-2: 84.70 + 31.00
    assert row["from_unbilled"] == D("31.00")        # S3's March days, invoiced 04-01
    assert row["uninvoiced"] == D("0")               # S3's March charge is covered by its 3-month line
    assert row["total"] == D("146.70")


@pytest.fixture(scope="module")
def bridge_ds(tmp_path_factory):
    invoices = table(INV_H, _inv("INV-0000001", "2024-03-01", "2024-03-31", "124.48", period=FEB),
                     _inv("INV-0000002", "2024-04-01", "2024-05-01", "133.35", period=MAR))
    lines = table(LINE_H,
                  _line("INV-0000001", 1, "S1", "SEAT", *FEB, "3", "10.00", "30.00"),
                  _line("INV-0000001", 2, "S2", "SEAT", *FEB, "2", "10.00", "20.00"),
                  _line("INV-0000001", 3, "S3", "SEAT", *FEB, "4", "10.00", "40.00"),
                  _line("INV-0000001", 4, "S5", "SEAT", *FEB, "2", "10.00", "20.00"),
                  _line("INV-0000001", 5, "S6", "SEAT", "2024-02-16", "2024-02-29", "3", "10.00", "14.48"),
                  _line("INV-0000002", 1, "S1", "SEAT", *MAR, "5", "10.00", "50.00"),
                  _line("INV-0000002", 2, "S2", "SEAT", *MAR, "2", "12.00", "24.00"),
                  _line("INV-0000002", 3, "S3", "SEAT", "2024-03-01", "2024-03-15", "4", "10.00", "19.35"),
                  _line("INV-0000002", 4, "S4", "SEAT", *MAR, "1", "10.00", "10.00"),
                  _line("INV-0000002", 5, "S6", "SEAT", *MAR, "3", "10.00", "30.00"))
    return load_dataset(write_dataset(tmp_path_factory.mktemp("bridge") / "data", invoices=invoices,
                                      invoice_lines=lines))


def test_revenue_bridge_per_subscription(bridge_ds):
    frame = revenue.revenue_bridge_detail(bridge_ds, "2024-03")
    detail = {r["subscription_id"]: r for r in frame.iter_rows(named=True)}
    assert detail["S1"]["volume"] == D("20.00")      # (5 - 3) seats x 30.00 / 3
    assert detail["S2"]["price"] == D("4.00")        # 2 x 12.00 - 2 x 10.00
    assert detail["S3"]["proration"] == D("-20.65")  # 40 x 15/31 = 19.35 - 40.00; full month still 4 x 10.00
    assert detail["S4"]["new"] == D("10.00")
    assert detail["S5"]["churned"] == D("-20.00")
    assert detail["S6"]["proration"] == D("15.52")   # 30.00 - 14.48 (30 x 14/29 in February)
    for r in detail.values():
        assert r["new"] + r["churned"] + r["price"] + r["volume"] + r["proration"] == r["change"]


def test_revenue_bridge_sums_to_the_change(bridge_ds):
    row = revenue.revenue_bridge(bridge_ds, "2024-03").row(0, named=True)
    assert row["previous"] == D("124.48")    # 30 + 20 + 40 + 20 + 14.48
    assert row["current"] == D("133.35")     # 50 + 24 + 19.35 + 10 + 30
    assert row["change"] == D("8.87")
    assert (row["new"], row["churned"], row["price"], row["volume"], row["proration"]) == (
        D("10.00"), D("-20.00"), D("4.00"), D("20.00"), D("-5.13"))   # -20.65 + 15.52
    assert row["new"] + row["churned"] + row["price"] + row["volume"] + row["proration"] == D("8.87")
    assert row["ties"] is True


@pytest.fixture(scope="module")
def unbilled_ds(tmp_path_factory):
    subs = table(header("subscriptions"), "S1,C1,SEAT,3,2024-01-01,,,", "S2,C1,SEAT,2,2024-03-11,,10,")
    invoices = table(INV_H, _inv("INV-0000001", "2024-04-01", "2024-05-01", "35.70", period=MAR))
    lines = table(LINE_H, "INV-0000001,1,S1,SEAT,,2024-03-01,2024-03-31,3,10.00,30.00,0.00,19,5.70")
    return load_dataset(write_dataset(tmp_path_factory.mktemp("unbilled") / "data", subscriptions=subs,
                                      invoices=invoices, invoice_lines=lines))


def test_unbilled_revenue(unbilled_ds):
    mar = revenue.unbilled_revenue(unbilled_ds, "2024-03")
    assert mar["subscription_id"].to_list() == ["S2"]           # S1 is on INV-0000001
    row = mar.row(0, named=True)
    assert row["amount"] == D("13.55")     # 2 x 10.00 x 21/31 days = 13.5483.. -> 13.55
    assert row["discount"] == D("1.36")    # 10 % of 13.55 = 1.355 -> 1.36 (half away from zero)
    assert row["net"] == D("12.19")        # 13.55 - 1.36
    assert row["tax_amount"] == D("2.32")  # 19 % of 12.19 = 2.3161
    apr = revenue.unbilled_revenue(unbilled_ds, "2024-04")   # no April invoice at all
    assert apr.select("subscription_id", "net").rows() == [("S1", D("30.00")), ("S2", D("18.00"))]
    # S1 3 x 10.00; S2 2 x 10.00 - 10 %


# ---------------------------------------------------------------- close checklist

NO_FINDINGS = pl.DataFrame(schema={"check": pl.String, "severity": pl.String})


def test_checklist_controls_on_a_month_without_ledger(rf_ds):
    found = pl.DataFrame({"check": ["tax_mismatch", "date_inconsistency"], "severity": ["error", "warning"]})
    rows = {r["control"]: r for r in close_checklist.close_checklist(rf_ds, "2024-03", exceptions=found)
            .iter_rows(named=True)}
    assert rows["ar_roll_forward_ties"]["status"] == "pass"
    assert "= closing 264.20" in rows["ar_roll_forward_ties"]["evidence"]
    assert rows["ar_ties_to_ledger"]["status"] == "n/a" and rows["ar_ties_to_ledger"]["passed"] is None
    assert rows["verify_errors_resolved"]["status"] == "fail"
    assert rows["verify_errors_resolved"]["evidence"] == "1 error findings open: tax_mismatch 1"
    clean = close_checklist.close_checklist(rf_ds, "2024-03", exceptions=NO_FINDINGS)
    assert clean.filter(pl.col("control") == "verify_errors_resolved")["passed"].item() is True


def test_checklist_flags_old_unapplied_cash(aging_ds):
    # P2 (12.34 EUR, no invoice named) was received 2024-06-10: held 20 days at the June close
    relaxed = close_checklist.close_checklist(aging_ds, "2024-06", exceptions=NO_FINDINGS)
    assert relaxed.filter(pl.col("control") == "no_unapplied_cash_over_30_days")["passed"].item() is True
    strict = close_checklist.close_checklist(aging_ds, "2024-06", exceptions=NO_FINDINGS, max_unapplied_days=14)
    row = strict.filter(pl.col("control") == "no_unapplied_cash_over_14_days").row(0, named=True)
    assert row["status"] == "fail"
    assert row["evidence"] == "P2 (C1) EUR 12.34 held 20 days"


# ---------------------------------------------------------------- the ledger tie

@pytest.fixture(scope="module")
def ledger_ds(tmp_path_factory):
    invoices = table(INV_H, _inv("INV-0000001", "2024-02-01", "2024-03-02", "119.00"))
    payments = table(PAY_H, "P1,C1,EUR,50.00,2024-02-20,INV-0000001,", "P2,C1,EUR,10.00,2024-02-25,,")
    gl = table(header("gl_entries"),
               "JE-1,1,2024-02-01,1100,119.00,,EUR,invoice,INV-0000001",
               "JE-1,2,2024-02-01,4000,,100.00,EUR,invoice,INV-0000001",
               "JE-1,3,2024-02-01,2200,,19.00,EUR,invoice,INV-0000001",
               "JE-2,1,2024-02-20,1000,50.00,,EUR,payment,P1",
               "JE-2,2,2024-02-20,1100,,50.00,EUR,payment,P1",
               "JE-3,1,2024-02-25,1000,10.00,,EUR,payment,P2",
               "JE-3,2,2024-02-25,1100,,10.00,EUR,payment,P2",
               "JE-4,1,2024-03-05,1100,5.00,,EUR,manual,",
               "JE-4,2,2024-03-05,4000,,5.00,EUR,manual,")
    return load_dataset(write_dataset(tmp_path_factory.mktemp("ledger") / "data", invoices=invoices,
                                      payments=payments, gl_entries=gl))


def test_receivables_tie_to_the_ledger(ledger_ds):
    feb = receivables.roll_forward(ledger_ds, "2024-02").row(0, named=True)
    assert feb["closing"] == D("69.00")            # 119.00 - 50.00
    assert feb["unapplied_cash"] == D("10.00")     # P2 names no invoice
    assert feb["ledger_ar"] == D("59.00")          # 119.00 - 50.00 - 10.00 on account 1100
    assert feb["ledger_difference"] == D("0")      # 59.00 - (69.00 - 10.00)
    mar = receivables.roll_forward(ledger_ds, "2024-03").row(0, named=True)
    assert mar["ledger_difference"] == D("5.00")   # the manual 5.00 debit has no document behind it
    rows = {r["control"]: r for r in close_checklist.close_checklist(ledger_ds, "2024-03", exceptions=NO_FINDINGS)
            .iter_rows(named=True)}
    assert rows["ar_ties_to_ledger"]["status"] == "fail"
    assert rows["ar_ties_to_ledger"]["evidence"] == ("ledger minus closing receivables less unapplied cash: "
                                                     "EUR 5.00; documents that differ: manual (no id) EUR 5.00")


# ---------------------------------------------------------------- the sample dataset

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def sample():
    return load_dataset(SAMPLE)


@pytest.fixture(scope="module")
def planted():
    return pl.read_csv(SAMPLE / "ground_truth.csv", infer_schema=False)


@pytest.mark.parametrize("period", ["2024-02", "2024-04", "2024-06"])
def test_sample_schedules_run_and_tie(sample, planted, period):
    start = dt.date(int(period[:4]), int(period[5:]), 1)
    rf = receivables.roll_forward(sample, period)
    assert rf.height > 0 and rf["ties"].all()
    if planted.filter(pl.col("check") == "gl_mismatch").is_empty():
        assert (rf["ledger_difference"] == 0).all()   # a ledger without planted mistakes posts every document
    assert receivables.dso(sample, period).height == rf.height
    assert receivables.aging(sample, start).height > 0
    assert revenue.deferred_revenue(sample, period)["ties"].all()
    assert revenue.revenue_bridge(sample, period)["ties"].all()
    assert revenue.billed_revenue(sample, period, "EUR")["unconverted"].sum() == 0
    assert revenue.revenue_recognised(sample, period).height > 0
    assert revenue.deferred_waterfall(sample).height > 0
    schedule = revenue.deferred_schedule(sample)
    last = schedule.group_by("invoice_id", "line_no").agg(pl.col("recognised", "released").sum(),
                                                          pl.col("net").first())
    assert (last["recognised"] == last["net"]).all()     # every term earns exactly its net
    assert (last["released"] == last["net"]).all()       # and releases it


def _left_off(planted: pl.DataFrame, period: str) -> list[str]:
    rows = planted.filter((pl.col("anomaly") == "line_left_off") & (pl.col("period") == period))
    return sorted(rows["subscription_id"].to_list())


@pytest.mark.parametrize("period", ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"])
def test_sample_unbilled_revenue_is_the_planted_left_off_lines(sample, planted, period):
    found = revenue.unbilled_revenue(sample, period)["subscription_id"].to_list()
    assert sorted(found) == _left_off(planted, period)


def test_sample_close_checklist(sample, planted):
    checklist = close_checklist.close_checklist(sample, "2024-06")
    assert checklist.columns == ["control", "status", "passed", "evidence"]
    status = dict(zip(checklist["control"], checklist["status"], strict=True))
    assert status["ar_roll_forward_ties"] == status["deferred_revenue_ties"] == "pass"
    assert status["revenue_bridge_ties"] == status["fx_rates_complete"] == "pass"
    assert status["no_unbilled_revenue"] == ("fail" if _left_off(planted, "2024-06") else "pass")
    assert status["verify_errors_resolved"] == "fail"    # the sample carries planted mistakes
