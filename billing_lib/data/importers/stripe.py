"""Stripe API exports as a billing dataset: ``billing import stripe DIR``.

DIR holds Stripe API list responses named by resource (see :mod:`.stripe_export`): ``customers.json``,
``products.json``, ``prices.json``, ``coupons.json``, ``tax_rates.json``, ``subscriptions.json`` (with
items), ``invoices.json`` (with ``lines`` expanded), ``credit_notes.json`` (with lines),
``payment_intents.json``, ``invoice_payments.json`` and optionally ``usage_record_summaries.json``. The price
book comes along (:mod:`.stripe_pricebook`), so the rating engine verifies Stripe's own invoices against
Stripe's own prices; customers, subscriptions and usage are :mod:`.stripe_contracts`, the documents
:mod:`.stripe_documents`.

Ids: where an object's ``metadata`` holds the user's own key under the contract column's name
(``customer_id``, ``subscription_id``, ``plan_id``, ``invoice_id``, ``line_no``, ``payment_id``,
``credit_note_id``), that is the id; otherwise the Stripe id (the invoice's ``number``, line numbers in the
order of ``lines.data``). Money is exact: integer minor units and ``*_decimal`` strings become decimal text
with the currency's ISO 4217 digits, never through a binary float.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

from billing_lib.data.importers.base import (
    ImportResult,
    ImportSourceError,
    most_common,
    no_rate_in_force,
    placeholder_contract,
    text_frame,
)
from billing_lib.data.importers.stripe_contracts import (
    SubscriptionIndex,
    read_customers,
    read_subscriptions,
    read_usage,
)
from billing_lib.data.importers.stripe_documents import (
    Context,
    Documents,
    fill_due_dates,
    read_credit_notes,
    read_invoices,
    read_payments,
)
from billing_lib.data.importers.stripe_export import read_stripe_export
from billing_lib.data.importers.stripe_pricebook import (
    count_products,
    read_prices,
    read_tax_rates,
    settle_tax_rows,
)

NO_RATES = ("the export's tax rates name no country (or none is unambiguous): no rate is in force, so tax "
            "rates are not judged against the customer's country")


def usage_from_lines(subs: SubscriptionIndex, plans: dict, docs: Documents, metered_with_usage: set[str],
                     notes: list[str]) -> list[dict]:
    """For metered subscriptions without usage record summaries: the quantity of the first line billing each
    of their months, as that month's usage (so the rating agrees with the quantity billed)."""
    metered = {r["subscription_id"]: r for r in subs.rows
               if plans[(r["plan_id"], r["price_currency"])]["billing"] == "usage"
               and r["subscription_id"] not in metered_with_usage}
    if not metered:
        return []
    issued = {inv["invoice_id"]: inv for inv in docs.invoices}
    firsts: dict[tuple[str, str], dict] = {}
    for line in sorted(docs.lines, key=lambda x: (issued[x["invoice_id"]]["issue_date"], x["invoice_id"],
                                                   x["line_no"])):
        sub = metered.get(line["subscription_id"] or "")
        inv = issued[line["invoice_id"]]
        if sub is None or line["quantity"] is None or inv["status"] == "void":
            continue
        firsts.setdefault((sub["subscription_id"], inv["period_start"][:7]), line)
    events = []
    for (sid, _month), line in sorted(firsts.items()):
        day = max(line["period_start"], metered[sid]["start_date"])
        events.append({"event_id": f"{line['invoice_id']}-{line['line_no']}", "subscription_id": sid,
                       "event_time": f"{day}T00:00:00Z", "quantity": line["quantity"],
                       "stripe_invoice": line["invoice_id"]})
    if events:
        notes.append(f"{len({e['subscription_id'] for e in events})} metered subscriptions have no usage record "
                     f"summaries in the export: the quantity billed is taken as their usage ({len(events)} events), "
                     "so their quantities are not judged")
    return events


def import_stripe(src: str | Path) -> ImportResult:
    """Map a Stripe export folder (see the module docstring) to contract tables with row accounting."""
    export = read_stripe_export(src)
    account, notes = export.account, []
    book = read_prices(export, account)
    taxes = read_tax_rates(export, account)
    customers = read_customers(export, account)
    subs = read_subscriptions(export, customers, book, account, notes)
    ctx = Context(export, account, customers, subs, book, taxes, notes)
    docs = read_invoices(ctx)
    read_credit_notes(ctx, docs)
    read_payments(ctx, docs)
    usage = read_usage(export, subs, account)
    usage += usage_from_lines(subs, book.plans, docs, {u["subscription_id"] for u in usage}, notes)
    count_products(export, book, account)
    fill_due_dates(docs, customers)
    currencies = [r["currency"] for r in docs.invoices] + [r["price_currency"] for r in subs.rows]
    customer_rows = customers.finish(most_common(currencies, "USD"))
    settle_tax_rows(taxes, customer_rows, docs.invoices, docs.lines, account)
    if not customer_rows:
        raise ImportSourceError(f"Stripe source {str(src)!r}: no customer could be imported (every customer, "
                                "subscription and invoice was skipped; see the reasons with a smaller export)")
    if customers.derived:
        notes.append(f"{len(customers.derived)} customers named by invoices, subscriptions or payments are not in "
                     "customers.json: made from the invoices' customer fields (name, email, address, tax status)")
    if not subs.rows:
        notes.append("the export holds no subscriptions: lines are not matched against contracts (their Stripe "
                     "subscription id is kept as stripe_subscription)")
    tables = {
        "customers": text_frame(customer_rows, "customers", ("stripe_customer",)),
        "plans": text_frame(list(book.plans.values()), "plans", ("stripe_price", "stripe_type")),
        "plan_tiers": text_frame(book.tiers, "plan_tiers"),
        "subscriptions": text_frame(subs.rows, "subscriptions", ("stripe_subscription", "stripe_item",
                                                                 "stripe_status")),
        "usage": text_frame(usage, "usage", ("stripe_invoice",)),
        "tax_rates": text_frame(taxes.rows, "tax_rates", ("stripe_tax_rate",)) if taxes.rows
        else no_rate_in_force(NO_RATES),
        "invoices": text_frame(docs.invoices, "invoices", ("stripe_invoice", "stripe_number",
                                                           "amount_paid", "amount_remaining")),
        "invoice_lines": text_frame(docs.lines, "invoice_lines", ("stripe_line", "proration", "stripe_subscription")),
        "credit_notes": text_frame(docs.credit_notes, "credit_notes", ("currency", "stripe_credit_note",
                                                                       "stripe_number")),
        "payments": text_frame(docs.payments, "payments", ("stripe_object",)),
    }
    if not subs.rows or not book.plans:
        placeholder = placeholder_contract(tables["customers"], min(r["issue_date"] for r in docs.invoices)
                                           if docs.invoices else "1970-01-01", customer_rows[0]["currency"])
        if not subs.rows:
            tables["subscriptions"] = placeholder["subscriptions"]
        tables["plans"] = pl.concat([tables["plans"], placeholder["plans"]], how="diagonal")
    return account.result(str(src), tables, notes + book.notes + taxes.notes)
