"""billing import stripe: Stripe API list responses (current and older shapes) as a dataset, exactly."""
from __future__ import annotations

import calendar
import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from billing_lib.data.importers import import_stripe, write_import
from billing_lib.data.loading import load_dataset
from billing_lib.verification import verify


def ts(day: str) -> int:
    return calendar.timegm(dt.date.fromisoformat(day).timetuple())


def listing(*data: dict) -> dict:
    return {"object": "list", "data": list(data), "has_more": False, "url": "/v1/x"}


def write(folder: Path, **files: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / f"{name.replace('__', '-')}.json").write_text(json.dumps(listing(*data)), encoding="utf-8")
    return folder


CUSTOMER = {"id": "cus_1", "object": "customer", "name": "Müller GmbH", "email": "ap@example.com",
            "address": {"country": "DE"}, "currency": "eur", "tax_exempt": "none",
            "metadata": {"customer_id": "C-1"}}
SEAT = {"id": "price_seat", "object": "price", "currency": "eur", "product": "prod_seat", "type": "recurring",
        "billing_scheme": "per_unit", "unit_amount": 1200, "unit_amount_decimal": "1200",
        "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
        "metadata": {"plan_id": "SEAT"}}
CALLS = {"id": "price_calls", "object": "price", "currency": "eur", "product": "prod_calls", "type": "recurring",
         "billing_scheme": "tiered", "tiers_mode": "graduated",
         "tiers": [{"up_to": 1000, "unit_amount": None, "unit_amount_decimal": "0.5", "flat_amount": 0,
                    "flat_amount_decimal": "0"},
                   {"up_to": None, "unit_amount": None, "unit_amount_decimal": "0.25", "flat_amount": 500,
                    "flat_amount_decimal": "500"}],
         "recurring": {"interval": "month", "interval_count": 1, "usage_type": "metered"}, "metadata": {}}
SMS = {"id": "price_sms", "object": "price", "currency": "eur", "product": "prod_sms", "type": "recurring",
       "billing_scheme": "per_unit", "unit_amount": 400, "unit_amount_decimal": "400",
       "transform_quantity": {"divide_by": 100, "round": "up"},
       "recurring": {"interval": "month", "interval_count": 1, "usage_type": "metered"}, "metadata": {}}
LICENCE = {"id": "price_year", "object": "price", "currency": "eur", "product": "prod_year", "type": "recurring",
           "billing_scheme": "per_unit", "unit_amount": 99000, "unit_amount_decimal": "99000",
           "recurring": {"interval": "year", "interval_count": 1, "usage_type": "licensed"},
           "metadata": {"plan_id": "LIC-Y"}}
COUPON = {"id": "co_1", "object": "coupon", "percent_off": 12.5, "amount_off": None, "duration": "forever"}
VAT = {"id": "txr_de", "object": "tax_rate", "country": "DE", "percentage": 19, "inclusive": False,
       "active": True, "created": ts("2020-01-01")}
SUBSCRIPTION = {
    "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active", "currency": "eur",
    "start_date": ts("2024-01-10"), "ended_at": None, "cancel_at": None, "days_until_due": 14,
    "collection_method": "send_invoice", "metadata": {"subscription_id": "S-1"},
    "discounts": [{"object": "discount", "id": "di_1", "source": {"coupon": "co_1", "type": "coupon"}}],
    "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item", "price": SEAT, "quantity": 3,
                                          "metadata": {}}]}}
USAGE_SUB = {
    "id": "sub_2", "object": "subscription", "customer": "cus_1", "status": "canceled", "currency": "eur",
    "start_date": ts("2024-01-01"), "ended_at": ts("2024-03-01"), "metadata": {},
    "items": {"object": "list", "data": [
        {"id": "si_2", "object": "subscription_item", "price": CALLS, "metadata": {"subscription_id": "S-2"}},
        {"id": "si_3", "object": "subscription_item", "price": SMS, "metadata": {}}]}}


def current_invoice() -> dict:
    """A January invoice in the current API shape: a prorated seat line with the coupon, and usage."""
    return {
        "id": "in_1", "object": "invoice", "number": "ABC-0001", "customer": "cus_1", "currency": "eur",
        "status": "paid", "created": ts("2024-02-01"), "effective_at": ts("2024-02-01"), "due_date": ts("2024-02-15"),
        "status_transitions": {"finalized_at": ts("2024-02-01"), "paid_at": ts("2024-02-03")},
        "metadata": {"invoice_id": "INV-0001"}, "subtotal": 3625, "total": 3934, "amount_paid": 3815,
        "total_discount_amounts": [{"amount": 319, "discount": "di_1"}],
        "total_taxes": [{"amount": 628, "tax_behavior": "exclusive", "tax_rate_details": {"tax_rate": "txr_de"},
                         "taxable_amount": 3306, "type": "tax_rate_details"}],
        "lines": {"object": "list", "has_more": False, "data": [
            {"id": "il_1", "object": "line_item", "amount": 2555, "currency": "eur", "quantity": 3,
             "description": "3 seats, prorated", "period": {"start": ts("2024-01-10"), "end": ts("2024-02-01")},
             "discount_amounts": [{"amount": 319, "discount": "di_1"}], "metadata": {},
             "parent": {"type": "subscription_item_details", "subscription_item_details": {
                 "subscription": "sub_1", "subscription_item": "si_1", "proration": True}},
             "pricing": {"type": "price_details", "price_details": {"price": "price_seat", "product": "prod_seat"},
                         "unit_amount_decimal": "1200"},
             "taxes": [{"amount": 425, "tax_behavior": "exclusive", "tax_rate_details": {"tax_rate": "txr_de"},
                        "taxable_amount": 2236, "type": "tax_rate_details"}]},
            {"id": "il_2", "object": "line_item", "amount": 1070, "currency": "eur", "quantity": 1280,
             "description": "1280 calls", "period": {"start": ts("2024-01-01"), "end": ts("2024-02-01")},
             "discount_amounts": [], "metadata": {},
             "parent": {"type": "subscription_item_details", "subscription_item_details": {
                 "subscription": "sub_2", "subscription_item": "si_2", "proration": False}},
             "pricing": {"type": "price_details", "price_details": {"price": "price_calls"},
                         "unit_amount_decimal": None},
             "taxes": [{"amount": 203, "tax_behavior": "exclusive", "tax_rate_details": {"tax_rate": "txr_de"},
                        "taxable_amount": 1070, "type": "tax_rate_details"}]}]}}


@pytest.fixture
def export(tmp_path) -> Path:
    summaries = [{"id": "sis_1", "object": "usage_record_summary", "subscription_item": "si_2",
                  "period": {"start": ts("2024-01-01"), "end": ts("2024-02-01")}, "total_usage": 1280,
                  "invoice": "in_1"}]
    payment = {"id": "pi_1", "object": "payment_intent", "amount": 3815, "amount_received": 3815, "currency": "eur",
               "customer": "cus_1", "status": "succeeded", "created": ts("2024-02-01"),
               "description": "Transfer INV-0001", "metadata": {"payment_id": "PAY-1"}}
    in_pay = {"id": "inpay_1", "object": "invoice_payment", "invoice": "in_1", "amount_paid": 3815,
              "currency": "eur", "status": "paid", "payment": {"type": "payment_intent", "payment_intent": "pi_1"},
              "status_transitions": {"paid_at": ts("2024-02-03")}}
    note = {"id": "cn_1", "object": "credit_note", "invoice": "in_1", "currency": "eur", "amount": 119,
            "total_excluding_tax": 100, "status": "issued", "created": ts("2024-02-10"), "memo": "goodwill",
            "reason": "order_change", "total_taxes": [{"amount": 19, "tax_behavior": "exclusive"}],
            "lines": {"object": "list", "data": [{"id": "cnli_1", "object": "credit_note_line_item", "amount": 100}]}}
    return write(tmp_path / "stripe", customers=[CUSTOMER], prices=[SEAT, CALLS, SMS, LICENCE], coupons=[COUPON],
                 tax_rates=[VAT], subscriptions=[SUBSCRIPTION, USAGE_SUB], invoices=[current_invoice()],
                 credit_notes=[note], payment_intents=[payment], invoice_payments=[in_pay],
                 usage_record_summaries=summaries)


def rows(result, table: str) -> list[dict]:
    return result.tables[table].to_dicts()


def test_price_book_comes_along_exactly(export):
    result = import_stripe(export)
    plans = {(p["plan_id"], p["currency"]): p for p in rows(result, "plans")}
    assert plans[("SEAT", "EUR")]["charge_model"] == "per_unit" and plans[("SEAT", "EUR")]["unit_price"] == "12.00"
    assert plans[("price_calls", "EUR")]["billing"] == "usage"
    assert plans[("price_calls", "EUR")]["charge_model"] == "graduated"
    assert [(t["tier"], t["up_to"], t["unit_price"], t["flat_fee"]) for t in rows(result, "plan_tiers")] == [
        ("1", "1000", "0.005", "0.00"), ("2", None, "0.0025", "5.00")]   # finer than a cent, exactly
    sms = plans[("price_sms", "EUR")]
    assert (sms["charge_model"], sms["package_size"], sms["unit_price"]) == ("package", "100", "4.00")
    assert plans[("LIC-Y", "EUR")]["interval"] == "year"
    subs = {s["subscription_id"]: s for s in rows(result, "subscriptions")}
    assert set(subs) == {"S-1", "S-2", "si_3"}    # the second item of sub_2 has no metadata: its Stripe id
    assert (subs["S-1"]["discount_pct"], subs["S-1"]["quantity"], subs["S-1"]["start_date"]) == ("12.5", "3",
                                                                                                  "2024-01-10")
    assert subs["S-2"]["end_date"] == "2024-02-29"   # ended_at is an exclusive instant
    assert subs["S-2"]["quantity"] is None           # metered
    assert rows(result, "tax_rates")[0] | {"stripe_tax_rate": None} == {
        "country": "DE", "valid_from": "1970-01-01", "valid_to": None, "rate_pct": "19", "stripe_tax_rate": None}


def test_documents_map_to_the_contract_and_verify_clean(export, tmp_path):
    result = import_stripe(export)
    customer = rows(result, "customers")[0]
    assert (customer["customer_id"], customer["country"], customer["currency"], customer["payment_terms_days"]) == (
        "C-1", "DE", "EUR", "14")
    inv = rows(result, "invoices")[0]
    assert {k: inv[k] for k in ("invoice_id", "issue_date", "due_date", "period_start", "period_end", "subtotal",
                                "discount", "tax", "total", "status", "tax_behavior")} == {
        "invoice_id": "INV-0001", "issue_date": "2024-02-01", "due_date": "2024-02-15",
        "period_start": "2024-01-01", "period_end": "2024-01-31", "subtotal": "36.25", "discount": "3.19",
        "tax": "6.28", "total": "39.34", "status": "paid", "tax_behavior": "exclusive"}
    first, second = rows(result, "invoice_lines")
    assert {k: first[k] for k in ("line_no", "subscription_id", "plan_id", "period_start", "period_end",
                                  "quantity", "unit_price", "amount", "discount", "tax_rate_pct", "tax_amount")} == {
        "line_no": "1", "subscription_id": "S-1", "plan_id": "SEAT", "period_start": "2024-01-10",
        "period_end": "2024-01-31", "quantity": "3", "unit_price": "12.00", "amount": "25.55", "discount": "3.19",
        "tax_rate_pct": "19", "tax_amount": "4.25"}
    assert (second["subscription_id"], second["unit_price"], second["quantity"]) == ("S-2", None, "1280")
    assert rows(result, "usage")[0]["quantity"] == "1280"
    payment = rows(result, "payments")[0]
    assert (payment["payment_id"], payment["invoice_id"], payment["received_date"], payment["reference"]) == (
        "PAY-1", "INV-0001", "2024-02-03", "Transfer INV-0001")
    note = rows(result, "credit_notes")[0]
    assert (note["credit_note_id"], note["invoice_id"], note["amount"], note["tax"], note["reason"]) == (
        "cn_1", "INV-0001", "1.00", "0.19", "goodwill")
    assert result.accounted
    assert result.report()["by_source"]["invoice lines"] == {"read": 2, "mapped": {"invoice_lines": 2},
                                                             "skipped": {}}
    write_import(result, tmp_path / "out")
    found = verify(load_dataset(tmp_path / "out")).exceptions
    # the contract's rating of Stripe's own price book agrees with Stripe's invoice to the cent
    assert found.filter(pl.col("severity") != "info").height == 0, found.select("check", "message").to_dicts()


def test_ids_without_metadata_are_stripe_ids_numbers_and_line_order(tmp_path):
    inv = current_invoice()
    inv["metadata"] = {}
    customer = {**CUSTOMER, "metadata": {}}
    sub = {**SUBSCRIPTION, "metadata": {}}
    folder = write(tmp_path / "s", customers=[customer], prices=[SEAT], subscriptions=[sub], invoices=[inv])
    result = import_stripe(folder)
    assert rows(result, "customers")[0]["customer_id"] == "cus_1"
    assert rows(result, "subscriptions")[0]["subscription_id"] == "sub_1"
    assert [(x["invoice_id"], x["line_no"]) for x in rows(result, "invoice_lines")] == [("ABC-0001", "1"),
                                                                                        ("ABC-0001", "2")]
    assert rows(result, "invoices")[0]["customer_id"] == "cus_1"


def test_older_shape_lines_and_inclusive_tax(tmp_path):
    inv = {"id": "in_9", "object": "invoice", "number": "E5B-0002", "customer": "cus_1", "currency": "usd",
           "status": "paid", "created": ts("2020-06-27"), "status_transitions": {"finalized_at": ts("2020-06-27")},
           "subtotal": 4000, "total": 4000, "tax": 522, "charge": "ch_1", "payment_intent": "pi_9",
           "total_tax_amounts": [{"amount": 522, "inclusive": True, "tax_rate": "txr_nz"}],
           "lines": {"object": "list", "data": [{
               "id": "il_9", "object": "line_item", "amount": 4000, "currency": "usd", "quantity": 1,
               "period": {"start": ts("2020-06-27"), "end": ts("2020-07-27")}, "proration": False,
               "type": "subscription", "subscription": "sub_9", "subscription_item": "si_9",
               "price": {"id": "price_silver", "object": "price", "currency": "usd", "unit_amount": 4000,
                         "unit_amount_decimal": "4000", "billing_scheme": "per_unit", "type": "recurring",
                         "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"}},
               "tax_amounts": [{"amount": 522, "inclusive": True, "tax_rate": "txr_nz"}],
               "tax_rates": [{"id": "txr_nz", "object": "tax_rate", "percentage": 15.0, "inclusive": True}]}]}}
    result = import_stripe(write(tmp_path / "s", customers=[{**CUSTOMER, "currency": "usd"}], invoices=[inv]))
    head = rows(result, "invoices")[0]
    assert (head["subtotal"], head["tax"], head["total"], head["tax_behavior"]) == ("40.00", "5.22", "40.00",
                                                                                    "inclusive")
    line = rows(result, "invoice_lines")[0]
    assert (line["plan_id"], line["unit_price"], line["tax_rate_pct"], line["tax_amount"], line["period_end"]) == (
        "price_silver", "40.00", "15", "5.22", "2020-07-26")
    # no payment objects in the export: the invoice's amount_paid is its payment
    assert rows(result, "payments") == []  # amount_paid absent here, so none
    assert any("no subscriptions" in n for n in result.notes)


def test_pages_are_read_once_and_tax_rates_follow_metadata_or_the_lines(tmp_path):
    old = {**VAT, "id": "txr_de19", "percentage": 19, "metadata": {"valid_to": "2024-02-29"},
           "created": ts("2024-05-01")}
    new = {**VAT, "id": "txr_de20", "percentage": 20, "metadata": {"valid_from": "2024-03-01"},
           "created": ts("2024-05-01")}
    old["metadata"]["valid_from"] = "2000-01-01"
    folder = write(tmp_path / "s", customers__1=[CUSTOMER], customers__2=[CUSTOMER, {**CUSTOMER, "id": "cus_2",
                                                                                    "metadata": {}}],
                   tax_rates=[old, new], invoices=[current_invoice()])
    result = import_stripe(folder)
    assert result.by_source["customers"]["skipped"] == {"read before (same id on another page or file)": 1}
    assert [(r["rate_pct"], r["valid_from"], r["valid_to"]) for r in rows(result, "tax_rates")] == [
        ("19", "2000-01-01", "2024-02-29"), ("20", "2024-03-01", None)]


def test_rate_in_force_by_the_lines_when_stripe_cannot_tell(tmp_path):
    """Two active DE rates created the same day: the rate most lines of a month charge is in force."""
    from billing_lib.data.importers.base import RowAccount
    from billing_lib.data.importers.stripe_pricebook import TaxBook, settle_tax_rows
    book = TaxBook(by_country={"DE": [{"id": "a", "percentage": 19, "created": 5}, {"id": "b", "percentage": 21,
                                                                                     "created": 5}]})
    customers = [{"customer_id": "C", "country": "DE", "tax_exempt": "false"}]
    invoices = [{"invoice_id": f"I{m}{k}", "customer_id": "C", "issue_date": f"2024-0{m}-01", "status": "open"}
                for m in (1, 2) for k in range(3)]
    lines = [{"invoice_id": i["invoice_id"], "tax_rate_pct": "21" if i["invoice_id"] == "I10" else "19"}
             for i in invoices]
    settle_tax_rows(book, customers, invoices, lines, RowAccount())
    assert [(r["rate_pct"], r["valid_from"], r["valid_to"]) for r in book.rows] == [("19", "1970-01-01", None)]


@pytest.mark.parametrize("files, message", [
    (None, "does not exist"),
    ({"invoices.json": "{"}, "not valid JSON"),
    ({"events.json": json.dumps(listing({"id": "evt_1", "object": "event"}))}, "holds no customer"),
])
def test_unreadable_export_exits_2_and_writes_nothing(tmp_path, files, message):
    src = tmp_path / "export"
    if files is not None:
        src.mkdir()
        for name, text in files.items():
            (src / name).write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "billing_lib", "import", "stripe", str(src), "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not out.exists() or not any(out.iterdir())


def test_report_adds_up_per_kind_of_row(export):
    report = import_stripe(export).report()
    assert report["accounted"]
    assert report["rows_read"] == sum(report["mapped"].values()) + sum(report["skipped"].values())
    for kind, k in report["by_source"].items():
        assert k["read"] == sum(k["mapped"].values()) + sum(k["skipped"].values()), kind
    assert Decimal(1)  # money stayed Decimal: see test_documents_map_to_the_contract_and_verify_clean
