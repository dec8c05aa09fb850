"""Exploring a dataset of one's own: the library steps, and the explore workbook on an import (papermill)."""
from __future__ import annotations

from pathlib import Path

import nbformat
import papermill as pm
import pytest
from helpers import write_dataset
from workbook_data import write_workbook_dataset

from billing_lib.data.loading import load_dataset
from billing_lib.errors import ParameterError
from billing_lib.runner.kernel import kernel_for_this_python
from billing_lib.verification import verify
from billing_lib.workbook import analysis, explore

ROOT = Path(__file__).resolve().parents[1]
WORKBOOK = ROOT / "notebooks" / "explore_your_data.ipynb"
RETAIL_CSV = ("Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
              "1001,85123A,HEART,6,12/1/2010 08:26,2.55,17850.0,United Kingdom\n"
              "1002,22336,thing,1,12/3/2010 10:00,1.00,12345,France\n")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = write_workbook_dataset(tmp_path_factory.mktemp("explore") / "data")
    ds = load_dataset(folder)
    return folder, ds, analysis.exceptions_table(verify(ds, None), ds, "EUR")


def test_contract_problems_are_a_table_naming_file_row_and_column(tmp_path):
    data = write_dataset(tmp_path, customers="""
        customer_id,name,email,country,currency,payment_terms_days,tax_exempt
        C1,Acme GmbH,billing@acme.example,DE,EURO,30,false
        C2,Beta,b@beta.example,DE,EUR,thirty,false
    """)
    problems = explore.contract_problems(data)
    assert problems.select("file", "row", "column").rows() == [("customers.csv", 2, "currency"),
                                                                ("customers.csv", 3, "payment_terms_days")]
    assert explore.contract_problems(write_dataset(tmp_path / "good")).is_empty()


def test_the_customer_with_most_at_stake_is_picked_by_default(sample):
    _, ds, findings = sample
    top = analysis.by_customer(findings)["customer_id"][0]
    assert explore.pick_customer(ds, findings) == top
    assert explore.pick_customer(ds, findings, "C3") == "C3"
    with pytest.raises(ParameterError, match=r"customer_id '7' is not in the customers table .*'C1', 'C2', 'C3'"):
        explore.pick_customer(ds, findings, "7")
    assert explore.pick_customer(ds, findings.clear()) == "C1"  # no findings: the first customer


def test_customer_profile_holds_only_that_customer(sample):
    _, ds, findings = sample
    customer = explore.pick_customer(ds, findings)
    profile = explore.customer_profile(ds, customer, findings)
    assert profile["customer"]["customer_id"].to_list() == [customer]
    for name in ("subscriptions", "invoices", "findings"):
        assert profile[name].height > 0
    assert profile["findings"].height == findings.filter(findings["customer_id"] == customer).height
    assert set(ds.frame("invoices").collect().filter(customer_id=customer)["invoice_id"]) == \
        set(profile["invoices"]["invoice_id"])
    assert profile["subscriptions"]["quantity"].to_list() == ["100"]  # seats as plain numbers


def test_customers_overview_counts_every_customer(sample):
    _, ds, _ = sample
    overview = explore.customers_overview(ds)
    assert overview["customers"].sum() == ds.tables["customers"].height
    assert overview["invoices"].sum() == ds.tables["invoices"].height


def test_unknown_importer_is_a_parameter_error(tmp_path):
    with pytest.raises(ParameterError, match="import_kind 'sap' is not one of"):
        explore.import_source("sap", tmp_path, tmp_path / "out")


@pytest.mark.slow
def test_explore_workbook_imports_a_foreign_export_and_looks_at_a_customer(tmp_path):
    source = tmp_path / "retail.csv"
    source.write_text(RETAIL_CSV, encoding="utf-8")
    out = tmp_path / "out"
    pm.execute_notebook(str(WORKBOOK), str(tmp_path / "run.ipynb"), cwd=str(WORKBOOK.parent), progress_bar=False,
                        kernel_name=kernel_for_this_python(), parameters={
                            "import_kind": "online-retail", "import_source": str(source), "output_dir": str(out),
                            "customer_id": "17850"})
    assert load_dataset(out / "imported").tables["invoices"]["customer_id"].to_list() == ["17850", "12345"]
    assert (out / "imported" / "import_report.json").is_file()
    assert (out / "exceptions.csv").is_file()
    text = "".join(o.get("data", {}).get("text/html", "") for c in nbformat.read(tmp_path / "run.ipynb", 4).cells
                   for o in c.get("outputs", []))
    assert f"Imported {source} into {out / 'imported'}: 2 source rows: 2 mapped, 0 skipped" in text
    assert "Customer 17850:" in text
    assert "No problems: the data follows the billing data contract." in text
