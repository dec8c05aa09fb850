"""The loader against the data contract: every kind of broken file, and the formats it must accept.

Each broken-input test checks the exact shape of the message (file, spreadsheet
row - header = row 1, first data row = row 2 - and column) and that
``billing validate`` exits 2 with no traceback.
"""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from helpers import CUST_H, INV_H, PLANS_H, SUBS_H, table, write_dataset

from billing_lib.core.money import DECIMAL
from billing_lib.data.contract import TABLES
from billing_lib.data.dataset import ROW
from billing_lib.data.loading import load_dataset
from billing_lib.errors import DatasetError


def run_validate(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "billing_lib", "validate", str(folder)],
                          capture_output=True, text=True, timeout=120)


def rejected(folder: Path, *expected: str, count: int | None = None) -> str:
    """Assert the dataset is refused, by the library and by ``billing validate`` (exit 2, no traceback).

    Each ``expected`` text must be one problem line of the message, exactly.
    """
    with pytest.raises(DatasetError) as info:
        load_dataset(folder)
    message = str(info.value)
    lines = [ln.strip()[2:] for ln in message.splitlines() if ln.strip().startswith("- ")]
    for text in expected:
        assert text in lines, f"no problem line {text!r} in:\n{message}"
    if count is not None:
        assert len(info.value.problems) == count, message
        assert f"({count} problem" in message
    result = run_validate(folder)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for text in expected:
        assert text in result.stderr
    return message


def where(folder: Path, file: str, row: int | None = None, column: str | None = None) -> str:
    """The location prefix of a problem line: '<folder>/<file>, row N, column 'c''."""
    out = str(folder / file)
    if row is not None:
        out += f", row {row}"
    if column is not None:
        out += f", column {column!r}"
    return out


# ---------------------------------------------------------------------------------------------
# broken input: one test per kind

def test_missing_required_column(tmp_path):
    d = write_dataset(tmp_path / "d", customers=table(
        "customer_id,name,email,country,currency,payment_terms_days", "C1,Acme,,DE,EUR,30"))
    rejected(d, where(d, "customers.csv", column="tax_exempt") + ": required column is missing "
             "(columns found: customer_id, name, email, country, currency, payment_terms_days)", count=1)


def test_bad_date(tmp_path):
    d = write_dataset(tmp_path / "d", subscriptions=table(
        SUBS_H, "S1,C1,SEAT,3,2024-01-01,,,", "S2,C1,SEAT,3,2024-02-30,,,", "S3,C1,SEAT,3,01/02/2024,,,",
        "S4,C1,SEAT,3,2024-01-01,2023-02-29,,"))
    rejected(d,
             where(d, "subscriptions.csv", 3, "start_date") + ": '2024-02-30' is not a date as YYYY-MM-DD",
             where(d, "subscriptions.csv", 4, "start_date") + ": '01/02/2024' is not a date as YYYY-MM-DD",
             where(d, "subscriptions.csv", 5, "end_date") + ": '2023-02-29' is not a date as YYYY-MM-DD",
             count=3)


def test_bad_date_in_a_billing_document_is_a_load_error(tmp_path):
    d = write_dataset(tmp_path / "d", invoices=table(
        INV_H, "INV-1,C1,EUR,2024-02-01,next month,2024-01-01,2024-01-31,30.00,0,5.70,35.70,open"))
    rejected(d, where(d, "invoices.csv", 2, "due_date") + ": 'next month' is not a date as YYYY-MM-DD", count=1)


def test_non_numeric_amount(tmp_path):
    d = write_dataset(tmp_path / "d",
                      plans=table(PLANS_H, "SEAT,EUR,Seats,recurring,month,per_unit,ten,,,,"),
                      invoices=table(INV_H, "INV-1,C1,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,"
                                            "\"30,00\",0,5.70,35.70,open"))
    rejected(d,
             where(d, "plans.csv", 2, "unit_price") + ": 'ten' is not a decimal number such as 1234.50",
             where(d, "invoices.csv", 2, "subtotal") + ": '30,00' is not a decimal number such as 1234.50",
             count=2)


def test_unknown_currency(tmp_path):
    d = write_dataset(tmp_path / "d", customers=table(
        CUST_H, "C1,Acme,,DE,EUR,30,false", "C2,Nowhere Inc,,DE,XYZ,30,false"))
    message = rejected(d, where(d, "customers.csv", 3, "currency")
                       + ": 'XYZ' is not an ISO 4217 currency code (expected e.g. EUR, USD, JPY)", count=1)
    # the shape the brief asks for, word for word
    assert "customers.csv, row 3, column 'currency': 'XYZ' is not an ISO 4217 currency code" in message


def test_duplicate_key_in_reference_table(tmp_path):
    d = write_dataset(tmp_path / "d",
                      customers=table(CUST_H, "C1,Acme,,DE,EUR,30,false", "C2,Beta,,DE,EUR,30,false",
                                      "C1,Acme again,,DE,EUR,14,false"),
                      plans=table(PLANS_H, "SEAT,EUR,Seats,recurring,month,per_unit,10.00,,,,",
                                  "SEAT,USD,Seats,recurring,month,per_unit,11.00,,,,",
                                  "SEAT,EUR,Seats,recurring,month,per_unit,12.00,,,,"))
    rejected(d,
             where(d, "customers.csv", 4, "customer_id")
             + ": duplicate key (customer_id=C1) also on row 2; keys must be unique",
             # a composite key: same plan and currency; SEAT in USD is another row of the price book
             where(d, "plans.csv", 4, "plan_id, currency")
             + ": duplicate key (plan_id=SEAT, currency=EUR) also on row 2; keys must be unique",
             count=2)


def test_empty_required_table(tmp_path):
    d = write_dataset(tmp_path / "d", subscriptions=table(SUBS_H))
    rejected(d, where(d, "subscriptions.csv") + ": required table 'subscriptions' has no rows", count=1)


def test_missing_required_table(tmp_path):
    d = write_dataset(tmp_path / "d", tax_rates=None)
    rejected(d, str(d) + ": required table 'tax_rates' is missing "
             "(looked for tax_rates.csv, tax_rates.parquet, tax_rates.xlsx)", count=1)


def test_bad_enum_value(tmp_path):
    d = write_dataset(tmp_path / "d", plans=table(
        PLANS_H, "SEAT,EUR,Seats,recurring,monthly,per_unit,10.00,,,,",
        "API,EUR,API,metered,month,tiered,,,,,"))
    rejected(d,
             where(d, "plans.csv", 2, "interval") + ": 'monthly' is not one of month, year",
             where(d, "plans.csv", 3, "billing") + ": 'metered' is not one of recurring, usage",
             where(d, "plans.csv", 3, "charge_model")
             + ": 'tiered' is not one of flat, per_unit, graduated, volume, package, percentage",
             count=3)


def test_negative_quantity(tmp_path):
    d = write_dataset(tmp_path / "d",
                      subscriptions=table(SUBS_H, "S1,C1,SEAT,-3,2024-01-01,,,"),
                      usage=table("event_id,subscription_id,event_time,quantity",
                                  "E1,S1,2024-01-05T10:00:00Z,5", "E2,S1,2024-01-06T10:00:00Z,-0.5"))
    rejected(d,
             where(d, "subscriptions.csv", 2, "quantity") + ": '-3' is negative; it must be 0 or more",
             where(d, "usage.csv", 3, "quantity") + ": '-0.5' is negative; it must be 0 or more",
             count=2)


def test_percentage_over_100(tmp_path):
    d = write_dataset(tmp_path / "d",
                      subscriptions=table(SUBS_H, "S1,C1,SEAT,3,2024-01-01,,150,"),
                      tax_rates=table("country,valid_from,valid_to,rate_pct", "DE,2000-01-01,,100.01"))
    rejected(d,
             where(d, "subscriptions.csv", 2, "discount_pct") + ": '150' is not a percentage between 0 and 100",
             where(d, "tax_rates.csv", 2, "rate_pct") + ": '100.01' is not a percentage between 0 and 100",
             count=2)


def test_bad_boolean(tmp_path):
    d = write_dataset(tmp_path / "d", customers=table(CUST_H, "C1,Acme,,DE,EUR,30,maybe"))
    rejected(d, where(d, "customers.csv", 2, "tax_exempt") + ": 'maybe' is not true or false", count=1)


@pytest.mark.parametrize("value", ["yes", "no", "1", "0", "t", "Y", "ja", "true "])
def test_boolean_is_true_or_false_only(tmp_path, value):
    d = write_dataset(tmp_path / "d", customers=table(CUST_H, f'C1,Acme,,DE,EUR,30,"{value}"'))
    if value.strip() == "true":  # blanks around a value are not part of it
        assert load_dataset(d).tables["customers"]["tax_exempt"].to_list() == [True]
        return
    rejected(d, where(d, "customers.csv", 2, "tax_exempt") + f": {value!r} is not true or false", count=1)


def test_boolean_in_any_case(tmp_path):
    d = write_dataset(tmp_path / "d", customers=table(CUST_H, "C1,Acme,,DE,EUR,30,TRUE", "C2,Beta,,DE,EUR,30,False"))
    assert load_dataset(d).tables["customers"]["tax_exempt"].to_list() == [True, False]


@pytest.mark.parametrize("code", ["ZQ", "UK", "EU", "XK", "D", "DEU", "de"])
def test_country_not_in_iso_3166_is_refused(tmp_path, code):
    d = write_dataset(tmp_path / "d", customers=table(CUST_H, f"C1,Acme,,{code},EUR,30,false"),
                      tax_rates=table("country,valid_from,valid_to,rate_pct", "DE,2000-01-01,,19",
                                      f"{code},2000-01-01,,10"))
    problem = f": {code!r} is not an ISO 3166-1 alpha-2 country code such as DE (ZZ: unknown)"
    rejected(d, where(d, "customers.csv", 2, "country") + problem, where(d, "tax_rates.csv", 3, "country") + problem,
             count=2)


def test_every_iso_country_and_zz_for_unknown_are_accepted(tmp_path):
    codes = ["DE", "KW", "JP", "AQ", "SS", "ZZ"]  # any ISO 3166-1 alpha-2 code, Antarctica and South Sudan too
    d = write_dataset(tmp_path / "d", customers=table(CUST_H, *(f"C{i},Acme,,{c},EUR,30,false"
                                                                 for i, c in enumerate(codes))),
                      tax_rates=table("country,valid_from,valid_to,rate_pct", "DE,2000-01-01,,19", "ZZ,2000-01-01,,0"))
    assert load_dataset(d).tables["customers"]["country"].to_list() == codes


def test_several_problems_in_one_file_reported_at_once(tmp_path):
    d = write_dataset(tmp_path / "d", customers=table(
        CUST_H, "C1,Acme,,DE,EUR,30,false", "C2,Beta,,de,XYZ,-1,maybe", "C3,Gamma,,DE,EUR,ten,", ",Delta,,FR,EUR,0,"))
    rejected(d,
             where(d, "customers.csv", 3, "country") + ": 'de' is not an ISO 3166-1 alpha-2 country code such as DE (ZZ: unknown)",
             where(d, "customers.csv", 3, "currency")
             + ": 'XYZ' is not an ISO 4217 currency code (expected e.g. EUR, USD, JPY)",
             where(d, "customers.csv", 3, "payment_terms_days") + ": '-1' is negative; it must be 0 or more",
             where(d, "customers.csv", 3, "tax_exempt") + ": 'maybe' is not true or false",
             where(d, "customers.csv", 4, "payment_terms_days") + ": 'ten' is not a whole number",
             where(d, "customers.csv", 5, "customer_id") + ": value is required but empty",
             count=6)


def test_problems_in_several_files_reported_at_once(tmp_path):
    d = write_dataset(tmp_path / "d", tax_rates=None,
                      customers=table(CUST_H, "C1,Acme,,DE,EUR,30,maybe"),
                      plans=table(PLANS_H, "SEAT,EUR,Seats,recurring,month,per_unit,-1,,,,"))
    rejected(d,
             str(d) + ": required table 'tax_rates' is missing "
             "(looked for tax_rates.csv, tax_rates.parquet, tax_rates.xlsx)",
             where(d, "customers.csv", 2, "tax_exempt") + ": 'maybe' is not true or false",
             where(d, "plans.csv", 2, "unit_price") + ": '-1' is negative; it must be 0 or more",
             count=3)


def test_file_with_a_row_of_too_many_values_cannot_be_parsed(tmp_path):
    d = write_dataset(tmp_path / "d", customers=table(
        CUST_H, "C1,Acme,,DE,EUR,30,false", "C2,Beta,,DE,EUR,30,false,surplus"))
    rejected(d, where(d, "customers.csv", 3) + ": cannot be read: 8 values but the header names 7 columns",
             count=1)


def test_file_with_an_unclosed_quote_cannot_be_parsed(tmp_path):
    d = write_dataset(tmp_path / "d", customers=table(
        CUST_H, "C1,Acme,,DE,EUR,30,false", 'C2,"Beta,,DE,EUR,30,false', "C3,Gamma,,DE,EUR,30,false"))
    rejected(d, where(d, "customers.csv", 3) + ": cannot be read: a quoted value opened here is never closed",
             count=1)


def test_binary_garbage_cannot_be_parsed(tmp_path):
    d = write_dataset(tmp_path / "d", customers=None, plans=None)
    (d / "customers.parquet").write_bytes(b"PAR1 this is not parquet")
    (d / "plans.xlsx").write_bytes(b"this is not a workbook")
    message = rejected(d, count=2)
    assert where(d, "customers.parquet") + ": cannot be read: " in message
    assert where(d, "plans.xlsx") + ": cannot be read: " in message


def test_table_given_twice_is_refused(tmp_path):
    d = write_dataset(tmp_path / "d")
    shutil.copy(d / "customers.csv", d / "customers.xlsx")
    rejected(d, str(d) + ": table 'customers' is given twice (customers.csv, customers.xlsx); keep one file")


def test_plan_without_what_its_model_needs(tmp_path):
    d = write_dataset(tmp_path / "d", plans=table(
        PLANS_H, "SEAT,EUR,Seats,recurring,month,per_unit,10.00,,,,",
        "PKG,EUR,Packs,usage,month,package,5.00,0,,,",
        "GRAD,EUR,Tiered,usage,month,graduated,,,,,"))
    rejected(d,
             where(d, "plans.csv", 3, "package_size")
             + ": plan 'PKG' uses the package model and needs a package_size above 0",
             where(d, "plans.csv", 4, "charge_model")
             + ": plan 'GRAD' (EUR) is graduated but plan_tiers has no tiers for it",
             count=2)


def test_tiers_that_do_not_fit_together(tmp_path):
    d = write_dataset(tmp_path / "d",
                      plans=table(PLANS_H, "SEAT,EUR,Seats,recurring,month,per_unit,10.00,,,,",
                                  "VOL,EUR,Volume,usage,month,volume,,,,,",
                                  "GRAD,EUR,Graduated,usage,month,graduated,,,,,"),
                      plan_tiers=table("plan_id,currency,tier,up_to,unit_price,flat_fee",
                                       "VOL,EUR,1,100,1.00,",      # row 2
                                       "VOL,EUR,2,500,0.50,",      # row 3: the last tier has a bound
                                       "GRAD,EUR,1,100,1.00,",     # row 4
                                       "GRAD,EUR,2,,0.50,",        # row 5: open, but not the last tier
                                       "GRAD,EUR,3,,0.25,"))       # row 6
    rejected(d,
             where(d, "plan_tiers.csv", 3, "up_to") + ": tier 2 is the last tier of plan 'VOL' (EUR); its up_to "
             "must be empty (no bound), else larger quantities have no price",
             where(d, "plan_tiers.csv", 5, "up_to")
             + ": tier 2 of plan 'GRAD' has no up_to; only the last tier is open",
             count=2)


def test_subscription_ending_before_it_starts(tmp_path):
    d = write_dataset(tmp_path / "d", subscriptions=table(SUBS_H, "S1,C1,SEAT,3,2024-03-01,2024-02-29,,"))
    rejected(d, where(d, "subscriptions.csv", 2, "end_date")
             + ": subscription 'S1' ends (2024-02-29) before it starts (2024-03-01)", count=1)


def test_many_bad_rows_are_counted_not_dropped(tmp_path):
    rows = [f"C{i},Name {i},,DE,EUR,30,perhaps" for i in range(1, 26)]
    d = write_dataset(tmp_path / "d", customers=table(CUST_H, *rows))
    message = rejected(d, where(d, "customers.csv", 2, "tax_exempt") + ": 'perhaps' is not true or false",
                       where(d, "customers.csv", 21, "tax_exempt") + ": 'perhaps' is not true or false",
                       where(d, "customers.csv", column="tax_exempt") + ": 5 more rows like these")
    assert where(d, "customers.csv", 22, "tax_exempt") not in message  # the first 20, then a count


def test_validate_a_folder_that_does_not_exist(tmp_path):
    result = run_validate(tmp_path / "nowhere")
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_duplicate_invoice_id_is_not_a_load_error(tmp_path):
    row = "INV-0000001,C1,EUR,2024-02-01,2024-03-02,2024-01-01,2024-01-31,30.00,0,5.70,35.70,open"
    d = write_dataset(tmp_path / "d", invoices=table(INV_H, row, row),
                      payments=table("payment_id,customer_id,currency,amount,received_date,invoice_id,reference",
                                     "P1,C1,EUR,35.70,2024-02-10,INV-0000001,", "P1,C1,EUR,35.70,2024-02-10,,"),
                      invoice_lines=table("invoice_id,line_no,subscription_id,plan_id,description,period_start,"
                                          "period_end,quantity,unit_price,amount,discount,tax_rate_pct,tax_amount",
                                          "INV-0000001,1,S9,NOPE,,2024-01-01,2024-01-31,3,10,30.00,0,19,5.70"))
    ds = load_dataset(d)  # repeated numbers and unknown references are findings of verify, not load errors
    assert ds.tables["invoices"].height == 2
    assert run_validate(d).returncode == 0


# ---------------------------------------------------------------------------------------------
# what must load

def test_validate_good_dataset_exits_0(tmp_path):
    d = write_dataset(tmp_path / "d")
    result = run_validate(d)
    assert result.returncode == 0, result.stderr
    assert "follows the billing data contract" in result.stdout
    assert "Traceback" not in result.stderr


def test_extra_columns_are_kept(tmp_path):
    d = write_dataset(tmp_path / "d", customers=table(CUST_H + ",segment,notes",
                                                      "C1,Acme,,DE,EUR,30,false,enterprise,call first"))
    ds = load_dataset(d)
    frame = ds.tables["customers"]
    assert frame["segment"].to_list() == ["enterprise"]
    assert frame["notes"].to_list() == ["call first"]


def test_optional_tables_missing_or_header_only(tmp_path):
    d = write_dataset(tmp_path / "d",
                      usage="event_id,subscription_id,event_time,quantity",
                      invoices=INV_H)
    ds = load_dataset(d)
    assert not ds.has("usage") and ds.tables["usage"].height == 0
    assert ds.tables["usage"].schema["quantity"] == DECIMAL
    assert not ds.has("invoices")
    # entirely absent optional tables read as empty frames of their contract schema
    for name in ("plan_tiers", "fx_rates", "invoice_lines", "credit_notes", "payments", "gl_entries"):
        assert name not in ds.tables
        frame = ds.frame(name).collect()
        assert frame.height == 0
        assert set(TABLES[name].names) <= set(frame.columns)
    assert ds.frame("payments").collect().schema["amount"] == DECIMAL
    assert run_validate(d).returncode == 0


def test_optional_columns_may_be_absent(tmp_path):
    d = write_dataset(tmp_path / "d",
                      customers=table("customer_id,name,country,currency,payment_terms_days,tax_exempt",
                                      "C1,Acme,DE,EUR,30,"),
                      plans=table("plan_id,currency,billing,interval,charge_model,unit_price",
                                  "SEAT,EUR,recurring,month,per_unit,10.00"),
                      subscriptions=table("subscription_id,customer_id,plan_id,quantity,start_date,end_date",
                                          "S1,C1,SEAT,3,2024-01-01,"))
    ds = load_dataset(d)
    subs = ds.tables["subscriptions"]
    assert subs["discount_pct"].to_list() == [Decimal("0")]       # empty means 0
    assert subs["unit_price_override"].to_list() == [None]        # empty means not set
    assert ds.tables["customers"]["tax_exempt"].to_list() == [False]
    assert ds.tables["plans"]["free_units"].to_list() == [Decimal("0")]


def test_utf8_bom_is_fine(tmp_path):
    d = write_dataset(tmp_path / "d")
    body = (d / "customers.csv").read_bytes()
    (d / "customers.csv").write_bytes(b"\xef\xbb\xbf" + body)
    ds = load_dataset(d)
    assert ds.tables["customers"].columns[1] == "customer_id"
    assert ds.tables["customers"]["customer_id"].to_list() == ["C1"]
    assert run_validate(d).returncode == 0


def test_free_text_keeps_every_character(tmp_path):
    d = write_dataset(tmp_path / "d", customers=table(
        CUST_H, 'C1,"  Müller & Søn, ""GmbH""  ",é@x.example,DE,EUR,30,false'))
    assert load_dataset(d).tables["customers"]["name"].to_list() == ['  Müller & Søn, "GmbH"  ']


def test_identifiers_007_and_7_stay_distinct(tmp_path):
    d = write_dataset(tmp_path / "d",
                      customers=table(CUST_H, "007,Bond Ltd,,GB,GBP,30,false", "7,Seven GmbH,,DE,EUR,30,false"),
                      plans=table(PLANS_H, "SEAT,EUR,Seats,recurring,month,per_unit,10.00,,,,",
                                  "SEAT,GBP,Seats,recurring,month,per_unit,9.00,,,,"),
                      subscriptions=table(SUBS_H, "01,007,SEAT,1,2024-01-01,,,", "1,7,SEAT,1,2024-01-01,,,"),
                      tax_rates=table("country,valid_from,valid_to,rate_pct", "DE,2000-01-01,,19",
                                      "GB,2000-01-01,,20"))
    ds = load_dataset(d)  # no duplicate key: "007" is not "7", "01" is not "1"
    assert ds.tables["customers"]["customer_id"].to_list() == ["007", "7"]
    assert ds.tables["subscriptions"]["subscription_id"].to_list() == ["01", "1"]
    assert ds.tables["subscriptions"]["customer_id"].to_list() == ["007", "7"]
    assert ds.tables["customers"].schema["customer_id"] == pl.String


# A dataset touching every table and every kind of column, used to compare file formats.
FULL = dict(
    customers=table(CUST_H, "007,Bond Ltd,j@bond.example,GB,GBP,30,false", "7,Tanaka KK,,JP,JPY,0,true",
                    "C3,Acme GmbH,a@acme.example,DE,EUR,14,"),
    plans=table(PLANS_H, "SEAT,GBP,Seats,recurring,month,per_unit,9.99,,,,",
                "API,JPY,API,usage,month,graduated,,,,,",
                "PAY,EUR,Payments,usage,month,percentage,,,,2.9,0.30",
                "PKG,EUR,SMS,usage,year,package,25.00,1000,500,,"),
    plan_tiers=table("plan_id,currency,tier,up_to,unit_price,flat_fee", "API,JPY,1,100.5,3,",
                     "API,JPY,2,,1,500"),
    subscriptions=table(SUBS_H, "S1,007,SEAT,3,2024-01-10,2024-06-30,12.5,8.75", "S2,7,API,,2024-02-29,,,",
                        "S3,C3,PAY,,2024-01-01,,,"),
    usage=table("event_id,subscription_id,event_time,quantity", "E1,S2,2024-03-01T10:15:30Z,100.5",
                "E2,S3,2024-03-31T23:30:00-02:00,1234.56", "E3,S2,2024-03-02T08:00:00.250+00:00,7"),
    tax_rates=table("country,valid_from,valid_to,rate_pct", "GB,2000-01-01,,20", "JP,2019-10-01,,10",
                    "DE,2000-01-01,2024-06-30,19", "DE,2024-07-01,,16"),
    fx_rates=table("date,currency,rate_to_base", "2024-01-31,GBP,1.1650", "2024-01-31,JPY,0.0062"),
    invoices=table(INV_H, "INV-0000001,007,GBP,2024-02-01,2024-03-02,2024-01-01,2024-01-31,19.20,2.40,3.36,"
                          "20.16,paid"),
    invoice_lines=table("invoice_id,line_no,subscription_id,plan_id,description,period_start,period_end,"
                        "quantity,unit_price,amount,discount,tax_rate_pct,tax_amount",
                        "INV-0000001,1,S1,SEAT,\"Seats, prorated\",2024-01-10,2024-01-31,3,8.75,18.63,2.33,20,3.26"),
    credit_notes=table("credit_note_id,invoice_id,issue_date,amount,tax,reason",
                       "CN-1,INV-0000001,2024-02-15,1.00,0.20,goodwill"),
    payments=table("payment_id,customer_id,currency,amount,received_date,invoice_id,reference",
                   "P1,007,GBP,20.16,2024-02-20,INV-0000001,INV-0000001 thanks", "P2,007,GBP,5,2024-02-21,,"),
    gl_entries=table("entry_id,line_no,date,account,debit,credit,currency,source_type,source_id",
                     "GL1,1,2024-02-01,1100,20.16,,GBP,invoice,INV-0000001",
                     "GL1,2,2024-02-01,4000,,16.80,GBP,invoice,INV-0000001"),
)


def typed_tables(folder: Path) -> dict[str, pl.DataFrame]:
    ds = load_dataset(folder)
    return {name: frame.drop(ROW) for name, frame in sorted(ds.tables.items())}


def assert_same_tables(got: dict[str, pl.DataFrame], want: dict[str, pl.DataFrame]) -> None:
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name].schema == want[name].schema, name
        assert got[name].to_dicts() == want[name].to_dicts(), name


def test_money_columns_load_as_decimal(tmp_path):
    d = write_dataset(tmp_path / "d", **FULL)
    tables = typed_tables(d)
    assert sorted(tables) == sorted(TABLES)  # every contract table is in FULL
    for name, spec in TABLES.items():
        for col in spec.columns:
            dtype = tables[name].schema[col.name]
            if col.kind == "decimal":
                assert dtype == DECIMAL, (name, col.name, dtype)
            assert not dtype.is_float(), (name, col.name, dtype)
    assert tables["plans"]["fixed_fee"].to_list() == [Decimal("0"), Decimal("0"), Decimal("0.30"), Decimal("0")]
    assert tables["usage"]["event_time"].to_list()[1] == dt.datetime(2024, 4, 1, 1, 30, tzinfo=dt.UTC)
    assert tables["usage"]["event_time"].to_list()[2] == dt.datetime(2024, 3, 2, 8, 0, 0, 250000,
                                                                     tzinfo=dt.UTC)


def write_parquet_dataset(frames: dict[str, pl.DataFrame], folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, frame in frames.items():
        frame.write_parquet(folder / f"{name}.parquet")
    return folder


def test_parquet_typed_columns_load_like_csv(tmp_path):
    want = typed_tables(write_dataset(tmp_path / "csv", **FULL))
    got = typed_tables(write_parquet_dataset(want, tmp_path / "pq"))
    assert_same_tables(got, want)


def test_typed_parquet_skips_the_text_round_trip_with_the_same_values_and_problems(tmp_path):
    """A Parquet column that already has its contract type stays typed; its values and its problems (the
    value shown as the text round trip shows it) are those of the round trip."""
    from billing_lib.data.loading import already_typed, read_raw, validate_table
    want = typed_tables(write_dataset(tmp_path / "csv", **FULL))
    usage = want["usage"].with_columns(
        quantity=pl.when(pl.int_range(pl.len()) == 1).then(pl.lit(-5, DECIMAL)).otherwise(pl.col("quantity")),
        event_time=pl.when(pl.int_range(pl.len()) == 0).then(None).otherwise(pl.col("event_time")))
    path = tmp_path / "usage.parquet"
    usage.write_parquet(path)
    spec = TABLES["usage"]
    assert set(already_typed(pl.read_parquet(path), spec)) == {"event_time", "quantity"}
    fast = validate_table(spec, read_raw(path, spec), str(path), 1)
    round_trip = validate_table(spec, read_raw(path), str(path), 1)
    assert fast[0].to_dicts() == round_trip[0].to_dicts() and fast[0].schema == round_trip[0].schema
    assert fast[1] == round_trip[1] and len(fast[1]) == 2
    assert "'-5.0000000000' is negative" in str(fast[1])


def test_timestamps_parsed_shape_by_shape_equal_the_one_expression():
    from billing_lib.data.loading import parse_timestamp, parse_timestamps
    shapes = ["2024-01-04T05:12:41Z", "2024-01-04T05:12:41.25z", "2024-01-04 05:12", "2024-01-04",
              "2024-01-04T05:12:41+02:00", None, "junk", "2024-01-04T05:12+01:00", "2024-02-30", "",
              "2024-01-04T05:12:41", "2024-01-04 05:12:41.123456-03:30", "2024-01-04T05:12:41-0530",
              "2024-01-04T05:12:41+05", "2024-01-04T25:12:41Z", "2024-01-04T05:12:41Zjunk"]
    column = pl.Series("t", [shapes[(i * 7) % len(shapes)] for i in range(500)])
    want = column.to_frame().select(parse_timestamp(pl.col("t"))).to_series()
    got = parse_timestamps(column)
    assert got.dtype == want.dtype and got.to_list() == want.to_list()
    assert got.null_count() == column.to_frame().select(
        pl.col("t").is_null() | pl.col("t").is_in(["junk", "2024-02-30", "", "2024-01-04T25:12:41Z",
                                                    "2024-01-04T05:12:41Zjunk"])).to_series().sum()


def test_parquet_text_columns_load_like_csv(tmp_path):
    csv_dir = write_dataset(tmp_path / "csv", **FULL)
    want = typed_tables(csv_dir)
    text = {name: pl.read_csv(csv_dir / f"{name}.csv", infer_schema=False) for name in want}
    assert all(dtype == pl.String for f in text.values() for dtype in f.dtypes)
    got = typed_tables(write_parquet_dataset(text, tmp_path / "pq"))
    assert_same_tables(got, want)


def test_parquet_with_pandas_style_types_loads_like_csv(tmp_path):
    """Floats for money, nanosecond timestamps for dates, small ints: what pandas usually writes."""
    want = typed_tables(write_dataset(tmp_path / "csv", **FULL))

    def foreign(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(
            [pl.col(c).cast(pl.Float64) for c, t in frame.schema.items() if isinstance(t, pl.Decimal)]
            + [pl.col(c).cast(pl.Datetime("ns")) for c, t in frame.schema.items() if t == pl.Date]
            + [pl.col(c).cast(pl.Int32) for c, t in frame.schema.items() if t == pl.Int64])
    got = typed_tables(write_parquet_dataset({n: foreign(f) for n, f in want.items()}, tmp_path / "pq"))
    assert_same_tables(got, want)


def _excel_value(value):
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)  # Excel has no time zones
    return value


def write_excel_dataset(frames: dict[str, pl.DataFrame], folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, frame in frames.items():
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(frame.columns)
        for row in frame.iter_rows():
            ws.append([_excel_value(v) for v in row])
        wb.save(folder / f"{name}.xlsx")
    return folder


def test_excel_typed_cells_load_like_csv(tmp_path):
    want = typed_tables(write_dataset(tmp_path / "csv", **FULL))
    got = typed_tables(write_excel_dataset(want, tmp_path / "xlsx"))
    assert_same_tables(got, want)


def test_excel_text_cells_load_like_csv(tmp_path):
    csv_dir = write_dataset(tmp_path / "csv", **FULL)
    want = typed_tables(csv_dir)
    text = {name: pl.read_csv(csv_dir / f"{name}.csv", infer_schema=False) for name in want}
    got = typed_tables(write_excel_dataset(text, tmp_path / "xlsx"))
    assert_same_tables(got, want)


def test_excel_problem_names_the_spreadsheet_row(tmp_path):
    d = write_dataset(tmp_path / "d", customers=None)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(CUST_H.split(","))
    ws.append(["C1", "Acme", None, "DE", "EUR", 30, False])
    ws.append(["C2", "Beta", None, "DE", "XYZ", 30, False])
    wb.save(d / "customers.xlsx")
    rejected(d, where(d, "customers.xlsx", 3, "currency")
             + ": 'XYZ' is not an ISO 4217 currency code (expected e.g. EUR, USD, JPY)", count=1)


def test_timestamp_forms(tmp_path):
    d = write_dataset(tmp_path / "d", usage=table(
        "event_id,subscription_id,event_time,quantity",
        "E1,S1,2024-01-01T00:00:00+05:30,1",   # offset with colon
        "E2,S1,2024-01-01T10:00:00Z,1",
        "E3,S1,2024-01-01 10:00:00,1",         # no offset: UTC
        "E4,S1,2024-01-01T10:00:00.5-01:00,1",  # fractional seconds
        "E5,S1,2024-01-01,1",                  # a date: its midnight UTC
        "E6,S1,2024-01-01T10:00:00-0530,1",    # offset without colon
        "E7,S1,2024-01-01T10:00:00+05,1",      # offset in hours alone (ISO 8601 allows it)
        "E8,S1,2024-01-01T10:00:00,1"))        # no offset, with T: UTC
    got = load_dataset(d).tables["usage"]["event_time"].to_list()
    utc = dt.UTC
    assert got == [dt.datetime(2023, 12, 31, 18, 30, tzinfo=utc), dt.datetime(2024, 1, 1, 10, tzinfo=utc),
                   dt.datetime(2024, 1, 1, 10, tzinfo=utc), dt.datetime(2024, 1, 1, 11, 0, 0, 500000, tzinfo=utc),
                   dt.datetime(2024, 1, 1, tzinfo=utc), dt.datetime(2024, 1, 1, 15, 30, tzinfo=utc),
                   dt.datetime(2024, 1, 1, 5, tzinfo=utc), dt.datetime(2024, 1, 1, 10, tzinfo=utc)]


def test_bad_timestamp(tmp_path):
    d = write_dataset(tmp_path / "d", usage=table(
        "event_id,subscription_id,event_time,quantity", "E1,S1,2024-01-01T10:00:00Z,1", "E2,S1,yesterday,1"))
    rejected(d, where(d, "usage.csv", 3, "event_time") + ": 'yesterday' is not an ISO 8601 timestamp", count=1)


def test_loading_does_not_modify_the_input_files(tmp_path):
    d = write_dataset(tmp_path / "d", **FULL)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(d.iterdir())}
    load_dataset(d)
    assert run_validate(d).returncode == 0
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(d.iterdir())}
    assert after == before  # same files, same bytes, same modification times; nothing added
