"""Accounts receivable at month end: open items, aging, the roll-forward and DSO.

The receivables subledger is built from dated events per invoice (void
invoices are left out entirely):

* ``invoiced``: + total, on the issue date;
* ``collected``: - each payment application, on the payment's received date;
* ``credited``: - each credit note (amount + tax), on its issue date;
* ``written_off``: - the balance left on an ``uncollectible`` invoice, on its
  due date (the contract carries no write-off date; the due date is the
  convention taken here, so a written-off invoice never ages).

The balance of an invoice as of a date is the sum of its events up to and
including that date, which makes the roll-forward tie by construction and the
opening of a month equal the closing of the month before.

Payments are applied by an *applications* frame (payment_id, invoice_id,
amount). By default each payment naming an invoice (``payments.invoice_id``)
is applied whole to it; a payment naming no invoice, an unknown or void one,
or one in another currency stays *unapplied cash* of its customer.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from billing_lib.core.money import DECIMAL, ZERO, round_to
from billing_lib.core.periods import month_bounds
from billing_lib.data.dataset import Dataset
from billing_lib.engine.ledger import RECEIVABLES, account_balance

BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "over_90")
EVENT_KINDS = ("invoiced", "collected", "credited", "written_off")


def _live_invoices(ds: Dataset) -> pl.LazyFrame:
    return ds.frame("invoices").filter(pl.col("status") != "void").select(
        "invoice_id", "customer_id", "currency", "issue_date", "due_date", "status", "total")


def default_applications(ds: Dataset) -> pl.DataFrame:
    """Applications taken from the payments themselves: each payment naming an invoice, applied whole to it."""
    return (ds.frame("payments").filter(pl.col("invoice_id").is_not_null())
            .select("payment_id", "invoice_id", pl.col("amount").cast(DECIMAL)).collect())


def payment_applications(ds: Dataset, applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """Valid applications with their date: payment_id, invoice_id, customer_id, currency, date, amount.

    ``applications`` has payment_id, invoice_id and amount (or ``applied``); None
    takes :func:`default_applications`.

    An application counts when its payment exists and its invoice exists, is not
    void and is in the payment's currency; anything else leaves the cash unapplied.
    """
    if applications is not None and "amount" not in applications.columns and "applied" in applications.columns:
        applications = applications.rename({"applied": "amount"})  # the output of cash_application
    apps = default_applications(ds) if applications is None else applications.select(
        "payment_id", "invoice_id", pl.col("amount").cast(DECIMAL))
    pays = ds.frame("payments").select("payment_id", pl.col("currency").alias("pay_currency"),
                                       pl.col("received_date").alias("date")).collect()
    inv = _live_invoices(ds).select("invoice_id", "customer_id", "currency").collect()
    return (apps.join(pays, on="payment_id", how="inner").join(inv, on="invoice_id", how="inner")
            .filter(pl.col("currency") == pl.col("pay_currency"))
            .select("payment_id", "invoice_id", "customer_id", "currency", "date", "amount"))


def receivable_events(ds: Dataset, applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """Dated signed movements of every non-void invoice: invoice_id, customer_id, currency, date, kind, amount."""
    inv = _live_invoices(ds).collect()
    keys = inv.select("invoice_id", "customer_id", "currency")
    issued = inv.select("invoice_id", "customer_id", "currency", pl.col("issue_date").alias("date"),
                        pl.lit("invoiced").alias("kind"), pl.col("total").cast(DECIMAL).alias("amount"))
    apps = payment_applications(ds, applications).select(
        "invoice_id", "customer_id", "currency", "date", pl.lit("collected").alias("kind"),
        (-pl.col("amount")).cast(DECIMAL).alias("amount"))
    notes = (ds.frame("credit_notes").collect().join(keys, on="invoice_id", how="inner")
             .select("invoice_id", "customer_id", "currency", pl.col("issue_date").alias("date"),
                     pl.lit("credited").alias("kind"),
                     (-(pl.col("amount") + pl.col("tax").fill_null(ZERO))).cast(DECIMAL).alias("amount")))
    moves = pl.concat([issued, apps, notes], how="vertical")
    bad = inv.filter(pl.col("status") == "uncollectible").select("invoice_id", "due_date")
    left = (moves.join(bad, on="invoice_id", how="inner").filter(pl.col("date") <= pl.col("due_date"))
            .group_by("invoice_id").agg(pl.col("amount").sum().alias("left")))
    written = (bad.join(left, on="invoice_id", how="inner").join(keys, on="invoice_id")
               .select("invoice_id", "customer_id", "currency", pl.col("due_date").alias("date"),
                       pl.lit("written_off").alias("kind"), (-pl.col("left")).cast(DECIMAL).alias("amount")))
    return (pl.concat([moves, written], how="vertical")
            .sort("invoice_id", "date", pl.col("kind").replace_strict(EVENT_KINDS, range(4), return_dtype=pl.Int8)))


def open_invoices(ds: Dataset, as_of: dt.date, applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """Each non-void invoice with a movement on or before ``as_of``, its figures up to then and its open balance.

    Columns: invoice_id, customer_id, currency, issue_date, due_date, status, total
    (0 for an invoice issued after ``as_of`` that a payment was already applied
    to), collected, credited, written_off, open_balance = total - collected -
    credited - written_off, days_past_due (``as_of`` - due date; 0 or less means
    not yet due). Invoices with a zero balance are kept.
    """
    events = receivable_events(ds, applications).filter(pl.col("date") <= as_of)
    sums = events.group_by("invoice_id").agg(
        *[pl.col("amount").filter(pl.col("kind") == k).sum().alias(k) for k in EVENT_KINDS],
        pl.col("amount").sum().alias("open_balance"))
    inv = _live_invoices(ds).drop("total").collect()
    return (inv.join(sums, on="invoice_id", how="inner")
            .with_columns(pl.col("invoiced").fill_null(ZERO).cast(DECIMAL).alias("total"),
                          *[(-pl.col(k)).fill_null(ZERO).cast(DECIMAL) for k in EVENT_KINDS[1:]],
                          pl.col("open_balance").cast(DECIMAL),
                          days_past_due=(pl.lit(as_of) - pl.col("due_date")).dt.total_days())
            .select("invoice_id", "customer_id", "currency", "issue_date", "due_date", "status", "total",
                    *EVENT_KINDS[1:], "open_balance", "days_past_due")
            .sort("customer_id", "invoice_id"))


def unapplied_cash(ds: Dataset, as_of: dt.date, applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """Payments received on or before ``as_of`` not (wholly) applied to an invoice.

    Columns: payment_id, customer_id, currency, received_date, amount, applied,
    unapplied, days_held (``as_of`` - received date). Only rows with cash left.
    """
    applied = (payment_applications(ds, applications).group_by("payment_id")
               .agg(pl.col("amount").sum().alias("applied")))
    return (ds.frame("payments").filter(pl.col("received_date") <= as_of).collect()
            .join(applied, on="payment_id", how="left")
            .with_columns(applied=pl.col("applied").fill_null(ZERO).cast(DECIMAL))
            .with_columns(unapplied=(pl.col("amount") - pl.col("applied")).cast(DECIMAL),
                          days_held=(pl.lit(as_of) - pl.col("received_date")).dt.total_days())
            .filter(pl.col("unapplied") != 0)
            .select("payment_id", "customer_id", "currency", "received_date", "amount", "applied", "unapplied",
                    "days_held")
            .sort("customer_id", "payment_id"))


def bucket_expr(days_past_due: pl.Expr) -> pl.Expr:
    """Aging bucket of a days-past-due value: current (<= 0), 1-30, 31-60, 61-90, over 90 (boundaries inclusive)."""
    d = days_past_due
    return (pl.when(d <= 0).then(pl.lit(BUCKETS[0])).when(d <= 30).then(pl.lit(BUCKETS[1]))
            .when(d <= 60).then(pl.lit(BUCKETS[2])).when(d <= 90).then(pl.lit(BUCKETS[3]))
            .otherwise(pl.lit(BUCKETS[4])))


def aging_detail(ds: Dataset, as_of: dt.date, applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """The invoices with a non-zero open balance at ``as_of``, each with its ``bucket``."""
    return (open_invoices(ds, as_of, applications).filter(pl.col("open_balance") != 0)
            .with_columns(bucket=bucket_expr(pl.col("days_past_due"))))


def aging(ds: Dataset, as_of: dt.date, applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """AR aging at ``as_of`` per customer and currency: one column per bucket, total, unapplied cash, net.

    Buckets by days past due (``as_of`` - due date): ``current`` not yet due (<= 0),
    ``days_1_30``, ``days_31_60``, ``days_61_90``, ``over_90``; a credit balance
    (overpaid invoice) counts negative in its bucket. ``net`` = total - unapplied_cash.
    """
    detail = aging_detail(ds, as_of, applications)
    items = detail.group_by("customer_id", "currency").agg(
        *[pl.col("open_balance").filter(pl.col("bucket") == b).sum().alias(b) for b in BUCKETS])
    cash = (unapplied_cash(ds, as_of, applications).group_by("customer_id", "currency")
            .agg(pl.col("unapplied").sum().alias("unapplied_cash")))
    keys = pl.concat([items.select("customer_id", "currency"), cash.select("customer_id", "currency")]).unique()
    return (keys.join(items, on=["customer_id", "currency"], how="left")
            .join(cash, on=["customer_id", "currency"], how="left")
            .with_columns(*[pl.col(c).fill_null(ZERO).cast(DECIMAL) for c in (*BUCKETS, "unapplied_cash")])
            .with_columns(total=pl.sum_horizontal(BUCKETS).cast(DECIMAL))
            .with_columns(net=(pl.col("total") - pl.col("unapplied_cash")).cast(DECIMAL))
            .select("customer_id", "currency", *BUCKETS, "total", "unapplied_cash", "net")
            .sort("customer_id", "currency"))


def roll_forward(ds: Dataset, period: str | dt.date, applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """AR roll-forward of a month per currency: opening + invoiced - collected - credited - written_off = closing.

    ``ties`` says the identity holds. ``unapplied_cash`` is cash received by month
    end not applied to an invoice; the ledger's account 1100 (where every payment
    is credited) should equal closing - unapplied_cash: ``ledger_ar`` and
    ``ledger_difference`` show it (null without a ledger).
    """
    start, end = month_bounds(period)
    events = receivable_events(ds, applications)
    opening = events.filter(pl.col("date") < start).group_by("currency").agg(pl.col("amount").sum().alias("opening"))
    moves = events.filter(pl.col("date").is_between(start, end)).group_by("currency").agg(
        pl.col("amount").filter(pl.col("kind") == "invoiced").sum().alias("invoiced"),
        *[(-pl.col("amount").filter(pl.col("kind") == k).sum()).alias(k) for k in EVENT_KINDS[1:]])
    closing = (open_invoices(ds, end, applications).group_by("currency")
               .agg(pl.col("open_balance").sum().alias("closing")))
    cash = unapplied_cash(ds, end, applications).group_by("currency").agg(
        pl.col("unapplied").sum().alias("unapplied_cash"))
    ledger = account_balance(ds, RECEIVABLES, end)
    keys = pl.concat([f.select("currency") for f in (opening, moves, closing, cash)]).unique()
    money = ("opening", *EVENT_KINDS, "closing", "unapplied_cash")
    out = keys
    for f in (opening, moves, closing, cash):
        out = out.join(f, on="currency", how="left")
    out = out.with_columns(pl.col(c).fill_null(ZERO).cast(DECIMAL) for c in money).join(
        ledger, on="currency", how="left")
    has_ledger = ds.has("gl_entries")
    return out.with_columns(
        period=pl.lit(start.strftime("%Y-%m")),
        ties=(pl.col("opening") + pl.col("invoiced") - pl.col("collected") - pl.col("credited")
              - pl.col("written_off")) == pl.col("closing"),
        ledger_ar=(pl.col("ledger").fill_null(ZERO) if has_ledger else pl.lit(None)).cast(DECIMAL),
    ).with_columns(
        ledger_difference=(pl.col("ledger_ar") - (pl.col("closing") - pl.col("unapplied_cash"))).cast(DECIMAL),
    ).select("period", "currency", *money[:-1], "ties", "unapplied_cash", "ledger_ar", "ledger_difference"
             ).sort("currency")


def dso(ds: Dataset, period: str | dt.date, applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """Days sales outstanding per currency: closing receivables / invoiced in the month x days in the month.

    "Billed" is the invoices issued in the month at their totals (tax included,
    like the receivables); ``dso`` is rounded to 2 decimals and null when nothing
    was invoiced.
    """
    start, end = month_bounds(period)
    rf = roll_forward(ds, start, applications)
    days = (end - start).days + 1
    return rf.select(
        "period", "currency", "closing", "invoiced", pl.lit(days, dtype=pl.Int64).alias("days"),
        dso=pl.when(pl.col("invoiced") != 0)
        .then(round_to(pl.col("closing") * pl.lit(days).cast(DECIMAL) / pl.col("invoiced"), 2)).cast(DECIMAL))
