"""`billing verify` through the command line: the output contract, determinism, exit codes, safety."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from helpers import write_dataset

from billing_lib.synth import synthesize

CONTRACT_COLUMNS = ["exception_id", "check", "severity", "customer_id", "invoice_id", "line_no", "subscription_id",
                    "payment_id", "expected", "actual", "difference", "currency", "message"]
CATALOGUE = {"line_arithmetic", "invoice_totals", "price_mismatch", "quantity_mismatch", "discount_mismatch",
             "tax_mismatch", "unbilled_charge", "duplicate_charge", "billed_outside_term", "currency_mismatch",
             "invoice_number_gap", "date_inconsistency", "orphan_reference", "unapplied_payment",
             "payment_mismatch", "status_mismatch", "credit_note_excess", "gl_mismatch"}


def billing(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "billing_lib", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    synthesize(folder, seed=5, customers=40, months=4)
    return folder


@pytest.fixture(scope="module")
def two_runs(data, tmp_path_factory) -> tuple[Path, Path]:
    outs = []
    for name in ("run1", "run2"):
        out = tmp_path_factory.mktemp(name)
        done = billing("verify", str(data), "--out", str(out))
        assert done.returncode == 0, done.stderr
        outs.append(out)
    return outs[0], outs[1]


def test_outputs_follow_the_contract(two_runs):
    out, _ = two_runs
    with open(out / "exceptions.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        header = reader.fieldnames
    assert header[:len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS
    assert rows, "the synthetic data has planted mistakes"
    assert {r["check"] for r in rows} <= CATALOGUE
    assert {r["severity"] for r in rows} <= {"error", "warning", "info"}
    ids = [r["exception_id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert all(r["message"].strip() for r in rows)
    assert pl.read_parquet(out / "exceptions.parquet").height == len(rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exceptions"] == len(rows)
    assert sum(summary["by_severity"].values()) == len(rows)
    assert sum(v["count"] for v in summary["by_check"].values()) == len(rows)
    assert summary["at_stake_by_currency"]


def test_two_runs_are_byte_identical(two_runs):
    a, b = two_runs
    for name in ("exceptions.csv", "exceptions.parquet", "summary.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_rows_are_in_a_deterministic_order(two_runs):
    frame = pl.read_csv(two_runs[0] / "exceptions.csv", infer_schema=False)
    assert frame["exception_id"].is_unique().all()
    # grouped by check, in catalogue order
    checks = frame["check"].to_list()
    firsts = [c for i, c in enumerate(checks) if i == 0 or checks[i - 1] != c]
    assert len(firsts) == len(set(firsts))


def test_one_period(data, tmp_path):
    done = billing("verify", str(data), "--period", "2024-02", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    frame = pl.read_csv(tmp_path / "exceptions.csv", infer_schema=False)
    assert set(frame["period"].drop_nulls()) <= {"2024-02"}
    assert json.loads((tmp_path / "summary.json").read_text())["periods"] == ["2024-02"]


@pytest.mark.parametrize("args, needle", [
    (["--period", "2024-13"], "is not a month as YYYY-MM"),
    (["--check", "no_such_check"], "unknown check"),
])
def test_wrong_call_exits_2_without_traceback(data, tmp_path, args, needle):
    done = billing("verify", str(data), "--out", str(tmp_path), *args)
    assert done.returncode == 2
    assert needle in done.stderr and "Traceback" not in done.stderr


def test_bad_data_leaves_existing_outputs_untouched(tmp_path):
    data = write_dataset(tmp_path / "data", customers="""
        customer_id,name,email,country,currency,payment_terms_days,tax_exempt
        C1,Acme,a@x.example,DE,EURO,30,false
    """)
    out = tmp_path / "out"
    out.mkdir()
    (out / "exceptions.csv").write_text("previous run\n")
    done = billing("verify", str(data), "--out", str(out))
    assert done.returncode == 2
    assert "customers.csv, row 2, column 'currency'" in done.stderr
    assert (out / "exceptions.csv").read_text() == "previous run\n"
    assert sorted(p.name for p in out.iterdir()) == ["exceptions.csv"]


def test_cells_cannot_run_as_spreadsheet_formulas(tmp_path):
    data = write_dataset(tmp_path / "data", invoices="""
        invoice_id,customer_id,currency,issue_date,due_date,period_start,period_end,subtotal,discount,tax,total,status
        "=HYPERLINK(""http://evil.example"")",C1,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,0,0,0,5,open
    """)
    out = tmp_path / "out"
    assert billing("verify", str(data), "--out", str(out)).returncode == 0
    with open(out / "exceptions.csv", newline="", encoding="utf-8") as fh:
        cells = [cell for row in csv.reader(fh) for cell in row]
    assert "'=HYPERLINK(\"http://evil.example\")" in cells  # the invoice_totals finding names it, defused
    risky = [c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and not c[1:].replace(".", "").isdigit())]
    assert risky == []


def test_output_path_that_is_a_file_exits_2(data, tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder\n")
    done = billing("verify", str(data), "--out", str(blocker))
    assert done.returncode == 2
    assert "cannot be created or written to" in done.stderr and "Traceback" not in done.stderr
    assert blocker.read_text() == "not a folder\n"
