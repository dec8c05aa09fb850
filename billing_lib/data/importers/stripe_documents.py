"""Stripe invoices, credit notes and payments as the contract's billing documents.

Both API shapes are read: the current one (line ``pricing`` and ``parent``, ``taxes``, invoice
``total_taxes``, ``invoice_payment`` objects) and the older one (line ``price``/``plan``, ``proration``,
``tax_amounts``, invoice ``tax``/``total_tax_amounts``, ``charge`` and ``payment_intent`` on the invoice).

* invoice -> ``invoices`` (drafts are not issued and are skipped): id = ``metadata.invoice_id`` else the
  ``number``; issued on ``effective_at`` (else ``status_transitions.finalized_at``, else ``created``); due on
  ``due_date`` (else issue date + the customer's terms); period = ``metadata.period_start``/``period_end``,
  else the calendar month of the earliest line; subtotal, total as Stripe states them (a subtotal that
  already has the line discounts taken off gets them back: the contract's subtotal is before discounts),
  discount = ``total_discount_amounts``, tax = ``total_taxes`` / ``tax``. A tax amount marked inclusive
  makes the invoice ``tax_behavior`` ``inclusive`` (its tax is inside the line amounts, not on top).
* each line of ``lines.data`` -> ``invoice_lines``: ``line_no`` = ``metadata.line_no`` else its place in
  the list; the subscription of its subscription item; the plan of its price; quantity; unit price
  (``pricing.unit_amount_decimal``, or the price's; none for tiered prices); amount before discounts; the
  sum of ``discount_amounts``; the tax rate (sum of the percentages of its tax rates) and the sum of its tax
  amounts; service days from ``period`` (whose end is exclusive).
* credit note -> ``credit_notes`` (void ones skipped): amount = ``total_excluding_tax``, tax = its taxes,
  reason = ``memo`` else ``reason``; its lines are summed into it.
* payment intent (succeeded) -> ``payments``: id = ``metadata.payment_id`` else the Stripe id; the invoice
  it pays from ``invoice_payments`` (or the older ``invoice.payment_intent`` / ``payment_intent.invoice``,
  or ``metadata.invoice_id``); reference = ``metadata.reference`` else ``description``. A paid invoice
  payment whose payment is not in the export is a payment of its own; a charge outside any payment intent
  too. An export without any payment object takes each invoice's ``amount_paid`` as one payment.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from billing_lib.core.currency import is_currency, minor_digits
from billing_lib.data.importers.base import (
    RowAccount,
    decimal_text,
    decimal_value,
    implied_rate,
    minor_to_text,
    unix_day,
    unix_last_day,
)
from billing_lib.data.importers.stripe_contracts import CustomerIndex, SubscriptionIndex
from billing_lib.data.importers.stripe_export import StripeExport, meta, ref
from billing_lib.data.importers.stripe_pricebook import PlanRef, PriceBook, TaxBook

STATUSES = {"open": "open", "paid": "paid", "void": "void", "uncollectible": "uncollectible"}


class Skip(Exception):
    """A Stripe document that cannot be mapped; the message is the reason counted in the report."""


def _cents(value: object, currency: str) -> Decimal:
    amount = decimal_value(value)
    return Decimal(0) if amount is None else amount.scaleb(-minor_digits(currency))


def _text(value: Decimal, currency: str) -> str:
    return minor_to_text(value.scaleb(minor_digits(currency)), currency)


def _sum(items: object, currency: str, key: str = "amount") -> Decimal:
    return sum((_cents(i.get(key), currency) for i in items if isinstance(i, dict)), Decimal(0)) \
        if isinstance(items, list) else Decimal(0)


def _taxes(line: dict) -> list[dict]:
    """A line's tax amounts in one shape: amount, inclusive, rate (id or object)."""
    out = []
    for tax in line.get("taxes") or []:           # current shape
        details = tax.get("tax_rate_details") or {}
        out.append({"amount": tax.get("amount"), "inclusive": tax.get("tax_behavior") == "inclusive",
                    "rate": details.get("tax_rate"), "taxable": tax.get("taxable_amount")})
    for tax in line.get("tax_amounts") or []:     # older shape
        out.append({"amount": tax.get("amount"), "inclusive": bool(tax.get("inclusive")), "rate": tax.get("tax_rate"),
                    "taxable": tax.get("taxable_amount")})
    return out


def _line_subscription(line: dict) -> tuple[str | None, str | None]:
    """(Stripe subscription id, subscription item id) a line bills, in either shape."""
    parent = line.get("parent") if isinstance(line.get("parent"), dict) else {}
    details = parent.get("subscription_item_details") if parent.get("type") == "subscription_item_details" \
        else parent.get("invoice_item_details") if parent.get("type") == "invoice_item_details" else None
    if isinstance(details, dict):
        return ref(details.get("subscription")), ref(details.get("subscription_item"))
    return ref(line.get("subscription")), ref(line.get("subscription_item"))


def _line_price(line: dict) -> object:
    pricing = line.get("pricing") if isinstance(line.get("pricing"), dict) else {}
    details = pricing.get("price_details") if isinstance(pricing.get("price_details"), dict) else {}
    return details.get("price") or line.get("price") or line.get("plan")


def _unit_price(line: dict, plan: PlanRef | None, currency: str, inclusive: bool, proration: bool) -> str | None:
    """The unit price the line shows: its own (``pricing.unit_amount_decimal``; in the older shape
    ``unit_amount_excluding_tax`` when no tax is included and the line is not a proration, whose unit amount
    is the prorated one), else its embedded price's, else its plan's; none for tiered prices."""
    if plan is not None and plan.tiered:
        return None
    pricing = line.get("pricing") if isinstance(line.get("pricing"), dict) else {}
    if pricing.get("unit_amount_decimal") is not None:
        return minor_to_text(pricing["unit_amount_decimal"], currency)
    if line.get("unit_amount_excluding_tax") is not None and not inclusive and not proration:
        return minor_to_text(line["unit_amount_excluding_tax"], currency)
    price = line.get("price") or line.get("plan")
    if isinstance(price, dict):
        if price.get("billing_scheme") == "tiered":
            return None
        exact = price.get("unit_amount_decimal", price.get("amount_decimal"))
        exact = exact if exact is not None else price.get("unit_amount", price.get("amount"))
        if exact is not None:
            return minor_to_text(exact, currency)
    return plan.override or plan.unit_price if plan else None


@dataclass
class Documents:
    """The mapped documents, and how Stripe ids lead to them."""

    invoices: list[dict] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)
    credit_notes: list[dict] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)
    by_stripe: dict[str, dict] = field(default_factory=dict)   # in_ id -> invoice row
    dropped: dict[str, str] = field(default_factory=dict)      # in_ id -> why the invoice was skipped


@dataclass
class Context:
    export: StripeExport
    account: RowAccount
    customers: CustomerIndex
    subs: SubscriptionIndex
    book: PriceBook
    taxes: TaxBook
    notes: list[str]


def _issue_day(inv: dict) -> str | None:
    transitions = inv.get("status_transitions") if isinstance(inv.get("status_transitions"), dict) else {}
    return unix_day(inv.get("effective_at") or transitions.get("finalized_at") or inv.get("created"))


def _rate(taxes: list[dict], book: TaxBook, currency: str, net: Decimal, line: dict) -> Decimal:
    """The line's tax rate: the sum of the percentages of its tax rates (each named once); a rate the export
    does not hold is implied by the line's own net amount and tax."""
    for listed in line.get("tax_rates") or []:   # older shape: the rate objects themselves
        book.percentage(listed)
    rates = {ref(t["rate"]) or str(i): t["rate"] for i, t in enumerate(taxes)}
    known = [book.percentage(r) for r in rates.values()]
    if all(p is not None for p in known):
        return sum(known, Decimal(0))  # type: ignore[arg-type]
    tax = sum((_cents(t["amount"], currency) for t in taxes), Decimal(0))
    implied = implied_rate([(net, tax, any(t["inclusive"] for t in taxes))], currency)
    return implied if implied is not None else Decimal(0)


def _line_row(ctx: Context, inv_row: dict, line: dict, position: int) -> dict:
    currency = inv_row["currency"]
    stripe_sub, item = _line_subscription(line)
    plan = ctx.book.resolve(_line_price(line), currency)
    sub = ctx.subs.find(stripe_sub, item, plan.plan_id if plan else None) if ctx.subs.rows else None
    taxes = _taxes(line)
    inclusive = any(t["inclusive"] for t in taxes)
    amount = _cents(line.get("amount"), currency)
    discount = _sum(line.get("discount_amounts"), currency)
    tax = sum((_cents(t["amount"], currency) for t in taxes), Decimal(0))
    period = line.get("period") if isinstance(line.get("period"), dict) else {}
    start = unix_day(period.get("start")) or inv_row["issue_date"]
    end = unix_last_day(period.get("end"), period.get("start")) if period.get("end") else start
    number = decimal_value(meta(line, "line_no"))
    qty = decimal_value(line.get("quantity_decimal"))
    qty = qty if qty is not None else decimal_value(line.get("quantity"))
    parent = line.get("parent") if isinstance(line.get("parent"), dict) else {}
    proration = bool(line.get("proration") or (parent.get("subscription_item_details") or {}).get("proration"))
    subscription_id = meta(line, "subscription_id") or (sub["subscription_id"] if sub else None)
    if subscription_id is None and ctx.subs.rows and stripe_sub:
        subscription_id = stripe_sub   # names a subscription the export does not hold: kept, so it is reported
    return {"invoice_id": inv_row["invoice_id"],
            "line_no": int(number) if number is not None and number == int(number) else position,
            "subscription_id": subscription_id, "plan_id": meta(line, "plan_id") or (plan.plan_id if plan else None),
            "description": line.get("description"), "period_start": start, "period_end": end,
            "quantity": decimal_text(qty) if qty is not None else None,
            "unit_price": _unit_price(line, plan, currency, inclusive, proration),
            "amount": _text(amount, currency), "discount": _text(discount, currency),
            "tax_rate_pct": decimal_text(_rate(taxes, ctx.taxes, currency, amount - discount, line)),
            "tax_amount": _text(tax, currency), "stripe_line": line.get("id"), "proration": proration,
            "_inclusive": inclusive, "_stripe_subscription": stripe_sub}


def _period(inv: dict, lines: list[dict], issue: str) -> tuple[str, str]:
    start, end = meta(inv, "period_start"), meta(inv, "period_end")
    if start and end:
        return start[:10], end[:10]
    if lines:
        first = dt.date.fromisoformat(min(line["period_start"] for line in lines)).replace(day=1)
    elif inv.get("period_end") and inv.get("period_start") and inv["period_end"] > inv["period_start"]:
        return unix_day(inv["period_start"]), unix_last_day(inv["period_end"], inv["period_start"])
    else:
        first = dt.date.fromisoformat(issue).replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return first.isoformat(), last.isoformat()


def _invoice(ctx: Context, inv: dict, docs: Documents, taken: set[str]) -> None:
    status = STATUSES.get(inv.get("status"))
    if inv.get("status") == "draft":
        raise Skip("draft (not issued)")
    if status is None:
        raise Skip(f"status {inv.get('status')!r}")
    currency = str(inv.get("currency") or "").upper()
    if not is_currency(currency):
        raise Skip("currency missing or not ISO 4217")
    invoice_id = meta(inv, "invoice_id") or inv.get("number") or inv.get("id")
    issue = _issue_day(inv)
    if not invoice_id or not issue:
        raise Skip("no number or date")
    if invoice_id in taken:
        raise Skip("invoice_id already imported from another Stripe invoice")
    cid = ctx.customers.id_of(inv.get("customer"), inv)
    if cid is None:
        raise Skip("no customer")
    row = {"invoice_id": invoice_id, "customer_id": cid, "currency": currency, "issue_date": issue,
           "due_date": unix_day(inv.get("due_date")) if inv.get("due_date") else None, "status": status,
           "stripe_invoice": inv.get("id"), "stripe_number": inv.get("number"),
           "amount_paid": _text(_cents(inv.get("amount_paid"), currency), currency),
           "amount_remaining": _text(_cents(inv.get("amount_remaining"), currency), currency)}
    listed = (inv.get("lines") or {}).get("data") if isinstance(inv.get("lines"), dict) else None
    listed = listed if isinstance(listed, list) else []
    lines = []
    for position, line in enumerate(listed, 1):
        try:
            lines.append(_line_row(ctx, row, line, position))
        except (ValueError, TypeError, ArithmeticError, AttributeError) as exc:
            ctx.account.skip("invoice lines", "malformed line (a value of an unexpected type)")
            ctx.notes.append(f"invoice {invoice_id}: line {position} could not be read ({type(exc).__name__})")
    if (inv.get("lines") or {}).get("has_more"):
        ctx.notes.append(f"invoice {invoice_id}: its lines list has more pages than the export holds (expand "
                         "lines fully); the lines present are imported")
    row["period_start"], row["period_end"] = _period(inv, lines, issue)
    amounts = sum((Decimal(x["amount"]) for x in lines), Decimal(0))
    discounts = sum((Decimal(x["discount"]) for x in lines), Decimal(0))
    subtotal = _cents(inv.get("subtotal"), currency) if inv.get("subtotal") is not None else amounts
    if discounts and subtotal != amounts and subtotal == amounts - discounts:
        subtotal = amounts   # Stripe's subtotal with item discounts already taken off
    discount = _sum(inv.get("total_discount_amounts"), currency) if "total_discount_amounts" in inv else discounts
    if inv.get("total_taxes") is not None:
        tax = _sum(inv.get("total_taxes"), currency)
    elif inv.get("tax") is not None:
        tax = _cents(inv.get("tax"), currency)
    elif inv.get("total_tax_amounts") is not None:
        tax = _sum(inv.get("total_tax_amounts"), currency)
    else:
        tax = sum((Decimal(x["tax_amount"]) for x in lines), Decimal(0))
    total = _cents(inv.get("total"), currency) if inv.get("total") is not None else subtotal - discount + tax
    flags = [x.pop("_inclusive") for x in lines]
    inclusive = any(flags) or any(
        t.get("inclusive") or t.get("tax_behavior") == "inclusive"
        for t in [*(inv.get("total_tax_amounts") or []), *(inv.get("total_taxes") or [])] if isinstance(t, dict))
    row.update(subtotal=_text(subtotal, currency), discount=_text(discount, currency), tax=_text(tax, currency),
               total=_text(total, currency), tax_behavior="inclusive" if inclusive else "exclusive")
    for line in lines:
        stripe_sub = line.pop("_stripe_subscription")
        if line["subscription_id"] is None and stripe_sub and not ctx.subs.rows:
            line["stripe_subscription"] = stripe_sub
    taken.add(invoice_id)
    docs.invoices.append(row)
    docs.lines += lines
    docs.by_stripe[inv.get("id") or invoice_id] = row
    ctx.customers.hint_currency(cid, currency)
    if row["due_date"]:
        days = (dt.date.fromisoformat(row["due_date"]) - dt.date.fromisoformat(issue)).days
        ctx.customers.invoice_terms.setdefault(cid, []).append(days)
    ctx.account.map("invoices", "invoices")
    ctx.account.map("invoice lines", "invoice_lines", len(lines))


def read_invoices(ctx: Context) -> Documents:
    """Invoices and their lines (see the module docstring)."""
    docs = Documents()
    taken: set[str] = set()
    for inv in ctx.export.of("invoice"):
        listed = (inv.get("lines") or {}).get("data") if isinstance(inv.get("lines"), dict) else None
        n_lines = len(listed) if isinstance(listed, list) else 0
        ctx.account.read("invoice lines", n_lines)
        try:
            _invoice(ctx, inv, docs, taken)
        except Skip as why:
            ctx.account.skip("invoices", str(why))
            ctx.account.skip("invoice lines", "of an invoice that is not imported", n_lines)
            if inv.get("id"):
                docs.dropped[inv["id"]] = str(why)
        except (ValueError, TypeError, ArithmeticError, AttributeError, KeyError) as exc:
            ctx.account.skip("invoices", "malformed invoice (a value of an unexpected type)")
            ctx.account.skip("invoice lines", "of an invoice that is not imported", n_lines)
            ctx.notes.append(f"invoice {inv.get('id')}: could not be read ({type(exc).__name__}: {exc})")
    return docs


def fill_due_dates(docs: Documents, customers: CustomerIndex) -> None:
    """Invoices without a due date (charged automatically) are due on issue + the customer's terms."""
    for row in docs.invoices:
        if row["due_date"] is None:
            days = customers.terms(row["customer_id"])
            row["due_date"] = (dt.date.fromisoformat(row["issue_date"]) + dt.timedelta(days=days)).isoformat()


def read_credit_notes(ctx: Context, docs: Documents) -> None:
    """Credit notes of imported invoices, their lines summed into them."""
    for cn in ctx.export.of("credit_note"):
        listed = (cn.get("lines") or {}).get("data") if isinstance(cn.get("lines"), dict) else None
        n_lines = len(listed) if isinstance(listed, list) else 0
        ctx.account.read("credit note lines", n_lines)
        inv = docs.by_stripe.get(ref(cn.get("invoice")) or "")
        currency = str(cn.get("currency") or "").upper()
        reason = None
        if cn.get("status") == "void":
            reason = "void"
        elif inv is None:
            why = docs.dropped.get(ref(cn.get("invoice")) or "", "not in the export")
            reason = f"its invoice is not imported ({why})"
        elif not is_currency(currency) or not unix_day(cn.get("effective_at") or cn.get("created")):
            reason = "currency or date missing"
        if reason:
            ctx.account.skip("credit_notes", reason)
            ctx.account.skip("credit note lines", "of a credit note that is not imported", n_lines)
            continue
        taxes = cn.get("total_taxes") if cn.get("total_taxes") is not None else cn.get("tax_amounts")
        if taxes is None:
            taxes = [t for line in listed or [] for t in _taxes(line)]
        tax = _sum(taxes, currency)
        amount = _cents(cn["total_excluding_tax"], currency) if cn.get("total_excluding_tax") is not None else \
            _cents(cn.get("amount"), currency) - tax
        docs.credit_notes.append({
            "credit_note_id": meta(cn, "credit_note_id") or cn.get("id"), "invoice_id": inv["invoice_id"],
            "issue_date": unix_day(cn.get("effective_at") or cn.get("created")), "amount": _text(amount, currency),
            "tax": _text(tax, currency), "reason": cn.get("memo") or cn.get("reason"), "currency": currency,
            "stripe_credit_note": cn.get("id"), "stripe_number": cn.get("number")})
        ctx.account.map("credit_notes", "credit_notes")
        ctx.account.map("credit note lines", "credit_notes (summed into their note)", n_lines)


def read_payments(ctx: Context, docs: Documents) -> None:
    """Payments from payment intents, invoice payments and charges (see the module docstring)."""
    export = ctx.export
    links: dict[str, list[tuple[str, dict]]] = {}     # pi_/ch_ id -> [(in_ id, invoice_payment or {})]
    for ip in export.of("invoice_payment"):
        payment = ip.get("payment") if isinstance(ip.get("payment"), dict) else {}
        target = ref(payment.get("payment_intent")) or ref(payment.get("charge"))
        if target and ip.get("status") == "paid":
            links.setdefault(target, []).append((ref(ip.get("invoice")) or "", ip))
    for inv in export.of("invoice"):
        for key in ("payment_intent", "charge"):
            if ref(inv.get(key)) and inv.get("id"):
                links.setdefault(ref(inv[key]), []).append((inv["id"], {}))  # type: ignore[index]
    used: set[str] = set()
    intents = {pi.get("id") for pi in export.of("payment_intent")}
    for pi in export.of("payment_intent"):
        _payment(ctx, docs, pi, "payment_intents", links, used,
                 amount=pi.get("amount_received") or pi.get("amount"), succeeded=pi.get("status") == "succeeded")
    for ch in export.of("charge"):
        if ref(ch.get("payment_intent")) in intents:
            ctx.account.skip("charges", "the charge of a payment intent read from payment_intents")
            continue
        _payment(ctx, docs, ch, "charges", links, used, amount=ch.get("amount_captured") or ch.get("amount"),
                 succeeded=ch.get("status") == "succeeded" and ch.get("paid", True) is not False)
    for ip in export.of("invoice_payment"):
        payment = ip.get("payment") if isinstance(ip.get("payment"), dict) else {}
        target = ref(payment.get("payment_intent")) or ref(payment.get("charge"))
        if ip.get("status") != "paid":
            ctx.account.skip("invoice_payments", f"not paid (status {ip.get('status')})")
        elif target in used:
            ctx.account.map("invoice_payments", "payments (the invoice a payment pays)")
        else:   # a payment recorded on the invoice whose payment object is not in the export
            _payment(ctx, docs, ip, "invoice_payments", {ip.get("id"): [(ref(ip.get("invoice")) or "", ip)]},
                     used, amount=ip.get("amount_paid"), succeeded=True)
    if not export.of("payment_intent") and not export.of("charge") and not export.of("invoice_payment"):
        _paid_amounts(ctx, docs)


def _payment(ctx: Context, docs: Documents, obj: dict, kind: str, links: dict, used: set[str], amount: object,
             succeeded: bool) -> None:
    linked = links.get(obj.get("id") or "", [])
    if not linked and ref(obj.get("invoice")):
        linked = [(ref(obj.get("invoice")), {})]
    currency = str(obj.get("currency") or "").upper()
    inv = next((docs.by_stripe[i] for i, _ip in linked if i in docs.by_stripe), None)
    if not succeeded:
        return ctx.account.skip(kind, f"not succeeded (status {obj.get('status')})")
    if linked and inv is None:
        why = docs.dropped.get(linked[0][0], "not in the export")
        return ctx.account.skip(kind, f"pays an invoice that is not imported ({why})")
    if not is_currency(currency) or decimal_value(amount) is None:
        return ctx.account.skip(kind, "currency or amount missing")
    paid_at = next((ip.get("status_transitions", {}).get("paid_at") for _i, ip in linked
                    if isinstance(ip.get("status_transitions"), dict) and ip["status_transitions"].get("paid_at")),
                   None)
    charge = obj.get("latest_charge") if isinstance(obj.get("latest_charge"), dict) else {}
    received = unix_day(charge.get("created") or paid_at or obj.get("created"))
    customer = ctx.customers.id_of(obj.get("customer")) if obj.get("customer") else (inv or {}).get("customer_id")
    if not received or not customer:
        return ctx.account.skip(kind, "no date or customer")
    if len(linked) > 1:
        ctx.notes.append(f"payment {obj.get('id')}: pays {len(linked)} invoices; the contract names one, the "
                         f"first ({inv['invoice_id'] if inv else linked[0][0]}) is kept")
    docs.payments.append({
        "payment_id": meta(obj, "payment_id") or obj.get("id"), "customer_id": customer, "currency": currency,
        "amount": minor_to_text(amount, currency), "received_date": received,
        "invoice_id": inv["invoice_id"] if inv else meta(obj, "invoice_id"),
        "reference": meta(obj, "reference") or obj.get("description"), "stripe_object": obj.get("id")})
    used.add(obj.get("id") or "")
    ctx.account.map(kind, "payments")


def _paid_amounts(ctx: Context, docs: Documents) -> None:
    """Without payment objects in the export, each invoice's ``amount_paid`` is one payment."""
    made = 0
    stripe = {row["stripe_invoice"]: inv for inv in ctx.export.of("invoice")
              for row in [docs.by_stripe.get(inv.get("id") or "")] if row}
    for row in docs.invoices:
        paid = Decimal(row["amount_paid"])
        if paid <= 0:
            continue
        inv = stripe.get(row["stripe_invoice"], {})
        transitions = inv.get("status_transitions") if isinstance(inv.get("status_transitions"), dict) else {}
        docs.payments.append({
            "payment_id": f"PAID-{row['invoice_id']}", "customer_id": row["customer_id"], "currency": row["currency"],
            "amount": row["amount_paid"], "received_date": unix_day(transitions.get("paid_at")) or row["issue_date"],
            "invoice_id": row["invoice_id"], "reference": "amount_paid of the Stripe invoice",
            "stripe_object": ref(inv.get("payment_intent")) or ref(inv.get("charge"))})
        made += 1
    if made:
        ctx.notes.append(f"the export holds no payment objects: {made} payments are the invoices' amount_paid, "
                         "received on status_transitions.paid_at (else the issue date)")
