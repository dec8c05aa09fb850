"""Checks on what happens after issue: payments, invoice status and credit notes.

Payments are placed on invoices by the cash application of
:mod:`billing_lib.engine.cash_application` (named invoice, then invoice numbers in the
bank reference, then customer and amount). One mistake is reported once:

* a payment that lands nowhere is ``unapplied_payment``;
* a second copy of a payment (same customer, currency, amount, day and reference) is
  ``payment_mismatch`` on the copy, and the copy is left out when judging overpayment, so the invoice
  it lands on is not reported a second time;
* a status that contradicts the balance is ``status_mismatch``; an invoice credited beyond its amounts is
  ``credit_note_excess``.
"""
from __future__ import annotations

import polars as pl

from billing_lib.checks.base import check, findings
from billing_lib.checks.context import PERIOD_FMT, CheckContext
from billing_lib.core.money import DECIMAL, ZERO, to_text

CUR = pl.col("currency")


def _money(expr: pl.Expr) -> pl.Expr:
    return to_text(expr, CUR)


def _day(expr: pl.Expr) -> pl.Expr:
    return expr.dt.strftime("%Y-%m-%d")


def duplicate_copies(payments: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Payments that repeat an earlier one (same customer, currency, amount, day and reference), with the
    first one as ``original_id`` (the first by payment_id is taken as the original)."""
    key = ["customer_id", "currency", "amount", "received_date", "reference"]
    return (payments.lazy().sort("payment_id")
            .with_columns(original_id=pl.col("payment_id").first().over(key),
                          copy_no=pl.int_range(pl.len()).over(key))
            .filter(pl.col("copy_no") > 0))


def _invoice_balances(ctx: CheckContext, without: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Live invoices of the verified months with ``credited``, ``paid`` and ``balance`` = total - paid -
    credited; ``without`` drops those payments from ``paid``."""
    from billing_lib.engine.cash_application import owed_before_payments
    notes = ctx.ds.frame("credit_notes").collect(engine=ctx.engine)
    owed = owed_before_payments(ctx.live_invoices, notes).lazy()
    apps = ctx.applications.lazy()
    if without is not None:
        apps = apps.join(without.select("payment_id"), on="payment_id", how="anti")
    # an invoice is its number and its customer: a number two customers carry is two invoices here
    invoice = ["invoice_id", "customer_id"]
    paid = apps.sort("payment_id").group_by(invoice).agg(
        pl.col("applied").sum().cast(DECIMAL).alias("paid"), pl.col("payment_id").last().alias("last_payment"),
        pl.len().alias("payments"))
    head = ctx.live_invoices.lazy().unique(invoice, keep="first", maintain_order=True).select(
        *invoice, "status", "period", "subtotal", "discount", "tax")
    return (owed.join(head, on=invoice).join(paid, on=invoice, how="left")
            .with_columns(paid=pl.col("paid").fill_null(ZERO), payments=pl.col("payments").fill_null(0))
            .with_columns(balance=(pl.col("owed") - pl.col("paid")).cast(DECIMAL)))


@check("unapplied_payment")
def unapplied_payment(ctx: CheckContext) -> pl.LazyFrame:
    """A payment that matches no open invoice: none named, none in its reference, none of its amount."""
    pay = ctx.payments.lazy().join(ctx.applications.lazy().select("payment_id"), on="payment_id", how="anti")
    return findings(
        pay, customer_id=pl.col("customer_id"), payment_id=pl.col("payment_id"),
        period=pl.col("received_date").dt.strftime(PERIOD_FMT), detail=pl.lit("unapplied"),
        expected=pl.lit("an open invoice"), actual=_money(pl.col("amount")), currency=CUR,
        at_stake=pl.col("amount"),
        message=pl.format("Payment {} of {} {} received {} from customer {} matches no open invoice: none is "
                          "named, none is in its reference and none owes that amount.", pl.col("payment_id"),
                          _money(pl.col("amount")), CUR, _day(pl.col("received_date")), pl.col("customer_id")))


@check("payment_mismatch")
def payment_mismatch(ctx: CheckContext) -> pl.LazyFrame:
    """A payment recorded twice (same customer, amount, day and reference), or payments that leave an invoice
    overpaid; partial payments and instalments that add up are normal."""
    copies = duplicate_copies(ctx.ds.frame("payments"))
    landed = ctx.applications.lazy().group_by("payment_id").agg(pl.col("invoice_id").min())
    mine = (ctx.payments.lazy().join(copies.select("payment_id", "original_id"), on="payment_id")
            .drop("invoice_id").join(landed, on="payment_id", how="left"))
    out = [findings(
        mine, customer_id=pl.col("customer_id"), payment_id=pl.col("payment_id"), invoice_id=pl.col("invoice_id"),
        period=pl.col("received_date").dt.strftime(PERIOD_FMT), detail=pl.lit("duplicate"),
        expected=pl.lit("1"), actual=pl.lit("2"), currency=CUR, difference=_money(pl.col("amount")),
        at_stake=pl.col("amount"),
        message=pl.format("Payment {} repeats payment {}: same customer {}, {} {} received {} with the same "
                          "reference.", pl.col("payment_id"), pl.col("original_id"), pl.col("customer_id"),
                          _money(pl.col("amount")), CUR, _day(pl.col("received_date"))))]
    over = _invoice_balances(ctx, without=copies).filter((pl.col("paid") > 0) & (pl.col("balance") < 0))
    excess = (-pl.col("balance")).cast(DECIMAL)
    out.append(findings(
        over, customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"),
        payment_id=pl.col("last_payment"), period=pl.col("period"), detail=pl.lit("overpaid"),
        expected=_money(pl.col("owed")), actual=_money(pl.col("paid")), difference=_money(excess),
        currency=CUR, at_stake=excess,
        message=pl.format("Invoice {} owes {} {} but {} payment(s) put {} on it: overpaid by {}.",
                          pl.col("invoice_id"), _money(pl.col("owed")), CUR, pl.col("payments"),
                          _money(pl.col("paid")), _money(excess))))
    return pl.concat(out)


@check("status_mismatch")
def status_mismatch(ctx: CheckContext) -> pl.LazyFrame:
    """An invoice whose status contradicts its balance: `paid` with money owed, or `open` with nothing owed.

    `paid` is judged only when the dataset has a payments table (without one, what paid it is not kept).
    """
    # a dataset that keeps no payments table cannot show what paid an invoice: `paid` is judged only with one
    judge_paid = pl.lit("payments" in ctx.ds.tables)
    inv = _invoice_balances(ctx).filter(
        ((pl.col("status") == "paid") & (pl.col("balance") > 0) & judge_paid)
        | ((pl.col("status") == "open") & (pl.col("balance") <= 0)))
    right = pl.when(pl.col("balance") > 0).then(pl.lit("open")).otherwise(pl.lit("paid"))
    return findings(
        inv, customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"), period=pl.col("period"),
        detail=pl.lit("status"), expected=right, actual=pl.col("status"), currency=CUR,
        difference=_money(pl.col("balance")),
        at_stake=pl.when(pl.col("balance") < 0).then(-pl.col("balance")).otherwise(pl.col("balance")),
        message=pl.format("Invoice {} is {}, but its balance is {} {} (total {} - payments {} - credits {}), "
                          "so it should be {}.", pl.col("invoice_id"), pl.col("status"),
                          _money(pl.col("balance")), CUR, _money(pl.col("total")), _money(pl.col("paid")),
                          _money(pl.col("credited")), right))


@check("credit_note_excess")
def credit_note_excess(ctx: CheckContext) -> pl.LazyFrame:
    """Credit notes of an invoice whose amounts exceed its subtotal - discount, or whose amounts plus tax exceed
    its total (equal is fine)."""
    notes = ctx.ds.frame("credit_notes").group_by("invoice_id").agg(
        pl.col("amount").sum().cast(DECIMAL).alias("cn_amount"),
        pl.col("tax").fill_null(ZERO).sum().cast(DECIMAL).alias("cn_tax"), pl.len().alias("notes"))
    head = ctx.live_invoices.lazy().unique("invoice_id", keep="first", maintain_order=True)
    inv = head.join(notes, on="invoice_id").with_columns(
        net=(pl.col("subtotal") - pl.col("discount")).cast(DECIMAL),
        cn_total=(pl.col("cn_amount") + pl.col("cn_tax")).cast(DECIMAL))
    by_amount = pl.col("cn_amount") > pl.col("net")
    inv = inv.filter(by_amount | (pl.col("cn_total") > pl.col("total")))
    expected = pl.when(by_amount).then(pl.col("net")).otherwise(pl.col("total"))
    actual = pl.when(by_amount).then(pl.col("cn_amount")).otherwise(pl.col("cn_total"))
    what = pl.when(by_amount).then(pl.lit("amounts")).otherwise(pl.lit("amounts plus tax"))
    limit = pl.when(by_amount).then(pl.lit("subtotal - discount")).otherwise(pl.lit("total"))
    return findings(
        inv, customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"), period=pl.col("period"),
        detail=pl.lit("credit_notes"), expected=_money(expected), actual=_money(actual),
        difference=_money(actual - expected), currency=CUR, at_stake=(actual - expected).cast(DECIMAL),
        message=pl.format("The {} credit note(s) of invoice {} come to {} {} in {}, more than its {} of {}.",
                          pl.col("notes"), pl.col("invoice_id"), _money(actual), CUR, what, limit,
                          _money(expected)))
