"""The month-end workbook's library: display tables, the bridge and aging charts, and the Excel schedules."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
import pandas as pd
import polars as pl
import pytest
from workbook_data import write_workbook_dataset

from billing_lib.core.money import DECIMAL
from billing_lib.data.loading import load_dataset
from billing_lib.month_end import receivables, report, revenue
from billing_lib.month_end.excel import number_format, sheet_title, write_schedules
from billing_lib.reports import charts
from billing_lib.reports.index_page import Entry, render

D = Decimal
HYPERLINK = '=HYPERLINK("http://x.example","click")'
AS_OF = dt.date(2024, 6, 30)


def _frame(**cols) -> pl.DataFrame:
    return pl.DataFrame(cols, schema_overrides={k: DECIMAL for k, v in cols.items()
                                                if v and isinstance(v[0], Decimal)})


# ---------------------------------------------------------------- Excel

@pytest.fixture
def book(tmp_path):
    schedules = {
        "aging": _frame(customer_name=[HYPERLINK, "+SUM(A1)", "-1+2", "@cmd", "\tTab", "<script>x</script>"],
                        currency=["EUR", "JPY", "KWD", "EUR", "USD", "XXX"],
                        total=[D("1.005"), D("1234.5"), D("-1.0005"), D("12"), D("0"), D("3.1")],
                        days=[1, 2, 3, 4, 5, 6]),
        "pandas": pd.DataFrame({"name": ["=1+1"], "when": [pd.Timestamp("2024-06-30")], "ok": [True],
                                "amount": [D("2.50")], "currency": ["EUR"]}),
        "Sheet/with:bad*chars?and a very long name": _frame(net_base=[D("10.555")], currency=["JPY"]),
    }
    path = write_schedules(tmp_path / "out" / "s.xlsx", schedules, base_currency="EUR")
    return path, openpyxl.load_workbook(path)


def test_one_sheet_per_schedule_with_a_valid_title(book):
    _, wb = book
    assert wb.sheetnames == ["aging", "pandas", "Sheet_with_bad_chars_and a very"]
    assert sheet_title("a", {"a"}) == "a (2)"


def test_no_cell_is_a_formula_and_hostile_text_stays_text(book):
    _, wb = book
    cells = [c for ws in wb for row in ws.iter_rows() for c in row]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    names = [c.value for c in wb["aging"]["A"][1:]]
    assert names == [HYPERLINK, "+SUM(A1)", "-1+2", "@cmd", "\tTab", "<script>x</script>"]
    assert all(c.data_type == "s" for c in wb["aging"]["A"])
    assert wb["pandas"]["A2"].value == "=1+1" and wb["pandas"]["A2"].data_type == "s"


def test_money_is_numeric_rounded_to_its_currency_with_its_format(book):
    _, wb = book
    totals = wb["aging"]["C"][1:]
    assert all(c.data_type == "n" for c in totals)
    assert [c.value for c in totals] == [1.01, 1235, -1.001, 12, 0, 3.1]  # half away from zero
    assert [c.number_format for c in totals] == ["#,##0.00", "#,##0", "#,##0.000", "#,##0.00", "#,##0.00",
                                                 "#,##0.00"]  # XXX is no currency: 2 digits
    assert wb["Sheet_with_bad_chars_and a very"]["A2"].value == 10.56  # *_base: the base currency (EUR)
    assert wb["aging"]["D2"].value == 1 and wb["aging"]["D2"].data_type == "n"
    assert wb["pandas"]["B2"].is_date and wb["pandas"]["C2"].value is True
    assert wb["pandas"]["D2"].value == 2.5 and wb["pandas"]["D2"].number_format == "#,##0.00"
    assert number_format(0) == "#,##0" and number_format(3) == "#,##0.000"


def test_header_is_styled_frozen_and_sized(book):
    _, wb = book
    ws = wb["aging"]
    assert [c.value for c in ws[1]] == ["customer_name", "currency", "total", "days"]
    assert ws["A1"].font.bold and ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:D7"
    assert ws.column_dimensions["A"].width >= len(HYPERLINK)


def test_written_atomically_leaving_no_temporary_file(book, tmp_path):
    path, _ = book
    assert [p.name for p in path.parent.iterdir()] == ["s.xlsx"]
    with pytest.raises(TypeError):
        write_schedules(path, {"bad": [1, 2]})
    assert [p.name for p in path.parent.iterdir()] == ["s.xlsx"]
    assert openpyxl.load_workbook(path).sheetnames[0] == "aging"  # the previous file is untouched


# ---------------------------------------------------------------- tables and charts

@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return load_dataset(write_workbook_dataset(tmp_path_factory.mktemp("wb") / "data"))


def test_billed_revenue_by_customer_has_names_and_base_amounts(ds):
    billed = revenue.billed_revenue(ds, "2024-06", "EUR")
    by_customer = report.billed_revenue_by(billed, "customer_id", ds)
    assert by_customer.columns[:3] == ["customer_id", "customer_name", "currency"]
    rows = {r["customer_id"]: r for r in by_customer.iter_rows(named=True)}
    assert rows["C2"]["net_base"] == D("1380.00")           # 1500.00 USD x 0.92
    assert rows["C3"]["net_base"] is None and rows["C3"]["unconverted"] == 1  # JPY has no rate
    assert by_customer["customer_id"].to_list() == ["C2", "C1", "C3"]  # largest first, unconverted last
    total = report.billed_total(billed, "EUR").row(0, named=True)
    assert total["net_base"] == D("1410.00") and total["unconverted"] == 1  # 1380.00 + 30.00


def test_aging_totals_per_currency(ds):
    aging = report.aging_by_customer(receivables.aging(ds, AS_OF), ds)
    totals = {r["currency"]: r for r in report.aging_totals(aging).iter_rows(named=True)}
    assert totals["JPY"]["days_1_30"] == D("3300")         # May invoice due 2024-06-15, nothing paid
    assert totals["EUR"]["current"] == D("35.70") and totals["USD"]["total"] == D("1200.00")
    in_base = report.aging_in_base(report.aging_totals(aging), ds, "EUR", AS_OF).row(0, named=True)
    assert in_base["current"] == D("1139.70")               # 35.70 + 1200.00 USD x 0.92; JPY left out
    fig = charts.aging_buckets(report.aging_in_base(report.aging_totals(aging), ds, "EUR", AS_OF), "EUR")
    assert list(fig.data[0].y) == [1139.70, 0.0, 0.0, 0.0, 0.0, 0.0]   # the last bar: doubtful
    assert list(fig.data[0].x)[-1] == "doubtful"


def test_bridge_in_base_closes_and_draws_a_waterfall(ds):
    bridge = revenue.revenue_bridge(ds, "2024-06")
    base = report.bridge_in_base(bridge, ds, "EUR", AS_OF).row(0, named=True)
    assert base["price"] == D("276.00")  # 300 USD x 0.92: the steps at the month end's constant rate
    # it starts and ends on billed revenue as the rest of the close shows it, the rates' effect a step of its own
    billed = {m: report.billed_total(revenue.billed_revenue(ds, m, "EUR"), "EUR")["net_base"].item()
              for m in ("2024-05", "2024-06")}
    assert (base["previous"], base["current"]) == (billed["2024-05"], billed["2024-06"]) == (D("1134.00"), D("1410.00"))
    assert base["current"] == base["previous"] + sum(base[p] for p in (*revenue.BRIDGE_PARTS, "exchange"))
    assert base["currencies"] == "EUR, USD"
    assert report.unconverted_currencies(bridge, ds, "EUR", AS_OF) == ["JPY"]
    steps = report.bridge_steps(report.bridge_in_base(bridge, ds, "EUR", AS_OF))
    fig = charts.revenue_bridge(steps, "EUR")
    trace = fig.data[0]
    assert trace.type == "waterfall" and list(trace.measure) == ["absolute"] + ["relative"] * 6 + ["total"]
    assert list(trace.x) == ["previous month", "new", "churned", "price", "volume", "proration", "exchange rates",
                             "this month"]
    assert charts.revenue_bridge(steps.clear(), "EUR") is None


def test_checklist_headline_and_conclusions(ds):
    rf = receivables.roll_forward(ds, "2024-06")
    checklist = pl.DataFrame({"control": ["a", "b", "c"], "status": ["pass", "fail", "n/a"],
                              "passed": [True, False, None], "evidence": ["x", "y", "z"]})
    assert report.checklist_table(checklist)["result"].to_list() == ["PASS", "FAIL", "n/a"]
    aging = receivables.aging(ds, AS_OF)
    head = report.headline("2024-06", "EUR", revenue.billed_revenue(ds, "2024-06", "EUR"), rf,
                           receivables.dso(ds, "2024-06"), report.aging_totals(aging), checklist,
                           report.bridge_in_base(revenue.revenue_bridge(ds, "2024-06"), ds, "EUR", AS_OF),
                           revenue.unbilled_revenue(ds, "2024-06"))
    assert head["billed_revenue_base"] == "1410.00" and head["controls_passed"] == "1 of 2"
    assert head["controls_failed"] == ["b"] and head["receivables_closing"]["JPY"] == "3300"
    lines = report.conclusions(head)
    assert lines[0] == "Billed revenue for 2024-06: 1410.00 EUR (1 lines without an exchange rate are left out)."
    assert any("To resolve before signing off: b." in line for line in lines)


def test_ledger_tie_out_is_empty_without_a_ledger(ds):
    out = report.ledger_tie_out(receivables.roll_forward(ds, "2024-06"), revenue.deferred_revenue(ds, "2024-06"))
    assert out.is_empty()


def test_index_links_result_files_escaped():
    page = render("t", "s", [Entry("03_x", "X", "reports/03_x.html", "notebooks/03_x.ipynb", None,
                                   ("month_end/a&b.xlsx",))])
    assert '<a href="month_end/a&amp;b.xlsx">a&amp;b.xlsx</a>' in page


def test_excel_rounds_money_to_its_currency_and_other_decimals_as_the_reports_show_them(tmp_path):
    """DSO of a yen customer is 21.52 days on the page: the Excel schedule must not round it to whole yen."""
    from billing_lib.workbook.display import display_frame
    frame = pl.DataFrame({"currency": ["JPY", "EUR"], "closing": [D("13589"), D("1.235")],
                          "dso": [D("21.52"), D("12.84")]},
                         schema={"currency": pl.String, "closing": DECIMAL, "dso": DECIMAL})
    sheet = openpyxl.load_workbook(write_schedules(tmp_path / "s.xlsx", {"DSO": frame}))["DSO"]
    cells = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert cells == [["JPY", 13589, 21.52], ["EUR", 1.24, 12.84]]
    assert display_frame(frame, {"closing": "currency"})["dso"].tolist() == ["21.52", "12.84"]  # the page
