"""Every sample under ../shared/realdata/formats/ for Stripe, Xero and QuickBooks Online imports, validates and
verifies as docs/realdata.md says (Lago: tests/test_realdata.py; the header-only CSVs:
tests/test_import_csv_mapping.py, which reads their real header lines)."""
from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from billing_lib.data.importers import import_quickbooks, import_stripe, import_xero, write_import
from billing_lib.data.loading import load_dataset
from billing_lib.verification import verify

FORMATS = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "formats"
pytestmark = pytest.mark.skipif(not FORMATS.is_dir(), reason=f"real public data not present at {FORMATS}")
QBO = FORMATS / "quickbooks_online" / "airbyte_qbo_sandbox_expected_records_SUBSET.jsonl"


def imported(result, folder: Path):
    assert result.accounted
    write_import(result, folder)
    assert subprocess.run([sys.executable, "-m", "billing_lib", "validate", str(folder)],
                          capture_output=True).returncode == 0
    return load_dataset(folder)


def findings(ds) -> pl.DataFrame:
    return verify(ds).exceptions.filter(pl.col("severity") != "info")


def test_stripe_api_fixtures(tmp_path):
    """stripe-mock's placeholder objects: the draft invoice and the other placeholders are skipped, each with
    its reason; what is real (a customer, a DE VAT rate) is kept."""
    result = import_stripe(FORMATS / "stripe" / "api_fixtures")
    assert result.rows_read == 25
    assert result.by_source["invoices"]["skipped"] == {"draft (not issued)": 1}
    assert result.by_source["prices"]["skipped"] == {
        "package price that rounds down (the contract rounds packages up)": 2}
    ds = imported(result, tmp_path / "out")
    assert ds.tables["tax_rates"].select("country", "rate_pct").rows() == [("DE", 19)]


def test_stripe_rich_examples_older_shape_inclusive_tax_and_graduated_tiers(tmp_path):
    result = import_stripe(FORMATS / "stripe" / "rich_examples")
    ds = imported(result, tmp_path / "out")
    inv = ds.tables["invoices"].to_dicts()[0]
    assert (inv["invoice_id"], str(inv["subtotal"]), str(inv["tax"]), str(inv["total"]), inv["tax_behavior"]) == (
        "E5B23224-0002", "40.0000000000", "5.2200000000", "40.0000000000", "inclusive")
    tiers = ds.tables["plan_tiers"].sort("tier")
    assert [(t["up_to"], t["unit_price"], t["flat_fee"]) for t in tiers.to_dicts()] == [
        (Decimal(5), Decimal(10), Decimal(49)), (None, Decimal(9), Decimal(0))]
    assert result.by_source["other objects"]["skipped"] == {
        "an invoice line outside its invoice (lines are read from invoices.json with lines expanded)": 1}
    # a consistent tax-inclusive invoice: 15 % included in 40.00 is 5.22, not added on top
    assert findings(ds).select("check", "message").to_dicts() == []


def test_xero_openapi_examples(tmp_path):
    result = import_xero(FORMATS / "xero" / "api_examples_openapi")
    assert result.rows_read == 15
    assert result.by_source["other records"] == {"read": 1, "mapped": {}, "skipped": {
        "BankTransactions (not billing data the contract holds)": 1}}
    ds = imported(result, tmp_path / "out")
    inv = ds.tables["invoices"].to_dicts()[0]
    assert (inv["invoice_number"], inv["status"], str(inv["total"])) == ("INV-0006", "paid", "148062.7600000000")
    assert ds.tables["payments"]["payment_id"].to_list() == ["38928000-e9a0-420c-8884-f624bab2a351"]
    assert findings(ds).height == 0


def test_quickbooks_online_sandbox_records(tmp_path):
    result = import_quickbooks(QBO)
    assert result.rows_read == 55
    assert result.by_source["lines"]["skipped"] == {"the summary subtotal line (the sum of the item lines)": 6}
    ds = imported(result, tmp_path / "out")
    heads = {r["invoice_id"]: r for r in ds.tables["invoices"].to_dicts()}
    assert set(heads) == {"1004", "1011", "1031", "1035", "1036", "1037"}
    assert str(heads["1035"]["tax"]) == "23.2800000000" and heads["1011"]["status"] == "paid"   # sales receipt
    found = findings(ds)
    # the subset holds payment 120 of invoice 1004 but not payment 61, and a sample of the numbers
    assert set(found["check"]) == {"invoice_number_gap", "status_mismatch"}
    assert found.filter(pl.col("check") == "status_mismatch")["invoice_id"].to_list() == ["1004"]
