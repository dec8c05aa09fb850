"""The ledger module: the chart of accounts, the posting rules and the release of year terms."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
from helpers import header, table, write_dataset

from billing_lib.core.money import DECIMAL
from billing_lib.data.loading import load_dataset
from billing_lib.engine import ledger as gl

D = Decimal


def _by_account(rule: list[tuple[str, Decimal]]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for account, amount in rule:
        out[account] = out.get(account, D(0)) + amount
    return {k: v for k, v in out.items() if v != 0}


def test_every_rule_balances_and_uses_the_chart_of_accounts():
    rules = [gl.invoice_rule(D("119.00"), D("19.00"), D("40.00")), gl.payment_rule(D("50.00")),
             gl.credit_note_rule(D("10.00"), D("1.90"), D("4.00")), gl.release_rule(D("3.33")),
             gl.write_off_rule(D("59.50"))]
    for rule in rules:
        assert sum(amount for _, amount in rule) == 0
        assert {account for account, _ in rule} <= set(gl.ACCOUNT_NAMES)
    assert _by_account(rules[0]) == {"1100": D("119.00"), "4000": D("-60.00"), "2100": D("-40.00"),
                                     "2200": D("-19.00")}   # month revenue = 119.00 - 19.00 tax - 40.00 year
    assert _by_account(rules[4]) == {"6100": D("59.50"), "1100": D("-59.50")}


def test_a_credit_note_posts_as_an_invoice_of_the_opposite_sign():
    note = _by_account(gl.credit_note_rule(D("10.00"), D("1.90"), D("4.00")))
    assert note == _by_account(gl.reversal(gl.invoice_rule(D("11.90"), D("1.90"), D("4.00"))))


def test_the_rules_post_frames_too():
    docs = pl.DataFrame({"source_id": ["INV-1"], "currency": ["EUR"], "date": [dt.date(2024, 3, 1)],
                         "total": [D("119.00")], "tax": [D("19.00")], "year_net": [D("0")]},
                        schema_overrides={c: DECIMAL for c in ("total", "tax", "year_net")})
    lines = gl.post(docs, gl.INVOICE, gl.invoice_rule, "total", "tax", "year_net")
    assert lines.columns == gl.LINE_COLUMNS
    assert dict(zip(lines["account"], lines["amount"], strict=True)) == {
        "1100": D("119.00"), "4000": D("-100.00"), "2100": D("0"), "2200": D("-19.00")}


def _terms(issue: str, start: str, end: str, net: str) -> pl.DataFrame:
    return pl.DataFrame({"currency": ["EUR"], "issue_date": [dt.date.fromisoformat(issue)],
                         "term_start": [dt.date.fromisoformat(start)], "term_end": [dt.date.fromisoformat(end)],
                         "net": [D(net)]}, schema_overrides={"net": DECIMAL})


def test_a_term_invoiced_after_it_ended_is_released_at_once():
    # a 3-day term 2024-01-30..02-01 invoiced 2024-04-01: earned in January (2 days) and February (1 day),
    # released all together at the end of April
    rows = gl.term_months(_terms("2024-04-01", "2024-01-30", "2024-02-01", "3.00"))
    assert rows["month"].dt.strftime("%Y-%m").to_list() == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert rows["recognised"].to_list() == [D("2.00"), D("1.00"), D("0"), D("0")]
    assert rows["released"].to_list() == [D("0"), D("0"), D("0"), D("3.00")]
    assert rows["unbilled"].to_list() == [D("2.00"), D("3.00"), D("3.00"), D("0")]
    assert rows["deferred"].to_list() == [D("0"), D("0"), D("0"), D("0")]


def test_a_term_invoiced_before_it_starts_is_deferred_whole():
    rows = gl.term_months(_terms("2024-01-20", "2024-02-01", "2024-03-31", "60.00"))   # 29 + 31 days
    assert rows["released"].to_list() == [D("29.00"), D("31.00")]
    assert rows["deferred"].to_list() == [D("31.00"), D("0")]
    assert rows["unbilled"].to_list() == [D("0"), D("0")]


def test_write_offs_are_manual_entries_from_receivables_to_bad_debt(tmp_path):
    gl_rows = table(header("gl_entries"),
                    "W1,1,2024-05-15,6100,35.70,,EUR,manual,INV-2",
                    "W1,2,2024-05-15,1100,,35.70,EUR,manual,INV-2",
                    "M1,1,2024-05-20,1100,5.00,,EUR,manual,",          # a manual correction, not a write-off
                    "M1,2,2024-05-20,4000,,5.00,EUR,manual,",
                    "X1,1,2024-05-21,6100,1.00,,EUR,invoice,INV-3",    # not manual
                    "X1,2,2024-05-21,1100,,1.00,EUR,invoice,INV-3")
    ds = load_dataset(write_dataset(tmp_path / "data", gl_entries=gl_rows))
    assert gl.write_off_entries(ds).rows() == [("W1", dt.date(2024, 5, 15), "EUR", "INV-2", D("35.70"))]
    assert gl.account_balance(ds, gl.RECEIVABLES, dt.date(2024, 5, 31)).rows() == [("EUR", D("-31.70"))]


def test_a_tax_inclusive_year_term_defers_its_revenue_without_the_tax():
    invoices = pl.LazyFrame({"invoice_id": ["I1", "I2"], "currency": ["EUR", "EUR"],
                             "period_start": [dt.date(2024, 1, 1)] * 2, "tax_behavior": ["inclusive", None]})
    lines = pl.LazyFrame({"invoice_id": ["I1", "I1", "I2"], "plan_id": ["Y", "M", "Y"],
                          "period_start": [dt.date(2024, 1, 1)] * 3,
                          "period_end": [dt.date(2024, 12, 31), dt.date(2024, 1, 31), dt.date(2024, 12, 31)],
                          "amount": [D("119.00"), D("11.90"), D("100.00")], "discount": [D("0")] * 3,
                          "tax_amount": [D("19.00"), D("1.90"), D("19.00")]},
                         schema_overrides={c: DECIMAL for c in ("amount", "discount", "tax_amount")})
    plans = pl.LazyFrame({"plan_id": ["Y", "M"], "currency": ["EUR", "EUR"], "interval": ["year", "month"]})
    got = gl.invoice_amounts(invoices, lines, plans).sort("invoice_id").collect()
    assert got["year_net"].to_list() == [D("100.00"), D("100.00")]   # 119.00 holds 19.00 tax; I2 is exclusive
    assert got["lines_net"].to_list() == [D("110.00"), D("100.00")]  # 100.00 + 11.90 - 1.90
