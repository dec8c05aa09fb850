"""Analyst comfort in every workbook: documented parameters, a friendly message for a wrong parameter or dataset
(papermill really executes the notebooks), and the parameter check itself."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from helpers import write_dataset
from workbook_data import write_workbook_dataset

from billing_lib.errors import ParameterError
from billing_lib.runner.execute import declared_parameters
from billing_lib.runner.kernel import kernel_for_this_python
from billing_lib.workbook.parameters import check_parameters

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHECKED = ("data_dir", "period", "output_dir", "base_currency", "period_from", "period_to", "import_kind",
           "import_source")


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _parameters_cell_index(nb) -> int:
    return next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))


def _execute(notebook: Path, tmp_path: Path, parameters: dict) -> tuple[nbformat.NotebookNode, Exception | None]:
    out = tmp_path / notebook.name
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(str(notebook), str(out), parameters=parameters, cwd=str(notebook.parent),
                            progress_bar=False, log_output=False, kernel_name=kernel_for_this_python())
        error = None
    except pm.PapermillExecutionError as exc:
        error = exc
    return nbformat.read(out, as_version=4), error


def _error_outputs(nb) -> list:
    return [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


def test_there_are_workbooks():
    assert any(p.name[:2].isdigit() for p in NOTEBOOKS)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_every_parameter_is_documented_by_a_comment(notebook):
    nb = nbformat.read(notebook, as_version=4)
    source = nb.cells[_parameters_cell_index(nb)].source
    assigned = [n.targets[0].id for n in ast.parse(source).body if isinstance(n, ast.Assign)]
    assert assigned, "the parameters cell assigns nothing"
    for line in source.splitlines():
        if line.split("=")[0].strip() in assigned:
            code, _, comment = line.partition("  # ")
            assert comment.strip(), f"{notebook.name}: parameter line without a comment: {line!r}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_parameters_are_checked_right_after_the_parameters_cell(notebook):
    nb = nbformat.read(notebook, as_version=4)
    after = nb.cells[_parameters_cell_index(nb) + 1]
    calls = [n for n in ast.walk(ast.parse(after.source)) if isinstance(n, ast.Call)
             and (getattr(n.func, "id", None) or getattr(n.func, "attr", None)) == "check_parameters"]
    assert len(calls) == 1, f"{notebook.name}: the cell after the parameters calls check_parameters once"
    passed = {k.arg for k in calls[0].keywords}
    declared = set(declared_parameters(notebook))
    assert {p for p in CHECKED if p in declared} <= passed
    assert "setup()" in after.source  # installs the friendly error handler


@pytest.mark.slow
@pytest.mark.parametrize("notebook", [p for p in NOTEBOOKS if p.name[:2].isdigit()],
                         ids=_ids([p for p in NOTEBOOKS if p.name[:2].isdigit()]))
def test_wrong_parameters_stop_the_workbook_with_one_friendly_message(notebook, tmp_path):
    declared = declared_parameters(notebook)
    wrong = {"data_dir": str(tmp_path / "no-such-folder"), "period": "2024-13", "period_from": "2024-13",
             "base_currency": "euro"}
    wrong = {k: v for k, v in wrong.items() if k in declared}
    nb, error = _execute(notebook, tmp_path, wrong)
    assert isinstance(error, pm.PapermillExecutionError)  # papermill (and so `billing run`) fails
    assert error.ename == "ParameterError"
    [shown] = _error_outputs(nb)
    assert len(shown.traceback) == 1
    text = shown.traceback[0]
    assert text.startswith("ParameterError: ")
    for value in wrong.values():
        assert repr(value) in text
    assert "Change the value in the parameters cell" in text
    assert "Traceback" not in text and "File \"" not in text and "\x1b[" not in text
    assert error.evalue.splitlines()[0].count(";") == len(wrong) - 1  # every problem on the first line


@pytest.mark.slow
def test_a_dataset_that_breaks_the_contract_is_shown_without_traceback(tmp_path):
    notebook = ROOT / "notebooks" / "01_invoice_verification.ipynb"
    data = write_dataset(tmp_path / "data", customers="""
        customer_id,name,email,country,currency,payment_terms_days,tax_exempt
        C1,Acme GmbH,billing@acme.example,DE,EURO,30,false
    """)
    nb, error = _execute(notebook, tmp_path, {"data_dir": str(data), "output_dir": str(tmp_path / "out")})
    assert error is not None and error.ename == "DatasetError"
    [shown] = _error_outputs(nb)
    assert shown.traceback[0].startswith(f"DatasetError: {data} does not follow the billing data contract")
    assert "customers.csv, row 2, column 'currency'" in shown.traceback[0]
    assert "Traceback" not in "".join(shown.traceback)


@pytest.mark.slow
def test_a_fault_in_the_code_keeps_its_traceback(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from billing_lib.workbook.environment import setup\nsetup()"),
                nbformat.v4.new_code_cell("def broken():\n    return 1 / 0\nbroken()")]
    path = tmp_path / "fault.ipynb"
    nbformat.write(nb, path)
    executed, error = _execute(path, tmp_path / "run", {})
    assert error is not None and error.ename == "ZeroDivisionError"
    [shown] = _error_outputs(executed)
    assert "broken()" in "".join(shown.traceback)  # the usual IPython traceback, for a bug report


@pytest.mark.slow
def test_progress_line_ends_with_a_record_without_timings(tmp_path):
    notebook = ROOT / "notebooks" / "01_invoice_verification.ipynb"
    data = write_workbook_dataset(tmp_path / "data")
    nb, error = _execute(notebook, tmp_path, {"data_dir": str(data), "output_dir": str(tmp_path / "out")})
    assert error is None
    texts = [o.get("data", {}).get("text/plain", "") for c in nb.cells for o in c.get("outputs", [])]
    [line] = [t for t in texts if t.startswith("Checking the invoices")]
    assert line.startswith("Checking the invoices: done, ") and line.endswith(" steps")
    assert "elapsed" not in line


# ---- the parameter check itself ------------------------------------------------------------------------------

def test_good_parameters_pass(tmp_path):
    data = write_workbook_dataset(tmp_path / "data")
    check_parameters(data_dir=str(data), period="2024-06", output_dir=str(tmp_path / "new" / "out"),
                     base_currency="JPY")
    check_parameters(data_dir=data, period=None)


@pytest.mark.parametrize("kwargs, message", [
    ({"period": "June"}, "period 'June' is not a month as YYYY-MM"),
    ({"period": 2018}, "period 2018 is a number: write the month as text in quotes"),
    ({"period": None, "period_required": True}, "period is required by this workbook"),
    ({"base_currency": "eur"}, "base currency 'eur' is not an ISO 4217 currency code"),
    ({"data_dir": ""}, "data_dir must be the path of a dataset folder as text"),
    ({"output_dir": None}, "output_dir must be the path of a folder as text"),
    ({"period_from": "2024-1"}, "period_from '2024-1' is not a month as YYYY-MM"),
    ({"period_from": "2024-06", "period_to": "2024-02"}, "period_from '2024-06' is after period_to '2024-02'"),
    ({"import_kind": "lago"}, "import_kind and import_source go together"),
    ({"import_kind": "sap", "import_source": "."}, "import_kind 'sap' is not one of 'ibm-receivables', 'lago'"),
    ({"import_kind": "lago", "import_source": "/no/such/export.json"}, "import_source '/no/such/export.json' does not"),
])
def test_wrong_values_are_named(kwargs, message):
    with pytest.raises(ParameterError) as err:
        check_parameters(**kwargs)
    assert message in str(err.value)
    assert "parameters cell" in str(err.value)


def test_folders_are_checked(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ParameterError) as err:
        check_parameters(data_dir=str(tmp_path / "missing"), output_dir=str(tmp_path / "a-file" / "out"))
    first = str(err.value).splitlines()[0]
    assert f"data_dir {str(tmp_path / 'missing')!r} is not a folder" in first
    assert f"{tmp_path / 'a-file'} is not a writable folder" in first
    with pytest.raises(ParameterError, match="holds no customers table"):
        check_parameters(data_dir=str(tmp_path / "empty"))
    with pytest.raises(ParameterError, match="is a file, not a folder"):
        check_parameters(output_dir=str(tmp_path / "a-file"))


@pytest.mark.slow
def test_the_monthly_run_stops_with_the_friendly_message(tmp_path):
    """A month-end close needs a month: `period: null` stops `billing run` with the workbook's own message."""
    write_workbook_dataset(tmp_path / "data")
    (tmp_path / "run.yaml").write_text(f"period: null\ndata_dir: data\nnotebooks_dir: {ROOT / 'notebooks'}\n"
                                       "workbooks: [03_month_end_close]\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "billing_lib", "run", "run.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert re.search(r"workbook 03_month_end_close failed in cell \d+: ParameterError: period is required by this "
                     r"workbook: a month as text, e.g. \"2024-06\"\n", proc.stderr), proc.stderr
    assert "Traceback" not in proc.stderr
    [shown] = _error_outputs(nbformat.read(tmp_path / "out" / "all" / "failed" / "03_month_end_close.ipynb", 4))
    assert shown.traceback[0].startswith("ParameterError: period is required")
