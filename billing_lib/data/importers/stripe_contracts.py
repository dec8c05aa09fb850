"""Stripe customers, subscriptions and metered usage as the contract's reference tables.

* customer -> ``customers``: id = ``metadata.customer_id`` else the Stripe id; ``address.country`` (else the
  shipping country, else ``ZZ``); ``currency`` (else the currency it is billed in); ``tax_exempt``
  ``exempt`` or ``reverse`` is exempt; payment terms from ``metadata.payment_terms_days``, else its
  subscriptions' ``days_until_due``, else the most common due date - issue date of its invoices, else 0.
  A customer an invoice or subscription names that the export does not list is made from the invoice's
  ``customer_*`` fields.
* each subscription item -> one ``subscriptions`` row (a contract subscription has one plan): id =
  ``metadata.subscription_id`` of the item, else of the subscription (one item), else the Stripe id (the
  item's ``si_`` id when the subscription has several); ``start_date``; the last day before ``ended_at`` (else
  ``cancel_at``) as ``end_date`` (Stripe's end instants are exclusive); quantity (none for metered prices);
  the percent-off coupon of the item's, else the subscription's, else the customer's discount.
* usage record summary -> one ``usage`` event of ``total_usage`` on the first active day of its period.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from billing_lib.core.currency import is_currency
from billing_lib.data.importers.base import (
    PLACEHOLDER_COUNTRY,
    RowAccount,
    country_code,
    decimal_text,
    decimal_value,
    most_common,
    unix_day,
    unix_last_day,
)
from billing_lib.data.importers.stripe_export import StripeExport, meta, ref
from billing_lib.data.importers.stripe_pricebook import PriceBook, coupon_percent


def _country(*addresses: object) -> str:
    for address in addresses:
        if isinstance(address, dict) and isinstance(address.get("country"), str):
            code = country_code(address["country"]) if len(address["country"]) == 2 else None
            if code:
                return code
    return PLACEHOLDER_COUNTRY


@dataclass
class CustomerIndex:
    """Stripe customer ids -> contract customer ids, and what is known of each customer."""

    ids: dict[str, str] = field(default_factory=dict)        # Stripe id -> customer_id
    rows: dict[str, dict] = field(default_factory=dict)      # customer_id -> row under construction
    currencies: dict[str, list[str]] = field(default_factory=dict)
    days_until_due: dict[str, list[int]] = field(default_factory=dict)
    invoice_terms: dict[str, list[int]] = field(default_factory=dict)
    derived: list[str] = field(default_factory=list)

    def id_of(self, value: object, invoice: dict | None = None) -> str | None:
        """The contract id of a Stripe customer (id or object); one the export does not list is made from
        ``invoice``'s customer fields (or left bare)."""
        sid = ref(value)
        if sid is None:
            return None
        if sid not in self.ids:
            self.ids[sid] = sid
            self.derived.append(sid)
            self.rows[sid] = {"customer_id": sid, "name": None, "email": None, "country": PLACEHOLDER_COUNTRY,
                              "currency": None, "tax_exempt": "false", "stripe_customer": sid}
        cid = self.ids[sid]
        if invoice is not None and sid in self.derived:
            row = self.rows[cid]
            row["name"] = row["name"] or invoice.get("customer_name")
            row["email"] = row["email"] or invoice.get("customer_email")
            if row["country"] == PLACEHOLDER_COUNTRY:
                row["country"] = _country(invoice.get("customer_address"),
                                          (invoice.get("customer_shipping") or {}).get("address"))
            if invoice.get("customer_tax_exempt") in ("exempt", "reverse"):
                row["tax_exempt"] = "true"
        return cid

    def hint_currency(self, cid: str, currency: str) -> None:
        self.currencies.setdefault(cid, []).append(currency)

    def finish(self, default_currency: str) -> list[dict]:
        """The customers rows: currency and payment terms settled from what the documents showed."""
        out = []
        for cid, row in sorted(self.rows.items()):
            currency = row.get("currency") or most_common(self.currencies.get(cid, []), default_currency)
            terms = row.get("payment_terms_days")
            if terms is None:
                terms = most_common(self.days_until_due.get(cid, []))
            if terms is None:
                terms = most_common(self.invoice_terms.get(cid, []), 0)
            out.append({**row, "currency": currency, "payment_terms_days": str(max(int(terms), 0))})
        return out

    def terms(self, cid: str) -> int:
        """The payment terms of a customer as :meth:`CustomerIndex.finish` settles them."""
        row = self.rows[cid]
        if row.get("payment_terms_days") is not None:
            return int(row["payment_terms_days"])
        for candidates in (self.days_until_due.get(cid, []), self.invoice_terms.get(cid, [])):
            if candidates:
                return max(int(most_common(candidates)), 0)
        return 0


def read_customers(export: StripeExport, account: RowAccount) -> CustomerIndex:
    """The customers the export lists (``metadata.customer_id`` as the id where set)."""
    index = CustomerIndex()
    for cust in export.of("customer"):
        sid = cust.get("id")
        cid = meta(cust, "customer_id") or sid
        if not isinstance(sid, str) or not cid:
            account.skip("customers", "no id")
            continue
        if cid in index.rows:
            index.ids[sid] = cid
            account.skip("customers", "a second Stripe customer with the same metadata.customer_id (the first wins)")
            continue
        currency = str(cust.get("currency") or "").upper()
        terms = decimal_value(meta(cust, "payment_terms_days"))
        if terms is None and isinstance(cust.get("invoice_settings"), dict):
            terms = decimal_value(cust["invoice_settings"].get("days_until_due"))
        index.ids[sid] = cid
        index.rows[cid] = {
            "customer_id": cid, "name": cust.get("name") or cust.get("description"), "email": cust.get("email"),
            "country": _country(cust.get("address"), (cust.get("shipping") or {}).get("address")),
            "currency": currency if is_currency(currency) else None,
            "payment_terms_days": int(terms) if terms is not None and terms >= 0 else None,
            "tax_exempt": "true" if cust.get("tax_exempt") in ("exempt", "reverse") else "false",
            "stripe_customer": sid}
        account.map("customers", "customers")
    return index


def _coupon(discount: object, coupons: dict[str, dict]) -> dict | None:
    """The coupon of a discount object (legacy ``coupon`` or current ``source.coupon``)."""
    if not isinstance(discount, dict):
        return None
    coupon = discount.get("coupon") or (discount.get("source") or {}).get("coupon")
    if isinstance(coupon, str):
        return coupons.get(coupon)
    return coupon if isinstance(coupon, dict) else None


def _discount_pct(owners: list[dict], coupons: dict[str, dict], used: set[str], notes: list[str]) -> str | None:
    """The percent off of the first owner (item, subscription, customer) that has a percent-off discount."""
    for owner in owners:
        listed = owner.get("discounts") if isinstance(owner.get("discounts"), list) else []
        found = [c for c in (_coupon(d, coupons) for d in [*listed, owner.get("discount")]) if c]
        for coupon in found:
            if coupon.get("id"):
                used.add(coupon["id"])
        percents = [p for p in (coupon_percent(c) for c in found) if p is not None]
        if len(percents) > 1:
            notes.append(f"{owner.get('id')}: {len(percents)} percent-off coupons; the contract has one discount "
                         f"per subscription, the first ({percents[0]}%) is used")
        if percents:
            return percents[0]
    return None


@dataclass
class SubscriptionIndex:
    """The contract subscriptions, and how Stripe's subscription and item ids lead to them."""

    rows: list[dict] = field(default_factory=list)
    by_item: dict[str, dict] = field(default_factory=dict)           # si_ id -> row
    by_stripe: dict[str, list[dict]] = field(default_factory=dict)   # sub_ id -> rows of its items

    def find(self, stripe_sub: str | None, item: str | None, plan_id: str | None) -> dict | None:
        """The contract subscription a line bills: by its item, else by its subscription (the one item, or
        the item of the line's plan)."""
        if item and item in self.by_item:
            return self.by_item[item]
        rows = self.by_stripe.get(stripe_sub or "", [])
        if len(rows) == 1:
            return rows[0]
        matching = [r for r in rows if r["plan_id"] == plan_id]
        return matching[0] if len(matching) == 1 else None


def read_subscriptions(export: StripeExport, customers: CustomerIndex, book: PriceBook, account: RowAccount,
                       notes: list[str]) -> SubscriptionIndex:
    """One contract subscription per Stripe subscription item (see the module docstring)."""
    coupons = {c["id"]: c for c in export.of("coupon") if isinstance(c.get("id"), str)}
    stripe_customers = {c.get("id"): c for c in export.of("customer")}
    used: set[str] = set()
    index = SubscriptionIndex()
    taken: set[str] = set()
    for sub in export.of("subscription"):
        items = (sub.get("items") or {}).get("data") if isinstance(sub.get("items"), dict) else None
        items = items if isinstance(items, list) else []
        account.read("subscription items", len(items))
        reason = _unusable(sub)
        if reason:
            account.skip("subscriptions", reason)
            account.skip("subscription items", "of a subscription that is not imported", len(items))
            continue
        cid = customers.id_of(sub.get("customer"))
        start = unix_day(sub.get("start_date") or sub.get("created"))
        end = unix_last_day(sub.get("ended_at"), sub.get("start_date")) if sub.get("ended_at") else \
            unix_last_day(sub.get("cancel_at"), sub.get("start_date")) if sub.get("cancel_at") else None
        currency = str(sub.get("currency") or "").upper()
        due = decimal_value(sub.get("days_until_due"))
        if due is not None and cid:
            customers.days_until_due.setdefault(cid, []).append(int(due))
        customer = stripe_customers.get(ref(sub.get("customer")), {})
        mapped = 0
        for item in items:
            price = item.get("price") or item.get("plan")
            item_currency = currency if is_currency(currency) else str((price or {}).get("currency", "")).upper() \
                if isinstance(price, dict) else currency
            plan = book.resolve(price, item_currency)
            sid = meta(item, "subscription_id") or (meta(sub, "subscription_id") or sub.get("id")
                                                    if len(items) == 1 else None) or item.get("id")
            if plan is None:
                why = book.unmapped.get(ref(price) or "", "its price is not in the export")
                account.skip("subscription items", f"price not imported: {why}")
                continue
            if not sid or sid in taken or not cid or not start:
                account.skip("subscription items", "no usable id, customer or start date" if sid not in taken
                             else "subscription_id already used by another item")
                continue
            metered = book.plans[(plan.plan_id, plan.currency)]["billing"] == "usage"
            qty = decimal_value(item.get("quantity"))
            row = {"subscription_id": sid, "customer_id": cid, "plan_id": plan.plan_id,
                   "quantity": None if metered else decimal_text(qty if qty is not None else Decimal(1)),
                   "start_date": start, "end_date": end if end and end >= start else None,
                   "discount_pct": meta(item, "discount_pct") or meta(sub, "discount_pct")
                   or _discount_pct([item, sub, customer], coupons, used, notes),
                   "unit_price_override": meta(item, "unit_price_override") or plan.override,
                   "stripe_subscription": sub.get("id"), "stripe_item": item.get("id"), "stripe_status":
                   sub.get("status"), "price_currency": plan.currency}
            taken.add(sid)
            customers.hint_currency(cid, plan.currency)
            index.rows.append(row)
            index.by_stripe.setdefault(sub.get("id"), []).append(row)
            if item.get("id"):
                index.by_item[item["id"]] = row
            account.map("subscription items", "subscriptions")
            mapped += 1
        if mapped:
            account.map("subscriptions", "subscriptions (their items are the rows)")
        else:
            account.skip("subscriptions", "none of its items could be imported" if items else "no items listed")
        if isinstance(sub.get("items"), dict) and sub["items"].get("has_more"):
            notes.append(f"subscription {sub.get('id')}: its items list has more pages than the export holds")
    for coupon in export.of("coupon"):
        if coupon_percent(coupon) is None:
            account.skip("coupons", "an amount off (the contract's discounts are percentages)")
        elif coupon.get("id") in used:
            account.map("coupons", "subscriptions (discount_pct)")
        else:
            account.skip("coupons", "no imported subscription uses it")
    return index


def _unusable(sub: dict) -> str | None:
    status = sub.get("status")
    if status in ("incomplete", "incomplete_expired"):
        return f"status {status} (never started: its first payment was not made)"
    if not sub.get("customer"):
        return "no customer"
    return None


def read_usage(export: StripeExport, subs: SubscriptionIndex, account: RowAccount) -> list[dict]:
    """Usage events from usage record summaries (one per summary, on the first active day of its period)."""
    rows = []
    for summary in export.of("usage_record_summary"):
        sub = subs.by_item.get(ref(summary.get("subscription_item")) or "")
        period = summary.get("period") if isinstance(summary.get("period"), dict) else {}
        first = unix_day(period.get("start"))
        last = unix_last_day(period.get("end"), period.get("start")) if period.get("end") else first
        qty = decimal_value(summary.get("total_usage"))
        if sub is None:
            account.skip("usage_record_summaries", "its subscription item is not imported")
            continue
        if first is None or qty is None or qty < 0:
            account.skip("usage_record_summaries", "no period or total_usage")
            continue
        day = max(first, sub["start_date"])
        if day > (last or first) or (sub["end_date"] and day > sub["end_date"]):
            account.skip("usage_record_summaries", "its period lies outside the subscription's active days")
            continue
        rows.append({"event_id": summary.get("id") or f"{sub['subscription_id']}-{first}",
                     "subscription_id": sub["subscription_id"], "event_time": f"{day}T00:00:00Z",
                     "quantity": decimal_text(qty), "stripe_invoice": ref(summary.get("invoice"))})
        account.map("usage_record_summaries", "usage")
    return rows
