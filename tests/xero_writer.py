"""Test-only: a contract dataset (``billing synth`` output) written as Xero Accounting API response bodies.

Contacts (``ContactNumber`` = the customer id, ``PaymentTerms.Sales`` days after the bill date,
``DefaultCurrency``), ``ACCREC`` invoices keyed by made-up ``InvoiceID`` GUIDs with the contract's number as
``InvoiceNumber``, ``Exclusive`` line amounts after the discount (``DiscountAmount``), inline ``Payments`` and
``CreditNotes``, a ``Payments`` response and a ``CreditNotes`` response with ``Allocations``, ``TaxRates`` by tax
type. Money in major units with the JSON literal Xero writes (two decimals); dates as ``/Date(ms+0000)/`` with
``DateString``; pages of 100 records per file.

What Xero cannot carry is left out: customers in a currency with more than two decimals (Xero keeps two),
payments that name no invoice (Xero applies every payment to a document), and everything of subscriptions,
plans and usage (Xero has no contracts). :func:`carried` says what is in.
"""
from __future__ import annotations

import calendar
import datetime as dt
import json
import re
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from stripe_writer import read_table

from billing_lib.core.currency import minor_digits
from billing_lib.data.loading import load_dataset
from billing_lib.engine.cash_application import apply_payments

STATUS = {"open": "AUTHORISED", "paid": "PAID", "void": "VOIDED", "uncollectible": "AUTHORISED"}


def guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "|".join(parts)))


def ms_date(day: str) -> str:
    return f"/Date({calendar.timegm(dt.date.fromisoformat(day).timetuple()) * 1000}+0000)/"


class Literal:
    """A JSON number written with its exact decimal text (``148062.76``, ``1.0000``)."""

    def __init__(self, text: str):
        self.text = text


def money(value: str | Decimal) -> Literal:
    return Literal(f"{Decimal(str(value)).quantize(Decimal('0.01')):f}")


def qty(value: str | Decimal) -> Literal:
    return Literal(f"{Decimal(str(value)).quantize(Decimal('0.0001')):f}")


def applied_to(folder: Path) -> dict[str, str]:
    """payment_id -> the invoice it pays: the one it names, else the one the cash application places it on
    (a Xero payment is always applied to a document; one that lands nowhere cannot be recorded)."""
    ds = load_dataset(folder)
    apps = apply_payments(ds.frame("invoices"), ds.frame("payments"), ds.frame("credit_notes"))
    placed = {r["payment_id"]: r["invoice_id"] for r in apps.sort("invoice_id").iter_rows(named=True)}
    return {p["payment_id"]: p["invoice_id"] or placed[p["payment_id"]] for p in read_table(folder, "payments")
            if p["invoice_id"] or p["payment_id"] in placed}


def carried(folder: Path) -> tuple[set[str], set[str], set[str]]:
    """(customers, invoices, payments) a Xero recording of ``folder`` holds."""
    customers = {c["customer_id"] for c in read_table(folder, "customers") if minor_digits(c["currency"]) <= 2}
    invoices = {i["invoice_id"] for i in read_table(folder, "invoices") if i["customer_id"] in customers
                and minor_digits(i["currency"]) <= 2}
    payments = {pid for pid, inv in applied_to(folder).items() if inv in invoices}
    return customers, invoices, payments


def write_xero_recording(data: Path, out: Path) -> Path:
    """Write ``data`` as Xero API response bodies in ``out``."""
    t = {name: read_table(data, name) for name in ("customers", "invoices", "invoice_lines", "payments",
                                                   "credit_notes")}
    customers_in, invoices_in, payments_in = carried(data)
    customers = {c["customer_id"]: c for c in t["customers"] if c["customer_id"] in customers_in}
    lines = defaultdict(list)
    for x in t["invoice_lines"]:
        lines[x["invoice_id"]].append(x)
    tax_types: dict[str, dict] = {}

    def tax_type(rate: str) -> str:
        pct = Decimal(rate or "0")
        if pct == 0:
            name = "NONE"
        else:
            name = f"OUTPUT{len([k for k in tax_types if k != 'NONE']) + 1}"
            name = next((k for k, v in tax_types.items() if Decimal(v["EffectiveRate"].text) == pct), name)
        tax_types.setdefault(name, {"Name": f"{pct.normalize():f}% tax on income", "TaxType": name,
                                    "ReportTaxType": "OUTPUT", "CanApplyToRevenue": True,
                                    "DisplayTaxRate": Literal(f"{pct:.4f}"), "EffectiveRate": Literal(f"{pct:.4f}"),
                                    "Status": "ACTIVE", "TaxComponents": [{"Name": "Tax", "Rate": Literal(f"{pct:.4f}"),
                                                                           "IsCompound": False}]})
        return name

    def contact(c: dict, full: bool) -> dict:
        out = {"ContactID": guid("contact", c["customer_id"]), "ContactNumber": c["customer_id"], "Name": c["name"]}
        if full:
            out.update({"ContactStatus": "ACTIVE", "EmailAddress": c["email"] or "", "IsCustomer": True,
                        "DefaultCurrency": c["currency"],
                        "Addresses": [{"AddressType": "POBOX", "Country": c["country"]},
                                      {"AddressType": "STREET", "Country": ""}],
                        "PaymentTerms": {"Sales": {"Day": int(c["payment_terms_days"]),
                                                   "Type": "DAYSAFTERBILLDATE"}}})
        return out

    payments_by_invoice = defaultdict(list)
    placed = applied_to(data)
    for p in t["payments"]:
        if p["payment_id"] in payments_in:
            payments_by_invoice[placed[p["payment_id"]]].append(p)
    notes_by_invoice = defaultdict(list)
    for cn in t["credit_notes"]:
        if cn["invoice_id"] in invoices_in:
            notes_by_invoice[cn["invoice_id"]].append(cn)

    invoices, payments, notes = [], [], []
    for inv in t["invoices"]:
        if inv["invoice_id"] not in invoices_in:
            continue
        cust = customers[inv["customer_id"]]
        items = []
        for x in sorted(lines[inv["invoice_id"]], key=lambda r: int(r["line_no"])):
            amount = Decimal(x["amount"])
            q = Decimal(x["quantity"]) if x["quantity"] else None
            u = Decimal(x["unit_price"]) if x["unit_price"] else None
            if q is None or u is None or (q * u).quantize(Decimal("0.01")) != amount:
                q, u = Decimal(1), amount   # Xero's LineAmount is Quantity x UnitAmount: a rated charge as one
            item = {"Description": x["description"], "Quantity": qty(q), "UnitAmount": Literal(f"{u:f}"),
                    "TaxType": tax_type(x["tax_rate_pct"]), "TaxAmount": money(x["tax_amount"]),
                    "LineAmount": money(amount - Decimal(x["discount"] or "0")), "AccountCode": "200",
                    "LineItemID": guid("line", x["invoice_id"], x["line_no"]), "Tracking": []}
            if Decimal(x["discount"] or "0"):
                item["DiscountAmount"] = money(x["discount"])
            items.append(item)
        paid = sum((Decimal(p["amount"]) for p in payments_by_invoice[inv["invoice_id"]]), Decimal(0))
        credited = sum((Decimal(c["amount"]) + Decimal(c["tax"] or "0") for c in notes_by_invoice[inv["invoice_id"]]),
                       Decimal(0))
        total = Decimal(inv["total"])
        record = {
            "Type": "ACCREC", "InvoiceID": guid("invoice", inv["invoice_id"]), "InvoiceNumber": inv["invoice_id"],
            "Reference": "", "Contact": contact(cust, False), "DateString": f"{inv['issue_date']}T00:00:00",
            "Date": ms_date(inv["issue_date"]), "DueDateString": f"{inv['due_date']}T00:00:00",
            "DueDate": ms_date(inv["due_date"]), "Status": STATUS[inv["status"]], "LineAmountTypes": "Exclusive",
            "LineItems": items, "SubTotal": money(Decimal(inv["subtotal"]) - Decimal(inv["discount"])),
            "TotalTax": money(inv["tax"]), "Total": money(total), "TotalDiscount": money(inv["discount"]),
            "CurrencyCode": inv["currency"], "CurrencyRate": Literal("1.000000"),
            "AmountPaid": money(paid), "AmountCredited": money(credited),
            "AmountDue": money(max(total - paid - credited, Decimal(0))) if inv["status"] != "void" else money(0),
            "Payments": [{"PaymentID": guid("payment", p["payment_id"]), "Date": ms_date(p["received_date"]),
                          "Amount": money(p["amount"]), "Reference": p["reference"], "CurrencyRate":
                          Literal("1.000000")} for p in payments_by_invoice[inv["invoice_id"]]],
            "CreditNotes": [{"CreditNoteID": guid("note", c["credit_note_id"]), "CreditNoteNumber": c["credit_note_id"],
                             "AppliedAmount": money(Decimal(c["amount"]) + Decimal(c["tax"] or "0")),
                             "Total": money(Decimal(c["amount"]) + Decimal(c["tax"] or "0")),
                             "DateString": f"{c['issue_date']}T00:00:00", "Date": ms_date(c["issue_date"])}
                            for c in notes_by_invoice[inv["invoice_id"]]],
            "Prepayments": [], "Overpayments": [], "HasAttachments": False}
        invoices.append(record)
        for p in payments_by_invoice[inv["invoice_id"]]:
            payments.append({"PaymentID": guid("payment", p["payment_id"]), "Date": ms_date(p["received_date"]),
                             "Amount": money(p["amount"]), "BankAmount": money(p["amount"]),
                             "Reference": p["reference"], "CurrencyRate": Literal("1.000000"),
                             "PaymentType": "ACCRECPAYMENT", "Status": "AUTHORISED", "IsReconciled": False,
                             "Invoice": {"Type": "ACCREC", "InvoiceID": record["InvoiceID"],
                                         "InvoiceNumber": inv["invoice_id"], "Contact": contact(cust, False),
                                         "CurrencyCode": inv["currency"], "LineItems": []}})
        for c in notes_by_invoice[inv["invoice_id"]]:
            gross = Decimal(c["amount"]) + Decimal(c["tax"] or "0")
            notes.append({"Type": "ACCRECCREDIT", "CreditNoteID": guid("note", c["credit_note_id"]),
                          "CreditNoteNumber": c["credit_note_id"], "Reference": c["reason"],
                          "Contact": contact(cust, False), "DateString": f"{c['issue_date']}T00:00:00",
                          "Date": ms_date(c["issue_date"]), "Status": "PAID", "LineAmountTypes": "Exclusive",
                          "LineItems": [{"Description": c["reason"], "Quantity": qty(1),
                                         "UnitAmount": money(c["amount"]), "LineAmount": money(c["amount"]),
                                         "TaxAmount": money(c["tax"] or "0"), "AccountCode": "200"}],
                          "SubTotal": money(c["amount"]), "TotalTax": money(c["tax"] or "0"), "Total": money(gross),
                          "CurrencyCode": inv["currency"], "RemainingCredit": money(0),
                          "Allocations": [{"Amount": money(gross), "Date": ms_date(c["issue_date"]),
                                           "Invoice": {"InvoiceID": record["InvoiceID"],
                                                       "InvoiceNumber": inv["invoice_id"]}}]})
    out.mkdir(parents=True, exist_ok=True)
    bodies = {"Contacts": [contact(c, True) for c in customers.values()], "Invoices": invoices,
              "Payments": payments, "CreditNotes": notes, "TaxRates": list(tax_types.values())}
    for key, records in bodies.items():
        for n, start in enumerate(range(0, max(len(records), 1), 100), 1):
            body = {"Id": guid("response", key, str(n)), "Status": "OK", "ProviderName": "billing-workbooks tests",
                    "DateTimeUTC": "/Date(1717200000000)/", "pagination": {"page": n, "pageSize": 100},
                    key: records[start:start + 100]}
            (out / f"{key.lower()}_page{n}.json").write_text(_dumps(body), encoding="utf-8")
    return out


def _dumps(body: dict) -> str:
    """JSON with Xero's number literals (``89.00``, ``1.0000``) and escaped slashes as Xero's raw bodies have."""
    text = json.dumps(body, indent=1, ensure_ascii=False, default=lambda o: f"@@{o.text}@@")
    text = re.sub(r'"@@(-?[0-9.]+)@@"', r"\1", text)
    return text.replace("/Date(", "\\/Date(").replace(")/\"", ")\\/\"") + "\n"
