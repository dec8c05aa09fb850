"""Checks on dates and references of billing documents."""
from __future__ import annotations

import polars as pl

from billing_lib.checks.base import Finding, check, finding
from billing_lib.checks.context import INVOICE_KEY, CheckContext
from billing_lib.checks.evidence import Evidence, Explanation
from billing_lib.checks.figures import day, month, text

CUSTOMER_SETUP = Explanation(
    "The due date does not follow from the issue date and the customer's payment terms.", "customer setup",
    "the payment terms in billing differ from the customer's, or the date was edited")


def _span(start: str = "period_start", end: str = "period_end"):
    return text("{start} to {end}", start=day(pl.col(start)), end=day(pl.col(end)))


@check("date_inconsistency", title="Dates", severity="warning", explain=CUSTOMER_SETUP,
       reads=("every_line", "invoices", "lines", "live_invoices"))
def date_inconsistency(ctx: CheckContext) -> list[Finding]:
    """A due date other than issue date + payment terms, or a period (of an invoice or line) ending before it
    starts."""
    terms = ctx.ds.frame("customers").select("customer_id", "payment_terms_days")
    inv = ctx.live_invoices.lazy().join(terms, on="customer_id", how="inner")
    due = pl.col("issue_date") + pl.duration(days=pl.col("payment_terms_days"))
    keys = {"customer_id": pl.col("customer_id"), "invoice_id": pl.col("invoice_id"), "period": pl.col("period")}
    ends_first = "period_end on or after period_start"
    return [
        finding(inv.filter(pl.col("due_date") != due), **keys, detail="due_date", expected=day(due),
                actual=day(pl.col("due_date")), difference=(pl.col("due_date") - due).dt.total_days(),
                message=text("Invoice {invoice} is due {due_date}, but issued {issued} on {terms}-day terms it is "
                             "due {due}.", invoice=pl.col("invoice_id"), due_date=day(pl.col("due_date")),
                             issued=day(pl.col("issue_date")), terms=pl.col("payment_terms_days"), due=day(due))),
        finding(ctx.live_invoices.lazy().filter(pl.col("period_end") < pl.col("period_start")), **keys,
                detail="invoice_period", expected=ends_first, actual=_span(),
                message=text("Invoice {invoice} covers {span}: its period ends before it starts.",
                             invoice=pl.col("invoice_id"), span=_span())),
        finding(ctx.lines.lazy().filter(pl.col("period_end") < pl.col("period_start")), **keys,
                line_no=pl.col("line_no"), subscription_id=pl.col("subscription_id"), detail="line_period",
                expected=ends_first, actual=_span(),
                message=text("Invoice {invoice} line {line} covers {span}: its service period ends before it starts.",
                             invoice=pl.col("invoice_id"), line=pl.col("line_no"), span=_span())),
    ]


def _explain_orphan(found: dict, evidence: Evidence) -> Explanation:
    """Master data: a line billing a subscription no contract holds, or a document naming an unknown id."""
    if found["line_no"] is not None:
        return Explanation("The invoice bills a subscription that does not exist.", "master data",
                           f"{found['actual']} is in no contract")
    return Explanation("A document names something that does not exist in the data.", "master data",
                       f"{found['actual']} is unknown")


@check("orphan_reference", title="References", scope="global", explain=_explain_orphan,
       reads=("applications", "every_line", "invoices", "lines", "live_invoices", "payments", "usage"))
def orphan_reference(ctx: CheckContext) -> list[Finding]:
    """A row naming a customer, subscription, plan or invoice that does not exist.

    Global: a row that names no existing customer belongs to no customer's shard.
    """
    ds = ctx.ds
    customers = ds.frame("customers").select("customer_id", pl.col("currency").alias("customer_currency"))
    subs = ds.frame("subscriptions")
    plans = ds.frame("plans").select("plan_id", "currency")
    invoices = ds.frame("invoices").select("invoice_id")  # read by anti joins only: repeats change nothing
    out = []

    def missing(frame: pl.LazyFrame, what: str, ref: str, named_by, **keys) -> None:
        out.append(finding(frame, **keys, detail=f"{what}.{ref}", expected=f"an existing {ref}", actual=pl.col(ref),
                           message=text(f"{{row}} names {ref} {{ref}}, which does not exist.", row=named_by,
                                        ref=pl.col(ref))))

    invoice = text("Invoice {invoice}", invoice=pl.col("invoice_id"))
    invoice_line = text("Invoice {invoice} line {line}", invoice=pl.col("invoice_id"), line=pl.col("line_no"))
    inv = ctx.live_invoices.lazy().join(customers, on="customer_id", how="anti")
    missing(inv, "invoice", "customer_id", invoice, customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"),
            period=pl.col("period"))
    lines = ds.frame("invoice_lines").join(invoices, on="invoice_id", how="anti").filter(ctx.in_months("period_start"))
    missing(lines, "line", "invoice_id",
            text("Invoice line {line} of {invoice}", line=pl.col("line_no"), invoice=pl.col("invoice_id")),
            invoice_id=pl.col("invoice_id"), line_no=pl.col("line_no"), subscription_id=pl.col("subscription_id"),
            period=month(pl.col("period_start")))
    live = ctx.lines.lazy()
    line_keys = dict(customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"), line_no=pl.col("line_no"),
                     period=pl.col("period"))
    no_sub = live.filter(pl.col("subscription_id").is_not_null()).join(
        subs.select("subscription_id"), on="subscription_id", how="anti")
    missing(no_sub, "line", "subscription_id", invoice_line, **line_keys, subscription_id=pl.col("subscription_id"))
    no_plan = live.filter(pl.col("plan_id").is_not_null()).join(
        plans.select("plan_id").unique(), on="plan_id", how="anti")
    missing(no_plan, "line", "plan_id", invoice_line, **line_keys, subscription_id=pl.col("subscription_id"))

    sub_keys = dict(customer_id=pl.col("customer_id"), subscription_id=pl.col("subscription_id"))
    missing(subs.join(customers, on="customer_id", how="anti"), "subscription", "customer_id",
            text("Subscription {subscription}", subscription=pl.col("subscription_id")), **sub_keys)
    known_customer = subs.join(customers, on="customer_id", how="inner")
    no_plan_row = known_customer.join(plans, left_on=["plan_id", "customer_currency"],
                                      right_on=["plan_id", "currency"], how="anti")
    their = pl.col("customer_currency")
    out.append(finding(
        no_plan_row, **sub_keys, detail="subscription.plan_id", currency=their,
        expected=text("plan {plan} priced in {currency}", plan=pl.col("plan_id"), currency=their),
        actual=pl.col("plan_id"),
        message=text("Subscription {subscription} names plan {plan}, which has no price in the customer's currency "
                     "{currency}; it cannot be rated.", subscription=pl.col("subscription_id"),
                     plan=pl.col("plan_id"), currency=their)))
    usage = (ds.frame("usage").join(subs.select("subscription_id"), on="subscription_id", how="anti")
             .group_by("subscription_id").agg(pl.len().alias("events")))
    out.append(finding(
        usage, subscription_id=pl.col("subscription_id"), detail="usage.subscription_id",
        expected="an existing subscription_id", actual=pl.col("subscription_id"),
        message=text("{events} usage events name subscription {subscription}, which does not exist.",
                     events=pl.col("events"), subscription=pl.col("subscription_id"))))
    notes = ds.frame("credit_notes").join(invoices, on="invoice_id", how="anti")
    out.append(finding(
        notes, invoice_id=pl.col("invoice_id"), detail=text("credit_note.{note}", note=pl.col("credit_note_id")),
        expected="an existing invoice_id", actual=pl.col("invoice_id"),
        message=text("Credit note {note} names invoice {invoice}, which does not exist.",
                     note=pl.col("credit_note_id"), invoice=pl.col("invoice_id"))))
    # payments of the verified months, and others the cash application placed on their invoices (a payment id
    # on several rows is its first row)
    placed = ctx.applications.lazy().join(ctx.live_invoices.lazy().select(INVOICE_KEY), on=INVOICE_KEY, how="semi")
    others = ds.frame("payments").filter(~ctx.in_months("received_date").fill_null(False))
    pay = pl.concat([ctx.payments.lazy(), others.join(placed.select("payment_id"), on="payment_id", how="semi")]
                    ).unique("payment_id", keep="first", maintain_order=True)
    payment = text("Payment {payment}", payment=pl.col("payment_id"))
    pay_keys = dict(payment_id=pl.col("payment_id"), period=month(pl.col("received_date")))
    # the cash application may still place a payment of an unknown customer by its reference: name that invoice
    strangers = pay.join(customers, on="customer_id", how="anti")
    paid = (ctx.applications.lazy().join(strangers.select("payment_id"), on="payment_id", how="semi")
            .group_by("payment_id").agg(pl.col("invoice_id").min().alias("paid_invoice")))
    missing(strangers.join(paid, on="payment_id", how="left"), "payment",
            "customer_id", payment, **pay_keys, customer_id=pl.col("customer_id"), invoice_id=pl.col("paid_invoice"))
    missing(pay.filter(pl.col("invoice_id").is_not_null()).join(invoices, on="invoice_id", how="anti"),
            "payment", "invoice_id", payment, **pay_keys, customer_id=pl.col("customer_id"),
            invoice_id=pl.col("invoice_id"))
    return out
