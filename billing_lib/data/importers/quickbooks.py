"""QuickBooks Online API JSON as a billing dataset: ``billing import quickbooks FILE|DIR``.

The source is QBO Accounting API v3 entities in any of the shapes they are commonly saved in: query
responses (``{"QueryResponse": {"Invoice": [...]}}``), single-entity responses (``{"Invoice": {...}}``), or
JSON Lines of Airbyte records (``{"stream": "invoices", "data": {...}}``, the ``airbyte_cursor`` field
dropped). Money is decimal in major units (``xs:decimal``: ``100``, ``100.0`` and ``100.00`` alike), read as
``Decimal``; ``TxnDate``/``DueDate`` are calendar dates.

Mapping (see docs/realdata.md):

* Invoice -> ``invoices`` (id = ``DocNumber``, the number on the document; ``<DocNumber>/<Id>`` where a
  number repeats): issued ``TxnDate``, due ``DueDate``, period = the month of ``TxnDate``, subtotal = its item
  lines, discount = its ``DiscountLineDetail`` line, tax = ``TxnTaxDetail.TotalTax``, total = ``TotalAmt``;
  ``paid`` when ``Balance`` is 0, else ``open``. A SalesReceipt is an invoice paid on the spot: the same, plus
  a payment of its total.
* ``SalesItemLineDetail`` lines (also inside a ``GroupLineDetail`` bundle) -> ``invoice_lines``; the summary
  ``SubTotalLineDetail`` line is skipped (it would count the items twice); a discount line is spread over the
  item lines pro rata in whole cents. US sales tax is charged on the whole transaction: a line marked
  taxable (``TaxCodeRef`` not ``NON``) gets the transaction's rate (the sum of its ``TaxLine`` percentages) and
  the tax that rate gives on its net amount, once per line as the contract rounds; where QBO's one rounding of
  the total differs by a cent, ``invoice_totals`` shows it. ``GlobalTaxCalculation`` ``TaxInclusive`` makes
  the invoice ``tax_behavior`` ``inclusive``; ``NotApplicable`` means no tax.
* Payment -> one ``payments`` row per invoice it is applied to (``Line[].LinkedTxn`` of type ``Invoice``, the
  line's ``Amount``), and one for its ``UnappliedAmt``; an applied credit memo (a ``CreditMemo`` link in the
  same payment) becomes a ``credit_notes`` row of that invoice. A CreditMemo applied to no imported invoice
  reduces none and is skipped.
* Customer -> ``customers`` (id = ``Id``; terms from ``SalesTermRef``'s ``DueDays``, else the most common due
  date - issue date); exempt only with a ``TaxExemptionReasonId``. Items, tax codes and tax rates name and
  rate the lines; refunds and bank deposits are not billing documents and are skipped.

QBO's sales tax is by jurisdiction, not by the customer's country: ``tax_rates`` holds no rate in force, so
the tax check does not judge rates. Plans and subscriptions are placeholders.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from billing_lib.core.currency import is_currency, minor_digits, quantize
from billing_lib.data.importers.base import (
    PLACEHOLDER_COUNTRY,
    ImportResult,
    ImportSourceError,
    RowAccount,
    country_code,
    decimal_text,
    decimal_value,
    money_text,
    most_common,
    no_rate_in_force,
    placeholder_contract,
    read_json,
    source_files,
    text_frame,
)

ENTITIES = {"invoices": "Invoice", "payments": "Payment", "credit_memos": "CreditMemo",
            "sales_receipts": "SalesReceipt", "refund_receipts": "RefundReceipt", "deposits": "Deposit",
            "customers": "Customer", "items": "Item", "tax_codes": "TaxCode", "tax_rates": "TaxRate",
            "terms": "Term", "estimates": "Estimate", "bills": "Bill", "purchases": "Purchase", "vendors": "Vendor",
            "accounts": "Account", "journal_entries": "JournalEntry"}
KINDS = {"Invoice": "invoices", "SalesReceipt": "sales receipts", "Payment": "payments", "CreditMemo": "credit memos",
         "Customer": "customers", "Item": "items", "TaxCode": "tax codes", "TaxRate": "tax rates", "Term": "terms"}
NOT_BILLING = {"RefundReceipt": "a refund (money paid out; the contract has no refunds)",
               "Deposit": "a bank deposit (it bundles payments, which are read as payments)",
               "Estimate": "an estimate (not issued as an invoice)"}
NO_RATES = ("QuickBooks Online charges US sales tax by jurisdiction, not by the customer's country: no rate is "
            "in force, so tax rates are not judged against the customer's country")


def _entities(doc: object, stream: str | None = None) -> list[tuple[str, dict]]:
    """(entity type, entity) pairs in one JSON value of any of the shapes the module docstring names."""
    if isinstance(doc, list):
        return [pair for item in doc for pair in _entities(item, stream)]
    if not isinstance(doc, dict):
        return []
    if "stream" in doc and isinstance(doc.get("data"), dict):
        name = ENTITIES.get(str(doc["stream"]), str(doc["stream"]))
        return [(name, {k: v for k, v in doc["data"].items() if k != "airbyte_cursor"})]
    if isinstance(doc.get("QueryResponse"), dict):
        return _entities({k: v for k, v in doc["QueryResponse"].items() if isinstance(v, (list, dict))})
    out = []
    for key, value in doc.items():
        if key[:1].isupper() and isinstance(value, (list, dict)) and key not in ("MetaData", "CurrencyRef"):
            items = value if isinstance(value, list) else [value]
            out += [(key, item) for item in items if isinstance(item, dict) and ("Id" in item or "Line" in item)]
    return out


def read_qbo(src: str | Path, account: RowAccount) -> dict[str, list[dict]]:
    """Every QBO entity in SRC by type, deduplicated by (type, Id), counted as read."""
    out: dict[str, list[dict]] = {}
    seen: set[tuple[str, str]] = set()
    for path in source_files(src, "QuickBooks Online", (".json", ".jsonl", ".ndjson")):
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            docs = []
            try:
                text = path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                raise ImportSourceError(f"{path}: cannot be read: {exc}") from None
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        docs.append(json.loads(line, parse_float=Decimal))
                    except json.JSONDecodeError as exc:
                        raise ImportSourceError(f"{path}, line {n}: not valid JSON ({exc.msg})") from None
        else:
            docs = [read_json(path, "QuickBooks Online JSON")]
        for name, entity in _entities(docs):
            kind = KINDS.get(name, "other entities")
            account.read(kind)
            key = (name, str(entity.get("Id")))
            if entity.get("Id") is not None and key in seen:
                account.skip(kind, "read before (same Id in another record or file)")
                continue
            seen.add(key)
            if name in KINDS:
                out.setdefault(name, []).append(entity)
            else:
                account.skip(kind, NOT_BILLING.get(name, f"a {name} (not billing data the contract holds)"))
    if not out.get("Invoice") and not out.get("SalesReceipt"):
        raise ImportSourceError(f"QuickBooks Online source {str(src)!r} holds no Invoice or SalesReceipt (expected "
                                "QBO API JSON: query responses, entities, or Airbyte JSON Lines; see docs/realdata.md)")
    return out


def _ref(value: object) -> str | None:
    return str(value.get("value")) if isinstance(value, dict) and value.get("value") is not None else None


def _day(text: object) -> str | None:
    try:
        return dt.date.fromisoformat(str(text)[:10]).isoformat() if text else None
    except ValueError:
        return None


def _spread(total: Decimal, amounts: list[Decimal], currency: str) -> list[Decimal]:
    """``total`` over ``amounts`` pro rata in whole minor units, largest remainder first."""
    unit = Decimal(1).scaleb(-minor_digits(currency))
    base = sum(amounts, Decimal(0))
    if not total or base <= 0:
        return [Decimal(0)] * len(amounts)
    exact = [total * a / base for a in amounts]
    shares = [(e / unit).to_integral_value(rounding="ROUND_FLOOR") * unit for e in exact]
    rest = int(((total - sum(shares, Decimal(0))) / unit).to_integral_value())
    for i in sorted(range(len(amounts)), key=lambda i: (-(exact[i] - shares[i]), i))[:rest]:
        shares[i] += unit
    return shares


@dataclass
class _Builder:
    account: RowAccount
    rate_values: dict[str, Decimal]
    invoices: list[dict] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)
    credit_notes: list[dict] = field(default_factory=list)
    by_qbo: dict[str, dict] = field(default_factory=dict)      # QBO Id -> invoice row
    ids: Counter = field(default_factory=Counter)
    items: set[str] = field(default_factory=set)
    used_rates: set[str] = field(default_factory=set)
    used_codes: set[str] = field(default_factory=set)
    terms: dict[str, list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def invoice(self, inv: dict, kind: str) -> dict | None:
        listed = inv.get("Line") if isinstance(inv.get("Line"), list) else []
        self.account.read("lines", len(listed))
        currency = _ref(inv.get("CurrencyRef")) or ""
        issue = _day(inv.get("TxnDate"))
        reason = None
        if not is_currency(currency):
            reason = "CurrencyRef missing or not ISO 4217"
        elif not issue or not _ref(inv.get("CustomerRef")):
            reason = "no TxnDate or CustomerRef"
        if reason:
            self.account.skip(kind, reason)
            self.account.skip("lines", "of a document that is not imported", len(listed))
            return None
        number = str(inv.get("DocNumber") or f"QBO-{inv.get('Id')}")
        self.ids[number] += 1
        invoice_id = number if self.ids[number] == 1 else f"{number}/{inv.get('Id')}"
        detail = inv.get("TxnTaxDetail") if isinstance(inv.get("TxnTaxDetail"), dict) else {}
        calculation = inv.get("GlobalTaxCalculation") or "TaxExcluded"
        rate = self._rate(detail) if calculation != "NotApplicable" else Decimal(0)
        first = dt.date.fromisoformat(issue).replace(day=1)
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        row = {"invoice_id": invoice_id, "customer_id": _ref(inv.get("CustomerRef")), "currency": currency,
               "issue_date": issue, "due_date": _day(inv.get("DueDate")), "period_start": first.isoformat(),
               "period_end": last.isoformat(), "tax_behavior": "inclusive" if calculation == "TaxInclusive"
               else "exclusive", "qbo_id": inv.get("Id"), "qbo_type": "Invoice" if kind == "invoices"
               else "SalesReceipt", "doc_number": inv.get("DocNumber")}
        items, discount = self._items(listed, row, rate, inclusive=calculation == "TaxInclusive")
        tax = decimal_value(detail.get("TotalTax")) or Decimal(0)
        total = decimal_value(inv.get("TotalAmt")) or Decimal(0)
        balance = decimal_value(inv.get("Balance"))
        row.update(subtotal=money_text(sum((Decimal(x["amount"]) for x in items), Decimal(0)), currency),
                   discount=money_text(discount, currency), tax=money_text(tax, currency),
                   total=money_text(total, currency),
                   status="paid" if kind == "sales receipts" or (balance is not None and balance <= 0) else "open")
        if row["due_date"]:
            self.terms.setdefault(row["customer_id"], []).append(
                (dt.date.fromisoformat(row["due_date"]) - dt.date.fromisoformat(issue)).days)
        self.invoices.append(row)
        self.lines += items
        self.by_qbo[str(inv.get("Id"))] = row
        self.account.map(kind, "invoices")
        return row

    def _rate(self, detail: dict) -> Decimal:
        """The transaction's sales tax rate: the sum of its tax lines' percentages."""
        if _ref(detail.get("TxnTaxCodeRef")):
            self.used_codes.add(_ref(detail.get("TxnTaxCodeRef")))  # type: ignore[arg-type]
        total = Decimal(0)
        for line in detail.get("TaxLine") or []:
            info = line.get("TaxLineDetail") or {}
            ref = _ref(info.get("TaxRateRef"))
            if ref:
                self.used_rates.add(ref)
            pct = decimal_value(info.get("TaxPercent"))
            total += pct if pct is not None else self.rate_values.get(ref or "", Decimal(0))
        return total

    def _items(self, listed: list, row: dict, rate: Decimal, inclusive: bool) -> tuple[list[dict], Decimal]:
        currency = row["currency"]
        items: list[tuple[dict, bool]] = []
        discount = Decimal(0)
        for line in listed:
            kind = line.get("DetailType")
            if kind == "SalesItemLineDetail":
                items.append((line, True))
                self.account.map("lines", "invoice_lines")
            elif kind == "GroupLineDetail":
                inner = [x for x in (line.get("GroupLineDetail") or {}).get("Line") or []
                         if x.get("DetailType") == "SalesItemLineDetail"]
                items += [(x, True) for x in inner]
                self.account.map("lines", "invoice_lines (the items of a bundle)")
            elif kind == "DiscountLineDetail":
                discount += decimal_value(line.get("Amount")) or Decimal(0)
                self.account.map("lines", "invoice_lines (a discount spread over the item lines)")
            elif kind == "SubTotalLineDetail":
                self.account.skip("lines", "the summary subtotal line (the sum of the item lines)")
            else:
                self.account.skip("lines", f"a {kind or 'detail-less'} line (no amount billed)")
        amounts = [decimal_value(x.get("Amount")) or Decimal(0) for x, _ in items]
        shares = _spread(discount, amounts, currency)
        out = []
        for n, ((line, _), amount, share) in enumerate(zip(items, amounts, shares, strict=True), 1):
            detail = line.get("SalesItemLineDetail") or {}
            taxable = _ref(detail.get("TaxCodeRef")) not in (None, "NON") and rate != 0
            net = amount - share
            exact = net * rate / (100 + rate) if inclusive else net * rate / 100
            item = _ref(detail.get("ItemRef"))
            if item:
                self.items.add(item)
            qty, unit = decimal_value(detail.get("Qty")), decimal_value(detail.get("UnitPrice"))
            out.append({"invoice_id": row["invoice_id"], "line_no": n, "subscription_id": None, "plan_id": None,
                        "description": line.get("Description"),
                        "period_start": _day(detail.get("ServiceDate")) or row["issue_date"],
                        "period_end": _day(detail.get("ServiceDate")) or row["issue_date"],
                        "quantity": decimal_text(qty) if qty is not None else None,
                        "unit_price": decimal_text(unit) if unit is not None else None,
                        "amount": money_text(amount, currency), "discount": money_text(share, currency),
                        "tax_rate_pct": decimal_text(rate if taxable else Decimal(0)),
                        "tax_amount": money_text(quantize(exact, currency) if taxable else Decimal(0), currency),
                        "item_id": item, "item_name": (detail.get("ItemRef") or {}).get("name"),
                        "tax_code": _ref(detail.get("TaxCodeRef"))})
        return out, discount

    def payment(self, pay: dict, memos: dict[str, dict]) -> None:
        lines = pay.get("Line") if isinstance(pay.get("Line"), list) else []
        self.account.read("payment lines", len(lines))
        currency = _ref(pay.get("CurrencyRef")) or ""
        received = _day(pay.get("TxnDate"))
        if not is_currency(currency) or not received or not _ref(pay.get("CustomerRef")):
            self.account.skip("payments", "no currency, date or customer")
            self.account.skip("payment lines", "of a payment that is not imported", len(lines))
            return
        links = [(line, link) for line in lines for link in (line.get("LinkedTxn") or [])[:1]]
        invoices = [(line, self.by_qbo.get(str(link.get("TxnId")))) for line, link in links
                    if link.get("TxnType") in ("Invoice", "SalesReceipt")]
        credits = [(line, str(link.get("TxnId"))) for line, link in links if link.get("TxnType") == "CreditMemo"]
        cash = decimal_value(pay.get("TotalAmt")) or Decimal(0)
        made = 0
        for k, (line, inv) in enumerate(invoices, 1):
            amount = decimal_value(line.get("Amount")) or Decimal(0)
            if inv is None:
                self.account.skip("payment lines", "pays an invoice that is not imported")
                continue
            if credits and len(invoices) == 1:   # a credit memo applied with it: the cash is the total
                amount = cash
            pid = str(pay.get("Id")) if len(invoices) == 1 else f"{pay.get('Id')}/{k}"
            self._pay(pid, pay, inv["customer_id"], currency, amount, received, inv["invoice_id"])
            self.account.map("payment lines", "payments")
            made += 1
        for line, memo_id in credits:
            memo = memos.get(memo_id)
            target = invoices[0][1] if len(invoices) == 1 else None
            if memo is None or target is None:
                self.account.skip("payment lines", "applies a credit memo that is not imported, or to several "
                                                   "invoices")
                continue
            self._credit(memo, target, decimal_value(line.get("Amount")) or Decimal(0))
            self.account.map("payment lines", "credit_notes (a credit memo applied to an invoice)")
        for line in lines:
            if not (line.get("LinkedTxn") or []):
                self.account.skip("payment lines", "applied to nothing")
            elif (line.get("LinkedTxn") or [{}])[0].get("TxnType") not in ("Invoice", "SalesReceipt", "CreditMemo"):
                self.account.skip("payment lines", f"applied to a {line['LinkedTxn'][0].get('TxnType')}")
        unapplied = decimal_value(pay.get("UnappliedAmt")) or Decimal(0)
        if unapplied > 0:
            self._pay(f"{pay.get('Id')}/unapplied", pay, _ref(pay.get("CustomerRef")), currency, unapplied, received,
                      None)
            made += 1
        if made:
            self.account.map("payments", "payments")
        else:
            self.account.skip("payments", "applied to no imported invoice and nothing unapplied")

    def _pay(self, pid: str, pay: dict, customer: str | None, currency: str, amount: Decimal, day: str,
             invoice_id: str | None) -> None:
        self.payments.append({"payment_id": pid, "customer_id": customer, "currency": currency,
                              "amount": money_text(amount, currency), "received_date": day, "invoice_id": invoice_id,
                              "reference": pay.get("PaymentRefNum") or pay.get("PrivateNote") or None,
                              "qbo_id": pay.get("Id")})

    def _credit(self, memo: dict, inv: dict, applied: Decimal) -> None:
        currency = inv["currency"]
        total = decimal_value(memo.get("TotalAmt")) or Decimal(0)
        tax = decimal_value((memo.get("TxnTaxDetail") or {}).get("TotalTax")) or Decimal(0)
        tax_share = quantize(applied * tax / total, currency) if total else Decimal(0)
        memo["_applied"] = True
        self.credit_notes.append({"credit_note_id": f"{memo.get('DocNumber') or memo.get('Id')}"
                                  + ("" if not any(c["qbo_id"] == memo.get("Id") for c in self.credit_notes)
                                     else f"/{inv['invoice_id']}"),
                                  "invoice_id": inv["invoice_id"], "issue_date": _day(memo.get("TxnDate")),
                                  "amount": money_text(applied - tax_share, currency),
                                  "tax": money_text(tax_share, currency),
                                  "reason": (memo.get("CustomerMemo") or {}).get("value"), "qbo_id": memo.get("Id")})


def import_quickbooks(src: str | Path) -> ImportResult:
    """Map QuickBooks Online API JSON (a file or a folder) to contract tables with row accounting."""
    account = RowAccount()
    data = read_qbo(src, account)
    rates = {str(r.get("Id")): decimal_value(r.get("RateValue")) or Decimal(0) for r in data.get("TaxRate", [])}
    b = _Builder(account, rates)
    for inv in data.get("Invoice", []):
        b.invoice(inv, "invoices")
    for receipt in data.get("SalesReceipt", []):
        row = b.invoice(receipt, "sales receipts")
        if row is not None:
            b._pay(f"SR-{receipt.get('Id')}", receipt, row["customer_id"], row["currency"], Decimal(row["total"]),
                   row["issue_date"], row["invoice_id"])
    memos = {str(m.get("Id")): m for m in data.get("CreditMemo", [])}
    for pay in data.get("Payment", []):
        b.payment(pay, memos)
    for memo in memos.values():
        if memo.get("_applied"):
            account.map("credit memos", "credit_notes")
        else:
            account.skip("credit memos", "applied to no imported invoice (a QBO credit memo names no invoice; it "
                                         "reduces one only when a payment applies it)")
    repeated = [n for n, k in b.ids.items() if k > 1]
    if repeated:
        b.notes.append(f"{len(repeated)} document numbers repeat; the later documents are <DocNumber>/<Id>")
    customers = _customers(data, b)
    terms = {c["customer_id"]: int(c["payment_terms_days"]) for c in customers}
    for row in b.invoices:   # a sales receipt, or an invoice without DueDate: due on the customer's terms
        if not row["due_date"]:
            row["due_date"] = (dt.date.fromisoformat(row["issue_date"])
                               + dt.timedelta(days=terms[row["customer_id"]])).isoformat()
    _count_reference(data, b, account)
    frame = text_frame(customers, "customers", ("qbo_display_name",))
    tables = {
        "customers": frame,
        "invoices": text_frame(b.invoices, "invoices", ("qbo_id", "qbo_type", "doc_number")),
        "invoice_lines": text_frame(b.lines, "invoice_lines", ("item_id", "item_name", "tax_code")),
        "credit_notes": text_frame(b.credit_notes, "credit_notes", ("qbo_id",)),
        "payments": text_frame(b.payments, "payments", ("qbo_id",)),
        "tax_rates": no_rate_in_force(NO_RATES),
        **placeholder_contract(frame, min(r["issue_date"] for r in b.invoices), customers[0]["currency"]),
    }
    return account.result(str(src), tables, b.notes)


def _customers(data: dict, b: _Builder) -> list[dict]:
    """Listed customers, and a bare row for each one a document names that the source does not list."""
    terms = {str(t.get("Id")): int(decimal_value(t.get("DueDays")) or 0) for t in data.get("Term", [])}
    named: dict[str, str] = {}
    for row in [*b.invoices, *b.payments]:
        named.setdefault(row["customer_id"], row["currency"])
    rows = {}
    for c in data.get("Customer", []):
        cid = str(c.get("Id"))
        address = (c.get("BillAddr") or {}).get("Country") or (c.get("ShipAddr") or {}).get("Country")
        term = terms.get(_ref(c.get("SalesTermRef")) or "")
        rows[cid] = {"customer_id": cid, "name": c.get("DisplayName") or c.get("CompanyName"),
                     "email": (c.get("PrimaryEmailAddr") or {}).get("Address"),
                     "country": country_code(address) or PLACEHOLDER_COUNTRY,
                     "currency": _ref(c.get("CurrencyRef")) or named.get(cid) or "USD",
                     "payment_terms_days": str(term if term is not None else most_common(b.terms.get(cid, []), 0)),
                     "tax_exempt": "true" if c.get("TaxExemptionReasonId") else "false",
                     "qbo_display_name": c.get("FullyQualifiedName")}
    missing = sorted(set(named) - set(rows))
    for cid in missing:
        rows[cid] = {"customer_id": cid, "name": None, "email": None, "country": PLACEHOLDER_COUNTRY,
                     "currency": named[cid], "payment_terms_days": str(most_common(b.terms.get(cid, []), 0)),
                     "tax_exempt": "false"}
    if missing:
        b.notes.append(f"{len(missing)} customers named by documents are not in the source: made bare (id, currency "
                       "and the terms their invoices show)")
    return [rows[k] for k in sorted(rows)]


def _count_reference(data: dict, b: _Builder, account: RowAccount) -> None:
    """Customers, terms, items, tax codes and tax rates: mapped where the documents use them."""
    for _c in data.get("Customer", []):
        account.map("customers", "customers")
    for _t in data.get("Term", []):
        account.map("terms", "customers (payment terms)")
    for kind, name, used in (("items", "Item", b.items), ("tax codes", "TaxCode", b.used_codes),
                             ("tax rates", "TaxRate", b.used_rates)):
        for entity in data.get(name, []):
            if str(entity.get("Id")) in used:
                account.map(kind, "invoice_lines (they name or rate the lines)")
            else:
                account.skip(kind, "no imported line uses it")
