"""The workbook library on a small dataset: summary tables, base-currency conversion, charts, safe display."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from workbook_data import HOSTILE_NAME, write_workbook_dataset

from billing_lib.core.fx import with_base_amount
from billing_lib.core.money import DECIMAL
from billing_lib.core.periods import parse_period
from billing_lib.data.loading import load_dataset
from billing_lib.errors import ParameterError
from billing_lib.reports import charts
from billing_lib.runner.kernel import is_current_python, kernel_for_this_python
from billing_lib.verification import verify
from billing_lib.workbook import analysis
from billing_lib.workbook.display import table_html


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return load_dataset(write_workbook_dataset(tmp_path_factory.mktemp("wb") / "data"))


@pytest.fixture(scope="module")
def june(ds):
    result = verify(ds, [parse_period("2024-06")])
    return result, analysis.exceptions_table(result, ds, "EUR")


def test_findings_convert_at_the_rate_of_their_month(june):
    _, table = june
    by_currency = {r["currency"]: r for r in table.iter_rows(named=True)}
    assert by_currency["USD"]["rate_to_base"] == Decimal("0.92")          # the 2024-06-01 rate
    assert by_currency["USD"]["at_stake_base"] == Decimal("276")          # 300.00 USD x 0.92
    assert by_currency["JPY"]["at_stake_base"] is None                    # no JPY rate: never guessed
    assert by_currency["USD"]["customer_name"] == HOSTILE_NAME


def test_earlier_month_takes_the_earlier_rate(ds):
    result = verify(ds, [parse_period("2024-03")])  # not invoiced: every charge is unbilled
    table = analysis.exceptions_table(result, ds, "EUR")
    usd = table.filter(pl.col("currency") == "USD").row(0, named=True)
    assert usd["rate_to_base"] == Decimal("0.9") and usd["at_stake_base"] == Decimal("1080")
    eur = table.filter(pl.col("currency") == "EUR").row(0, named=True)
    assert eur["rate_to_base"] == Decimal("1")


def test_with_base_amount_keeps_row_order_and_handles_undated_rows():
    frame = pl.DataFrame({"amount": ["10", "10", "10", "10"], "cur": ["USD", "EUR", "USD", "GBP"],
                          "day": [dt.date(2024, 6, 30), None, None, dt.date(2024, 6, 30)]},
                         schema_overrides={"amount": DECIMAL})
    fx = pl.DataFrame({"date": [dt.date(2024, 1, 1), dt.date(2024, 7, 1)], "currency": ["USD", "USD"],
                       "rate_to_base": ["0.5", "0.8"]}).with_columns(pl.col("rate_to_base").cast(DECIMAL))
    out = with_base_amount(frame, fx, "EUR", amount="amount", currency="cur", on="day", out="base")
    assert out["cur"].to_list() == ["USD", "EUR", "USD", "GBP"]
    assert out["base"].to_list() == [Decimal("5"), Decimal("10"), Decimal("8"), None]
    with pytest.raises(ParameterError, match="'EURO' is not an ISO 4217"):
        with_base_amount(frame, fx, "EURO", amount="amount", currency="cur", on="day", out="base")


def test_by_check_lists_every_check_largest_stake_first(june):
    result, table = june
    frame = analysis.by_check(result, table)
    assert frame["check"].to_list()[:2] == ["price_mismatch", "quantity_mismatch"]
    assert set(frame["check"]) == set(result.summary["by_check"])
    top = frame.row(0, named=True)
    assert (top["findings"], top["at_stake_base"], top["severity"]) == (1, Decimal("276"), "error")
    assert frame.filter(pl.col("check") == "quantity_mismatch")["unconverted"].item() == 1


def test_customers_currencies_and_largest_cases(june):
    _, table = june
    customers = analysis.by_customer(table)
    assert customers["customer_id"].to_list() == ["C2", "C3"]
    currencies = analysis.at_stake_by_currency(table)
    assert currencies.select("currency", "at_stake", "at_stake_base").rows() == [
        ("JPY", Decimal("1500"), None), ("USD", Decimal("300"), Decimal("276"))]
    cases = analysis.largest_cases(table)
    assert cases["check"].to_list() == ["price_mismatch", "quantity_mismatch"]
    assert cases.schema["at_stake"] == DECIMAL


def test_headline_and_conclusions(june):
    result, table = june
    head = analysis.headline(result, table, "EUR")
    assert head["findings"] == 2 and head["at_stake_base"] == "276.00" and head["unconverted_findings"] == 1
    text = " ".join(analysis.conclusions(head))
    assert "2 findings for 2024-06" in text and "276.00 EUR" in text and "plus 1 finding in" in text


def test_a_clean_month_says_no_findings(ds):
    result = verify(ds, [parse_period("2024-05")])
    table = analysis.exceptions_table(result, ds, "EUR")
    checks = analysis.by_check(result, table)
    assert checks["findings"].sum() == 0
    assert charts.findings_by_check(checks, "EUR") is None
    assert charts.top_customers(analysis.by_customer(table), "EUR") is None
    assert charts.at_stake_by_currency(analysis.at_stake_by_currency(table), "EUR") is None
    head = analysis.headline(result, table, "EUR")
    assert analysis.conclusions(head)[0] == "No findings: every check passed for 2024-05."


def test_charts_carry_data_and_escape_labels(june):
    result, table = june
    fig = charts.top_customers(analysis.by_customer(table), "EUR")
    labels = list(fig.data[0].y)
    # quotes stay as they are: plotly shows &quot; literally (seen in a real browser)
    assert labels[0] == 'C2 · &lt;script&gt;alert("pwned")&lt;/script&gt; &amp; Sons'
    assert list(fig.data[0].x) == [276.0, 0.0]
    fig = charts.findings_by_check(analysis.by_check(result, table), "EUR")
    assert sum(len(t.y) for t in fig.data) == 2


def test_tables_escape_data_and_show_money_in_its_currency(june):
    _, table = june
    page = table_html(analysis.largest_cases(table), money={"at_stake": "currency", "at_stake_base": "EUR"})
    assert HOSTILE_NAME not in page and "&lt;script&gt;alert(" in page
    assert "<td>1500</td>" in page and "<td>300.00</td>" in page and "<td>276.00</td>" in page
    assert "at stake (EUR)" in page


def test_kernel_runs_this_interpreter():
    import sys

    from jupyter_client.kernelspec import KernelSpecManager
    spec = KernelSpecManager().get_kernel_spec(kernel_for_this_python())
    assert is_current_python(spec.argv[0])
    assert is_current_python(sys.executable) and not is_current_python("/opt/other/bin/python3")
