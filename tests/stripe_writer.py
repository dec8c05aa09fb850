"""Test-only: a contract dataset (``billing synth`` output) written as a Stripe export, as Stripe's API writes it.

Stripe ids are made up (``cus_...``, ``in_...``); the user's own keys travel in ``metadata`` under the
contract's column names; money is integer minor units beside ``*_decimal`` strings; timestamps are Unix
seconds, period ends exclusive; invoice numbers are Stripe's per-customer ``PREFIX-0001``. ``shape`` picks the
current API (line ``pricing``/``parent``/``taxes``, ``invoice_payment`` objects, ``discounts``) or the older
one (line ``price``/``proration``/``tax_amounts``, ``invoice.payment_intent``, ``subscription.discount``).

What Stripe cannot carry is written as it would be billed there: a subscription on a percentage plan or on a
package plan with free units has no Stripe price, so its lines are one-off invoice items and it has no
subscription or usage. The ledger is not written (Stripe keeps none). :func:`not_carried` names those
subscriptions and lines, so a test can leave their findings aside.
"""
from __future__ import annotations

import calendar
import csv
import datetime as dt
import hashlib
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from billing_lib.core.currency import minor_digits


def read_table(folder: Path, name: str) -> list[dict]:
    path = folder / f"{name}.csv"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def sid(prefix: str, *parts: str) -> str:
    return f"{prefix}_{hashlib.sha1('|'.join(parts).encode()).hexdigest()[:16]}"


def ts(day: str) -> int:
    return calendar.timegm(dt.date.fromisoformat(day[:10]).timetuple())


def next_day(day: str) -> int:
    return ts(day) + 86400


def minor(amount: str | Decimal, currency: str) -> Decimal:
    return Decimal(str(amount)).scaleb(minor_digits(currency))


def cents(amount: str | Decimal, currency: str) -> int:
    value = minor(amount, currency)
    assert value == value.to_integral_value(), (amount, currency)
    return int(value)


def dec_text(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "0") else text


def plain(value: Decimal) -> int | Decimal:
    """A JSON number as Stripe writes it (an integer when whole)."""
    return int(value) if value == value.to_integral_value() else value


def unexpressible(plan: dict) -> bool:
    """Plans Stripe has no price for: percentage pricing, and packages with free units."""
    return plan["charge_model"] == "percentage" or (plan["charge_model"] == "package" and plan["free_units"]
                                                    not in ("", "0"))


def not_carried(folder: Path) -> tuple[set[str], set[tuple[str, str]]]:
    """(subscriptions, (invoice_id, line_no) of lines) that a Stripe export cannot carry as contracts."""
    plans = {p["plan_id"]: p for p in read_table(folder, "plans")}
    subs = {s["subscription_id"] for s in read_table(folder, "subscriptions") if unexpressible(plans[s["plan_id"]])}
    lines = {(x["invoice_id"], x["line_no"]) for x in read_table(folder, "invoice_lines")
             if x["plan_id"] in plans and unexpressible(plans[x["plan_id"]])}
    return subs, lines


class StripeWriter:
    """Writes one dataset folder as a Stripe export folder."""

    def __init__(self, data: Path, shape: str = "current"):
        assert shape in ("current", "legacy")
        self.shape = shape
        self.t = {name: read_table(data, name) for name in (
            "customers", "plans", "plan_tiers", "subscriptions", "usage", "tax_rates", "invoices", "invoice_lines",
            "credit_notes", "payments")}
        self.customers = {c["customer_id"]: c for c in self.t["customers"]}
        self.plans = {(p["plan_id"], p["currency"]): p for p in self.t["plans"]}
        self.tiers = defaultdict(list)
        for tier in self.t["plan_tiers"]:
            self.tiers[(tier["plan_id"], tier["currency"])].append(tier)
        self.subs = {s["subscription_id"]: s for s in self.t["subscriptions"]}
        self.tax_objects: dict[tuple[str, str], dict] = {}
        self.coupons: dict[str, dict] = {}
        self.custom_prices: dict[str, dict] = {}

    # -- price book --------------------------------------------------------------------------------
    def price(self, plan_id: str, currency: str, override: str = "") -> dict:
        plan = self.plans[(plan_id, currency)]
        cur = currency.lower()
        unit = override or plan["unit_price"]
        pid = sid("price", plan_id, currency, override)
        out = {"id": pid, "object": "price", "active": True, "currency": cur, "created": ts("2020-01-01"),
               "livemode": False, "lookup_key": None, "metadata": {"plan_id": plan_id}, "nickname": None,
               "product": sid("prod", plan_id), "tax_behavior": "exclusive", "type": "recurring",
               "recurring": {"interval": plan["interval"], "interval_count": 1, "trial_period_days": None,
                             "usage_type": "metered" if plan["billing"] == "usage" else "licensed",
                             "meter": None},
               "billing_scheme": "per_unit", "tiers_mode": None, "transform_quantity": None,
               "unit_amount": None, "unit_amount_decimal": None, "custom_unit_amount": None}
        if self.shape == "legacy":
            out["recurring"]["aggregate_usage"] = "sum" if plan["billing"] == "usage" else None
        if plan["charge_model"] in ("graduated", "volume"):
            out["billing_scheme"] = "tiered"
            out["tiers_mode"] = plan["charge_model"]
            out["tiers"] = []
            for tier in sorted(self.tiers[(plan_id, currency)], key=lambda r: int(r["tier"])):
                unit_minor = minor(tier["unit_price"], currency)
                flat_minor = minor(tier["flat_fee"] or "0", currency)
                out["tiers"].append({
                    "up_to": plain(Decimal(tier["up_to"])) if tier["up_to"] else None,
                    "unit_amount": plain(unit_minor) if unit_minor == unit_minor.to_integral_value() else None,
                    "unit_amount_decimal": dec_text(unit_minor),
                    "flat_amount": int(flat_minor), "flat_amount_decimal": dec_text(flat_minor)})
        else:
            unit_minor = minor(unit, currency)
            out["unit_amount"] = int(unit_minor) if unit_minor == unit_minor.to_integral_value() else None
            out["unit_amount_decimal"] = dec_text(unit_minor)
            if plan["charge_model"] == "package":
                out["transform_quantity"] = {"divide_by": plain(Decimal(plan["package_size"])), "round": "up"}
        return out

    def products(self) -> list[dict]:
        names = {}
        for plan in self.t["plans"]:
            names.setdefault(plan["plan_id"], plan["product"])
        return [{"id": sid("prod", p), "object": "product", "active": True, "name": n, "metadata": {},
                 "created": ts("2020-01-01"), "type": "service"} for p, n in names.items()]

    def catalogue(self) -> list[dict]:
        return [self.price(p, c) for (p, c), plan in self.plans.items() if not unexpressible(plan)]

    def coupon(self, pct: str) -> dict:
        cid = sid("coupon", pct)
        self.coupons.setdefault(cid, {"id": cid, "object": "coupon", "amount_off": None, "currency": None,
                                      "duration": "forever", "duration_in_months": None, "livemode": False,
                                      "metadata": {}, "name": f"{pct}% off", "percent_off": plain(Decimal(pct)),
                                      "valid": True, "created": ts("2020-01-01")})
        return self.coupons[cid]

    def tax_rate(self, country: str, rate: str, issue: str) -> dict:
        """The tax rate object of a country and percentage; one the contract's table does not list (a rate
        charged by mistake) is created on the day the invoice was issued, as a person would have."""
        key = (country, dec_text(Decimal(rate)))
        if key not in self.tax_objects:
            listed = [r for r in self.t["tax_rates"] if r["country"] == country
                      and Decimal(r["rate_pct"]) == Decimal(rate)]
            created = ts(max(listed[0]["valid_from"], "2000-01-01")) if listed else ts(issue)
            active = not listed or not listed[0]["valid_to"]
            self.tax_objects[key] = {
                "id": sid("txr", country, key[1]), "object": "tax_rate", "active": active, "country": country,
                "created": created, "description": f"Sales tax {country}", "display_name": "VAT",
                "effective_percentage": plain(Decimal(rate)), "inclusive": False, "jurisdiction": country,
                "livemode": False, "metadata": {}, "percentage": plain(Decimal(rate)), "state": None,
                "tax_type": "vat"}
        return self.tax_objects[key]

    # -- customers and subscriptions --------------------------------------------------------------------
    def customer(self, c: dict) -> dict:
        return {"id": sid("cus", c["customer_id"]), "object": "customer",
                "address": {"city": None, "country": c["country"], "line1": None, "line2": None,
                            "postal_code": None, "state": None},
                "balance": 0, "created": ts("2020-01-01"), "currency": c["currency"].lower(), "delinquent": False,
                "description": None, "email": c["email"] or None, "invoice_prefix": sid("X", c["customer_id"])[2:10]
                .upper(), "livemode": False, "metadata": {"customer_id": c["customer_id"]}, "name": c["name"] or None,
                "phone": None, "preferred_locales": [], "shipping": None,
                "tax_exempt": "exempt" if c["tax_exempt"] == "true" else "none"}

    def subscription(self, s: dict) -> dict | None:
        cust = self.customers[s["customer_id"]]
        plan = self.plans[(s["plan_id"], cust["currency"])]
        if unexpressible(plan):
            return None
        price = self.price(s["plan_id"], cust["currency"], s["unit_price_override"])
        if s["unit_price_override"]:
            self.custom_prices[price["id"]] = price
        item = {"id": sid("si", s["subscription_id"]), "object": "subscription_item", "created": ts(s["start_date"]),
                "discounts": [], "metadata": {}, "price": price, "subscription": sid("sub", s["subscription_id"]),
                "tax_rates": []}
        if plan["billing"] != "usage":
            item["quantity"] = 1 if plan["charge_model"] == "flat" else plain(Decimal(s["quantity"] or "1"))
        out = {"id": sid("sub", s["subscription_id"]), "object": "subscription", "customer": sid("cus", cust["customer_id"]),
               "collection_method": "send_invoice", "days_until_due": int(cust["payment_terms_days"]),
               "created": ts(s["start_date"]), "start_date": ts(s["start_date"]), "currency": cust["currency"].lower(),
               "status": "active", "ended_at": None, "cancel_at": None, "canceled_at": None,
               "items": {"object": "list", "data": [item], "has_more": False, "total_count": 1,
                         "url": f"/v1/subscription_items?subscription={sid('sub', s['subscription_id'])}"},
               "metadata": {"subscription_id": s["subscription_id"]}, "livemode": False}
        if s["end_date"]:
            out.update(status="canceled", ended_at=next_day(s["end_date"]), canceled_at=next_day(s["end_date"]))
        if s["discount_pct"] not in ("", "0"):
            coupon = self.coupon(s["discount_pct"])
            if self.shape == "legacy":
                out["discount"] = {"object": "discount", "id": sid("di", s["subscription_id"]), "coupon": coupon,
                                   "start": ts(s["start_date"]), "end": None, "subscription": out["id"]}
            else:
                out["discounts"] = [{"object": "discount", "id": sid("di", s["subscription_id"]),
                                     "source": {"coupon": coupon["id"], "type": "coupon"},
                                     "start": ts(s["start_date"]), "end": None, "subscription": out["id"]}]
        return out

    def usage_summaries(self) -> list[dict]:
        """One summary per subscription item and month: the usage metered within its active days (UTC)."""
        totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for event in self.t["usage"]:
            moment = dt.datetime.fromisoformat(event["event_time"].replace("Z", "+00:00"))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
            day = moment.astimezone(dt.UTC).date().isoformat()
            sub = self.subs.get(event["subscription_id"])
            if sub is None or day < sub["start_date"] or (sub["end_date"] and day > sub["end_date"]):
                continue
            totals[(event["subscription_id"], day[:7])] += Decimal(event["quantity"])
        out = []
        for (sub_id, month), total in sorted(totals.items()):
            sub = self.subs[sub_id]
            cust = self.customers[sub["customer_id"]]
            if unexpressible(self.plans[(sub["plan_id"], cust["currency"])]):
                continue
            start = max(f"{month}-01", sub["start_date"])
            year, mon = int(month[:4]), int(month[5:])
            end = f"{year + mon // 12}-{mon % 12 + 1:02d}-01"
            out.append({"id": sid("sis", sub_id, month), "object": "usage_record_summary", "invoice": None,
                        "livemode": False, "period": {"start": ts(start), "end": ts(end)},
                        "subscription_item": sid("si", sub_id), "total_usage": plain(total)})
        return out

    # -- documents -----------------------------------------------------------------------------------
    def line(self, inv: dict, x: dict, cust: dict) -> dict:
        cur = inv["currency"]
        sub = self.subs.get(x["subscription_id"] or "")
        plan = self.plans.get((x["plan_id"], cust["currency"])) or self.plans.get((x["plan_id"], cur))
        carried = plan is not None and not unexpressible(plan)
        qty = Decimal(x["quantity"]) if x["quantity"] else Decimal(1)
        unit = x["unit_price"]
        if not carried:   # a one-off invoice item: quantity 1 at the line's amount
            qty, unit = Decimal(1), x["amount"]
        net = Decimal(x["amount"]) - Decimal(x["discount"] or "0")
        rate = x["tax_rate_pct"] or "0"
        taxes = []
        if Decimal(rate) != 0 or Decimal(x["tax_amount"] or "0") != 0 or cust["country"] == "KW":
            txr = self.tax_rate(cust["country"], rate, inv["issue_date"])
            taxes.append({"amount": cents(x["tax_amount"] or "0", cur), "rate": txr["id"],
                          "taxable": cents(net, cur)})
        sub_id = x["subscription_id"] if carried else ""
        price_id = (self.price(x["plan_id"], plan["currency"], sub["unit_price_override"] if sub else "")["id"]
                    if carried and plan else sid("price", "oneoff", x["invoice_id"], x["line_no"]))
        prorated = bool(sub) and carried and plan["billing"] == "recurring" and plan["interval"] == "month" and not (
            x["period_start"].endswith("-01") and x["period_end"] == _month_end(x["period_start"]))
        out = {"id": sid("il", x["invoice_id"], x["line_no"]), "object": "line_item",
               "amount": cents(x["amount"], cur), "currency": cur.lower(), "description": x["description"] or None,
               "discount_amounts": [{"amount": cents(x["discount"] or "0", cur),
                                     "discount": sid("di", x["subscription_id"])}]
               if Decimal(x["discount"] or "0") else [],
               "discountable": True, "discounts": [], "livemode": False, "metadata": {},
               "period": {"start": ts(x["period_start"]), "end": next_day(x["period_end"])},
               "quantity": plain(qty)}
        unit_minor = None if unit in ("", None) else minor(unit, cur)
        if self.shape == "current":
            out["invoice"] = sid("in", x["invoice_id"])
            if sub_id:
                out["parent"] = {"type": "subscription_item_details", "invoice_item_details": None,
                                 "subscription_item_details": {"invoice_item": None, "proration": prorated,
                                                               "proration_details": {"credited_items": None},
                                                               "subscription": sid("sub", sub_id),
                                                               "subscription_item": sid("si", sub_id)}}
            else:
                out["parent"] = {"type": "invoice_item_details", "subscription_item_details": None,
                                 "invoice_item_details": {"invoice_item": sid("ii", x["invoice_id"], x["line_no"]),
                                                          "proration": False, "proration_details": None,
                                                          "subscription": None}}
            out["pricing"] = {"type": "price_details",
                              "price_details": {"price": price_id, "product": sid("prod", x["plan_id"] or "oneoff")},
                              "unit_amount_decimal": None if unit_minor is None else dec_text(unit_minor)}
            out["taxes"] = [{"amount": t["amount"], "tax_behavior": "exclusive",
                             "tax_rate_details": {"tax_rate": t["rate"]}, "taxability_reason": "standard_rated",
                             "taxable_amount": t["taxable"], "type": "tax_rate_details"} for t in taxes]
        else:
            out["type"] = "subscription" if sub_id else "invoiceitem"
            out["subscription"] = sid("sub", sub_id) if sub_id else None
            out["subscription_item"] = sid("si", sub_id) if sub_id else None
            out["invoice_item"] = None if sub_id else sid("ii", x["invoice_id"], x["line_no"])
            out["proration"] = prorated
            if carried and plan:   # the subscription's price (in the customer's currency)
                out["price"] = self.price(x["plan_id"], plan["currency"], sub["unit_price_override"] if sub else "")
            else:
                out["price"] = {"id": price_id, "object": "price", "type": "one_time", "currency": cur.lower(),
                                "billing_scheme": "per_unit", "unit_amount": cents(x["amount"], cur),
                                "unit_amount_decimal": dec_text(minor(x["amount"], cur)), "recurring": None,
                                "product": sid("prod", "oneoff"), "metadata": {}}
            out["tax_amounts"] = [{"amount": t["amount"], "inclusive": False, "tax_rate": t["rate"],
                                   "taxability_reason": "standard_rated", "taxable_amount": t["taxable"]}
                                  for t in taxes]
            out["tax_rates"] = []
            if unit_minor is not None and not prorated:
                out["unit_amount_excluding_tax"] = dec_text(unit_minor)
        return out

    def invoice(self, inv: dict, lines: list[dict], seq: int) -> dict:
        cur = inv["currency"]
        cust = self.customers[inv["customer_id"]]
        data = [self.line(inv, x, cust) for x in sorted(lines, key=lambda r: int(r["line_no"]))]
        by_rate: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for line in data:
            for t in (line.get("taxes") or []):
                rate = t["tax_rate_details"]["tax_rate"]
                by_rate[rate][0] += t["amount"]
                by_rate[rate][1] += t["taxable_amount"]
            for t in (line.get("tax_amounts") or []):
                by_rate[t["tax_rate"]][0] += t["amount"]
                by_rate[t["tax_rate"]][1] += t["taxable_amount"]
        discount = cents(inv["discount"], cur)
        stripe_id = sid("in", inv["invoice_id"])
        paid_at = ts(inv["issue_date"]) + 3600 if inv["status"] == "paid" else None
        out = {"id": stripe_id, "object": "invoice", "account_country": "DE", "currency": cur.lower(),
               "customer": sid("cus", inv["customer_id"]), "customer_email": cust["email"] or None,
               "customer_name": cust["name"] or None, "customer_tax_exempt": "exempt"
               if cust["tax_exempt"] == "true" else "none",
               "customer_address": {"country": cust["country"]}, "collection_method": "send_invoice",
               "created": ts(inv["issue_date"]), "effective_at": ts(inv["issue_date"]),
               "due_date": ts(inv["due_date"]), "livemode": False, "metadata": {"invoice_id": inv["invoice_id"]},
               "number": f"{self.customer(cust)['invoice_prefix']}-{seq:04d}",
               "period_start": ts(inv["period_start"]), "period_end": next_day(inv["period_end"]),
               "status": inv["status"], "status_transitions": {
                   "finalized_at": ts(inv["issue_date"]), "marked_uncollectible_at": None, "paid_at": paid_at,
                   "voided_at": ts(inv["issue_date"]) + 7200 if inv["status"] == "void" else None},
               "subtotal": cents(inv["subtotal"], cur), "total": cents(inv["total"], cur),
               "total_excluding_tax": cents(inv["total"], cur) - cents(inv["tax"], cur),
               "amount_due": cents(inv["total"], cur), "amount_paid": 0, "amount_remaining": cents(inv["total"], cur),
               "total_discount_amounts": [{"amount": discount, "discount": sid("di", inv["invoice_id"])}]
               if discount else [],
               "lines": {"object": "list", "data": data, "has_more": False, "total_count": len(data),
                         "url": f"/v1/invoices/{stripe_id}/lines"}}
        if self.shape == "current":
            out["total_taxes"] = [{"amount": a, "tax_behavior": "exclusive", "tax_rate_details": {"tax_rate": r},
                                   "taxability_reason": "standard_rated", "taxable_amount": b,
                                   "type": "tax_rate_details"} for r, (a, b) in sorted(by_rate.items())]
        else:
            out["tax"] = cents(inv["tax"], cur)
            out["total_tax_amounts"] = [{"amount": a, "inclusive": False, "tax_rate": r, "taxable_amount": b}
                                        for r, (a, b) in sorted(by_rate.items())]
            out["charge"] = None
            out["payment_intent"] = None
        return out

    def credit_note(self, cn: dict, inv: dict) -> dict:
        cur = inv["currency"]
        amount, tax = cents(cn["amount"], cur), cents(cn["tax"] or "0", cur)
        country = self.customers[inv["customer_id"]]["country"]
        in_force = [r for r in self.t["tax_rates"] if r["country"] == country and r["valid_from"] <= inv["issue_date"]
                    and (not r["valid_to"] or r["valid_to"] >= inv["issue_date"])]
        rate = self.tax_rate(country, in_force[-1]["rate_pct"] if in_force else "0", inv["issue_date"])["id"]
        out = {"id": sid("cn", cn["credit_note_id"]), "object": "credit_note", "amount": amount + tax,
               "created": ts(cn["issue_date"]), "effective_at": ts(cn["issue_date"]), "currency": cur.lower(),
               "customer": sid("cus", inv["customer_id"]), "discount_amount": 0, "discount_amounts": [],
               "invoice": sid("in", cn["invoice_id"]), "livemode": False, "memo": cn["reason"] or None,
               "metadata": {"credit_note_id": cn["credit_note_id"]}, "number": f"CN-{cn['credit_note_id']}",
               "reason": "order_change", "status": "issued", "subtotal": amount, "total": amount + tax,
               "total_excluding_tax": amount, "type": "post_payment" if inv["status"] == "paid" else "pre_payment",
               "lines": {"object": "list", "has_more": False, "data": [{
                   "id": sid("cnli", cn["credit_note_id"]), "object": "credit_note_line_item", "amount": amount,
                   "description": cn["reason"] or "Credit", "quantity": 1, "type": "custom_line_item",
                   "unit_amount": amount, "unit_amount_decimal": str(amount), "discount_amount": 0}]}}
        taxes = [{"amount": tax, "rate": rate, "taxable": amount}] if tax else []
        if self.shape == "current":
            out["total_taxes"] = [{"amount": t["amount"], "tax_behavior": "exclusive",
                                   "tax_rate_details": {"tax_rate": t["rate"]}, "taxable_amount": t["taxable"],
                                   "type": "tax_rate_details"} for t in taxes]
        else:
            out["tax_amounts"] = [{"amount": t["amount"], "inclusive": False, "tax_rate": t["rate"]} for t in taxes]
        return out

    def write(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        invoices = sorted(self.t["invoices"], key=lambda r: (r["issue_date"], r["invoice_id"]))
        lines = defaultdict(list)
        for x in self.t["invoice_lines"]:
            lines[x["invoice_id"]].append(x)
        seqs: dict[str, int] = defaultdict(int)
        stripe_invoices = []
        for inv in invoices:
            seqs[inv["customer_id"]] += 1
            stripe_invoices.append(self.invoice(inv, lines[inv["invoice_id"]], seqs[inv["customer_id"]]))
        by_id = {i["metadata"]["invoice_id"]: i for i in stripe_invoices}
        known = {i["invoice_id"]: i for i in self.t["invoices"]}
        subs = [s for s in (self.subscription(s) for s in self.t["subscriptions"]) if s]
        intents, inpays = [], []
        for p in self.t["payments"]:
            cur = p["currency"]
            pi = {"id": sid("pi", p["payment_id"]), "object": "payment_intent", "amount": cents(p["amount"], cur),
                  "amount_received": cents(p["amount"], cur), "currency": cur.lower(),
                  "customer": sid("cus", p["customer_id"]), "created": ts(p["received_date"]),
                  "description": p["reference"] or None, "status": "succeeded", "livemode": False,
                  "metadata": {"payment_id": p["payment_id"]}, "latest_charge": sid("ch", p["payment_id"])}
            target = by_id.get(p["invoice_id"]) if p["invoice_id"] else None
            if target is not None:
                target["amount_paid"] += cents(p["amount"], cur)
                target["amount_remaining"] = max(target["amount_due"] - target["amount_paid"], 0)
                if self.shape == "current":
                    inpays.append({"id": sid("inpay", p["payment_id"]), "object": "invoice_payment",
                                   "amount_paid": cents(p["amount"], cur), "amount_requested": cents(p["amount"], cur),
                                   "created": ts(p["received_date"]), "currency": cur.lower(),
                                   "invoice": target["id"], "is_default": True, "livemode": False,
                                   "payment": {"type": "payment_intent", "payment_intent": pi["id"]},
                                   "status": "paid", "status_transitions": {
                                       "canceled_at": None, "paid_at": ts(p["received_date"]) + 600}})
                else:
                    pi["invoice"] = target["id"]
                    target["payment_intent"] = target["payment_intent"] or pi["id"]
            intents.append(pi)
        notes = [self.credit_note(cn, known[cn["invoice_id"]]) for cn in self.t["credit_notes"]
                 if cn["invoice_id"] in known]
        files = {"customers": [self.customer(c) for c in self.t["customers"]], "products": self.products(),
                 "prices": self.catalogue(), "coupons": list(self.coupons.values()),
                 "subscriptions": subs, "invoices": stripe_invoices, "credit_notes": notes,
                 "payment_intents": intents, "usage_record_summaries": self.usage_summaries(),
                 "tax_rates": []}
        for row in self.t["tax_rates"]:
            self.tax_rate(row["country"], row["rate_pct"], row["valid_from"])
        files["tax_rates"] = sorted(self.tax_objects.values(), key=lambda r: r["id"])
        files["coupons"] = list(self.coupons.values())
        if self.shape == "current":
            files["invoice_payments"] = inpays
        for name, data in files.items():
            pages = [data[i:i + 100] for i in range(0, len(data), 100)] or [[]]
            for n, page in enumerate(pages, 1):
                body = {"object": "list", "data": page, "has_more": n < len(pages), "url": f"/v1/{name}"}
                target = out / (f"{name}.json" if len(pages) == 1 else f"{name}-{n}.json")
                target.write_text(json.dumps(body, indent=1, default=_json_default) + "\n", encoding="utf-8")


def _month_end(day: str) -> str:
    d = dt.date.fromisoformat(day)
    return d.replace(day=calendar.monthrange(d.year, d.month)[1]).isoformat()


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    raise TypeError(type(value))


def write_stripe_export(data: Path, out: Path, shape: str = "current") -> Path:
    """Write ``data`` (a contract dataset folder) as a Stripe export in ``out``."""
    StripeWriter(data, shape).write(out)
    return out
