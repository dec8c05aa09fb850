"""Checks on what happens after issue: payments, invoice status and credit notes.

Payments are placed on invoices by the cash application of :mod:`billing_lib.engine.cash_application`
(named invoice, then invoice numbers in the bank reference, then customer and amount). One mistake is
reported once:

* a payment that lands nowhere is ``unapplied_payment``;
* a second copy of a payment (same customer, currency, amount, day and reference) is ``payment_mismatch`` on
  the copy, and the copy is left out when judging overpayment, so the invoice it lands on is not reported a
  second time;
* a status that contradicts the balance is ``status_mismatch``; an invoice credited beyond its amounts is
  ``credit_note_excess``;
* an invoice is its number and its customer: where two customers carry one number, each invoice has its own
  payments, balance and status; a credit note names only a number and credits the number's first invoice;
* a payment of a customer the customers table lacks is that ``orphan_reference`` only: not also
  ``unapplied_payment``, and the invoice it paid (owing exactly its amount) is not also ``status_mismatch``;
* an invoice left ``open`` with nothing owed because its credit notes exceed it is ``credit_note_excess`` only.

The cash application is computed once over the whole dataset, also when the per-customer checks run on
shards: a payment may pay an invoice of another shard.
"""
from __future__ import annotations

import polars as pl

from billing_lib.checks.base import Finding, check, finding
from billing_lib.checks.context import INVOICE_KEY, CheckContext, invoice_heads
from billing_lib.checks.evidence import Evidence, Explanation
from billing_lib.checks.figures import CUR, choose, day, money, month, text
from billing_lib.core.money import DECIMAL, ZERO


def _invoice_balances(ctx: CheckContext, without: pl.DataFrame | None = None) -> pl.LazyFrame:
    """Live invoices of the verified months with ``credited``, ``paid`` and ``balance`` = total - paid -
    credited; ``without`` drops those payments from ``paid``."""
    from billing_lib.engine.cash_application import owed_before_payments
    notes = ctx.ds.frame("credit_notes").collect(engine=ctx.engine)
    owed = owed_before_payments(ctx.live_invoices, notes).lazy()
    apps = ctx.applications.lazy()
    if without is not None:
        apps = apps.join(without.lazy().select("payment_id"), on="payment_id", how="anti")
    # an invoice is its number and its customer: a number two customers carry is two invoices here
    paid = apps.group_by(INVOICE_KEY).agg(
        pl.col("applied").sum().cast(DECIMAL).alias("paid"), pl.col("payment_id").max().alias("last_payment"),
        pl.len().alias("payments"))
    head = ctx.live_invoices.lazy().unique(INVOICE_KEY, keep="first", maintain_order=True).select(
        *INVOICE_KEY, "status", "period", "subtotal", "discount", "tax")
    return (owed.join(head, on=INVOICE_KEY).join(paid, on=INVOICE_KEY, how="left")
            .with_columns(paid=pl.col("paid").fill_null(ZERO), payments=pl.col("payments").fill_null(0))
            .with_columns(balance=(pl.col("owed") - pl.col("paid")).cast(DECIMAL)))


def _over_credited(ctx: CheckContext) -> pl.LazyFrame:
    """Live invoices of the verified months whose credit notes' amounts exceed their subtotal - discount
    (``net``) or whose amounts plus tax exceed their total, with ``cn_amount``, ``cn_tax``, ``cn_total`` and
    ``notes``. A credit note names only a number: where two customers carry it, it credits the number's first
    invoice."""
    notes = ctx.ds.frame("credit_notes").group_by("invoice_id").agg(
        pl.col("amount").sum().cast(DECIMAL).alias("cn_amount"),
        pl.col("tax").fill_null(ZERO).sum().cast(DECIMAL).alias("cn_tax"), pl.len().alias("notes"))
    # only the numbers credit notes name (all the invoices of each, in the table's order) matter
    named = notes.select("invoice_id")
    first = invoice_heads(ctx.ds.frame("invoices").join(named, on="invoice_id", how="semi", maintain_order="left")
                          .filter(pl.col("status") != "void").select(*INVOICE_KEY, "status"))
    head = (ctx.live_invoices.lazy().join(named, on="invoice_id", how="semi", maintain_order="left")
            .unique(INVOICE_KEY, keep="first", maintain_order=True)
            .join(first.filter(pl.col("first")).select(INVOICE_KEY), on=INVOICE_KEY, how="semi"))
    inv = head.join(notes, on="invoice_id").with_columns(
        net=(pl.col("subtotal") - pl.col("discount")).cast(DECIMAL),
        cn_total=(pl.col("cn_amount") + pl.col("cn_tax")).cast(DECIMAL))
    return inv.filter((pl.col("cn_amount") > pl.col("net")) | (pl.col("cn_total") > pl.col("total")))


@check("unapplied_payment", title="Unapplied payments",
       explain=Explanation("Money came in that matches no open invoice.", "cash application",
                           "no invoice named, no invoice number in the reference, no open amount equal to it"),
       reads=("applications", "payments"))
def unapplied_payment(ctx: CheckContext) -> Finding:
    """A payment that matches no open invoice: none named, none in its reference, none of its amount.

    A payment of a customer the customers table lacks is that customer's ``orphan_reference`` only.
    """
    pay = (ctx.payments.lazy().join(ctx.applications.lazy().select("payment_id"), on="payment_id", how="anti")
           .join(ctx.ds.frame("customers").select("customer_id"), on="customer_id", how="semi"))
    return finding(
        pay, customer_id=pl.col("customer_id"), payment_id=pl.col("payment_id"), period=month(pl.col("received_date")),
        detail="unapplied", expected="an open invoice", actual=money(pl.col("amount")), currency=CUR,
        at_stake=pl.col("amount"),
        message=text("Payment {payment} of {amount} {currency} received {received} from customer {customer} matches "
                     "no open invoice: none is named, none is in its reference and none owes that amount.",
                     payment=pl.col("payment_id"), amount=money(pl.col("amount")), currency=CUR,
                     received=day(pl.col("received_date")), customer=pl.col("customer_id")))


def _explain_payment(found: dict, evidence: Evidence) -> Explanation:
    """A copy of an earlier payment (the statement imported twice), or payments beyond what the invoice owes;
    both cash application."""
    if found["payment_id"] in evidence.payment_copies:
        return Explanation("The same payment is recorded twice.", "cash application",
                           "same customer, amount, day and bank reference as an earlier payment (statement imported "
                           "twice)")
    return Explanation("Payments on this invoice add up to more than it owes.", "cash application",
                       "the customer paid too much, or a payment was applied to the wrong invoice")


@check("payment_mismatch", title="Payments", explain=_explain_payment,
       reads=("applications", "invoices", "live_invoices", "payment_copies", "payments"))
def payment_mismatch(ctx: CheckContext) -> list[Finding]:
    """A payment recorded twice (same customer, amount, day and reference), or payments that leave an invoice
    overpaid; partial payments and instalments that add up are normal."""
    copies = ctx.payment_copies
    landed = ctx.applications.lazy().group_by("payment_id").agg(pl.col("invoice_id").min())
    mine = (ctx.payments.lazy().join(copies.lazy().select("payment_id", "original_id"), on="payment_id")
            .drop("invoice_id").join(landed, on="payment_id", how="left"))
    over = _invoice_balances(ctx, without=copies).filter((pl.col("paid") > 0) & (pl.col("balance") < 0))
    excess = (-pl.col("balance")).cast(DECIMAL)
    return [
        finding(mine, customer_id=pl.col("customer_id"), payment_id=pl.col("payment_id"),
                invoice_id=pl.col("invoice_id"), period=month(pl.col("received_date")), detail="duplicate",
                expected="1", actual="2", currency=CUR, difference=money(pl.col("amount")), at_stake=pl.col("amount"),
                message=text("Payment {payment} repeats payment {original}: same customer {customer}, {amount} "
                             "{currency} received {received} with the same reference.", payment=pl.col("payment_id"),
                             original=pl.col("original_id"), customer=pl.col("customer_id"),
                             amount=money(pl.col("amount")), currency=CUR, received=day(pl.col("received_date")))),
        finding(over, customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"),
                payment_id=pl.col("last_payment"), period=pl.col("period"), detail="overpaid",
                expected=money(pl.col("owed")), actual=money(pl.col("paid")), difference=money(excess),
                currency=CUR, at_stake=excess,
                message=text("Invoice {invoice} owes {owed} {currency} but {payments} payment(s) put {paid} on it: "
                             "overpaid by {excess}.", invoice=pl.col("invoice_id"), owed=money(pl.col("owed")),
                             currency=CUR, payments=pl.col("payments"), paid=money(pl.col("paid")),
                             excess=money(excess))),
    ]


def _explain_status(found: dict, evidence: Evidence) -> Explanation:
    """The status not updated when payments or credits arrived (status sync), naming the status."""
    return Explanation("The invoice's status says the opposite of its balance.", "status sync",
                       f"status {found['actual']} with the balance the payments and credits leave")


@check("status_mismatch", title="Invoice status", explain=_explain_status,
       reads=("applications", "invoices", "live_invoices", "unknown_payer_payments"))
def status_mismatch(ctx: CheckContext) -> Finding:
    """An invoice whose status contradicts its balance: `paid` with money owed, or `open` with nothing owed.

    `paid` is judged only when the dataset has a payments table (without one, what paid it is not kept). What
    another finding explains is left to it: an invoice `open` with nothing owed because its credit notes exceed
    it (``credit_note_excess``), and an invoice `paid` that owes exactly the amount of a payment the cash
    application could not place because its customer is unknown (that payment's ``orphan_reference``).
    """
    # a dataset that keeps no payments table cannot show what paid an invoice: `paid` is judged only with one
    judge_paid = pl.lit("payments" in ctx.ds.tables)
    inv = _invoice_balances(ctx).filter(
        ((pl.col("status") == "paid") & (pl.col("balance") > 0) & judge_paid)
        | ((pl.col("status") == "open") & (pl.col("balance") <= 0)))
    over_credited = _over_credited(ctx).select(INVOICE_KEY)
    orphans = ctx.unknown_payer_payments.lazy().select("currency", pl.col("amount").cast(DECIMAL).alias("balance"),
                                                        "received_date")
    paid_by_orphan = (inv.join(orphans, on=["currency", "balance"], how="inner")
                      .filter(pl.col("received_date") >= pl.col("issue_date")).select(INVOICE_KEY))
    inv = (inv.join(over_credited, on=INVOICE_KEY, how="anti")
           .join(paid_by_orphan, on=INVOICE_KEY, how="anti"))
    right = choose((pl.col("balance") > 0, "open"), otherwise="paid")
    return finding(
        inv, customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"), period=pl.col("period"),
        detail="status", expected=right, actual=pl.col("status"), currency=CUR, difference=money(pl.col("balance")),
        at_stake=pl.when(pl.col("balance") < 0).then(-pl.col("balance")).otherwise(pl.col("balance")),
        message=text("Invoice {invoice} is {status}, but its balance is {balance} {currency} (total {total} - "
                     "payments {paid} - credits {credited}), so it should be {right}.", invoice=pl.col("invoice_id"),
                     status=pl.col("status"), balance=money(pl.col("balance")), currency=CUR,
                     total=money(pl.col("total")), paid=money(pl.col("paid")), credited=money(pl.col("credited")),
                     right=right))


@check("credit_note_excess", title="Credit notes",
       explain=Explanation("The invoice was credited beyond its own amounts.", "credit handling",
                           "a credit note was issued again for a charge already credited"),
       reads=("invoices", "live_invoices"))
def credit_note_excess(ctx: CheckContext) -> Finding:
    """Credit notes of an invoice whose amounts exceed its subtotal - discount, or whose amounts plus tax exceed
    its total (equal is fine)."""
    inv = _over_credited(ctx)
    by_amount = pl.col("cn_amount") > pl.col("net")
    expected = pl.when(by_amount).then(pl.col("net")).otherwise(pl.col("total"))
    actual = pl.when(by_amount).then(pl.col("cn_amount")).otherwise(pl.col("cn_total"))
    return finding(
        inv, customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"), period=pl.col("period"),
        detail="credit_notes", expected=money(expected), actual=money(actual), difference=money(actual - expected),
        currency=CUR, at_stake=(actual - expected).cast(DECIMAL),
        message=text("The {notes} credit note(s) of invoice {invoice} come to {actual} {currency} in {what}, more "
                     "than its {limit} of {expected}.", notes=pl.col("notes"), invoice=pl.col("invoice_id"),
                     actual=money(actual), currency=CUR,
                     what=choose((by_amount, "amounts"), otherwise="amounts plus tax"),
                     limit=choose((by_amount, "subtotal - discount"), otherwise="total"),
                     expected=money(expected)))
