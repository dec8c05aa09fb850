"""`billing synth`: deterministic, valid, realistic, and with every planted mistake named in ground_truth.csv."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from billing_lib.data.loading import load_dataset
from billing_lib.synth import synthesize

CATALOGUE = {"line_arithmetic", "invoice_totals", "price_mismatch", "quantity_mismatch", "discount_mismatch",
             "tax_mismatch", "unbilled_charge", "duplicate_charge", "billed_outside_term", "currency_mismatch",
             "invoice_number_gap", "date_inconsistency", "orphan_reference", "unapplied_payment", "payment_mismatch",
             "status_mismatch", "credit_note_excess", "gl_mismatch"}
TABLES = {"customers", "plans", "plan_tiers", "subscriptions", "usage", "tax_rates", "fx_rates", "invoices",
          "invoice_lines", "credit_notes", "payments", "gl_entries"}
TRUTH_COLUMNS = ["anomaly", "check", "customer_id", "invoice_id", "line_no", "subscription_id", "payment_id", "period"]


def _read(folder: Path, name: str) -> pl.DataFrame:
    return pl.read_csv(folder / f"{name}.csv", infer_schema=False)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def default_set(tmp_path_factory) -> Path:
    """The default size (60 customers, 6 months)."""
    out = tmp_path_factory.mktemp("synth") / "default"
    synthesize(out)
    return out


def test_writes_every_table_and_ground_truth(default_set):
    names = {p.name for p in default_set.iterdir()}
    assert names == {f"{t}.csv" for t in TABLES} | {"ground_truth.csv"}
    assert not [p for p in default_set.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_same_seed_same_bytes_different_seed_different(tmp_path):
    kw = dict(customers=15, months=3)
    synthesize(tmp_path / "a", seed=3, **kw)
    synthesize(tmp_path / "b", seed=3, **kw)
    synthesize(tmp_path / "c", seed=4, **kw)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a == b
    assert a["customers.csv"] != c["customers.csv"] and a["usage.csv"] != c["usage.csv"]
    assert a["invoice_lines.csv"] != c["invoice_lines.csv"]


def test_parquet_is_deterministic_and_loads(tmp_path):
    synthesize(tmp_path / "a", customers=10, months=2, fmt="parquet")
    synthesize(tmp_path / "b", customers=10, months=2, fmt="parquet")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert (tmp_path / "a" / "invoices.parquet").is_file()
    assert load_dataset(tmp_path / "a").has("invoice_lines")


def test_output_follows_the_contract(default_set):
    ds = load_dataset(default_set)
    counts = ds.row_counts()
    assert TABLES <= set(counts)
    assert counts["invoices"] > 200 and counts["usage"] > 1000


def test_every_check_is_planted_at_default_size(default_set):
    truth = _read(default_set, "ground_truth")
    assert truth.columns == TRUTH_COLUMNS
    assert set(truth["check"]) == CATALOGUE
    assert truth.height == truth.unique().height
    # at most one planted mistake per invoice
    on_invoices = truth.filter(pl.col("check") != "invoice_number_gap").drop_nulls("invoice_id")
    assert on_invoices["invoice_id"].n_unique() == on_invoices.height
    key = ["check", "customer_id", "invoice_id", "line_no", "subscription_id", "period", "anomaly", "payment_id"]
    assert truth.equals(truth.sort(key, nulls_last=False))


def test_ground_truth_keys_point_at_the_mistakes(default_set):
    truth = _read(default_set, "ground_truth")
    lines = _read(default_set, "invoice_lines")
    invoices = _read(default_set, "invoices")
    line_checks = truth.filter(pl.col("line_no").is_not_null())
    assert line_checks.join(lines, on=["invoice_id", "line_no"], how="anti").height == 0
    gaps = truth.filter(pl.col("check") == "invoice_number_gap")
    assert gaps.join(invoices, on="invoice_id", how="semi").height == 0   # the missing numbers are missing
    ghosts = truth.filter(pl.col("check") == "orphan_reference")
    assert ghosts["subscription_id"].str.starts_with("S-GHOST-").all()
    unbilled = truth.filter(pl.col("check") == "unbilled_charge")
    assert unbilled["invoice_id"].is_null().all() and unbilled["subscription_id"].is_not_null().all()


def test_hard_cases_are_present(default_set):
    customers = _read(default_set, "customers")
    assert {"JPY", "KWD", "EUR", "GBP", "USD"} <= set(customers["currency"])
    assert (customers["tax_exempt"] == "true").any()
    names = set(customers["name"])
    for hostile in ("Müller & Söhne GmbH", "株式会社テスト", "<script>alert(1)</script>", '=HYPERLINK("x")',
                    'The "Quoted" Company Ltd', "Al-Mutawa Trading, W.L.L."):
        assert hostile in names
    subs = _read(default_set, "subscriptions")
    assert (subs["discount_pct"] == "100").any()
    assert (subs["unit_price_override"].fill_null("") != "").any()
    assert (subs["start_date"] == "2024-02-29").any()
    plans = _read(default_set, "plans")
    assert set(plans["charge_model"]) == {"flat", "per_unit", "graduated", "volume", "package", "percentage"}
    assert set(plans["interval"]) == {"month", "year"} and set(plans["billing"]) == {"recurring", "usage"}
    assert _read(default_set, "tax_rates")["valid_to"].is_not_null().any()
    assert _read(default_set, "usage")["event_time"].str.contains(r"\+02:00$").any()

    invoices = _read(default_set, "invoices")
    void = invoices.filter(pl.col("status") == "void")
    assert void.height == 1
    again = invoices.join(void.select("customer_id", "period_start"), on=["customer_id", "period_start"]) \
        .filter(pl.col("status") != "void")
    assert again.height == 1 and again["invoice_id"][0] > void["invoice_id"][0]
    assert {"paid", "open"} <= set(invoices["status"])
    lines = _read(default_set, "invoice_lines")
    assert ((lines["tax_rate_pct"] == "0") & (lines["amount"] != "0.00")).any()
    assert _read(default_set, "credit_notes").height >= 1


def test_money_has_the_currency_digits(default_set):
    invoices = _read(default_set, "invoices")
    digits = invoices["total"].str.extract(r"\.(\d+)$").str.len_chars().fill_null(0)
    expected = invoices["currency"].replace_strict({"JPY": 0, "KWD": 3}, default=2)
    assert (digits == expected).all()


def test_verification_finds_exactly_the_planted_mistakes(default_set, tmp_path):
    from billing_lib.verification import verify
    found = verify(load_dataset(default_set)).exceptions
    truth = _read(default_set, "ground_truth").with_columns(pl.col("line_no").cast(pl.Int64))
    key = ["check", "invoice_id", "line_no"]
    unbilled = pl.col("check") == "unbilled_charge"
    missed = truth.filter(~unbilled).join(found.select(key), on=key, how="anti", nulls_equal=True)
    missed_unbilled = truth.filter(unbilled).join(found.select("check", "subscription_id", "period"),
                                                  on=["check", "subscription_id", "period"], how="anti")
    assert missed.height == 0 and missed_unbilled.height == 0
    assert found.height == truth.height


def test_a_clean_dataset_has_no_findings(tmp_path):
    from billing_lib.verification import verify
    synthesize(tmp_path, customers=25, months=4, anomaly_rate=0)
    assert _read(tmp_path, "ground_truth").height == 0
    assert verify(load_dataset(tmp_path)).exceptions.height == 0


def test_command_line(tmp_path):
    out = tmp_path / "cli"
    run = subprocess.run([sys.executable, "-m", "billing_lib", "synth", "--out", str(out), "--customers", "9",
                          "--months", "2", "--start", "2024-02", "--usage-events", "3"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "planted mistakes" in run.stdout
    assert _read(out, "invoices")["period_start"].min() == "2024-02-01"
    bad = subprocess.run([sys.executable, "-m", "billing_lib", "synth", "--out", str(out), "--start", "2024-13"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
