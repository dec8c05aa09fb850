"""The month-end close workbook for real: `billing run` executes it with papermill and exports its report;
the Excel schedules beside it hold the library's figures, as numbers, with hostile names as plain text."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import nbformat
import openpyxl
import pytest
from helpers import write_dataset
from workbook_data import HOSTILE_NAME, TABLES

from billing_lib.data.loading import load_dataset
from billing_lib.engine.cash_application import apply_payments
from billing_lib.month_end import receivables
from billing_lib.reports.style import money_label

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
FORMULA_NAME = '=HYPERLINK("http://evil.example","x")'
AS_OF = dt.date(2024, 6, 30)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The workbook run alone on the workbook dataset, customer C1 renamed to a spreadsheet formula."""
    folder = tmp_path_factory.mktemp("month_end")
    customers = TABLES["customers"].replace("Acme GmbH", '"' + FORMULA_NAME.replace('"', '""') + '"')
    write_dataset(folder / "data", **{**TABLES, "customers": customers})
    (folder / "run.yaml").write_text(textwrap.dedent(f"""
        period: "2024-06"
        data_dir: data
        output_dir: out
        notebooks_dir: {NOTEBOOKS}
        workbooks: [03_month_end_close]
    """), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "billing_lib", "run", "run.yaml"], cwd=folder,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = folder / "out"
    return (load_dataset(folder / "data"), out, openpyxl.load_workbook(out / "month_end" / "month_end_schedules.xlsx"),
            (out / "reports" / "03_month_end_close.html").read_text(encoding="utf-8"))


def _sheet(wb, name: str) -> list[dict]:
    rows = list(wb[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def _applications(ds):
    return apply_payments(ds.frame("invoices"), ds.frame("payments"), ds.frame("credit_notes"))


@pytest.mark.slow
def test_the_workbook_runs_without_errors_and_publishes_headline(run):
    _, out, _, _ = run
    nb = nbformat.read(out / "notebooks" / "03_month_end_close.ipynb", as_version=4)
    assert [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"] == []
    index = (out / "index.html").read_text(encoding="utf-8")
    assert '<a href="month_end/month_end_schedules.xlsx">schedules (Excel)</a>' in index
    # 30.00 EUR + 1500.00 USD x 0.92
    assert f"<th>billed revenue</th><td>{money_label(Decimal('1410.00'), 'EUR')}</td>" in index


@pytest.mark.slow
def test_index_report_and_excel_give_the_same_revenue_and_dso(run):
    """One billed-revenue figure: the index, the report's summary and the Excel bridge in the base currency end
    on it; DSO reads the same on the index and in Excel."""
    _, out, wb, html = run
    bridge = _sheet(wb, "Revenue bridge in EUR")
    assert [r["step"] for r in bridge][-2:] == ["exchange rates", "this month"]
    assert bridge[-1]["amount"] == 1410.00 and sum(r["amount"] for r in bridge[1:-1]) + bridge[0]["amount"] == 1410
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f"Billed revenue {money_label(Decimal('1410.00'), 'EUR')}" in html
    for row in _sheet(wb, "DSO"):
        if row["dso"] is not None:
            assert f"{row['currency']} {row['dso']:.2f} days" in index


@pytest.mark.slow
def test_excel_aging_and_roll_forward_equal_the_library(run):
    ds, _, wb, _ = run
    apps = _applications(ds)
    totals = {r["currency"]: r for r in _sheet(wb, "AR aging totals")}
    for row in receivables.aging(ds, AS_OF, apps).group_by("currency").agg(
            *[receivables.pl.col(c).sum() for c in ("total", "over_90")]).iter_rows(named=True):
        assert Decimal(str(totals[row["currency"]]["total"])) == row["total"]
        assert Decimal(str(totals[row["currency"]]["over_90"])) == row["over_90"]
    closing = {r["currency"]: r["closing"] for r in _sheet(wb, "AR roll-forward")}
    library = dict(receivables.roll_forward(ds, "2024-06", apps).select("currency", "closing").rows())
    assert {k: Decimal(str(v)) for k, v in closing.items()} == library
    assert closing["JPY"] == 3300 and isinstance(closing["JPY"], int)  # JPY has no decimals


@pytest.mark.slow
def test_excel_numbers_are_numbers_and_names_are_text(run):
    _, _, wb, _ = run
    cells = [c for ws in wb for row in ws.iter_rows() for c in row]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    named = [c for c in cells if c.value in (FORMULA_NAME, HOSTILE_NAME)]
    assert {c.value for c in named} == {FORMULA_NAME, HOSTILE_NAME} and all(c.data_type == "s" for c in named)
    for row in wb["AR aging"].iter_rows(min_row=2):
        assert all(c.data_type == "n" for c in row[3:])  # buckets, total, unapplied cash, net
    assert "Checklist" in wb.sheetnames and "Revenue bridge" in wb.sheetnames


@pytest.mark.slow
def test_report_escapes_hostile_names_and_draws_the_bridge(run):
    _, _, _, html = run
    assert HOSTILE_NAME not in html and "<script>alert(" not in html
    assert '>&lt;script&gt;alert("pwned")&lt;/script&gt; &amp; Sons</td>' in html  # tables' static copy
    assert f">{FORMULA_NAME}</td>" in html  # shown as the text it is
    assert '"type":"waterfall"' in html.replace(" ", "")
    assert "Close checklist" in html and "FAIL" in html
