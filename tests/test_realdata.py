"""The importers on the real public data in ../shared/realdata (see its SOURCES.md and docs/realdata.md).

Each source is imported, written as a dataset folder, loaded under the data
contract and (where it makes sense) verified. Skipped as a whole when the
shared real-data folder is not beside the repository.
"""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from billing_lib.checks.context import CheckContext
from billing_lib.data.importers import import_ibm_receivables, import_lago, import_online_retail, write_import
from billing_lib.data.loading import load_dataset
from billing_lib.verification import verify

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
pytestmark = pytest.mark.skipif(not (REALDATA / "SOURCES.md").is_file(),
                                reason=f"real public data not present at {REALDATA} (see docs/realdata.md)")
LAGO = REALDATA / "formats" / "lago"
RETAIL = REALDATA / "online_retail"
FIRST_DAY = RETAIL / "uci_online_retail_first1694_lines.csv"
RANDOM_20K = RETAIL / "uci_online_retail_random20k_lines.csv"
RETAIL_II = RETAIL / "uci_online_retail_II_format_sample98.csv"
IBM = REALDATA / "ibm_sample" / "WA_Fn-UseC_-Accounts-Receivable.csv"
# Checks that apply to documents without subscriptions (verify has a fixed cost of seconds per run, so the
# larger sources run these; the full catalogue runs once, on the first day of Online Retail).
DOCUMENT_CHECKS = ["line_arithmetic", "invoice_totals", "tax_mismatch", "currency_mismatch", "date_inconsistency",
                   "orphan_reference"]
LAGO_CHECKS = ["--check", "line_arithmetic", "--check", "invoice_totals", "--check", "tax_mismatch"]


def billing(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "billing_lib", *args], capture_output=True, text=True)


def imported(result, tmp_path_factory, name: str):
    folder = tmp_path_factory.mktemp(name)
    write_import(result, folder)
    return folder, load_dataset(folder)


def csv_rows(path: Path) -> int:
    """Data rows of a source CSV counted independently of polars (quoted fields hold no line breaks here)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return sum(1 for line in fh if line.strip()) - 1


# --- Lago ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lago_invoice(tmp_path_factory):
    result = import_lago(LAGO / "invoice.json")
    return result, *imported(result, tmp_path_factory, "lago_invoice")


def test_lago_money_is_exact_cents(lago_invoice):
    result, _folder, ds = lago_invoice
    inv = ds.tables["invoices"].row(0, named=True)
    assert (inv["invoice_id"], inv["currency"], inv["status"]) == ("LAG-1234-001-002", "EUR", "open")
    assert (inv["subtotal"], inv["discount"], inv["tax"], inv["total"]) == (
        Decimal("1.00"), Decimal("0.00"), Decimal("0.20"), Decimal("1.20"))
    text = result.tables["invoice_lines"].row(0, named=True)
    assert (text["quantity"], text["amount"], text["discount"], text["tax_amount"]) == ("12.6", "1.00", "0.20", "0.20")
    assert result.accounted and result.rows_read == 2  # the invoice and its one fee


def test_lago_sample_invoice_does_not_add_up(lago_invoice, tmp_path):
    """Lago's sample invoice lists a 0.20 EUR coupon before taxes, yet its coupons total is 0 and its tax
    (0.20) is 20% of the undiscounted 1.00: `billing verify` reports both, with the figures."""
    _result, folder, _ds = lago_invoice
    done = billing("verify", str(folder), "--out", str(tmp_path), *LAGO_CHECKS)
    assert done.returncode == 0, done.stderr
    exc = pl.read_csv(tmp_path / "exceptions.csv", infer_schema=False)
    assert exc["check"].to_list() == ["line_arithmetic", "invoice_totals", "tax_mismatch"]
    line, total, tax = exc.to_dicts()
    assert (line["invoice_id"], line["line_no"]) == ("LAG-1234-001-002", "1")
    assert (line["expected"], line["actual"], line["difference"], line["currency"]) == ("0.16", "0.20", "0.04", "EUR")
    assert "shows tax 0.20 EUR, but 20% of its net amount 0.80 is 0.16" in line["message"]
    assert (total["expected"], total["actual"], total["difference"]) == ("0.20", "0.00", "-0.20")
    assert "discount 0.00 EUR" in total["message"] and "add up to 0.20" in total["message"]
    assert (tax["expected"], tax["actual"]) == ("15", "20")  # the customer's Lago tax is 15%, the fee charged 20%
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["by_severity"]["error"] == 3


def test_lago_folder_accounts_for_every_record(tmp_path_factory):
    result = import_lago(LAGO)
    _folder, ds = imported(result, tmp_path_factory, "lago_all")
    assert result.accounted
    # 7 files: 3 full invoices (1 fee each), 2 invoice summaries, 1 fee list (1 fee), 1 credit note, 1 payment
    assert result.rows_read == 3 * 2 + 2 + 1 + 1 + 1
    assert result.mapped == {"invoices": 1, "invoice_lines": 1, "credit_notes": 1, "payments": 1}
    assert sum(result.skipped.values()) == 7
    note = ds.tables["credit_notes"].row(0, named=True)  # named by lago_invoice_id, not its stale invoice_number
    assert (note["invoice_id"], note["amount"], note["tax"]) == ("LAG-1234-001-002", Decimal("2.00"), Decimal("0.40"))
    pay = ds.tables["payments"].row(0, named=True)
    assert (pay["currency"], pay["amount"], pay["invoice_id"]) == ("USD", Decimal("1.00"), "LAG-1234-567-890")


def test_lago_voided_and_one_off_samples(tmp_path_factory):
    voided = import_lago(LAGO / "voided_invoice.json")
    _f, ds = imported(voided, tmp_path_factory, "lago_void")
    assert ds.tables["invoices"]["status"].to_list() == ["void"]
    assert CheckContext(ds).months == []  # the checks skip void invoices: no month to verify
    one_off = import_lago(LAGO / "one_off_invoice.json")
    _f, ds = imported(one_off, tmp_path_factory, "lago_one_off")
    line = ds.tables["invoice_lines"].row(0, named=True)
    assert (line["quantity"], line["unit_price"], line["amount"]) == (Decimal("12.6"), Decimal("9.52"), Decimal("1.00"))
    assert line["tax_rate_pct"] == Decimal("20")  # the fee names no rate: the invoice's applied tax rate


# --- Online Retail ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def first_day(tmp_path_factory):
    result = import_online_retail(FIRST_DAY)
    return result, *imported(result, tmp_path_factory, "retail_first_day")


@pytest.mark.parametrize("path", [FIRST_DAY, RANDOM_20K, RETAIL_II], ids=["first1694", "random20k", "II"])
def test_online_retail_accounts_for_every_row(path, tmp_path_factory):
    result = import_online_retail(path)
    assert result.rows_read == csv_rows(path)
    assert result.accounted, result.report()
    _folder, ds = imported(result, tmp_path_factory, "retail")
    counts = ds.row_counts()
    assert counts["invoice_lines"] == result.mapped["invoice_lines"]
    cancel_rows = result.mapped.get("credit_notes (cancellation rows)", 0)
    assert result.rows_read == counts["invoice_lines"] + cancel_rows + sum(result.skipped.values())
    # every invoice's subtotal is the exact sum of its lines
    sums = ds.tables["invoice_lines"].group_by("invoice_id").agg(pl.col("amount").sum())
    joined = ds.tables["invoices"].join(sums, on="invoice_id")
    assert joined.height == counts["invoices"]
    assert (joined["subtotal"] == joined["amount"]).all()


def test_online_retail_random_sample_skips_stock_adjustments():
    result = import_online_retail(RANDOM_20K)
    assert result.skipped == {"negative quantity on an ordinary invoice (stock adjustment)": 48}
    assert result.mapped == {"invoice_lines": 19602, "credit_notes (cancellation rows)": 350}
    assert any("5030 rows have no CustomerID" in n for n in result.notes)


def test_online_retail_three_date_shapes_give_the_same_day(first_day, tmp_path_factory):
    _r, _f, ds_first = first_day  # DD-MM-YY H:MM
    _f, ds_ii = imported(import_online_retail(RETAIL_II), tmp_path_factory, "retail_ii")  # M/D/YYYY HH:MM
    for ds in (ds_first, ds_ii):
        inv = ds.tables["invoices"].filter(pl.col("invoice_id") == "536365").row(0, named=True)
        assert inv["issue_date"] == dt.date(2010, 12, 1)
        assert (inv["period_start"], inv["period_end"]) == (dt.date(2010, 12, 1), dt.date(2010, 12, 31))
        assert inv["invoice_time"] == "2010-12-01T08:26:00"
    _f, ds_20k = imported(import_online_retail(RANDOM_20K), tmp_path_factory, "retail_20k")  # ISO
    line = ds_20k.tables["invoice_lines"].filter(pl.col("source_row") == "2").row(0, named=True)
    assert (line["invoice_id"], line["period_start"]) == ("546306", dt.date(2011, 3, 10))


def test_online_retail_amounts_and_placeholders(first_day):
    result, _folder, ds = first_day
    line = ds.tables["invoice_lines"].filter((pl.col("invoice_id") == "536365") & (pl.col("line_no") == 1))
    assert line.row(0, named=True)["amount"] == Decimal("15.30")  # 6 x 2.55
    notes = ds.tables["credit_notes"]
    assert notes["credit_note_id"].to_list() == ["C536379", "C536383", "C536391", "C536506", "C536543"]
    assert notes.filter(pl.col("credit_note_id") == "C536379")["amount"].to_list() == [Decimal("27.50")]
    cust = ds.tables["customers"]
    assert cust.filter(pl.col("customer_id") == "NO-CUSTOMER-ID")["name"].str.contains("Unknown").all()
    assert cust.filter(pl.col("customer_id") == "17850")["country"].to_list() == ["GB"]
    assert any("36 rows repeat an earlier row" in n for n in result.notes)


def test_online_retail_verify_is_deterministic(first_day, tmp_path):
    _result, folder, _ds = first_day
    outs = []
    for name in ("a", "b"):
        done = billing("verify", str(folder), "--out", str(tmp_path / name), "--check", "invoice_number_gap",
                       "--check", "orphan_reference")
        assert done.returncode == 0, done.stderr
        outs.append(tmp_path / name)
    for file in ("exceptions.csv", "exceptions.parquet", "summary.json"):
        assert (outs[0] / file).read_bytes() == (outs[1] / file).read_bytes()
    assert json.loads((outs[0] / "summary.json").read_text())["exceptions"] == 95 + 5


def test_online_retail_findings_are_plausible(first_day):
    """The whole catalogue on the first day: the mapping is internally consistent (no arithmetic, totals,
    tax or date findings on 1,682 real lines); what remains is what the source really lacks."""
    _result, _folder, ds = first_day
    exc = verify(ds).exceptions
    assert set(exc["check"]) == {"invoice_number_gap", "orphan_reference"}
    orphans = exc.filter(pl.col("check") == "orphan_reference")
    assert sorted(orphans["actual"]) == sorted(ds.tables["credit_notes"]["credit_note_id"])  # no original invoice
    gaps = set(exc.filter(pl.col("check") == "invoice_number_gap")["invoice_id"])
    # cancellations take numbers from the same counter, so each shows as a gap in the invoice numbers
    assert {c[1:] for c in ds.tables["credit_notes"]["credit_note_id"]} <= gaps
    assert not gaps & set(ds.tables["invoices"]["invoice_id"])


def test_online_retail_random_sample_verifies_cleanly_but_for_gaps_and_orphans(tmp_path_factory):
    _folder, ds = imported(import_online_retail(RANDOM_20K), tmp_path_factory, "retail_20k_verify")
    run = verify(ds, checks=DOCUMENT_CHECKS)
    assert set(run.exceptions["check"]) == {"orphan_reference"}
    assert run.exceptions.height == ds.tables["credit_notes"].height


# --- IBM accounts receivable --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ibm(tmp_path_factory):
    result = import_ibm_receivables(IBM)
    return result, *imported(result, tmp_path_factory, "ibm")


def test_ibm_accounts_for_every_row(ibm):
    result, _folder, ds = ibm
    assert result.rows_read == csv_rows(IBM) == 2466
    assert result.accounted and result.skipped == {}
    counts = ds.row_counts()
    assert counts["invoices"] == counts["invoice_lines"] == counts["payments"] == 2466  # every row is settled
    assert counts["customers"] == 100
    assert ds.tables["invoices"]["invoice_id"].str.starts_with("000").sum() > 0  # leading zeros kept


def test_ibm_dates_are_month_day_year(ibm):
    _result, _folder, ds = ibm
    first = ds.tables["invoices"].row(0, named=True)  # 1/2/2013, due 2/1/2013, settled 1/15/2013
    assert (first["invoice_id"], first["issue_date"], first["due_date"]) == (
        "0000611365", dt.date(2013, 1, 2), dt.date(2013, 2, 1))
    pay = ds.tables["payments"].filter(pl.col("invoice_id") == "0000611365").row(0, named=True)
    assert pay["received_date"] == dt.date(2013, 1, 15) and pay["amount"] == Decimal("55.94")
    # the source's own DaysToSettle and DaysLate agree with the parsed dates on every row
    joined = ds.tables["invoices"].join(ds.tables["payments"].select("invoice_id", "received_date"), on="invoice_id")
    settle = (joined["received_date"] - joined["issue_date"]).dt.total_days()
    late = (joined["received_date"] - joined["due_date"]).dt.total_days().clip(lower_bound=0)
    assert (settle == joined["days_to_settle"].cast(pl.Int64)).all()
    assert (late == joined["days_late"].cast(pl.Int64)).all()
    assert set(ds.tables["customers"]["payment_terms_days"]) == {30}


def test_ibm_verifies_without_findings_on_the_invoice_side(ibm):
    """Not the number sequence: the sample's 10-digit numbers are ids, not a sequence (and the gap check
    lists every missing number before it splits long gaps off, which exhausts memory on them)."""
    _result, _folder, ds = ibm
    march = verify(ds, [dt.date(2013, 3, 1)], DOCUMENT_CHECKS)
    assert march.exceptions.height == 0
    assert march.summary["periods"] == ["2013-03"]
