"""The monthly run's investigation reports: the per-case workbook runs for the largest open cases, leaving
out what the case log has decided, each exported and linked from the index like the other reports."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import polars as pl
import pytest
from workbook_data import write_workbook_dataset

from billing_lib.cases.store import create_case_log
from billing_lib.cli import main

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PER_CASE = "02_discrepancy_investigation"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Verification and one investigation; the largest case (C2, 300 USD) is accepted in the case log, so the
    investigated case is C3's (one seat too many, JPY)."""
    folder = tmp_path_factory.mktemp("monthly_cases")
    write_workbook_dataset(folder / "data")
    log = create_case_log(folder / "ws" / "cases.sqlite")[0]
    assert main(["verify", str(folder / "data"), "--period", "2024-06", "--out", str(folder / "v"),
                 "--cases", str(log.path)]) == 0
    found = pl.read_csv(folder / "v" / "exceptions.csv")
    c2 = found.filter(pl.col("customer_id") == "C2")["exception_id"][0]
    c3 = found.filter(pl.col("customer_id") == "C3")["exception_id"][0]
    log.update(c2, status="accepted", note="price agreed by phone")
    (folder / "run.yaml").write_text(textwrap.dedent(f"""
        period: "2024-06"
        data_dir: data
        output_dir: out
        notebooks_dir: {NOTEBOOKS}
        workbooks: [01_invoice_verification, {PER_CASE}]
        investigations: 1
        case_log: ws/cases.sqlite
    """), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "billing_lib", "run", "run.yaml"], cwd=folder, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return folder / "out", proc, c2, c3


@pytest.mark.slow
def test_the_largest_open_case_is_investigated_and_decided_ones_are_not(run):
    out, proc, accepted, open_case = run
    name = f"{PER_CASE}-{open_case}"
    assert "[1/1] 01_invoice_verification: executing..." in proc.stderr
    assert f"{PER_CASE}: 1 case(s) to investigate (investigations: 1)" in proc.stderr
    assert re.search(rf"\[case 1/1\] {name}: executing\.\.\. done", proc.stderr)
    assert sorted(p.name for p in (out / "reports").glob("*.html")) == ["01_invoice_verification.html",
                                                                        f"{name}.html"]
    assert not list((out / "reports").glob(f"*{accepted}*"))
    nb = nbformat.read(out / "notebooks" / f"{name}.ipynb", as_version=4)
    assert [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"] == []
    corrections = pl.read_csv(out / "investigations" / open_case / "corrections.csv", infer_schema_length=0)
    assert corrections.select("check", "document", "total").rows() == [("quantity_mismatch", "credit note", "-1650")]


@pytest.mark.slow
def test_the_index_links_the_investigation_report_and_manifest_records_it(run):
    out, _, _, open_case = run
    name = f"{PER_CASE}-{open_case}"
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f'href="reports/{name}.html"' in index
    assert f'href="investigations/{open_case}/resolution.xlsx"' in index
    assert "Discrepancy investigation: Quantity, customer C3: ¥1,500" in index  # check title, money at stake
    report = (out / "reports" / f"{name}.html").read_text(encoding="utf-8")
    assert "Corrections to your account C3" in report and "credit note of 1650 JPY" in report
    assert "In [" not in re.sub(r"<script\b.*?</script>", "", report, flags=re.S)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["investigations"] == 1
    case = [w for w in manifest["workbooks"] if w["workbook"] == name]
    assert case and case[0]["parameters"]["exception_id"] == open_case
    assert case[0]["parameters"]["customer_id"] is None and case[0]["parameters"]["period_to"] == "2024-06"


@pytest.mark.slow
def test_the_verification_report_leaves_out_what_the_case_log_decided(run):
    out, _, accepted, open_case = run
    report = (out / "reports" / "01_invoice_verification.html").read_text(encoding="utf-8")
    # tables are interactive; their static copy holds the rows as plain cells
    assert re.search(r"<td[^>]*>accepted</td>\s*<td[^>]*>1</td>", report)
    assert re.search(r"<td[^>]*>open</td>\s*<td[^>]*>1</td>", report)
    assert open_case in report and accepted not in report
    # the contract's exceptions keep every finding
    written = pl.read_csv(out / "verification" / "exceptions.csv")
    assert {accepted, open_case} <= set(written["exception_id"])


@pytest.mark.slow
def test_a_later_run_removes_the_cases_it_no_longer_investigates(run):
    # last in this module: it runs again into the same output folder
    out, _, _, open_case = run
    folder = out.parent
    params = (folder / "run.yaml").read_text(encoding="utf-8").replace("investigations: 1", "investigations: 0")
    (folder / "run0.yaml").write_text(params, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "billing_lib", "run", "run0.yaml"], cwd=folder, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert f"{PER_CASE}: 0 case(s) to investigate (investigations: 0)" in proc.stderr
    assert sorted(p.name for p in (out / "reports").glob("*.html")) == ["01_invoice_verification.html"]
    assert not list((out / "notebooks").glob(f"{PER_CASE}-*")) and not (out / "investigations" / open_case).exists()
    assert PER_CASE not in (out / "index.html").read_text(encoding="utf-8")


def test_stale_cases_are_left_behind_and_current_ones_kept_when_the_workbook_name_holds_a_dash(tmp_path):
    from billing_lib.runner.cases import RESULTS
    from billing_lib.runner.publish import carry_over
    previous, staged = tmp_path / "out", tmp_path / ".out.staging-x"
    for folder, suffix in (("reports", ".html"), ("notebooks", ".ipynb")):
        for eid in ("EX-NOW", "EX-OLD"):
            (previous / folder).mkdir(parents=True, exist_ok=True)
            (previous / folder / f"02-discrepancy-{eid}{suffix}").write_text("old")
        (previous / folder / f"03_close{suffix}").write_text("old")  # a workbook this run did not execute
        (staged / folder).mkdir(parents=True)
        (staged / folder / f"02-discrepancy-EX-NOW{suffix}").write_text("new")
    for eid in ("EX-NOW", "EX-OLD"):
        (previous / RESULTS / eid).mkdir(parents=True)
        (previous / RESULTS / eid / "corrections.csv").write_text("old")
    (staged / RESULTS / "EX-NOW").mkdir(parents=True)
    (staged / RESULTS / "EX-NOW" / "corrections.csv").write_text("new")
    (previous / "failed").mkdir()
    (previous / "failed" / "01_x.ipynb").write_text("old")
    carried = carry_over(previous, staged, ["02-discrepancy"])
    assert carried == ["notebooks/03_close.ipynb", "reports/03_close.html"]
    assert (staged / RESULTS / "EX-NOW" / "corrections.csv").read_text() == "new"
    assert (staged / "reports" / "02-discrepancy-EX-NOW.html").read_text() == "new"
    assert not (staged / RESULTS / "EX-OLD").exists() and not (staged / "failed").exists()
