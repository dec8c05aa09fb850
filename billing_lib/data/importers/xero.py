"""Xero Accounting API responses as a billing dataset: ``billing import xero DIR``.

DIR holds response bodies (``{"Invoices": [...]}``, ``{"Payments": [...]}``, ``{"CreditNotes": [...]}``,
``{"Contacts": [...]}``, ``{"TaxRates": [...]}``, ``{"Allocations": [...]}``), each file recognised by its
top-level key whatever its name, a kind split over pages as several files. An ``Invoices`` response alone is
enough: each invoice carries its payments and credit-note allocations inline. Money is decimal in major units
(read as ``Decimal``); dates are ``/Date(ms+0000)/`` (the ``DateString`` beside it wins: the organisation's
calendar date).

Mapping (see docs/realdata.md):

* sales invoices only (``Type`` ``ACCREC``; bills are skipped), keyed by ``InvoiceID`` because numbers may
  repeat (``InvoiceNumber`` is kept as ``invoice_number``). ``AUTHORISED`` is open, ``PAID`` paid,
  ``VOIDED`` void; drafts, invoices awaiting approval and deleted ones are skipped. Period = the month of
  ``Date``.
* each line item -> ``invoice_lines``: amount = ``LineAmount`` (with a discount, ``Quantity`` x
  ``UnitAmount`` and the discount the difference, since Xero's ``LineAmount`` is after the discount), tax =
  ``TaxAmount``, rate = the ``EffectiveRate`` of its ``TaxType`` (without a ``TaxRates`` response: the simplest
  rate that gives every line of the tax type its tax). ``LineAmountTypes`` ``Inclusive`` makes the invoice
  ``tax_behavior`` ``inclusive``: its line amounts hold the tax; subtotal = the lines' amounts, total =
  ``Total``.
* payments of an invoice (``ACCRECPAYMENT``, from ``Payments`` or inline on the invoice, once per
  ``PaymentID``) and overpayments or prepayments applied to it -> ``payments``; refunds of credit notes and
  payments of bills are skipped.
* each allocation of a credit note (``ACCRECCREDIT``) to an invoice -> one ``credit_notes`` row, the applied
  amount split into amount and tax at the note's tax share; credit left unallocated reduces no invoice.
* contacts -> ``customers``: ``ContactNumber`` (the user's own key) where set, else ``ContactID``; country
  from the address; currency ``DefaultCurrency`` else the currency it is invoiced in; payment terms from
  ``PaymentTerms.Sales`` (days after the bill date) else the most common due date - issue date.

Xero keeps tax rates by tax type, not by the customer's country: ``tax_rates`` holds no rate in force, so
the tax check does not judge rates (line arithmetic and totals still do). Plans and subscriptions are
placeholders (Xero has no contracts).
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from billing_lib.core.currency import is_currency, quantize
from billing_lib.data.importers.base import (
    PLACEHOLDER_COUNTRY,
    ImportResult,
    ImportSourceError,
    RowAccount,
    country_code,
    decimal_text,
    decimal_value,
    implied_rate,
    money_text,
    most_common,
    no_rate_in_force,
    placeholder_contract,
    read_json,
    source_files,
    text_frame,
)

KINDS = {"Invoices": "invoices", "Payments": "payments", "CreditNotes": "credit notes", "Contacts": "contacts",
         "TaxRates": "tax rates", "Allocations": "allocations", "Overpayments": "overpayments",
         "Prepayments": "prepayments"}
STATUSES = {"AUTHORISED": "open", "PAID": "paid", "VOIDED": "void"}
_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)\\?/")
NO_RATES = ("Xero keeps tax rates by tax type, not by the customer's country: no rate is in force, so tax rates "
            "are not judged against the customer's country")


def xero_day(obj: dict, name: str) -> str | None:
    """A calendar date field: ``<name>String`` (the organisation's date), else ``/Date(ms)/`` or ISO text."""
    text = obj.get(f"{name}String")
    if isinstance(text, str) and re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return text[:10]
    value = obj.get(name)
    if not isinstance(value, str):
        return None
    found = _MS_DATE.search(value)
    if found:
        return dt.datetime.fromtimestamp(int(found.group(1)) / 1000, dt.UTC).date().isoformat()
    return value[:10] if re.match(r"^\d{4}-\d{2}-\d{2}", value) else None


def read_xero_responses(src: str | Path, account: RowAccount) -> dict[str, list[dict]]:
    """Every record of every response in SRC by its top-level key, deduplicated by id, counted as read."""
    out: dict[str, list[dict]] = {key: [] for key in KINDS}
    seen: set[tuple[str, str]] = set()
    for path in source_files(src, "Xero"):
        body = read_json(path, "Xero JSON")
        if not isinstance(body, dict):
            continue
        for other in sorted(k for k, v in body.items() if isinstance(v, list) and k not in KINDS):
            account.read("other records", len(body[other]))
            account.skip("other records", f"{other} (not billing data the contract holds)", len(body[other]))
        for key in [k for k in KINDS if isinstance(body.get(k), list)]:
            kind = KINDS[key]
            for record in body[key]:
                account.read(kind)
                rid = _record_id(key, record)
                if not isinstance(record, dict):
                    account.skip(kind, "not a Xero record")
                elif rid and (key, rid) in seen:
                    account.skip(kind, "read before (same id on another page or file)")
                else:
                    if rid:
                        seen.add((key, rid))
                    out[key].append(record)
    if not out["Invoices"] and not out["CreditNotes"] and not out["Payments"]:
        raise ImportSourceError(f"Xero source {str(src)!r} holds no Invoices, CreditNotes or Payments response "
                                "(expected JSON bodies such as {\"Invoices\": [...]}; see docs/realdata.md)")
    return out


def _record_id(key: str, record: object) -> str | None:
    if not isinstance(record, dict):
        return None
    name = {"Invoices": "InvoiceID", "Payments": "PaymentID", "CreditNotes": "CreditNoteID",
            "Contacts": "ContactID", "TaxRates": "TaxType", "Overpayments": "OverpaymentID",
            "Prepayments": "PrepaymentID"}.get(key)
    value = record.get(name) if name else None
    return str(value) if value else None


def _money(value: object) -> Decimal:
    amount = decimal_value(value)
    return Decimal(0) if amount is None else amount


def _text(value: Decimal, currency: str) -> str:
    return money_text(value, currency)


@dataclass
class _Builder:
    account: RowAccount
    rates: dict[str, Decimal]                                   # TaxType -> EffectiveRate (from TaxRates)
    contacts: dict[str, dict] = field(default_factory=dict)      # ContactID -> contact record
    invoices: list[dict] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)
    payments: dict[str, dict] = field(default_factory=dict)      # PaymentID -> row
    notes_rows: dict[tuple[str, str], dict] = field(default_factory=dict)   # (CreditNoteID, InvoiceID) -> row
    by_id: dict[str, dict] = field(default_factory=dict)         # InvoiceID -> invoice row
    dropped: dict[str, str] = field(default_factory=dict)        # InvoiceID -> why skipped
    credit_notes: dict[str, dict] = field(default_factory=dict)  # CreditNoteID -> credit note record
    tax_pairs: dict[tuple[str, str], list] = field(default_factory=dict)  # (TaxType, currency) -> [(base, tax,
    #                                                                        inclusive)]
    used_types: set[str] = field(default_factory=set)
    terms: dict[str, list[int]] = field(default_factory=dict)
    currencies: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def contact(self, record: object) -> str | None:
        """The ContactID of an inline contact, remembered when the Contacts response did not list it."""
        if not isinstance(record, dict) or not record.get("ContactID"):
            return None
        cid = str(record["ContactID"])
        known = self.contacts.setdefault(cid, {**record, "_inline": True})
        if known.get("_inline") and not known.get("ContactNumber") and record.get("ContactNumber"):
            known["ContactNumber"] = record["ContactNumber"]
        return cid

    # -- invoices --------------------------------------------------------------------------------------
    def invoice(self, inv: dict) -> None:
        items = inv.get("LineItems") if isinstance(inv.get("LineItems"), list) else []
        self.account.read("invoice line items", len(items))
        reason = self._invoice_reason(inv)
        if reason:
            self.account.skip("invoices", reason)
            self.account.skip("invoice line items", "of an invoice that is not imported", len(items))
            self._skip_inline(inv, "of an invoice that is not imported")
            if inv.get("InvoiceID"):
                self.dropped[str(inv["InvoiceID"])] = reason
            return
        currency = str(inv["CurrencyCode"])
        kind = str(inv.get("LineAmountTypes") or "Exclusive")
        inclusive = kind.lower() == "inclusive"
        issue = xero_day(inv, "Date")
        cid = self.contact(inv.get("Contact"))
        first = dt.date.fromisoformat(issue).replace(day=1)   # type: ignore[arg-type]
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        row = {"invoice_id": str(inv["InvoiceID"]), "customer_id": cid, "currency": currency, "issue_date": issue,
               "due_date": xero_day(inv, "DueDate"), "period_start": first.isoformat(), "period_end": last.isoformat(),
               "status": STATUSES[inv["Status"]], "tax_behavior": "inclusive" if inclusive else "exclusive",
               "invoice_number": inv.get("InvoiceNumber"), "reference": inv.get("Reference"),
               "line_amount_types": kind, "total_discount": inv.get("TotalDiscount")}
        lines = [self._line(row, item, n, kind) for n, item in enumerate(items, 1)]
        # the contract's discount is the sum of the line discounts (Xero's TotalDiscount is kept beside it)
        discount = sum((Decimal(x["discount"]) for x in lines), Decimal(0))
        total, tax = _money(inv.get("Total")), _money(inv.get("TotalTax"))
        subtotal = _money(inv.get("SubTotal")) + discount + (tax if inclusive else Decimal(0))
        row.update(subtotal=_text(subtotal, currency), discount=_text(discount, currency), tax=_text(tax, currency),
                   total=_text(total, currency))
        self.invoices.append(row)
        self.lines += lines
        self.by_id[row["invoice_id"]] = row
        self.currencies.setdefault(cid, []).append(currency)   # type: ignore[arg-type]
        if row["due_date"]:
            self.terms.setdefault(cid, []).append(   # type: ignore[arg-type]
                (dt.date.fromisoformat(row["due_date"]) - dt.date.fromisoformat(issue)).days)  # type: ignore[arg-type]
        self.account.map("invoices", "invoices")
        self.account.map("invoice line items", "invoice_lines", len(lines))

    def _invoice_reason(self, inv: dict) -> str | None:
        if inv.get("Type") != "ACCREC":
            return f"not a sales invoice (Type {inv.get('Type')})"
        status = inv.get("Status")
        if status not in STATUSES:
            return {"DRAFT": "a draft (not issued)", "SUBMITTED": "awaiting approval (not issued)",
                    "DELETED": "deleted"}.get(status, f"status {status}")
        if not inv.get("InvoiceID") or not xero_day(inv, "Date"):
            return "no InvoiceID or Date"
        if not is_currency(str(inv.get("CurrencyCode") or "")):
            return "CurrencyCode missing or not ISO 4217"
        if not isinstance(inv.get("Contact"), dict) or not inv["Contact"].get("ContactID"):
            return "no Contact"
        return None

    def _line(self, row: dict, item: dict, n: int, kind: str) -> dict:
        currency = row["currency"]
        qty, unit = decimal_value(item.get("Quantity")), decimal_value(item.get("UnitAmount"))
        line_amount = _money(item.get("LineAmount"))
        discounted = decimal_value(item.get("DiscountRate")) or decimal_value(item.get("DiscountAmount"))
        amount = quantize(qty * unit, currency) if discounted and qty is not None and unit is not None \
            else line_amount
        tax = _money(item.get("TaxAmount"))
        tax_type = str(item.get("TaxType") or "")
        inclusive = kind.lower() == "inclusive"
        if kind.lower() != "notax" and tax_type:
            self.tax_pairs.setdefault((tax_type, currency), []).append((line_amount, tax, inclusive))
            self.used_types.add(tax_type)
        return {"invoice_id": row["invoice_id"], "line_no": n, "subscription_id": None, "plan_id": None,
                "description": item.get("Description"), "period_start": row["issue_date"],
                "period_end": row["issue_date"], "quantity": decimal_text(qty) if qty is not None else None,
                "unit_price": decimal_text(unit) if unit is not None else None,
                "amount": _text(amount, currency), "discount": _text(amount - line_amount, currency),
                "tax_rate_pct": None, "tax_amount": _text(tax, currency),
                "tax_type": tax_type if kind.lower() != "notax" else "", "item_code": item.get("ItemCode"),
                "account_code": item.get("AccountCode"), "line_item_id": item.get("LineItemID")}

    def settle_rates(self) -> None:
        """Each line's rate: its tax type's EffectiveRate, else the rate implied by all lines of the type."""
        implied: dict[tuple[str, str], Decimal | None] = {}
        for (tax_type, currency), pairs in self.tax_pairs.items():
            if tax_type not in self.rates:
                implied[(tax_type, currency)] = implied_rate(pairs, currency)
                if implied[(tax_type, currency)] is None:
                    self.notes.append(f"tax type {tax_type}: no TaxRates response and no single rate gives every "
                                      f"{currency} line its tax; each line's rate is the one its own tax implies")
        for line in self.lines:
            tax_type = line.pop("tax_type")
            row = self.by_id[line["invoice_id"]]
            rate = self.rates.get(tax_type, implied.get((tax_type, row["currency"]))) if tax_type else Decimal(0)
            if rate is None:
                net = Decimal(line["amount"]) - Decimal(line["discount"])
                rate = implied_rate([(net, Decimal(line["tax_amount"]), row["tax_behavior"] == "inclusive")],
                                    row["currency"]) or Decimal(0)
            line["tax_rate_pct"] = decimal_text(rate)
            line["tax_type"] = tax_type

    def _skip_inline(self, inv: dict, why: str) -> None:
        for key, kind in (("Payments", "invoice payments"), ("CreditNotes", "invoice credit notes"),
                          ("Overpayments", "invoice overpayments"), ("Prepayments", "invoice prepayments")):
            listed = inv.get(key) if isinstance(inv.get(key), list) else []
            if listed:
                self.account.read(kind, len(listed))
                self.account.skip(kind, why, len(listed))

    # -- payments ---------------------------------------------------------------------------------------
    def payment(self, pay: dict, kind: str, invoice_id: str | None = None) -> None:
        ptype = pay.get("PaymentType") or "ACCRECPAYMENT"
        target = invoice_id or str((pay.get("Invoice") or {}).get("InvoiceID") or "")
        inv = self.by_id.get(target)
        pid = str(pay.get("PaymentID") or pay.get("OverpaymentID") or pay.get("PrepaymentID") or "")
        amount = decimal_value(pay.get("AppliedAmount") if kind != "payments" and pay.get("AppliedAmount")
                               is not None else pay.get("Amount"))
        if ptype != "ACCRECPAYMENT":
            why = {"ARCREDITPAYMENT": "a cash refund of a credit note (money paid out; the contract has no refunds)",
                   "ACCPAYPAYMENT": "a payment of a bill (ACCPAY)"}.get(ptype, f"PaymentType {ptype}")
            return self.account.skip(kind, why)
        if pay.get("Status") == "DELETED":
            return self.account.skip(kind, "deleted")
        if inv is None:
            return self.account.skip(kind, f"pays an invoice that is not imported "
                                           f"({self.dropped.get(target, 'not in the export')})")
        if not pid or amount is None or not xero_day(pay, "Date"):
            return self.account.skip(kind, "no id, amount or date")
        key = pid if kind in ("payments", "invoice payments") else f"{pid}/{inv['invoice_id']}"
        if key in self.payments:
            return self.account.skip(kind, "the same payment read before (inline and in the Payments response)")
        self.payments[key] = {
            "payment_id": key, "customer_id": inv["customer_id"], "currency": inv["currency"],
            "amount": _text(amount, inv["currency"]), "received_date": xero_day(pay, "Date"),
            "invoice_id": inv["invoice_id"], "reference": pay.get("Reference") or None,
            "payment_type": "overpayment or prepayment applied" if kind in ("invoice overpayments",
                                                                            "invoice prepayments") else ptype}
        self.account.map(kind, "payments")

    def inline_payments(self, inv: dict) -> None:
        row = self.by_id.get(str(inv.get("InvoiceID") or ""))
        if row is None:
            return
        for key, kind in (("Payments", "invoice payments"), ("Overpayments", "invoice overpayments"),
                          ("Prepayments", "invoice prepayments")):
            for pay in inv.get(key) or []:
                self.account.read(kind)
                self.payment(pay, kind, row["invoice_id"])

    # -- credit notes -------------------------------------------------------------------------------------
    def allocation(self, note: dict, invoice_id: str, amount: Decimal | None, day: str | None, kind: str) -> None:
        inv = self.by_id.get(invoice_id)
        nid = str(note.get("CreditNoteID") or note.get("ID") or "")
        if inv is None:
            return self.account.skip(kind, f"allocated to an invoice that is not imported "
                                           f"({self.dropped.get(invoice_id, 'not in the export')})")
        if not nid or amount is None:
            return self.account.skip(kind, "no credit note id or amount")
        if (nid, invoice_id) in self.notes_rows:
            return self.account.skip(kind, "the same allocation read before (inline and in the credit note)")
        full = self.credit_notes.get(nid, note)
        total, tax = decimal_value(full.get("Total")), decimal_value(full.get("TotalTax"))
        if not total or tax is None:   # the note's own tax share is unknown: the invoice's
            total, tax = Decimal(inv["total"]), Decimal(inv["tax"])
        tax_share = quantize(amount * tax / total, inv["currency"]) if total else Decimal(0)
        self.notes_rows[(nid, invoice_id)] = {
            "credit_note_id": nid, "invoice_id": invoice_id, "issue_date": xero_day(full, "Date") or day,
            "amount": _text(amount - tax_share, inv["currency"]), "tax": _text(tax_share, inv["currency"]),
            "reason": full.get("Reference") or None, "credit_note_number": full.get("CreditNoteNumber"),
            "applied": _text(amount, inv["currency"])}
        self.account.map(kind, "credit_notes")

    def credit_note(self, note: dict) -> None:
        allocations = note.get("Allocations") if isinstance(note.get("Allocations"), list) else []
        self.account.read("credit note allocations", len(allocations))
        reason = None
        if note.get("Type") != "ACCRECCREDIT":
            reason = f"not a sales credit note (Type {note.get('Type')})"
        elif note.get("Status") not in ("AUTHORISED", "PAID"):
            reason = f"status {note.get('Status')} (not issued, or deleted or voided)"
        if reason:
            self.account.skip("credit notes", reason)
            self.account.skip("credit note allocations", "of a credit note that is not imported", len(allocations))
            return
        for alloc in allocations:
            target = str((alloc.get("Invoice") or {}).get("InvoiceID") or "")
            self.allocation(note, target, decimal_value(alloc.get("Amount")), xero_day(alloc, "Date"),
                            "credit note allocations")
        if allocations or any(k[0] == note.get("CreditNoteID") for k in self.notes_rows):
            self.account.map("credit notes", "credit_notes (through their allocations)")
        else:
            self.account.skip("credit notes", "allocated to no invoice (credit left on the account, or refunded)")
        remaining = decimal_value(note.get("RemainingCredit"))
        if remaining:
            self.notes.append(f"credit note {note.get('CreditNoteNumber') or note.get('CreditNoteID')}: "
                              f"{remaining} of credit is not allocated to an invoice and reduces none")

    def inline_credit_notes(self, inv: dict) -> None:
        row = self.by_id.get(str(inv.get("InvoiceID") or ""))
        if row is None:
            return
        for note in inv.get("CreditNotes") or []:
            self.account.read("invoice credit notes")
            self.allocation(note, row["invoice_id"], decimal_value(note.get("AppliedAmount")),
                            xero_day(note, "Date"), "invoice credit notes")

    # -- customers ----------------------------------------------------------------------------------------
    def customers(self, default_currency: str) -> tuple[list[dict], dict[str, str]]:
        """Customer rows, and ContactID -> customer_id (ContactNumber where set and unique)."""
        numbers = Counter(str(c["ContactNumber"]) for c in self.contacts.values() if c.get("ContactNumber"))
        keys = {cid: str(c["ContactNumber"]) if c.get("ContactNumber") and numbers[str(c["ContactNumber"])] == 1
                else cid for cid, c in self.contacts.items()}
        rows = []
        for cid, c in self.contacts.items():
            address = next((a.get("Country") for a in c.get("Addresses") or [] if a.get("Country")), None)
            terms = ((c.get("PaymentTerms") or {}).get("Sales") or {})
            days = int(terms["Day"]) if terms.get("Type") == "DAYSAFTERBILLDATE" and terms.get("Day") is not None \
                else most_common(self.terms.get(cid, []), 0)
            currency = c.get("DefaultCurrency") if is_currency(str(c.get("DefaultCurrency") or "")) else \
                most_common(self.currencies.get(cid, []), default_currency)
            rows.append({"customer_id": keys[cid], "name": c.get("Name"), "email": c.get("EmailAddress") or None,
                         "country": country_code(address) or PLACEHOLDER_COUNTRY, "currency": currency,
                         "payment_terms_days": str(max(int(days), 0)), "tax_exempt": "false",
                         "xero_contact_id": cid, "contact_number": c.get("ContactNumber") or None})
        return sorted(rows, key=lambda r: r["customer_id"]), keys


def import_xero(src: str | Path) -> ImportResult:
    """Map Xero Accounting API responses (a folder, or one file) to contract tables with row accounting."""
    account = RowAccount()
    data = read_xero_responses(src, account)
    rates = {}
    for rate in data["TaxRates"]:
        value = decimal_value(rate.get("EffectiveRate", rate.get("DisplayTaxRate")))
        if rate.get("TaxType") and value is not None:
            rates[str(rate["TaxType"])] = value
    b = _Builder(account, rates)
    for contact in data["Contacts"]:
        if contact.get("ContactID"):
            b.contacts[str(contact["ContactID"])] = contact
    for note in data["CreditNotes"]:
        if note.get("CreditNoteID"):
            b.credit_notes[str(note["CreditNoteID"])] = note
    for inv in data["Invoices"]:
        b.invoice(inv)
    for pay in data["Payments"]:
        b.payment(pay, "payments")
    for inv in data["Invoices"]:
        b.inline_payments(inv)
    for note in data["CreditNotes"]:
        b.credit_note(note)
    for alloc in data["Allocations"]:
        note = alloc.get("CreditNote") if isinstance(alloc.get("CreditNote"), dict) else {}
        b.allocation({**b.credit_notes.get(str(note.get("CreditNoteID")), {}), **note},
                     str((alloc.get("Invoice") or {}).get("InvoiceID") or ""), decimal_value(alloc.get("Amount")),
                     xero_day(alloc, "Date"), "allocations")
    for inv in data["Invoices"]:
        b.inline_credit_notes(inv)
    for kind in ("Overpayments", "Prepayments"):
        for _record in data[kind]:
            account.skip(KINDS[kind], "read through the invoices they are applied to")
    b.settle_rates()
    _count_reference(data, b, account)
    if not b.invoices:
        skipped = account.kinds.get("invoices", {}).get("skipped", {})
        why = "; ".join(f"{n} {reason}" for reason, n in skipped.items()) or "none found"
        raise ImportSourceError(f"Xero source {str(src)!r}: no sales invoice could be imported ({why})")
    customers, keys = b.customers(most_common([r["currency"] for r in b.invoices], "USD"))
    for row in [*b.invoices, *b.payments.values()]:
        row["customer_id"] = keys.get(row["customer_id"], row["customer_id"])
    for row in b.invoices:
        if not row["due_date"]:
            days = int(next(c["payment_terms_days"] for c in customers if c["customer_id"] == row["customer_id"]))
            row["due_date"] = (dt.date.fromisoformat(row["issue_date"]) + dt.timedelta(days=days)).isoformat()
    customer_frame = text_frame(customers, "customers", ("xero_contact_id", "contact_number"))
    tables = {
        "customers": customer_frame,
        "invoices": text_frame(b.invoices, "invoices", ("invoice_number", "reference", "line_amount_types",
                                                        "total_discount")),
        "invoice_lines": text_frame(b.lines, "invoice_lines", ("tax_type", "item_code", "account_code",
                                                               "line_item_id")),
        "credit_notes": text_frame(list(b.notes_rows.values()), "credit_notes", ("credit_note_number", "applied")),
        "payments": text_frame(list(b.payments.values()), "payments", ("payment_type",)),
        "tax_rates": no_rate_in_force(NO_RATES),
        **placeholder_contract(customer_frame, min(r["issue_date"] for r in b.invoices), customers[0]["currency"]),
    }
    notes = b.notes + ["invoices are keyed by InvoiceID (numbers may repeat); the number is kept as invoice_number"]
    return account.result(str(src), tables, notes)


def _count_reference(data: dict, b: _Builder, account: RowAccount) -> None:
    """Contacts become customers; tax rates give the rates of the lines of their tax type."""
    invoiced = {r["customer_id"] for r in b.invoices}
    for contact in data["Contacts"]:
        cid = str(contact.get("ContactID") or "")
        if cid in invoiced or contact.get("IsCustomer") is not False:
            account.map("contacts", "customers")
        else:
            b.contacts.pop(cid, None)
            account.skip("contacts", "not a customer (IsCustomer false, no sales invoice)")
    for rate in data["TaxRates"]:
        if str(rate.get("TaxType")) in b.used_types:
            account.map("tax rates", "invoice_lines (rate of their tax type)")
        else:
            account.skip("tax rates", "no imported line has this tax type")
