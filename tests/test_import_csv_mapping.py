"""billing import csv --map: any CSV export through a YAML mapping, and the three shipped mappings."""
from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from billing_lib.data.importers import import_csv, import_online_retail, write_import
from billing_lib.data.importers.csv_mapping import shipped_mappings
from billing_lib.data.loading import load_dataset

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
STRIPE_DEFAULT_HEADER = ("id,Created date (UTC),Amount,Amount Refunded,Currency,Captured,Converted Amount,Converted "
                         "Amount Refunded,Converted Currency,Decline Reason,Description,Fee,Refunded date (UTC),"
                         "Statement Descriptor,Status,Seller Message,Taxes On Fee,Card ID,Customer ID,Customer "
                         "Description,Customer Email,Invoice ID,Transfer")
XERO_HEADER = ("*ContactName,EmailAddress,POAddressLine1,POAddressLine2,POAddressLine3,POAddressLine4,POCity,"
               "PORegion,POPostalCode,POCountry,*InvoiceNumber,Reference,*InvoiceDate,*DueDate,Total,"
               "InventoryItemCode,*Description,*Quantity,*UnitAmount,Discount,*AccountCode,*TaxType,TaxAmount,"
               "TrackingName1,TrackingOption1,TrackingName2,TrackingOption2,Currency,BrandingTheme")


def header(name: str, fallback: str) -> str:
    """The real header line where the shared sample is present (so the mapping is tried on it), else a copy."""
    path = REALDATA / "formats" / name
    return path.read_text(encoding="utf-8-sig").splitlines()[0] if path.is_file() else fallback


def stripe_rows(head: str) -> str:
    columns = head.split(",")
    rows = [{"id": "ch_1", "Created date (UTC)": "2024-05-02 10:11:12", "Amount": "1,250.50", "Currency": "eur",
             "Captured": "true", "Status": "Paid", "Customer ID": "cus_A", "Customer Description": "Acme",
             "Customer Email": "ap@acme.example", "Description": "Invoice ABC-0001", "Invoice ID": "in_1",
             "Card Address Country": "DE"},
            {"id": "ch_2", "Created date (UTC)": "2024-05-03 09:00:00", "Amount": "20.00", "Currency": "eur",
             "Captured": "false", "Status": "Failed", "Customer ID": "cus_A"},
            {"id": "ch_3", "Created date (UTC)": "2024-05-04 09:00:00", "Amount": "5.00", "Currency": "usd",
             "Captured": "true", "Status": "Refunded", "Customer ID": ""}]
    return head + "\n" + "\n".join(",".join(f'"{r.get(c, "")}"' for c in columns) for r in rows) + "\n"


@pytest.mark.parametrize("sample", ["unified_payments_default_columns_HEADER_ONLY.csv",
                                    "unified_payments_all_columns_HEADER_ONLY.csv"])
def test_stripe_dashboard_payments_export(tmp_path, sample):
    head = header(f"stripe/{sample}", STRIPE_DEFAULT_HEADER)
    (tmp_path / "payments.csv").write_text(stripe_rows(head), encoding="utf-8")
    result = import_csv(tmp_path / "payments.csv", "stripe-payments")
    assert result.accounted and result.rows_read == 3
    assert result.skipped == {"payments.csv: failed or cancelled (no money received)": 1}
    pays = result.tables["payments"].to_dicts()
    assert [(p["payment_id"], p["customer_id"], p["amount"], p["currency"], p["received_date"]) for p in pays] == [
        ("ch_1", "cus_A", "1250.50", "EUR", "2024-05-02"), ("ch_3", "STRIPE-NO-CUSTOMER", "5.00", "USD", "2024-05-04")]
    customers = {c["customer_id"]: c for c in result.tables["customers"].to_dicts()}
    expected_country = "DE" if "Card Address Country" in head else "ZZ"
    assert customers["cus_A"]["country"] == expected_country and customers["cus_A"]["email"] == "ap@acme.example"
    write_import(result, tmp_path / "out")
    assert load_dataset(tmp_path / "out").tables["payments"]["amount"].to_list() == [Decimal("1250.50"),
                                                                                     Decimal("5.00")]


def test_xero_sales_invoice_template(tmp_path):
    head = header("xero/SalesInvoiceTemplate_HEADER_ONLY.csv", XERO_HEADER)
    columns = head.split(",")
    rows = [{"*ContactName": "Kiwi Ltd", "EmailAddress": "ap@kiwi.example", "POCountry": "New Zealand",
             "*InvoiceNumber": "INV-0001", "*InvoiceDate": "01/06/2024", "*DueDate": "21/06/2024",
             "*Description": "Consulting", "*Quantity": "2", "*UnitAmount": "50.00", "*AccountCode": "200",
             "*TaxType": "15% GST on Income", "TaxAmount": "15.00", "Currency": "NZD"},
            {"*ContactName": "Kiwi Ltd", "*InvoiceNumber": "INV-0001", "*InvoiceDate": "01/06/2024",
             "*DueDate": "21/06/2024", "*Description": "Travel", "*Quantity": "1", "*UnitAmount": "40.00",
             "Discount": "10", "*AccountCode": "200", "*TaxType": "15% GST on Income", "TaxAmount": "5.40",
             "Currency": "NZD"},
            {"*ContactName": "Kiwi Ltd", "*InvoiceNumber": "INV-0002", "*InvoiceDate": "not a date",
             "*DueDate": "21/06/2024", "*Description": "x", "*Quantity": "1", "*UnitAmount": "1",
             "*AccountCode": "200", "*TaxType": "No GST", "Currency": "NZD"}]
    text = head + "\n" + "\n".join(",".join(f'"{r.get(c, "")}"' for c in columns) for r in rows) + "\n"
    (tmp_path / "SalesInvoices.csv").write_text(text, encoding="utf-8")
    result = import_csv(tmp_path / "SalesInvoices.csv", "xero-sales-invoices")
    assert result.accounted
    assert result.skipped == {"SalesInvoices.csv: invoice_lines.period_start empty or not readable": 1}
    inv = result.tables["invoices"].to_dicts()
    assert [(i["invoice_id"], i["subtotal"], i["discount"], i["tax"], i["total"], i["due_date"]) for i in inv] == [
        ("INV-0001", "140.00", "4.00", "20.40", "156.40", "2024-06-21")]
    lines = result.tables["invoice_lines"].to_dicts()
    assert [(x["line_no"], x["amount"], x["discount"], x["tax_rate_pct"]) for x in lines] == [
        ("1", "100.00", "0.00", "15"), ("2", "40.00", "4.00", "15")]
    customer = result.tables["customers"].to_dicts()[0]
    assert (customer["country"], customer["payment_terms_days"]) == ("NZ", "20")
    write_import(result, tmp_path / "out")


@pytest.mark.skipif(not (REALDATA / "online_retail").is_dir(), reason=f"real data not present at {REALDATA}")
def test_online_retail_mapping_agrees_with_the_dedicated_importer():
    path = REALDATA / "online_retail" / "uci_online_retail_first1694_lines.csv"
    mapped, dedicated = import_csv(path, "online-retail-invoices"), import_online_retail(path)
    assert mapped.accounted and mapped.rows_read == dedicated.rows_read
    for table, key in (("invoices", "invoice_id"), ("credit_notes", "credit_note_id")):
        cols = ["invoice_id", "customer_id", "total"] if table == "invoices" else ["credit_note_id", "amount"]
        a = mapped.tables[table].select(cols).with_columns(pl.col(cols[-1]).cast(pl.Decimal(38, 2))).sort(key)
        b = dedicated.tables[table].select(cols).with_columns(pl.col(cols[-1]).cast(pl.Decimal(38, 2))).sort(key)
        assert a.to_dicts() == b.to_dicts()


def test_shipped_mappings_are_there():
    assert set(shipped_mappings()) == {"stripe-payments", "xero-sales-invoices", "online-retail-invoices"}


@pytest.mark.parametrize("mapping, message", [
    ("nonexistent-mapping", "neither a file nor a shipped mapping"),
    ("format: other\n", "not a mapping"),
    ("format: billing-import-mapping/1\ntables: {bills: {columns: {a: b}}}\n", "bills is not a table"),
    ("format: billing-import-mapping/1\ntables: {payments: {columns: {payment_id: Nope}}}\n", "no column or field 'Nope'"),
    ("format: billing-import-mapping/1\ntables: [\n", "not a readable YAML mapping"),
])
def test_a_wrong_mapping_exits_2_with_one_message(tmp_path, mapping, message):
    (tmp_path / "in.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    if mapping.startswith("format") or mapping.endswith("\n"):
        (tmp_path / "map.yaml").write_text(mapping, encoding="utf-8")
        mapping = str(tmp_path / "map.yaml")
    done = subprocess.run([sys.executable, "-m", "billing_lib", "import", "csv", str(tmp_path / "in.csv"), "--map",
                           mapping, "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_mapping_of_my_own_with_sign_convention(tmp_path):
    """Credit notes as negative invoices: the sign decides the table; amounts stay exact decimals."""
    (tmp_path / "docs.csv").write_text(
        "Doc;Kunde;Datum;Betrag;Waehrung\nR-1;K1;03.01.2024;1.234,50;EUR\nR-2;K1;04.01.2024;-34,50;EUR\n"
        "R-3;K1;05.01.2024;abc;EUR\n", encoding="utf-8")
    (tmp_path / "map.yaml").write_text("""
format: billing-import-mapping/1
description: invoices and credit notes of one ledger export, credit notes as negative amounts
read: {delimiter: ";", decimal: ",", thousands: ".", date_formats: ["%d.%m.%Y"]}
fields:
  amount: {column: Betrag, type: decimal}
  day: {column: Datum, type: date}
skip:
  - {when: {field: amount, is: null}, reason: amount is not a number}
tables:
  invoices:
    where: {field: amount, above: 0}
    columns:
      invoice_id: Doc
      customer_id: Kunde
      currency: Waehrung
      issue_date: {field: day}
      due_date: {field: day}
      period_start: {field: day, month_start: true}
      period_end: {field: day, month_end: true}
      subtotal: {field: amount}
      discount: {value: 0}
      tax: {value: 0}
      total: {field: amount}
      status: {value: open}
  credit_notes:
    where: {field: amount, below: 0}
    columns:
      credit_note_id: Doc
      invoice_id: {value: R-1}
      issue_date: {field: day}
      amount: {field: amount, negate: true}
      tax: {value: 0}
""", encoding="utf-8")
    result = import_csv(tmp_path / "docs.csv", tmp_path / "map.yaml")
    assert result.mapped == {"invoices": 1, "credit_notes": 1}
    assert result.skipped == {"docs.csv: amount is not a number": 1}
    assert result.tables["invoices"]["total"].to_list() == ["1234.50"]
    assert [Decimal(a) for a in result.tables["credit_notes"]["amount"]] == [Decimal("34.50")]
    write_import(result, tmp_path / "out")   # customers, plans, subscriptions, tax_rates are completed
