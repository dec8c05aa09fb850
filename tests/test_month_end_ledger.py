"""The close against small ledgers written by hand from the data contract (its Accounts paragraph and the two
consequences for month-end): every expected schedule is worked out in the comment beside it, and the ledger's
balances are summed here from gl_entries.csv with nothing but the csv module, apart from the library."""
from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from helpers import header, table, write_dataset

from billing_lib.data.loading import load_dataset
from billing_lib.month_end import close_checklist, receivables, revenue

D = Decimal
NO_FINDINGS = pl.DataFrame(schema={"check": pl.String, "severity": pl.String})
PLANS = table(header("plans"), "SEAT,EUR,Seats,recurring,month,per_unit,10.00,,,,",
              "YEAR,EUR,Annual seats,recurring,year,per_unit,366.00,,,,")
INV_H, LINE_H, PAY_H, GL_H = header("invoices"), header("invoice_lines"), header("payments"), header("gl_entries")


def _gl(*entries: tuple[str, str, str, str, list[tuple[str, str, str]]]) -> str:
    """gl_entries text from (entry_id, date, source_type, source_id, [(account, debit, credit), ...])."""
    rows = [f"{entry},{no},{date},{account},{debit},{credit},EUR,{kind},{source}"
            for entry, date, kind, source, lines in entries
            for no, (account, debit, credit) in enumerate(lines, start=1)]
    return table(GL_H, *rows)


def _invoice_entry(entry: str, date: str, invoice: str, total: str, tax: str, month: str = "0",
                   year: str = "0") -> tuple:
    """An invoice posted as the contract says: Dr 1100 total, Cr 4000 month lines, Cr 2100 year terms, Cr 2200."""
    lines = [("1100", total, ""), ("4000", "", month), ("2100", "", year), ("2200", "", tax)]
    return entry, date, "invoice", invoice, [line for line in lines if line[1] != "0" and line[2] != "0"]


def _payment_entry(entry: str, date: str, payment: str, amount: str) -> tuple:
    return entry, date, "payment", payment, [("1000", amount, ""), ("1100", "", amount)]


def _release_entry(entry: str, date: str, invoice: str, amount: str) -> tuple:
    return entry, date, "revenue_release", invoice, [("2100", amount, ""), ("4000", "", amount)]


def _ledger_balance(folder: Path, account: str, as_of: dt.date) -> Decimal:
    """Debit - credit of ``account`` up to ``as_of``, read straight from gl_entries.csv."""
    with open(folder / "gl_entries.csv", newline="", encoding="utf-8") as f:
        return sum((D(r["debit"] or "0") - D(r["credit"] or "0") for r in csv.DictReader(f)
                    if r["account"] == account and dt.date.fromisoformat(r["date"]) <= as_of), D(0))


def _status(ds, period: str, exceptions=NO_FINDINGS) -> dict[str, str]:
    checklist = close_checklist.close_checklist(ds, period, exceptions=exceptions)
    return dict(zip(checklist["control"], checklist["status"], strict=True))


def _all_pass(ds, period: str, exceptions=NO_FINDINGS) -> None:
    status = _status(ds, period, exceptions)
    assert set(status.values()) == {"pass"}, status


def _ties(ds, folder: Path, period: str) -> None:
    """Receivables less unapplied cash equal 1100, deferred revenue equals 2100, summed here from the CSV."""
    end = dt.date.fromisoformat(period + "-01")
    end = (end.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    rf = receivables.roll_forward(ds, period)
    schedule = sum((r["closing"] - r["unapplied_cash"] for r in rf.iter_rows(named=True)), D(0))
    assert schedule == _ledger_balance(folder, "1100", end)
    deferred = sum(revenue.deferred_revenue(ds, period)["closing"].to_list(), D(0))
    assert deferred == -_ledger_balance(folder, "2100", end)


# ---------------------------------------------------------------- a year term starting mid-month

@pytest.fixture(scope="module")
def mid_month(tmp_path_factory):
    # a year term 2024-01-15..2025-01-14 (366 days: it holds 2024-02-29) at 366.00, so 1.00 a day;
    # billed on the January invoice, issued 2024-02-01, 19 % tax 69.54, paid on 02-20
    folder = write_dataset(
        tmp_path_factory.mktemp("mid") / "data", plans=PLANS,
        subscriptions=table(header("subscriptions"), "S1,C1,YEAR,1,2024-01-15,2025-01-14,,"),
        invoices=table(INV_H, "INV-0000001,C1,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,366.00,0.00,69.54,"
                              "435.54,paid"),
        invoice_lines=table(LINE_H, "INV-0000001,1,S1,YEAR,Annual seats,2024-01-15,2025-01-14,1,366.00,366.00,"
                                    "0.00,19,69.54"),
        payments=table(PAY_H, "P1,C1,EUR,435.54,2024-02-20,INV-0000001,"),
        gl_entries=_gl(_invoice_entry("JE-1", "2024-02-01", "INV-0000001", "435.54", "69.54", year="366.00"),
                       _payment_entry("JE-2", "2024-02-20", "P1", "435.54"),
                       # the first release, at the end of the month the invoice is issued in: every day so far,
                       # 2024-01-15..2024-02-29 = 17 + 29 days
                       _release_entry("JE-3", "2024-02-29", "INV-0000001", "46.00"),
                       _release_entry("JE-4", "2024-03-31", "INV-0000001", "31.00")))
    return folder, load_dataset(folder)


def test_mid_month_term_is_unbilled_until_invoiced(mid_month):
    folder, ds = mid_month
    assert revenue.deferred_revenue(ds, "2024-01").is_empty()          # nothing invoiced: no deferred revenue
    jan = revenue.accrued_revenue(ds, "2024-01").row(0, named=True)
    assert (jan["earned"], jan["closing"]) == (D("17.00"), D("17.00"))  # 01-15..01-31 served, not yet billed
    detail = revenue.accrued_detail(ds, "2024-01").row(0, named=True)
    assert (detail["invoice_id"], detail["kind"], detail["closing"]) == ("INV-0000001", "year term", D("17.00"))
    assert revenue.revenue_recognised(ds, "2024-01")["from_unbilled"].to_list() == [D("17.00")]
    _all_pass(ds, "2024-01", exceptions=None)
    _ties(ds, folder, "2024-01")


def test_mid_month_term_first_release_catches_up(mid_month):
    folder, ds = mid_month
    feb = revenue.deferred_revenue(ds, "2024-02").row(0, named=True)
    assert feb["billed_in_advance"] == D("366.00")
    assert feb["released"] == D("46.00")          # 17 January days + 29 February days
    assert feb["closing"] == D("320.00")          # 366.00 - 46.00
    assert feb["ledger_difference"] == D("0")
    accrued = revenue.accrued_revenue(ds, "2024-02").row(0, named=True)
    assert (accrued["opening"], accrued["earned"], accrued["invoiced"], accrued["closing"]) == (
        D("17.00"), D("0"), D("17.00"), D("0"))   # billed on 02-01: the January days move to the invoice
    recognised = revenue.revenue_recognised(ds, "2024-02").row(0, named=True)
    assert (recognised["from_deferred"], recognised["from_unbilled"]) == (D("29.00"), D("0"))
    mar = revenue.deferred_revenue(ds, "2024-03").row(0, named=True)
    assert (mar["opening"], mar["released"], mar["closing"]) == (D("320.00"), D("31.00"), D("289.00"))
    for period in ("2024-02", "2024-03"):
        _all_pass(ds, period)
        _ties(ds, folder, period)


# ---------------------------------------------------------------- an uncollectible invoice, written off later

@pytest.fixture(scope="module")
def written_off(tmp_path_factory):
    # 3 seats x 10.00 = 30.00 + 19 % = 35.70 a month, January to March; February's invoice is never paid,
    # marked uncollectible, and written off by the ledger on 2024-05-15
    inv = "INV-000000{n},C1,EUR,{issue},{due},{start},{end},30.00,0.00,5.70,35.70,{status}"
    line = "INV-000000{n},1,S1,SEAT,Seats,{start},{end},3,10.00,30.00,0.00,19,5.70"
    months = [(1, "2024-02-01", "2024-03-02", "2024-01-01", "2024-01-31", "paid"),
              (2, "2024-03-01", "2024-03-31", "2024-02-01", "2024-02-29", "uncollectible"),
              (3, "2024-04-01", "2024-05-01", "2024-03-01", "2024-03-31", "paid")]
    keys = ("n", "issue", "due", "start", "end", "status")
    folder = write_dataset(
        tmp_path_factory.mktemp("written_off") / "data", plans=PLANS,
        subscriptions=table(header("subscriptions"), "S1,C1,SEAT,3,2024-01-01,2024-03-31,,"),
        invoices=table(INV_H, *[inv.format(**dict(zip(keys, m, strict=True))) for m in months]),
        invoice_lines=table(LINE_H, *[line.format(**dict(zip(keys, m, strict=True))) for m in months]),
        payments=table(PAY_H, "P1,C1,EUR,35.70,2024-03-01,INV-0000001,", "P2,C1,EUR,35.70,2024-04-20,INV-0000003,"),
        gl_entries=_gl(_invoice_entry("JE-1", "2024-02-01", "INV-0000001", "35.70", "5.70", month="30.00"),
                       _invoice_entry("JE-2", "2024-03-01", "INV-0000002", "35.70", "5.70", month="30.00"),
                       _payment_entry("JE-3", "2024-03-01", "P1", "35.70"),
                       _invoice_entry("JE-4", "2024-04-01", "INV-0000003", "35.70", "5.70", month="30.00"),
                       _payment_entry("JE-5", "2024-04-20", "P2", "35.70"),
                       ("JE-6", "2024-05-15", "manual", "INV-0000002", [("6100", "35.70", ""), ("1100", "", "35.70")])))
    return folder, load_dataset(folder)


def test_uncollectible_stays_a_doubtful_receivable(written_off):
    folder, ds = written_off
    for period, as_of in (("2024-03", dt.date(2024, 3, 31)), ("2024-04", dt.date(2024, 4, 30))):
        row = receivables.aging(ds, as_of).row(0, named=True)
        assert row["doubtful"] == D("35.70")     # INV-2, 0 then 30 days past due: doubtful, in no age bucket
        assert row["days_1_30"] == D("0") and row["current"] == D("0")
        assert row["total"] == row["net"] == D("35.70")
        rf = receivables.roll_forward(ds, period).row(0, named=True)
        assert rf["written_off"] == D("0") and rf["closing"] == D("35.70")  # never written off on its own
        assert rf["ledger_ar"] == D("35.70") and rf["ledger_difference"] == D("0")
        _all_pass(ds, period, exceptions=None)   # billing verify finds nothing either
        _ties(ds, folder, period)
    assert receivables.month_write_offs(ds, "2024-04").is_empty()


def test_the_ledger_write_off_takes_it_out(written_off):
    folder, ds = written_off
    may = receivables.roll_forward(ds, "2024-05").row(0, named=True)
    assert (may["opening"], may["written_off"], may["closing"]) == (D("35.70"), D("35.70"), D("0"))
    assert may["ledger_difference"] == D("0")
    listed = receivables.month_write_offs(ds, "2024-05")
    assert listed.select("entry_id", "invoice_id", "customer_id", "status", "balance_before", "amount",
                         "balance_after").rows() == [
        ("JE-6", "INV-0000002", "C1", "uncollectible", D("35.70"), D("35.70"), D("0"))]
    assert receivables.aging(ds, dt.date(2024, 5, 31)).is_empty()
    _all_pass(ds, "2024-05", exceptions=None)
    _ties(ds, folder, "2024-05")


# ---------------------------------------------------------------- a credit balance

@pytest.fixture(scope="module")
def credit_balance(tmp_path_factory):
    # January's invoice is never paid; February's is paid 500.00 for 35.70 owed (a credit balance of 464.30)
    folder = write_dataset(
        tmp_path_factory.mktemp("credit") / "data", plans=PLANS,
        subscriptions=table(header("subscriptions"), "S1,C1,SEAT,3,2024-01-01,2024-02-29,,"),
        invoices=table(INV_H,
                       "INV-0000001,C1,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,30.00,0.00,5.70,35.70,open",
                       "INV-0000002,C1,EUR,2024-03-01,2024-03-31,2024-02-01,2024-02-29,30.00,0.00,5.70,35.70,paid"),
        invoice_lines=table(LINE_H, "INV-0000001,1,S1,SEAT,Seats,2024-01-01,2024-01-31,3,10.00,30.00,0.00,19,5.70",
                            "INV-0000002,1,S1,SEAT,Seats,2024-02-01,2024-02-29,3,10.00,30.00,0.00,19,5.70"),
        payments=table(PAY_H, "P1,C1,EUR,500.00,2024-03-10,INV-0000002,"),
        gl_entries=_gl(_invoice_entry("JE-1", "2024-02-01", "INV-0000001", "35.70", "5.70", month="30.00"),
                       _invoice_entry("JE-2", "2024-03-01", "INV-0000002", "35.70", "5.70", month="30.00"),
                       _payment_entry("JE-3", "2024-03-10", "P1", "500.00")))
    return folder, load_dataset(folder)


def test_a_credit_balance_has_its_own_column(credit_balance):
    folder, ds = credit_balance
    row = receivables.aging(ds, dt.date(2024, 6, 30)).row(0, named=True)
    assert row["over_90"] == D("35.70")          # INV-1, due 03-02: 120 days past due
    assert row["current"] == D("0")              # the overpayment is not netted into a bucket
    assert row["total"] == D("35.70")            # what the customer owes: over 90 days never exceeds it
    assert row["credit_balance"] == D("464.30")  # 500.00 - 35.70 owed back on INV-2
    assert row["net"] == D("-428.60")            # 35.70 - 464.30, the customer's share of 1100
    detail = receivables.aging_detail(ds, dt.date(2024, 6, 30))
    assert dict(zip(detail["invoice_id"], detail["bucket"], strict=True)) == {
        "INV-0000001": "over_90", "INV-0000002": "credit_balance"}
    status = _status(ds, "2024-06")
    assert status["ar_ties_to_ledger"] == status["ar_roll_forward_ties"] == "pass"
    _ties(ds, folder, "2024-06")                 # 1100: 35.70 + 35.70 - 500.00 = -428.60


# ---------------------------------------------------------------- a void and re-issue across a month end

@pytest.fixture(scope="module")
def reissued(tmp_path_factory):
    # February's invoice INV-1 (issued 03-01) is voided on 04-05 and re-issued as INV-2 the same day, paid 04-20
    folder = write_dataset(
        tmp_path_factory.mktemp("void") / "data", plans=PLANS,
        subscriptions=table(header("subscriptions"), "S1,C1,SEAT,3,2024-02-01,2024-02-29,,"),
        invoices=table(INV_H,
                       "INV-0000001,C1,EUR,2024-03-01,2024-03-31,2024-02-01,2024-02-29,30.00,0.00,5.70,35.70,void",
                       "INV-0000002,C1,EUR,2024-04-05,2024-05-05,2024-02-01,2024-02-29,30.00,0.00,5.70,35.70,paid"),
        invoice_lines=table(LINE_H, "INV-0000001,1,S1,SEAT,Seats,2024-02-01,2024-02-29,3,10.00,30.00,0.00,19,5.70",
                            "INV-0000002,1,S1,SEAT,Seats,2024-02-01,2024-02-29,3,10.00,30.00,0.00,19,5.70"),
        payments=table(PAY_H, "P1,C1,EUR,35.70,2024-04-20,INV-0000002,"),
        gl_entries=_gl(_invoice_entry("JE-1", "2024-03-01", "INV-0000001", "35.70", "5.70", month="30.00"),
                       ("JE-2", "2024-04-05", "invoice", "INV-0000001",   # the void: JE-1 reversed
                        [("1100", "", "35.70"), ("4000", "30.00", ""), ("2200", "5.70", "")]),
                       _invoice_entry("JE-3", "2024-04-05", "INV-0000002", "35.70", "5.70", month="30.00"),
                       _payment_entry("JE-4", "2024-04-20", "P1", "35.70")))
    return folder, load_dataset(folder)


def test_a_void_invoice_is_owed_until_the_ledger_reverses_it(reissued):
    folder, ds = reissued
    mar = receivables.roll_forward(ds, "2024-03").row(0, named=True)
    assert (mar["invoiced"], mar["closing"], mar["ledger_difference"]) == (D("35.70"), D("35.70"), D("0"))
    assert receivables.aging_detail(ds, dt.date(2024, 3, 31))["invoice_id"].to_list() == ["INV-0000001"]
    apr = receivables.roll_forward(ds, "2024-04").row(0, named=True)
    assert apr["invoiced"] == D("35.70")          # the re-issue
    assert apr["voided"] == D("35.70")            # INV-1 reversed on 04-05
    assert apr["collected"] == D("35.70") and apr["closing"] == D("0")
    assert apr["ledger_difference"] == D("0")
    for period in ("2024-03", "2024-04"):
        status = _status(ds, period)
        assert status["ar_ties_to_ledger"] == status["ar_roll_forward_ties"] == "pass"
        _ties(ds, folder, period)


def test_a_void_the_ledger_never_reversed_is_named(tmp_path):
    # the same books with JE-2 (the reversal) missing: the ledger still holds INV-1
    src = write_dataset(tmp_path / "data", plans=PLANS,
                        invoices=table(INV_H, "INV-0000001,C1,EUR,2024-03-01,2024-03-31,2024-02-01,2024-02-29,"
                                              "30.00,0.00,5.70,35.70,void"),
                        gl_entries=_gl(_invoice_entry("JE-1", "2024-03-01", "INV-0000001", "35.70", "5.70",
                                                      month="30.00")))
    ds = load_dataset(src)
    row = close_checklist.close_checklist(ds, "2024-03", exceptions=NO_FINDINGS).filter(
        pl.col("control") == "ar_ties_to_ledger").row(0, named=True)
    assert row["status"] == "fail"
    assert row["evidence"].endswith("documents that differ: invoice INV-0000001 EUR 35.70")


# ---------------------------------------------------------------- a renewal inside the period

@pytest.fixture(scope="module")
def renewal(tmp_path_factory):
    # an open-ended year subscription from 2023-03-15: the first term 2023-03-15..2024-03-14 (366 days, at
    # 366.00: 1.00 a day), renewed 2024-03-15..2025-03-14 (365 days, again at 366.00); each term is billed on
    # the invoice of its first month, issued on the 1st of the next
    releases = [("2023-04-30", "47.00"), ("2023-05-31", "31.00"), ("2023-06-30", "30.00"), ("2023-07-31", "31.00"),
                ("2023-08-31", "31.00"), ("2023-09-30", "30.00"), ("2023-10-31", "31.00"), ("2023-11-30", "30.00"),
                ("2023-12-31", "31.00"), ("2024-01-31", "31.00"), ("2024-02-29", "29.00"), ("2024-03-31", "14.00")]
    # 47 = 17 March + 30 April days; ...; 14 = 2024-03-01..14: 366 in all
    folder = write_dataset(
        tmp_path_factory.mktemp("renewal") / "data", plans=PLANS,
        subscriptions=table(header("subscriptions"), "S1,C1,YEAR,1,2023-03-15,,,"),
        invoices=table(INV_H,
                       "INV-0000001,C1,EUR,2023-04-01,2023-05-01,2023-03-01,2023-03-31,366.00,0.00,69.54,435.54,paid",
                       "INV-0000002,C1,EUR,2024-04-01,2024-05-01,2024-03-01,2024-03-31,366.00,0.00,69.54,435.54,paid"),
        invoice_lines=table(LINE_H, "INV-0000001,1,S1,YEAR,Annual seats,2023-03-15,2024-03-14,1,366.00,366.00,"
                                    "0.00,19,69.54",
                            "INV-0000002,1,S1,YEAR,Annual seats,2024-03-15,2025-03-14,1,366.00,366.00,0.00,19,69.54"),
        payments=table(PAY_H, "P1,C1,EUR,435.54,2023-04-10,INV-0000001,", "P2,C1,EUR,435.54,2024-04-10,INV-0000002,"),
        gl_entries=_gl(_invoice_entry("JE-01", "2023-04-01", "INV-0000001", "435.54", "69.54", year="366.00"),
                       _payment_entry("JE-02", "2023-04-10", "P1", "435.54"),
                       *[_release_entry(f"JE-R{i:02d}", day, "INV-0000001", amount)
                         for i, (day, amount) in enumerate(releases)],
                       _invoice_entry("JE-03", "2024-04-01", "INV-0000002", "435.54", "69.54", year="366.00"),
                       _payment_entry("JE-04", "2024-04-10", "P2", "435.54"),
                       # the second term: 17 March days (03-15..31) and 30 April days at 366.00 / 365 a day
                       _release_entry("JE-05", "2024-04-30", "INV-0000002", "47.13")))
    return folder, load_dataset(folder)


def test_a_renewal_inside_the_month(renewal):
    folder, ds = renewal
    mar = revenue.deferred_revenue(ds, "2024-03").row(0, named=True)
    assert (mar["opening"], mar["billed_in_advance"], mar["released"], mar["closing"]) == (
        D("14.00"), D("0"), D("14.00"), D("0"))   # the first term's last 14 days; the renewal is not invoiced
    accrued = revenue.accrued_revenue(ds, "2024-03").row(0, named=True)
    assert (accrued["earned"], accrued["closing"]) == (D("17.05"), D("17.05"))
    # the renewal's 17 days earned before its invoice: round(366.00 x 17 / 365) = 17.0465.. -> 17.05
    recognised = revenue.revenue_recognised(ds, "2024-03").row(0, named=True)
    assert (recognised["from_deferred"], recognised["from_unbilled"], recognised["total"]) == (
        D("14.00"), D("17.05"), D("31.05"))
    apr = revenue.deferred_revenue(ds, "2024-04").row(0, named=True)
    assert apr["billed_in_advance"] == D("366.00")
    assert apr["released"] == D("47.13")         # round(366.00 x 47 / 365) = 47.1287.. -> 47.13
    assert apr["closing"] == D("318.87")         # 366.00 - 47.13
    for period in ("2024-03", "2024-04"):
        _all_pass(ds, period, exceptions=None)
        _ties(ds, folder, period)
