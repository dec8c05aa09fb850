"""Lago API JSON (invoices, fees, credit notes, payments) as a billing dataset.

Lago (getlago.com) answers its API with one JSON object per document:
``{"invoice": {...}}``, ``{"fees": [...]}``, ``{"credit_note": {...}}``,
``{"payment": {...}}`` (lists use the plural key). Money is an integer count
of minor units (``*_amount_cents``) beside a currency; it is turned into
decimal text with the currency's ISO 4217 digits, exactly, never through a
binary float (JSON numbers are parsed as ``Decimal``).

Mapping (see docs/realdata.md):

* invoice -> ``invoices``: ``invoice_id`` = Lago ``number``; subtotal = fees,
  discount = coupons, tax = taxes, total = ``sub_total_including_taxes``
  (Lago's own ``total_amount_cents`` also deducts credit notes and prepaid
  credits, which the contract treats as payments; it is kept as an extra
  column). Status: ``voided`` -> void, ``finalized`` -> paid when its payment
  succeeded or nothing is due, else open; drafts and other states are skipped.
  Period: the first billing period's subscription dates, else the issuing month.
* each fee -> one ``invoice_lines`` row (units, precise unit amount, amount,
  coupon share, tax rate and tax). A fee without its own coupon share gets
  the invoice's before-tax coupon credits spread pro rata over its fees, as
  Lago does.
* credit note -> ``credit_notes`` (amount = excluding taxes, tax = taxes),
  naming the invoice by ``lago_invoice_id`` when that invoice is imported,
  else by ``invoice_number``.
* payment -> ``payments``; its customer is its invoice's customer, else a
  placeholder customer (Lago payments carry none).
* the invoice's customer -> ``customers``; plans, subscriptions and tax_rates
  are minimal placeholders (see :func:`~billing_lib.data.importers.base.placeholder_config`).

A Lago document is identified by its ``lago_id``: a second document with an
id already imported (another response for the same document) is skipped, the
first in file-name order wins. Every source record (invoice, fee, credit
note, payment) is either mapped or counted as skipped with its reason.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from billing_lib.core.currency import is_currency, minor_digits
from billing_lib.data.contract import country_codes
from billing_lib.data.importers.base import (
    PLACEHOLDER_COUNTRY,
    ImportResult,
    ImportSourceError,
    cents_to_text,
    placeholder_config,
    text_frame,
)

UNKNOWN_CUSTOMER = "LAGO-UNKNOWN-CUSTOMER"
_KINDS = {"invoice": "invoice", "invoices": "invoice", "fee": "fee", "fees": "fee",
          "credit_note": "credit_note", "credit_notes": "credit_note", "payment": "payment", "payments": "payment"}


class _Skip(Exception):
    """A source record that cannot be mapped; the message is the reason counted in the report."""


MAX_JSON_BYTES = 64 << 20  # a Lago API page (100 documents at most) is far smaller


def read_lago_documents(src: str | Path) -> list[tuple[str, str, dict]]:
    """Every Lago record in a JSON file or a folder of them, as (file name, kind, record), files in name order.

    Raises ImportSourceError for a missing path, a file that is not JSON, or a
    source without any invoice, fee, credit note or payment.
    """
    src = Path(src)
    if src.is_dir():
        files = sorted(src.glob("*.json"))
    elif src.is_file():
        files = [src]
    else:
        raise ImportSourceError(f"Lago source {str(src)!r} does not exist (give a JSON file or a folder of them)")
    records: list[tuple[str, str, dict]] = []
    for path in files:
        if path.stat().st_size > MAX_JSON_BYTES:  # json.loads holds many times a file's size in memory
            raise ImportSourceError(f"{path}: {path.stat().st_size:,} bytes, more than the {MAX_JSON_BYTES:,} of a "
                                    "Lago API response page: save the export one page a file")
        try:
            doc = json.loads(path.read_text(encoding="utf-8-sig"), parse_float=Decimal)
        except (OSError, UnicodeDecodeError) as exc:
            raise ImportSourceError(f"{path}: cannot be read: {exc}") from None
        except json.JSONDecodeError as exc:
            raise ImportSourceError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise ImportSourceError(f"{path}: JSON nested too deeply to be a Lago API response") from None
        if not isinstance(doc, dict):
            continue
        for key, kind in _KINDS.items():
            value = doc.get(key)
            items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
            records += [(path.name, kind, item) for item in items if isinstance(item, dict)]
    if not records:
        raise ImportSourceError(f"Lago source {str(src)!r} holds no invoice, fee, credit note or payment "
                                "(expected JSON objects with a key such as \"invoice\" or \"fees\")")
    return records


def _day(text: object) -> str | None:
    """The date of an ISO date or timestamp, or None when it is not a real date (Lago samples hold "2025-02-00")."""
    try:
        return dt.date.fromisoformat(str(text)[:10]).isoformat()
    except ValueError:
        return None


def _money(record: dict, field: str, currency: str, default: object = None) -> str:
    value = record.get(field, default)
    if value is None:
        raise _Skip(f"{field} missing")
    try:
        return cents_to_text(value, currency)
    except ValueError:
        raise _Skip(f"{field} is not a whole number of minor units") from None


def _currency(record: dict, *fields: str) -> str:
    code = next((record[f] for f in fields if record.get(f)), None)
    if not isinstance(code, str) or not is_currency(code):
        raise _Skip("currency missing or not ISO 4217")
    return code


def _number(value: object) -> str | None:
    return None if value is None else f"{Decimal(str(value)):f}"


def _period(inv: dict, issue: str) -> tuple[str, str, str | None]:
    """Period start and end of an invoice, and a note when the source's period was not usable."""
    periods = inv.get("billing_periods") or []
    if periods:
        start = _day(periods[0].get("subscription_from_datetime"))
        end = _day(periods[0].get("subscription_to_datetime"))
        if start and end:
            return start, end, None
    first = dt.date.fromisoformat(issue).replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    note = None
    if periods:
        note = (f"invoice {inv.get('number')}: billing period "
                f"{periods[0].get('subscription_from_datetime')!r}..{periods[0].get('subscription_to_datetime')!r} "
                f"is not a pair of real dates; the period is taken as the issuing month {first:%Y-%m}")
    return first.isoformat(), last.isoformat(), note


def _status(inv: dict) -> str:
    status = inv.get("status")
    if status == "voided":
        return "void"
    if status != "finalized":
        raise _Skip(f"invoice not finalized (status {status})")
    if inv.get("payment_status") == "succeeded" or inv.get("total_due_amount_cents") == 0:
        return "paid"
    return "open"


def coupon_shares(inv: dict, fees: list[dict]) -> list[int] | None:
    """The invoice's before-tax coupon credits (in cents) spread over its fees pro rata, largest remainder first.

    None when a fee carries its own coupon share (``precise_coupons_amount_cents``) or there is no coupon.
    """
    if any("precise_coupons_amount_cents" in f for f in fees):
        return None
    coupons = sum(int(c.get("amount_cents") or 0) for c in inv.get("credits") or []
                  if (c.get("item") or {}).get("type") == "coupon" and c.get("before_taxes", True))
    amounts = [int(f.get("amount_cents") or 0) for f in fees]
    base = sum(amounts)
    if not coupons or base <= 0:
        return None
    shares = [coupons * a // base for a in amounts]
    rest = coupons - sum(shares)
    order = sorted(range(len(fees)), key=lambda i: (-(coupons * amounts[i] % base), i))
    for i in order[:rest]:
        shares[i] += 1
    return shares


def _rate(taxes: list | None, field: str) -> Decimal | None:
    """The summed rate of a list of Lago taxes, or None when there are none."""
    return sum(Decimal(str(t.get(field) or 0)) for t in taxes) if taxes else None


def _line(fee: dict, line_no: int, invoice_id: str, currency: str, start: str, end: str,
          coupon_cents: int | None, invoice_rate: Decimal | None) -> dict:
    digits = minor_digits(currency)
    if "precise_coupons_amount_cents" in fee:
        discount = Decimal(str(fee["precise_coupons_amount_cents"])).scaleb(-digits)
        discount_text = f"{discount.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP):f}"
    else:
        discount_text = cents_to_text(coupon_cents or 0, currency)
    item = fee.get("item") or {}
    rate = fee.get("taxes_rate")
    if rate is None:  # a fee without its own rate: its applied taxes, else the invoice's
        rate = _rate(fee.get("applied_taxes"), "tax_rate")
    if rate is None:
        rate = invoice_rate
    return {
        "invoice_id": invoice_id, "line_no": line_no, "subscription_id": None, "plan_id": None,
        "description": fee.get("invoice_display_name") or item.get("invoice_display_name") or item.get("name"),
        "period_start": _day(fee.get("from_date")) or start, "period_end": _day(fee.get("to_date")) or end,
        "quantity": _number(fee.get("units")), "unit_price": _number(fee.get("precise_unit_amount")),
        "amount": _money(fee, "amount_cents", currency), "discount": discount_text,
        "tax_rate_pct": _number(rate if rate is not None else 0),
        "tax_amount": _money(fee, "taxes_amount_cents", currency, 0),
        "lago_fee_id": fee.get("lago_id"), "item_type": item.get("type"), "item_code": item.get("code"),
    }


class _Builder:
    """Collects mapped rows and the row accounting while the records are read in order."""

    def __init__(self):
        self.invoices: list[dict] = []
        self.lines: list[dict] = []
        self.credit_notes: list[dict] = []
        self.payments: list[dict] = []
        self.customers: dict[str, dict] = {}
        self.rates: dict[str, str] = {}             # country -> the rate of its first customer's Lago taxes
        self.by_lago_id: dict[str, dict] = {}      # imported invoice lago_id -> invoice row
        self.by_number: dict[str, dict] = {}       # imported invoice number -> invoice row
        self.seen: dict[tuple[str, str], str] = {}  # (kind, lago_id) -> file it was imported from
        self.fee_ids: set[tuple[str, str]] = set()
        self.mapped: dict[str, int] = {}
        self.skipped: dict[str, int] = {}
        self.notes: list[str] = []

    @staticmethod
    def count(bucket: dict[str, int], key: str, n: int = 1) -> None:
        bucket[key] = bucket.get(key, 0) + n

    def once(self, kind: str, rec: dict, file: str) -> None:
        """Skip a document whose lago_id was imported before (another copy of the same document)."""
        lago_id = rec.get("lago_id")
        if lago_id and (kind, lago_id) in self.seen:
            raise _Skip(f"{kind.replace('_', ' ')} with a lago_id already imported (another response for the "
                        "same document; the first file in name order wins)")
        if lago_id:
            self.seen[(kind, lago_id)] = file

    def invoice(self, inv: dict, file: str) -> None:
        fees = inv.get("fees")
        try:
            if not isinstance(inv.get("customer"), dict) or not isinstance(fees, list):
                raise _Skip("invoice summary without customer and fees (a list response); "
                            "import the invoice itself")
            self.once("invoice", inv, file)
            status = _status(inv)
            number = inv.get("number")
            if not number:
                raise _Skip("invoice without a number")
            if number in self.by_number:
                raise _Skip("invoice number already imported from an earlier file")
            currency = _currency(inv, "currency")
            issue, due = _day(inv.get("issuing_date")), _day(inv.get("payment_due_date"))
            if not issue or not due:
                raise _Skip("invoice issuing or due date missing or not a date")
            start, end, note = _period(inv, issue)
            row = {"invoice_id": number, "customer_id": None, "currency": currency, "issue_date": issue,
                   "due_date": due, "period_start": start, "period_end": end,
                   "subtotal": _money(inv, "fees_amount_cents", currency),
                   "discount": _money(inv, "coupons_amount_cents", currency, 0),
                   "tax": _money(inv, "taxes_amount_cents", currency, 0),
                   "total": _money(inv, "sub_total_including_taxes_amount_cents", currency),
                   "status": status, "lago_id": inv.get("lago_id"), "lago_invoice_type": inv.get("invoice_type"),
                   "lago_total": _money(inv, "total_amount_cents", currency, 0),
                   "lago_total_due": _money(inv, "total_due_amount_cents", currency, 0), "source_file": file}
            row["customer_id"] = self.customer(inv["customer"], inv, currency)
            lines, line_skips = self._fee_lines(inv, fees, number, currency, start, end)
        except _Skip as why:
            self.count(self.skipped, str(why))
            if isinstance(fees, list) and fees:
                self.count(self.skipped, "fee of an invoice that was not imported", len(fees))
            return
        if note:
            self.notes.append(note)
        self.invoices.append(row)
        self.lines += lines
        self.by_number[number] = row
        if inv.get("lago_id"):
            self.by_lago_id[inv["lago_id"]] = row
        self.count(self.mapped, "invoices")
        self.count(self.mapped, "invoice_lines", len(lines))
        for reason, n in line_skips.items():
            self.count(self.skipped, reason, n)

    def _fee_lines(self, inv: dict, fees: list, number: str, currency: str, start: str,
                   end: str) -> tuple[list[dict], dict[str, int]]:
        shares = coupon_shares(inv, fees)
        if shares:
            self.notes.append(f"invoice {number}: lists before-tax coupon credits of "
                              f"{cents_to_text(sum(shares), currency)} {currency} but its fees carry no coupon share; "
                              "the credits are spread over its fee lines as line discounts, pro rata")
        lines, skips = [], {}
        for i, fee in enumerate(fees):
            try:
                if fee.get("amount_currency", currency) != currency:
                    raise _Skip("fee in another currency than its invoice")
                lines.append(_line(fee, len(lines) + 1, number, currency, start, end, shares[i] if shares else None,
                                   _rate(inv.get("applied_taxes"), "tax_rate")))
                if fee.get("lago_id"):
                    self.fee_ids.add((number, fee["lago_id"]))
            except _Skip as why:
                skips[str(why)] = skips.get(str(why), 0) + 1
            except (ValueError, ArithmeticError, TypeError, AttributeError) as exc:
                reason = "malformed fee (a value of an unexpected type)"
                skips[reason] = skips.get(reason, 0) + 1
                self.notes.append(f"invoice {number}: fee {i + 1} could not be read ({type(exc).__name__})")
        return lines, skips

    def fee(self, fee: dict) -> None:
        """A fee from a fee list: a line of its invoice when that invoice is imported."""
        try:
            inv = self.by_lago_id.get(fee.get("lago_invoice_id") or "")
            if inv is None:
                raise _Skip("fee of a Lago invoice that is not among the imported invoices (a fee carries no "
                            "dates or customer of its own)")
            if fee.get("lago_id") and (inv["invoice_id"], fee["lago_id"]) in self.fee_ids:
                raise _Skip("fee already imported with its invoice")
            n = sum(1 for line in self.lines if line["invoice_id"] == inv["invoice_id"]) + 1
            self.lines.append(_line(fee, n, inv["invoice_id"], inv["currency"], inv["period_start"],
                                    inv["period_end"], None, None))
        except _Skip as why:
            self.count(self.skipped, str(why))
            return
        self.count(self.mapped, "invoice_lines")

    def credit_note(self, cn: dict, file: str) -> None:
        try:
            self.once("credit_note", cn, file)
            currency = _currency(cn, "currency")
            issue = _day(cn.get("issuing_date") or cn.get("created_at"))
            if not cn.get("number") or not issue:
                raise _Skip("credit note without a number or date")
            inv = self.by_lago_id.get(cn.get("lago_invoice_id") or "")
            invoice_id = inv["invoice_id"] if inv else cn.get("invoice_number")
            if not invoice_id:
                raise _Skip("credit note names no invoice")
            if inv and cn.get("invoice_number") and cn["invoice_number"] != inv["invoice_id"]:
                self.notes.append(f"credit note {cn['number']}: its lago_invoice_id is invoice {inv['invoice_id']} "
                                  f"but its invoice_number says {cn['invoice_number']}; the lago_invoice_id is used")
            row = {"credit_note_id": cn["number"], "invoice_id": invoice_id, "issue_date": issue,
                   "amount": _money(cn, "sub_total_excluding_taxes_amount_cents", currency),
                   "tax": _money(cn, "taxes_amount_cents", currency, 0), "reason": cn.get("reason"),
                   "currency": currency, "lago_total": _money(cn, "total_amount_cents", currency, 0),
                   "credit_status": cn.get("credit_status"), "refund_status": cn.get("refund_status"),
                   "source_file": file}
        except _Skip as why:
            self.count(self.skipped, str(why))
            return
        self.credit_notes.append(row)
        self.count(self.mapped, "credit_notes")

    def payment(self, pay: dict, file: str) -> None:
        try:
            self.once("payment", pay, file)
            if pay.get("payment_status", "succeeded") != "succeeded":
                raise _Skip(f"payment not succeeded (status {pay.get('payment_status')})")
            currency = _currency(pay, "amount_currency", "currency")
            received = _day(pay.get("created_at"))
            if not pay.get("lago_id") or not received:
                raise _Skip("payment without an id or date")
            numbers = [str(n) for n in pay.get("invoice_numbers") or []]
            invoices = [self.by_lago_id.get(i) for i in pay.get("invoice_ids") or []]
            invoices += [self.by_number.get(n) for n in numbers]
            known = next((i for i in invoices if i), None)
            customer = known["customer_id"] if known else self.unknown_customer(currency)
            invoice_id = known["invoice_id"] if known else (numbers[0] if numbers else None)
            reference = "; ".join(x for x in [pay.get("reference") or "",
                                              "invoices " + ", ".join(numbers) if numbers else ""] if x)
            row = {"payment_id": pay["lago_id"], "customer_id": customer, "currency": currency,
                   "amount": _money(pay, "amount_cents", currency), "received_date": received,
                   "invoice_id": invoice_id, "reference": reference, "payment_type": pay.get("type"),
                   "source_file": file}
        except _Skip as why:
            self.count(self.skipped, str(why))
            return
        self.payments.append(row)
        self.count(self.mapped, "payments")

    def customer(self, cust: dict, inv: dict, currency: str) -> str:
        cid = cust.get("external_id") or cust.get("lago_id")
        if not cid:
            raise _Skip("invoice customer without an id")
        if cid not in self.customers:
            country = cust.get("country") if isinstance(cust.get("country"), str) else None
            terms = cust.get("net_payment_term", inv.get("net_payment_term"))
            self.customers[cid] = {
                "customer_id": cid, "name": cust.get("name") or cust.get("legal_name"), "email": cust.get("email"),
                "country": country if country in country_codes() else PLACEHOLDER_COUNTRY,
                "currency": cust.get("currency") or currency,
                "payment_terms_days": int(terms) if terms is not None else 0, "tax_exempt": "false"}
            self._tax_rate(cid, cust.get("taxes"))
        return cid

    def _tax_rate(self, cid: str, taxes: list | None) -> None:
        """Record the customer's Lago taxes as the rate of its country (tax_rates is keyed by country)."""
        rate = _rate(taxes, "rate")
        if rate is None:
            return
        country = self.customers[cid]["country"]
        text = _number(rate)
        if country not in self.rates:
            self.rates[country] = text
        elif self.rates[country] != text:
            self.notes.append(f"customer {cid}: its Lago taxes ({text}%) differ from another customer's in "
                              f"{country} ({self.rates[country]}%); tax_rates keeps the first")

    def unknown_customer(self, currency: str) -> str:
        cid = f"{UNKNOWN_CUSTOMER}-{currency}"
        self.customers.setdefault(cid, {
            "customer_id": cid, "name": "Unknown customer (a Lago payment names no customer and its invoice "
                                        "is not imported)", "email": None, "country": PLACEHOLDER_COUNTRY,
            "currency": currency, "payment_terms_days": 0, "tax_exempt": "false"})
        return cid


def import_lago(src: str | Path) -> ImportResult:
    """Map Lago API JSON (one file or a folder of ``*.json``) to contract tables with row accounting."""
    records = read_lago_documents(src)
    b = _Builder()
    order = {"invoice": 0, "fee": 1, "credit_note": 2, "payment": 3}  # invoices first: the others refer to them
    handlers = {"invoice": b.invoice, "fee": lambda rec, _file: b.fee(rec), "credit_note": b.credit_note,
                "payment": b.payment}
    for file, kind, rec in sorted(records, key=lambda r: order[r[1]]):
        try:
            handlers[kind](rec, file)
        except (ValueError, ArithmeticError, TypeError, AttributeError, KeyError) as exc:  # a value of another type
            b.count(b.skipped, f"malformed {kind.replace('_', ' ')} (a value of an unexpected type)")
            fees = rec.get("fees") if kind == "invoice" else None
            if isinstance(fees, list) and fees:
                b.count(b.skipped, "fee of an invoice that was not imported", len(fees))
            b.notes.append(f"{file}: a {kind.replace('_', ' ')} could not be read ({type(exc).__name__}: {exc})")
    if not b.customers:
        skipped = "; ".join(f"{n} {r}" for r, n in b.skipped.items()) or "nothing"
        raise ImportSourceError(f"Lago source {str(src)!r}: no invoice or payment could be mapped, so the dataset "
                                "would have no customer (customers come from invoices and payments; import a "
                                f"credit note or fee list together with its invoice). Skipped: {skipped}.")
    customers = text_frame(list(b.customers.values()), "customers")
    dates = [r["issue_date"] for r in b.invoices] + [r["received_date"] for r in b.payments]
    currency = (b.invoices or b.payments)[0]["currency"]
    tables = {
        "customers": customers,
        "invoices": text_frame(b.invoices, "invoices", ("lago_id", "lago_invoice_type", "lago_total",
                                                        "lago_total_due", "source_file")),
        "invoice_lines": text_frame(b.lines, "invoice_lines", ("lago_fee_id", "item_type", "item_code")),
        "credit_notes": text_frame(b.credit_notes, "credit_notes", ("currency", "lago_total", "credit_status",
                                                                    "refund_status", "source_file")),
        "payments": text_frame(b.payments, "payments", ("payment_type", "source_file")),
        **placeholder_config(customers, min(dates), currency,
                             "the customer's Lago taxes, as the rate of its country", b.rates),
    }
    return ImportResult(str(src), tables, source_rows(records), b.mapped, b.skipped, b.notes)


def source_rows(records: list[tuple[str, str, dict]]) -> int:
    """Source records counted independently of the mapping: documents plus the fees inside invoices."""
    inner = sum(len(rec["fees"]) for _f, kind, rec in records
                if kind == "invoice" and isinstance(rec.get("fees"), list))
    return len(records) + inner
