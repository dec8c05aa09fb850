"""Accounts receivable at month end, as the ledger books them: open items, aging, write-offs, roll-forward, DSO.

The receivables subledger is built from dated events per invoice:

* ``invoiced``: + total, on the issue date;
* ``collected``: - each payment application, on the payment's received date;
* ``credited``: - each credit note (amount + tax), on its issue date;
* ``written_off``: - each write-off the ledger makes (a ``manual`` entry Dr 6100, Cr 1100 naming the
  invoice), on its date. An ``uncollectible`` invoice stays a receivable, shown as *doubtful*, until then;
  without a ledger nothing is written off;
* ``voided``: - total of a ``void`` invoice, on the day the ledger reverses its postings. A void invoice is a
  receivable from its issue until then; one the ledger never reverses (or any, without a ledger) counts not
  at all.

The balance of an invoice as of a date is the sum of its events up to and including that date, which makes
the roll-forward tie by construction and the opening of a month equal the closing of the month before.
Every payment is credited to 1100 when received, so receivables less unapplied cash equal the ledger's 1100
balance: :func:`ledger_differences` lists the documents where they do not.

Payments are applied by an *applications* frame (payment_id, invoice_id, amount or ``applied``). By default
it is :func:`billing_lib.engine.cash_application.apply_payments`, the cash application the audit uses (the
invoice the payer named, invoice numbers in the bank reference, then the amount). An application counts when
its invoice exists, is not void and is in the payment's currency; cash not applied is *unapplied cash* of
its customer.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from billing_lib.core.money import DECIMAL, ZERO, round_to
from billing_lib.core.periods import month_bounds
from billing_lib.data.dataset import Dataset
from billing_lib.engine import ledger as gl
from billing_lib.engine.cash_application import apply_payments
from billing_lib.month_end.reconcile import document_differences

BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "over_90")
DOUBTFUL = "doubtful"
CREDIT_BALANCE = "credit_balance"
EVENT_KINDS = ("invoiced", "collected", "credited", "written_off", "voided")
EVENT_SOURCE = {"invoiced": gl.INVOICE, "collected": gl.PAYMENT, "credited": gl.CREDIT_NOTE,
                "written_off": gl.MANUAL, "voided": gl.INVOICE}


def receivable_invoices(ds: Dataset) -> pl.DataFrame:
    """The invoices that are receivables at some time: invoice_id, customer_id, currency, issue_date,
    due_date, period_start, status, total, tax_inclusive, void_date (null unless void: the day the ledger
    reverses it)."""
    invoices = ds.frame("invoices")
    inv = invoices.select("invoice_id", "customer_id", "currency", "issue_date", "due_date", "period_start",
                          "status", pl.col("total").cast(DECIMAL),
                          gl.tax_inclusive(invoices).alias("tax_inclusive")).collect()
    voids = gl.void_dates(ds) if ds.has("gl_entries") else pl.DataFrame(
        schema={"invoice_id": pl.String, "void_date": pl.Date})
    return (inv.join(voids, on="invoice_id", how="left")
            .filter((pl.col("status") != "void") | pl.col("void_date").is_not_null()))


def default_applications(ds: Dataset) -> pl.DataFrame:
    """The audit's cash application of the dataset: payment_id, invoice_id, amount."""
    apps = apply_payments(ds.frame("invoices"), ds.frame("payments"), ds.frame("credit_notes"))
    return apps.select("payment_id", "invoice_id", pl.col("applied").cast(DECIMAL).alias("amount"))


def payment_applications(ds: Dataset, applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """Valid applications with their date: payment_id, invoice_id, customer_id, currency, date, amount.

    ``applications`` has payment_id, invoice_id and amount (or ``applied``); None takes
    :func:`default_applications`. An application counts when its payment exists and its invoice exists, is
    not void and is in the payment's currency; anything else leaves the cash unapplied.
    """
    if applications is not None and "amount" not in applications.columns and "applied" in applications.columns:
        applications = applications.rename({"applied": "amount"})  # the output of cash_application
    apps = default_applications(ds) if applications is None else applications.select(
        "payment_id", "invoice_id", pl.col("amount").cast(DECIMAL))
    pays = ds.frame("payments").select("payment_id", pl.col("currency").alias("pay_currency"),
                                       pl.col("received_date").alias("date")).collect()
    inv = receivable_invoices(ds).filter(pl.col("status") != "void").select("invoice_id", "customer_id",
                                                                            "currency")
    return (apps.join(pays, on="payment_id", how="inner").join(inv, on="invoice_id", how="inner")
            .filter(pl.col("currency") == pl.col("pay_currency"))
            .select("payment_id", "invoice_id", "customer_id", "currency", "date", "amount"))


def write_offs(ds: Dataset) -> pl.DataFrame:
    """The ledger's write-offs (manual entries Dr 6100, Cr 1100), each with the invoice it names.

    Columns: entry_id, date, invoice_id (null when the entry names no invoice of the dataset in its
    currency), customer_id, currency, amount, status (the invoice's). Empty without a ledger.
    """
    entries = gl.write_off_entries(ds)
    inv = receivable_invoices(ds).filter(pl.col("status") != "void").select(
        pl.col("invoice_id").alias("source_id"), "currency", "customer_id", "status")
    return (entries.join(inv, on=["source_id", "currency"], how="left")
            .with_columns(invoice_id=pl.when(pl.col("status").is_not_null()).then(pl.col("source_id")))
            .select("entry_id", "date", "invoice_id", "customer_id", "currency", "amount", "status")
            .sort("date", "entry_id", "invoice_id", nulls_last=True))


def receivable_events(ds: Dataset, applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """Dated signed movements of every receivable invoice: invoice_id, customer_id, currency, date, kind,
    amount, source_id (the document behind the movement)."""
    inv = receivable_invoices(ds)
    keys = inv.select("invoice_id", "customer_id", "currency")
    issued = inv.select("invoice_id", "customer_id", "currency", pl.col("issue_date").alias("date"),
                        pl.lit("invoiced").alias("kind"), pl.col("total").alias("amount"),
                        pl.col("invoice_id").alias("source_id"))
    voided = inv.filter(pl.col("void_date").is_not_null()).select(
        "invoice_id", "customer_id", "currency", pl.col("void_date").alias("date"), pl.lit("voided").alias("kind"),
        (-pl.col("total")).cast(DECIMAL).alias("amount"), pl.col("invoice_id").alias("source_id"))
    apps = payment_applications(ds, applications).select(
        "invoice_id", "customer_id", "currency", "date", pl.lit("collected").alias("kind"),
        (-pl.col("amount")).cast(DECIMAL).alias("amount"), pl.col("payment_id").alias("source_id"))
    live = keys.join(inv.filter(pl.col("status") != "void").select("invoice_id"), on="invoice_id", how="semi")
    notes = (ds.frame("credit_notes").collect().join(live, on="invoice_id", how="inner")
             .select("invoice_id", "customer_id", "currency", pl.col("issue_date").alias("date"),
                     pl.lit("credited").alias("kind"),
                     (-(pl.col("amount") + pl.col("tax").fill_null(ZERO))).cast(DECIMAL).alias("amount"),
                     pl.col("credit_note_id").alias("source_id")))
    written = write_offs(ds).filter(pl.col("invoice_id").is_not_null()).select(
        "invoice_id", "customer_id", "currency", "date", pl.lit("written_off").alias("kind"),
        (-pl.col("amount")).cast(DECIMAL).alias("amount"), pl.col("invoice_id").alias("source_id"))
    order = pl.col("kind").replace_strict(EVENT_KINDS, range(len(EVENT_KINDS)), return_dtype=pl.Int8)
    return pl.concat([issued, apps, notes, written, voided], how="vertical").sort("invoice_id", "date", order,
                                                                                 "source_id")


def open_invoices(ds: Dataset, as_of: dt.date, applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """Each receivable invoice with a movement on or before ``as_of``, its figures up to then and its balance.

    Columns: invoice_id, customer_id, currency, issue_date, due_date, status, total (0 for an invoice issued
    after ``as_of`` that a payment was already applied to), collected, credited, written_off, voided,
    open_balance = total - collected - credited - written_off - voided, days_past_due (``as_of`` - due date;
    0 or less means not yet due). Invoices with a zero balance are kept.
    """
    events = receivable_events(ds, applications).filter(pl.col("date") <= as_of)
    sums = events.group_by("invoice_id").agg(
        *[pl.col("amount").filter(pl.col("kind") == k).sum().alias(k) for k in EVENT_KINDS],
        pl.col("amount").sum().alias("open_balance"))
    inv = receivable_invoices(ds).drop("total", "void_date", "period_start", "tax_inclusive")
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

    Columns: payment_id, customer_id, currency, received_date, amount, applied, unapplied, days_held
    (``as_of`` - received date). Only rows with cash left.
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
    """The invoices with a non-zero open balance at ``as_of``, each with its ``bucket``: ``credit_balance``
    when overpaid, ``doubtful`` when ``uncollectible`` (and not written off), else by days past due."""
    return (open_invoices(ds, as_of, applications).filter(pl.col("open_balance") != 0)
            .with_columns(bucket=pl.when(pl.col("open_balance") < 0).then(pl.lit(CREDIT_BALANCE))
                          .when(pl.col("status") == "uncollectible").then(pl.lit(DOUBTFUL))
                          .otherwise(bucket_expr(pl.col("days_past_due")))))


def aging(ds: Dataset, as_of: dt.date, applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """AR aging at ``as_of`` per customer and currency.

    Columns: one per bucket of what customers owe by days past due (``current`` not yet due, ``days_1_30``,
    ``days_31_60``, ``days_61_90``, ``over_90``), ``doubtful`` (uncollectible invoices not written off),
    ``total`` (their sum: every bucket is owed money, so over_90 never exceeds it), ``credit_balance`` (what
    overpaid invoices owe back to the customer, positive), ``unapplied_cash`` and ``net`` = total -
    credit_balance - unapplied_cash, the customer's share of the ledger's 1100 balance.
    """
    applications = payment_applications(ds, applications)
    detail = aging_detail(ds, as_of, applications)
    owed = (*BUCKETS, DOUBTFUL)
    items = detail.group_by("customer_id", "currency").agg(
        *[pl.col("open_balance").filter(pl.col("bucket") == b).sum().alias(b) for b in owed],
        (-pl.col("open_balance").filter(pl.col("bucket") == CREDIT_BALANCE).sum()).alias(CREDIT_BALANCE))
    cash = (unapplied_cash(ds, as_of, applications).group_by("customer_id", "currency")
            .agg(pl.col("unapplied").sum().alias("unapplied_cash")))
    keys = pl.concat([items.select("customer_id", "currency"), cash.select("customer_id", "currency")]).unique()
    return (keys.join(items, on=["customer_id", "currency"], how="left")
            .join(cash, on=["customer_id", "currency"], how="left")
            .with_columns(*[pl.col(c).fill_null(ZERO).cast(DECIMAL) for c in (*owed, CREDIT_BALANCE,
                                                                             "unapplied_cash")])
            .with_columns(total=pl.sum_horizontal(owed).cast(DECIMAL))
            .with_columns(net=(pl.col("total") - pl.col(CREDIT_BALANCE) - pl.col("unapplied_cash")).cast(DECIMAL))
            .select("customer_id", "currency", *owed, "total", CREDIT_BALANCE, "unapplied_cash", "net")
            .sort("customer_id", "currency"))


def month_write_offs(ds: Dataset, period: str | dt.date, applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """The ledger's write-offs dated in the month (see :func:`write_offs`), with what the invoice still owed
    before it (``balance_before``) and after it (``balance_after``; null for an entry naming no invoice)."""
    start, end = month_bounds(period)
    month = write_offs(ds).filter(pl.col("date").is_between(start, end))
    events = receivable_events(ds, applications).select("invoice_id", "date", "amount")
    after = (month.select("entry_id", "invoice_id", pl.col("date").alias("upto")).drop_nulls("invoice_id")
             .join(events, on="invoice_id").filter(pl.col("date") <= pl.col("upto"))
             .group_by("entry_id").agg(pl.col("amount").sum().cast(DECIMAL).alias("balance_after")))
    return (month.join(after, on="entry_id", how="left")
            .with_columns(balance_before=(pl.col("balance_after") + pl.col("amount")).cast(DECIMAL))
            .select("entry_id", "date", "invoice_id", "customer_id", "currency", "status", "balance_before",
                    "amount", "balance_after"))


def roll_forward(ds: Dataset, period: str | dt.date, applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """AR roll-forward of a month per currency: opening + invoiced - collected - credited - written_off -
    voided = closing.

    ``ties`` says the identity holds. ``unapplied_cash`` is cash received by month end not applied to an
    invoice; the ledger's account 1100 (where every payment is credited) should equal closing -
    unapplied_cash: ``ledger_ar`` and ``ledger_difference`` (ledger - schedule) show it (null without a ledger).
    """
    start, end = month_bounds(period)
    applications = payment_applications(ds, applications)
    events = receivable_events(ds, applications)
    opening = events.filter(pl.col("date") < start).group_by("currency").agg(pl.col("amount").sum().alias("opening"))
    moves = events.filter(pl.col("date").is_between(start, end)).group_by("currency").agg(
        pl.col("amount").filter(pl.col("kind") == "invoiced").sum().alias("invoiced"),
        *[(-pl.col("amount").filter(pl.col("kind") == k).sum()).alias(k) for k in EVENT_KINDS[1:]])
    closing = (events.filter(pl.col("date") <= end).group_by("currency")
               .agg(pl.col("amount").sum().alias("closing")))
    cash = unapplied_cash(ds, end, applications).group_by("currency").agg(
        pl.col("unapplied").sum().alias("unapplied_cash"))
    ledger = gl.account_balance(ds, gl.RECEIVABLES, end)
    keys = pl.concat([f.select("currency") for f in (opening, moves, closing, cash, ledger)]).unique()
    money = ("opening", *EVENT_KINDS, "closing", "unapplied_cash")
    out = keys
    for f in (opening, moves, closing, cash):
        out = out.join(f, on="currency", how="left")
    out = out.with_columns(pl.col(c).fill_null(ZERO).cast(DECIMAL) for c in money).join(
        ledger, on="currency", how="left")
    has_ledger = ds.has("gl_entries")
    return out.with_columns(
        period=pl.lit(start.strftime("%Y-%m")),
        ties=(pl.col("opening") + pl.col("invoiced") - pl.sum_horizontal(EVENT_KINDS[1:])) == pl.col("closing"),
        ledger_ar=(pl.col("ledger").fill_null(ZERO) if has_ledger else pl.lit(None)).cast(DECIMAL),
    ).with_columns(
        ledger_difference=(pl.col("ledger_ar") - (pl.col("closing") - pl.col("unapplied_cash"))).cast(DECIMAL),
    ).select("period", "currency", *money[:-1], "ties", "unapplied_cash", "ledger_ar", "ledger_difference"
             ).sort("currency")


def ledger_differences(ds: Dataset, as_of: dt.date, applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """The documents whose receivable at ``as_of`` differs from what the ledger holds on 1100 for them.

    Schedule side: each invoice's total (less its reversal once voided), each credit note, each write-off and
    each payment received (applied or not: 1100 is credited with all of it). Ledger side: the 1100 lines up
    to ``as_of`` per source. Columns: source_type, source_id, currency, schedule, ledger, difference (ledger -
    schedule); they add up to the roll-forward's ``ledger_difference``. Empty without a ledger.
    """
    if not ds.has("gl_entries"):
        return document_differences(pl.DataFrame(schema={"source_type": pl.String, "source_id": pl.String,
                                                         "currency": pl.String, "schedule": DECIMAL}),
                                    pl.DataFrame(schema={"source_type": pl.String, "source_id": pl.String,
                                                         "currency": pl.String, "ledger": DECIMAL}))
    events = receivable_events(ds, applications).filter((pl.col("date") <= as_of) & (pl.col("kind") != "collected"))
    mine = events.select(pl.col("kind").replace_strict(EVENT_SOURCE).alias("source_type"), "source_id",
                         "currency", pl.col("amount").alias("schedule"))
    pays = ds.frame("payments").filter(pl.col("received_date") <= as_of).select(
        pl.lit(gl.PAYMENT).alias("source_type"), pl.col("payment_id").alias("source_id"), "currency",
        (-pl.col("amount")).cast(DECIMAL).alias("schedule")).collect()
    theirs = (gl.ledger_lines(ds).filter((pl.col("account") == gl.RECEIVABLES) & (pl.col("date") <= as_of))
              .select("source_type", "source_id", "currency", pl.col("amount").alias("ledger")).collect())
    return document_differences(pl.concat([mine, pays]), theirs)


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
