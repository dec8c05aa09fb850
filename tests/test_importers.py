"""Importers on tiny hand-written sources: exact money per currency, row accounting, clear errors (exit 2)."""
from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from billing_lib.data.importers import import_lago, import_online_retail, write_import
from billing_lib.data.importers.base import ImportSourceError, cents_to_text
from billing_lib.data.loading import load_dataset


def billing(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "billing_lib", *args], capture_output=True, text=True)


@pytest.mark.parametrize("cents, currency, text", [
    (100, "EUR", "1.00"), (0, "EUR", "0.00"), (-5, "USD", "-0.05"), (1234, "JPY", "1234"), (1234, "KWD", "1.234"),
    (Decimal("120"), "GBP", "1.20"), (Decimal("120.0"), "EUR", "1.20"),
    ("999999999999999999", "EUR", "9999999999999999.99"),
])
def test_cents_convert_exactly_with_the_currency_digits(cents, currency, text):
    assert cents_to_text(cents, currency) == text


@pytest.mark.parametrize("cents", [Decimal("1.5"), Decimal("NaN"), 1.0, True, None, "12a"])
def test_cents_must_be_whole_minor_units(cents):
    with pytest.raises(ValueError):
        cents_to_text(cents, "EUR")


def lago_invoice(number: str = "INV-1", currency: str = "JPY", **extra) -> dict:
    fee = {"lago_id": "fee-1", "item": {"type": "charge", "name": "Seats"}, "amount_cents": 3000,
           "amount_currency": currency, "taxes_amount_cents": 300, "taxes_rate": 10.0, "units": "3",
           "precise_unit_amount": "1000", "precise_coupons_amount_cents": "0"}
    inv = {"lago_id": f"id-{number}", "number": number, "issuing_date": "2024-03-01", "payment_due_date": "2024-03-31",
           "status": "finalized", "payment_status": "succeeded", "currency": currency, "fees_amount_cents": 3000,
           "coupons_amount_cents": 0, "taxes_amount_cents": 300, "sub_total_including_taxes_amount_cents": 3300,
           "total_amount_cents": 3300, "total_due_amount_cents": 0, "net_payment_term": 30,
           "customer": {"external_id": "cust-1", "name": "Kabushiki", "country": "JP", "currency": currency},
           "fees": [fee]}
    inv.update(extra)
    return {"invoice": inv}


def test_lago_yen_invoice_loads_with_whole_yen(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.json").write_text(json.dumps(lago_invoice()), encoding="utf-8")
    (src / "b.json").write_text(json.dumps(lago_invoice(status="draft", number="")), encoding="utf-8")
    result = import_lago(src)
    assert result.accounted and result.rows_read == 4
    assert result.skipped == {"invoice not finalized (status draft)": 1, "fee of an invoice that was not imported": 1}
    write_import(result, tmp_path / "out")
    ds = load_dataset(tmp_path / "out")
    inv = ds.tables["invoices"].row(0, named=True)
    assert (inv["total"], inv["status"], str(inv["period_start"])) == (Decimal("3300"), "paid", "2024-03-01")
    assert result.tables["invoices"]["total"].to_list() == ["3300"]  # no decimals for JPY
    line = ds.tables["invoice_lines"].row(0, named=True)
    assert (line["quantity"], line["unit_price"], line["amount"], line["tax_amount"]) == (3, 1000, 3000, 300)
    report = json.loads((tmp_path / "out" / "import_report.json").read_text())
    assert report["accounted"] is True


def test_lago_malformed_values_are_skipped_and_counted(tmp_path):
    doc = lago_invoice()
    doc["invoice"]["fees"].append({**doc["invoice"]["fees"][0], "lago_id": "fee-2", "units": "lots"})
    other = lago_invoice(number="INV-2", fees_amount_cents=12.5)
    (tmp_path / "a.json").write_text(json.dumps(doc), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(other), encoding="utf-8")
    result = import_lago(tmp_path)
    assert result.accounted and result.rows_read == 5
    assert result.mapped == {"invoices": 1, "invoice_lines": 1}
    assert result.skipped == {"malformed fee (a value of an unexpected type)": 1,
                              "fees_amount_cents is not a whole number of minor units": 1,
                              "fee of an invoice that was not imported": 1}


def test_lago_coupon_credits_are_spread_over_fees_in_whole_cents():
    fees = [{"lago_id": f"f{i}", "amount_cents": a, "taxes_amount_cents": 0, "taxes_rate": "0", "units": "1"}
            for i, a in enumerate((100, 100, 100))]
    doc = lago_invoice(currency="EUR", fees=fees, fees_amount_cents=300, coupons_amount_cents=100,
                       credits=[{"amount_cents": 100, "before_taxes": True, "item": {"type": "coupon"}}])
    from billing_lib.data.importers.lago import coupon_shares
    assert coupon_shares(doc["invoice"], fees) == [34, 33, 33]


def test_online_retail_both_headers_and_every_skip_reason(tmp_path):
    (tmp_path / "ii.csv").write_text(
        "\ufeffInvoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
        "1001,85123A,HEART,6,12/1/2010 08:26,2.55,17850.0,United Kingdom\n"
        "1001,POST,POSTAGE,1,12/1/2010 08:26,18,17850.0,United Kingdom\n"
        "C1002,85123A,HEART,-2,12/2/2010 09:00,2.55,17850.0,United Kingdom\n"
        "1003,22336,damaged,-71,12/3/2010 10:00,0,,United Kingdom\n"
        "A1004,B,Adjust bad debt,1,12/3/2010 10:00,-11062.06,,United Kingdom\n"
        "1005,22336,thing,1,31/12/2010 10:00,1.00,12345,Nowhere\n", encoding="utf-8")
    result = import_online_retail(tmp_path / "ii.csv")
    assert result.accounted and result.rows_read == 6
    assert result.mapped == {"invoice_lines": 2, "credit_notes (cancellation rows)": 1}
    assert result.skipped == {"negative quantity on an ordinary invoice (stock adjustment)": 1,
                              "negative unit price (bad-debt adjustment)": 1, "invoice date not recognised": 1}
    write_import(result, tmp_path / "out")
    ds = load_dataset(tmp_path / "out")
    assert ds.tables["invoices"]["subtotal"].to_list() == [Decimal("33.30")]  # 15.30 + 18.00
    assert ds.tables["invoices"]["customer_id"].to_list() == ["17850"]  # "17850.0" is the same customer
    assert ds.tables["credit_notes"]["amount"].to_list() == [Decimal("5.10")]


def test_cli_import_writes_a_loadable_folder(tmp_path):
    (tmp_path / "inv.json").write_text(json.dumps(lago_invoice()), encoding="utf-8")
    done = billing("import", "lago", str(tmp_path / "inv.json"), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "2 source rows: 2 mapped, 0 skipped" in done.stdout
    assert billing("validate", str(tmp_path / "out")).returncode == 0


@pytest.mark.parametrize("source, name, content, message", [
    ("lago", "missing.json", None, "does not exist"),
    ("lago", "bad.json", '{"invoice": {', "line 1: not valid JSON"),
    ("lago", "other.json", '{"hello": 1}', "holds no invoice, fee, credit note or payment"),
    ("online-retail", "missing.csv", None, "is not a file"),
    ("online-retail", "wrong.csv", "a,b\n1,2\n", "not an Online Retail file"),
    ("online-retail", "empty.csv", "", "cannot be read as CSV"),
    ("ibm-receivables", "wrong.csv", "a,b\n1,2\n", "not the IBM accounts-receivable sample"),
])
def test_cli_import_unreadable_source_exits_2_and_writes_nothing(tmp_path, source, name, content, message):
    src = tmp_path / name
    if content is not None:
        src.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "customers.csv").write_text("keep me\n", encoding="utf-8")
    done = billing("import", source, str(src), "--out", str(out))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert [p.name for p in out.iterdir()] == ["customers.csv"]
    assert (out / "customers.csv").read_text() == "keep me\n"


def test_import_source_error_is_an_input_error():
    with pytest.raises(ImportSourceError):
        import_online_retail(Path("/nonexistent/file.csv"))


# --- helpers every importer shares ----------------------------------------------------------------------------

@pytest.mark.parametrize("value, currency, text", [
    ("1200", "EUR", "12.00"), ("0.5", "EUR", "0.005"), (5, "JPY", "5"), ("16.75", "KWD", "0.01675"),
    ("2000.0000", "USD", "20.00"),
])
def test_minor_units_finer_than_one_stay_exact(value, currency, text):
    from billing_lib.data.importers.base import minor_to_text
    assert minor_to_text(value, currency) == text


@pytest.mark.parametrize("end, start, day", [
    ("2024-02-01T00:00:00", "2024-01-01T00:00:00", "2024-01-31"),   # Stripe: the end instant is exclusive
    ("2024-01-31T23:59:59", "2024-01-01T00:00:00", "2024-01-31"),   # an end of day closes on its own day
    ("2020-07-27T02:46:24", "2020-06-27T02:46:24", "2020-07-26"),   # anchored at the start's time of day
    ("2024-01-05T00:00:00", "2024-01-05T00:00:00", "2024-01-05"),   # an empty span is its start day
])
def test_last_day_of_a_span_with_an_exclusive_end(end, start, day):
    import calendar
    import datetime as dt

    from billing_lib.data.importers.base import unix_last_day
    seconds = lambda text: calendar.timegm(dt.datetime.fromisoformat(text).timetuple())  # noqa: E731
    assert unix_last_day(seconds(end), seconds(start)) == day


@pytest.mark.parametrize("pairs, currency, rate", [
    ([("100.00", "15.00", False), ("89.00", "11.61", True)], "NZD", "15"),   # exclusive and inclusive lines agree
    ([("1000", "72.50", False)], "USD", "7.25"),
    ([("13608", "1361", False)], "JPY", "10"),
    ([("100.00", "0.00", False)], "EUR", "0"),
    ([("100.00", "15.00", False), ("100.00", "20.00", False)], "EUR", None),   # no single rate gives both
])
def test_the_rate_a_lines_tax_implies(pairs, currency, rate):
    from billing_lib.data.importers.base import implied_rate
    found = implied_rate([(Decimal(b), Decimal(t), i) for b, t, i in pairs], currency)
    assert (None if found is None else f"{found:f}") == rate


@pytest.mark.parametrize("text, code", [("DE", "DE"), ("New Zealand", "NZ"), ("USA", "US"), ("UK", "GB"),
                                        ("EIRE", "IE"), ("Atlantis", None), ("", None)])
def test_country_names_and_codes(text, code):
    from billing_lib.data.importers.base import country_code
    assert country_code(text) == code


def test_row_account_adds_up_per_kind_and_prefixes_reasons():
    from billing_lib.data.importers.base import RowAccount
    account = RowAccount()
    account.read("invoices", 3)
    account.map("invoices", "invoices", 2)
    account.skip("invoices", "draft")
    account.read("lines", 0)
    result = account.result("src", {}, [])
    assert result.accounted and result.rows_read == 3
    assert result.skipped == {"invoices: draft": 1} and "lines" not in result.by_source
    account.read("invoices")
    assert not account.result("src", {}, []).accounted
