"""Checks on dates and references of billing documents."""
from __future__ import annotations

import polars as pl

from billing_lib.checks.base import check, findings
from billing_lib.checks.context import PERIOD_FMT, CheckContext


def _day(expr: pl.Expr) -> pl.Expr:
    return expr.dt.strftime("%Y-%m-%d")


@check("date_inconsistency", severity="warning")
def date_inconsistency(ctx: CheckContext) -> pl.LazyFrame:
    """A due date other than issue date + payment terms, or a period (of an invoice or line) ending before it
    starts."""
    terms = ctx.ds.frame("customers").select("customer_id", "payment_terms_days")
    inv = ctx.live_invoices.lazy().join(terms, on="customer_id", how="inner")
    due = pl.col("issue_date").dt.offset_by(pl.format("{}d", pl.col("payment_terms_days")))
    keys = {"customer_id": pl.col("customer_id"), "invoice_id": pl.col("invoice_id"), "period": pl.col("period")}
    out = [findings(
        inv.filter(pl.col("due_date") != due), **keys, detail=pl.lit("due_date"), expected=_day(due),
        actual=_day(pl.col("due_date")),
        difference=(pl.col("due_date") - due).dt.total_days().cast(pl.String),
        message=pl.format("Invoice {} is due {}, but issued {} on {}-day terms it is due {}.", pl.col("invoice_id"),
                          _day(pl.col("due_date")), _day(pl.col("issue_date")), pl.col("payment_terms_days"),
                          _day(due)))]
    out.append(findings(
        ctx.live_invoices.lazy().filter(pl.col("period_end") < pl.col("period_start")), **keys,
        detail=pl.lit("invoice_period"), expected=pl.lit("period_end on or after period_start"),
        actual=pl.format("{} to {}", _day(pl.col("period_start")), _day(pl.col("period_end"))),
        message=pl.format("Invoice {} covers {} to {}: its period ends before it starts.", pl.col("invoice_id"),
                          _day(pl.col("period_start")), _day(pl.col("period_end")))))
    out.append(findings(
        ctx.lines.lazy().filter(pl.col("period_end") < pl.col("period_start")), **keys,
        line_no=pl.col("line_no"), subscription_id=pl.col("subscription_id"), detail=pl.lit("line_period"),
        expected=pl.lit("period_end on or after period_start"),
        actual=pl.format("{} to {}", _day(pl.col("period_start")), _day(pl.col("period_end"))),
        message=pl.format("Invoice {} line {} covers {} to {}: its service period ends before it starts.",
                          pl.col("invoice_id"), pl.col("line_no"), _day(pl.col("period_start")),
                          _day(pl.col("period_end")))))
    return pl.concat(out)


@check("orphan_reference", scope="global")
def orphan_reference(ctx: CheckContext) -> pl.LazyFrame:
    """A row naming a customer, subscription, plan or invoice that does not exist.

    Global: a row that names no existing customer belongs to no customer's shard.
    """
    ds = ctx.ds
    customers = ds.frame("customers").select("customer_id", pl.col("currency").alias("customer_currency"))
    subs = ds.frame("subscriptions")
    plans = ds.frame("plans").select("plan_id", "currency")
    invoices = ds.frame("invoices").select("invoice_id").unique()
    periods = ctx.period_names.implode()
    out = []

    def missing(frame: pl.LazyFrame, what: str, ref: str, plot_text: pl.Expr, **keys: pl.Expr) -> None:
        out.append(findings(frame, **keys, detail=pl.lit(f"{what}.{ref}"), expected=pl.lit(f"an existing {ref}"),
                            actual=pl.col(ref),
                            message=pl.format(f"{{}} names {ref} {{}}, which does not exist.", plot_text, pl.col(ref))))

    inv = ctx.live_invoices.lazy().join(customers, on="customer_id", how="anti")
    missing(inv, "invoice", "customer_id", customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"),
            period=pl.col("period"), plot_text=pl.format("Invoice {}", pl.col("invoice_id")))
    lines = ds.frame("invoice_lines").join(invoices, on="invoice_id", how="anti").filter(
        pl.col("period_start").dt.strftime(PERIOD_FMT).is_in(periods))
    missing(lines, "line", "invoice_id", invoice_id=pl.col("invoice_id"), line_no=pl.col("line_no"),
            subscription_id=pl.col("subscription_id"), period=pl.col("period_start").dt.strftime(PERIOD_FMT),
            plot_text=pl.format("Invoice line {} of {}", pl.col("line_no"), pl.col("invoice_id")))
    live = ctx.lines.lazy()
    line_keys = dict(customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"), line_no=pl.col("line_no"),
                     period=pl.col("period"))
    no_sub = live.filter(pl.col("subscription_id").is_not_null()).join(
        subs.select("subscription_id"), on="subscription_id", how="anti")
    missing(no_sub, "line", "subscription_id", **line_keys, subscription_id=pl.col("subscription_id"),
            plot_text=pl.format("Invoice {} line {}", pl.col("invoice_id"), pl.col("line_no")))
    no_plan = live.filter(pl.col("plan_id").is_not_null()).join(
        plans.select("plan_id").unique(), on="plan_id", how="anti")
    missing(no_plan, "line", "plan_id", **line_keys, subscription_id=pl.col("subscription_id"),
            plot_text=pl.format("Invoice {} line {}", pl.col("invoice_id"), pl.col("line_no")))

    sub_keys = dict(customer_id=pl.col("customer_id"), subscription_id=pl.col("subscription_id"))
    missing(subs.join(customers, on="customer_id", how="anti"), "subscription", "customer_id", **sub_keys,
            plot_text=pl.format("Subscription {}", pl.col("subscription_id")))
    known_customer = subs.join(customers, on="customer_id", how="inner")
    no_plan_row = known_customer.join(plans, left_on=["plan_id", "customer_currency"],
                                      right_on=["plan_id", "currency"], how="anti")
    out.append(findings(
        no_plan_row, **sub_keys, detail=pl.lit("subscription.plan_id"), currency=pl.col("customer_currency"),
        expected=pl.format("plan {} priced in {}", pl.col("plan_id"), pl.col("customer_currency")),
        actual=pl.col("plan_id"),
        message=pl.format("Subscription {} names plan {}, which has no price in the customer's currency {}; "
                          "it cannot be rated.", pl.col("subscription_id"), pl.col("plan_id"),
                          pl.col("customer_currency"))))
    usage = (ds.frame("usage").join(subs.select("subscription_id"), on="subscription_id", how="anti")
             .group_by("subscription_id").agg(pl.len().alias("events")))
    out.append(findings(
        usage, subscription_id=pl.col("subscription_id"), detail=pl.lit("usage.subscription_id"),
        expected=pl.lit("an existing subscription_id"), actual=pl.col("subscription_id"),
        message=pl.format("{} usage events name subscription {}, which does not exist.", pl.col("events"),
                          pl.col("subscription_id"))))
    notes = ds.frame("credit_notes").join(invoices, on="invoice_id", how="anti")
    out.append(findings(
        notes, invoice_id=pl.col("invoice_id"), detail=pl.format("credit_note.{}", pl.col("credit_note_id")),
        expected=pl.lit("an existing invoice_id"), actual=pl.col("invoice_id"),
        message=pl.format("Credit note {} names invoice {}, which does not exist.", pl.col("credit_note_id"),
                          pl.col("invoice_id"))))
    pay = ctx.payments.lazy()
    pay_keys = dict(payment_id=pl.col("payment_id"), period=pl.col("received_date").dt.strftime(PERIOD_FMT))
    # the cash application still places such a payment where its reference is clear: name the invoice it paid
    paid = ctx.applications.lazy().group_by("payment_id").agg(pl.col("invoice_id").min().alias("paid_invoice"))
    missing(pay.join(customers, on="customer_id", how="anti").join(paid, on="payment_id", how="left"), "payment",
            "customer_id", **pay_keys, customer_id=pl.col("customer_id"), invoice_id=pl.col("paid_invoice"),
            plot_text=pl.format("Payment {}", pl.col("payment_id")))
    missing(pay.filter(pl.col("invoice_id").is_not_null()).join(invoices, on="invoice_id", how="anti"),
            "payment", "invoice_id", **pay_keys, customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"),
            plot_text=pl.format("Payment {}", pl.col("payment_id")))
    return pl.concat(out)
