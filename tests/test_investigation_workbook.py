"""The investigation workbook for real: papermill executes it with each kind of id on the bundled sample,
an unknown id stops it with one sentence, and its exported report keeps a hostile customer name inert."""
from __future__ import annotations

from pathlib import Path

import nbformat
import papermill as pm
import polars as pl
import pytest
from helpers import write_dataset
from workbook_data import TABLES

from billing_lib.reports.export import export_html
from billing_lib.reports.headline import read as read_headline
from billing_lib.runner.kernel import kernel_for_this_python

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "02_discrepancy_investigation.ipynb"
SAMPLE = ROOT / "data" / "sample"


def _run(tmp_path: Path, **parameters) -> nbformat.NotebookNode:
    out = tmp_path / "executed.ipynb"
    ids = {"customer_id": None, "invoice_id": None, "exception_id": None}
    pm.execute_notebook(str(NOTEBOOK), str(out), parameters={**ids, "output_dir": str(tmp_path / "out"), **parameters},
                        kernel_name=kernel_for_this_python(), cwd=str(NOTEBOOK.parent), progress_bar=False)
    return nbformat.read(out, as_version=4)


def _errors(nb) -> list:
    return [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


def _text(nb) -> str:
    return "\n".join(o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["customer", "invoice", "exception"])
def test_the_workbook_runs_with_each_kind_of_id(tmp_path, kind):
    truth = pl.read_csv(SAMPLE / "ground_truth.csv", infer_schema_length=0)
    row = truth.filter(pl.col("anomaly") == "line_billed_twice").row(0, named=True)
    if kind == "exception":
        from billing_lib.data.loading import load_dataset
        from billing_lib.verification import verify
        found = verify(load_dataset(SAMPLE)).exceptions
        value = found.filter((pl.col("check") == "duplicate_charge")
                             & (pl.col("invoice_id") == row["invoice_id"]))["exception_id"][0]
    else:
        value = row["customer_id"] if kind == "customer" else row["invoice_id"]
    nb = _run(tmp_path, data_dir=str(SAMPLE), **{f"{kind}_id": value})
    assert _errors(nb) == []
    head = read_headline(nb)
    assert head["subject"].startswith(f"{kind} {value}")
    assert head["findings"] >= 1 and head["credit_notes"] >= 1
    html = _text(nb)
    assert "Subscriptions over time" in html and "Running balance of the account" in html
    assert f"Corrections to your account {row['customer_id']}" in html
    corrections = pl.read_csv(tmp_path / "out" / "corrections.csv", infer_schema_length=0)
    assert "duplicate_charge" in corrections["check"].to_list()
    assert (tmp_path / "out" / f"client_message-{row['customer_id']}.html").is_file()


@pytest.mark.slow
def test_an_unknown_id_stops_with_one_clear_message(tmp_path):
    data = write_dataset(tmp_path / "data", **TABLES)
    with pytest.raises(pm.PapermillExecutionError) as err:
        _run(tmp_path, data_dir=str(data), invoice_id="INV-404")
    assert err.value.ename == "InvestigationError"
    assert "invoice_id 'INV-404' is not an invoice" in err.value.evalue
    nb = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    (error,) = _errors(nb)
    assert error["traceback"] == [f"InvestigationError: {err.value.evalue}"]


@pytest.mark.slow
def test_the_report_keeps_a_hostile_name_inert_and_shows_case_status(tmp_path):
    from billing_lib.cases.store import create_case_log
    from billing_lib.cli import main
    data = write_dataset(tmp_path / "data", **TABLES)
    log = tmp_path / "cases.sqlite"
    create_case_log(log)
    assert main(["verify", str(data), "--out", str(tmp_path / "v"), "--cases", str(log)]) == 0
    eid = pl.read_csv(tmp_path / "v" / "exceptions.csv").filter(pl.col("customer_id") == "C2")["exception_id"][0]
    assert main(["cases", "update", eid, "--status", "investigating", "--note", "asked sales", "--cases",
                 str(log)]) == 0
    nb = _run(tmp_path, data_dir=str(data), customer_id="C2", case_log=str(log))
    assert _errors(nb) == []
    executed = tmp_path / "executed.ipynb"
    report = tmp_path / "report.html"
    export_html(executed, report, "Discrepancy investigation")
    page = report.read_text(encoding="utf-8")
    assert "<script>alert(" not in page
    assert "&lt;script&gt;alert(" in page
    assert "investigating" in page and "asked sales" in page
