"""Revenue at month end: billed revenue in the base currency, deferred and unbilled (accrued) revenue, revenue
recognised and the bridge.

Conventions (where the contract is silent):

* Billed revenue of a period is the net (amount - discount) of the lines of the
  non-void invoices *for* that month (their ``period_start`` month), tax excluded
  (on a tax-inclusive invoice, the line's tax_amount is taken off too).
* Converting to the base currency uses the latest ``fx_rates`` row on or before
  the invoice's issue date; the base currency converts at 1; a line without a
  rate is not converted (null) and is listed by :func:`missing_fx_rates`.

Deferred and unbilled revenue follow the ledger (the contract's two consequences for month-end,
:func:`billing_lib.engine.ledger.term_months`):

* A year-term line (:func:`billing_lib.engine.ledger.year_term_flag`) earns its net evenly per day of its
  term, rounded on the cumulative amount, so a term's months add up to its net exactly.
* Its invoice puts the net on deferred revenue (2100) on the issue date; the ledger releases it at month
  ends, from the end of the month the invoice is issued in (that first release catches up every day served
  before). Deferred revenue at a month end is the ledger's 2100 balance and is never negative for a term.
* Days served before the invoice exists are earned and not yet billed: *unbilled* (accrued) revenue, as is
  a month charge whose invoice is issued after its month ends. A credit note takes the year-term lines'
  share of its invoice's net off deferred revenue; a void invoice's postings are reversed on the day the
  ledger reverses them.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from billing_lib.core.fx import RATE, rates, round_base, with_base_amount
from billing_lib.core.money import DECIMAL, ZERO, round_money
from billing_lib.core.periods import month_bounds
from billing_lib.data.dataset import Dataset
from billing_lib.engine import ledger as gl
from billing_lib.engine.rating import expected_charges
from billing_lib.month_end.receivables import receivable_invoices
from billing_lib.month_end.reconcile import document_differences

DIMENSIONS = ("product", "plan_id", "country", "customer_id")


def billed_lines(ds: Dataset, *, voided: bool = False) -> pl.DataFrame:
    """Every line of a non-void invoice with what reporting needs.

    Columns: invoice_id, line_no, customer_id, country, currency, issue_date, void_date,
    billing_month (first day of the invoice's month), subscription_id, plan_id,
    product, billing, interval, line_start, line_end, line_days, quantity,
    unit_price, amount, discount, net, year_term. ``voided`` adds the lines of the void invoices the
    ledger reverses (``void_date`` the day it does; null on other lines).
    """
    inv = receivable_invoices(ds).lazy()
    if not voided:
        inv = inv.filter(pl.col("status") != "void")
    inv = inv.select("invoice_id", "customer_id", "currency", "issue_date", "void_date", "tax_inclusive",
                     pl.col("period_start").dt.month_start().alias("billing_month"))
    customers = ds.frame("customers").select("customer_id", "country")
    plans = ds.frame("plans").select("plan_id", "currency", "product", "billing", "interval")
    lines = ds.frame("invoice_lines").select(
        "invoice_id", "line_no", "subscription_id", "plan_id", pl.col("period_start").alias("line_start"),
        pl.col("period_end").alias("line_end"), "quantity", "unit_price", "amount",
        pl.col("discount").fill_null(ZERO), "tax_amount")
    days = (pl.col("line_end") - pl.col("line_start")).dt.total_days() + 1
    return (lines.join(inv, on="invoice_id", how="inner")
            .join(customers, on="customer_id", how="left")
            .join(plans, on=["plan_id", "currency"], how="left")
            .with_columns(line_days=days, net=gl.line_revenue(pl.col("tax_inclusive")),
                          year_term=gl.year_term_flag(pl.col("interval"), pl.col("line_start"), pl.col("line_end"),
                                                      pl.col("billing_month")))
            .select("invoice_id", "line_no", "customer_id", "country", "currency", "issue_date", "void_date",
                    "billing_month", "subscription_id", "plan_id", "product", "billing", "interval", "line_start",
                    "line_end", "line_days", "quantity", "unit_price", "amount", "discount", "net", "year_term")
            .sort("invoice_id", "line_no").collect())


def _lines_of(ds: Dataset, period: str | dt.date | None) -> pl.DataFrame:
    lines = billed_lines(ds)
    if period is None:
        return lines
    start, _ = month_bounds(period)
    return lines.filter(pl.col("billing_month") == start)


def _converted(lines: pl.DataFrame, ds: Dataset, base_currency: str) -> pl.DataFrame:
    return with_base_amount(lines, rates(ds), base_currency, amount="net", currency="currency",
                            on="issue_date", out="net_base")


def billed_revenue(ds: Dataset, period: str | dt.date | None = None, base_currency: str = "EUR",
                   by: tuple[str, ...] | list[str] = DIMENSIONS) -> pl.DataFrame:
    """Billed revenue (net of discount, before tax) per ``by`` and currency, with its value in the base currency.

    Columns: *by, currency, lines, net, net_base (rounded to the base currency;
    null when a line of the group has no rate), unconverted (lines without a rate).
    ``period`` None takes every month.
    """
    lines = _converted(_lines_of(ds, period), ds, base_currency)
    keys = [*by, "currency"]
    return (lines.group_by(keys).agg(
        lines=pl.len().cast(pl.Int64), net=pl.col("net").sum().cast(DECIMAL),
        net_base=pl.when(pl.col("net_base").is_null().any()).then(None)
        .otherwise(round_base(pl.col("net_base").sum(), base_currency)).first().cast(DECIMAL),
        unconverted=pl.col("net_base").is_null().sum().cast(pl.Int64))
        .sort(keys, nulls_last=True))


def missing_fx_rates(ds: Dataset, period: str | dt.date | None = None, base_currency: str = "EUR") -> pl.DataFrame:
    """The (currency, issue_date) pairs of billed lines with no rate on or before the date, with lines and net."""
    lines = _converted(_lines_of(ds, period), ds, base_currency)
    return (lines.filter(pl.col(RATE).is_null()).group_by("currency", "issue_date")
            .agg(lines=pl.len().cast(pl.Int64), net=pl.col("net").sum().cast(DECIMAL))
            .sort("currency", "issue_date"))


TERM_KEYS = ("invoice_id", "line_no", "customer_id", "subscription_id", "currency", "billing_month")
DEFERRED_MOVES = ("billed_in_advance", "credited", "released", "voided")
ACCRUED_MOVES = ("earned", "invoiced")


def _term_months(ds: Dataset) -> pl.DataFrame:
    """:func:`billing_lib.engine.ledger.term_months` of every year-term line, void ones the ledger reverses
    included (with their ``void_date``)."""
    terms = billed_lines(ds, voided=True).filter(pl.col("year_term")).select(
        *TERM_KEYS, "issue_date", "void_date", pl.col("line_start").alias("term_start"),
        pl.col("line_end").alias("term_end"), "net")
    return gl.term_months(terms).sort("invoice_id", "line_no", "month")


def deferred_schedule(ds: Dataset) -> pl.DataFrame:
    """The recognition and release schedule: one row per year-term line of a non-void invoice and month, from
    the term's first month to the later of its last month and its invoice's month.

    Columns: invoice_id, line_no, customer_id, subscription_id, currency, billing_month, issue_date,
    term_start, term_end, term_days, net, month, days (served in the month), recognised (earned in the month:
    the cumulative share round(net x days served / term_days) less the month before's), cumulative,
    remaining (net - cumulative), released (what the ledger releases from 2100 at the month end), deferred
    (the line's 2100 balance at the month end) and unbilled (earned before the invoice exists).
    """
    return (_term_months(ds).filter(pl.col("void_date").is_null())
            .with_columns(remaining=(pl.col("net") - pl.col("cumulative")).cast(DECIMAL))
            .select(*TERM_KEYS[:-1], "billing_month", "issue_date", "term_start", "term_end", "term_days", "net",
                    "month", "days", "recognised", "cumulative", "remaining", "released", "deferred", "unbilled"))


def deferred_waterfall(ds: Dataset) -> pl.DataFrame:
    """Waterfall per currency and billing month: billed net, then what the ledger releases from deferred
    revenue in each month (one column per month, ``YYYY-MM``); a row adds up to ``billed`` once released."""
    sched = deferred_schedule(ds)
    if sched.is_empty():
        return pl.DataFrame(schema={"currency": pl.String, "billing_month": pl.String, "billed": DECIMAL})
    sched = sched.with_columns(pl.col("billing_month").dt.strftime("%Y-%m"),
                               column=pl.col("month").dt.strftime("%Y-%m"))
    billed = (sched.unique(["invoice_id", "line_no"]).group_by("currency", "billing_month")
              .agg(pl.col("net").sum().cast(DECIMAL).alias("billed")))
    cells = sched.group_by("currency", "billing_month", "column").agg(pl.col("released").sum().cast(DECIMAL))
    wide = cells.sort("column").pivot(on="column", index=["currency", "billing_month"], values="released")
    columns = sorted(c for c in wide.columns if c not in ("currency", "billing_month"))
    return (billed.join(wide, on=["currency", "billing_month"], how="left")
            .with_columns(pl.col(c).fill_null(ZERO) for c in columns)
            .select("currency", "billing_month", "billed", *columns).sort("currency", "billing_month"))


def _credit_note_shares(ds: Dataset) -> pl.DataFrame:
    """Credit notes of non-void invoices with ``deferred``, the part the ledger takes off 2100."""
    amounts = gl.invoice_amounts(ds.frame("invoices").filter(pl.col("status") != "void")
                                 .unique("invoice_id", keep="first", maintain_order=True),
                                 ds.frame("invoice_lines"), ds.frame("plans"))
    return (ds.frame("credit_notes").join(amounts.select("invoice_id", "currency", "year_net", "lines_net"),
                                          on="invoice_id", how="inner")
            .with_columns(deferred=gl.credit_note_deferred(pl.col("amount"), pl.col("year_net"),
                                                           pl.col("lines_net"), pl.col("currency")))
            .collect())


def deferred_events(ds: Dataset) -> pl.DataFrame:
    """Dated movements of deferred revenue (a credit balance, positive), as the ledger books them: invoice_id,
    currency, date, kind (DEFERRED_MOVES), amount, source_type and source_id (the ledger's document)."""
    rows = _term_months(ds)
    terms = rows.unique(["invoice_id", "line_no"], keep="first", maintain_order=True)
    month_end = pl.col("month").dt.month_end()
    live = rows.filter(pl.col("void_date").is_null() | (month_end < pl.col("void_date")))
    released = live.filter(pl.col("released") != 0).select(
        "invoice_id", "currency", month_end.alias("date"), pl.lit("released").alias("kind"),
        (-pl.col("released")).cast(DECIMAL).alias("amount"), pl.lit(gl.REVENUE_RELEASE).alias("source_type"),
        pl.col("invoice_id").alias("source_id"))
    billed = terms.select("invoice_id", "currency", pl.col("issue_date").alias("date"),
                          pl.lit("billed_in_advance").alias("kind"), pl.col("net").cast(DECIMAL).alias("amount"),
                          pl.lit(gl.INVOICE).alias("source_type"), pl.col("invoice_id").alias("source_id"))
    left = released.group_by("invoice_id").agg(pl.col("amount").sum().alias("_released"))
    voided = (terms.filter(pl.col("void_date").is_not_null()).group_by("invoice_id", "currency", "void_date")
              .agg(pl.col("net").sum()).join(left, on="invoice_id", how="left")
              .select("invoice_id", "currency", pl.col("void_date").alias("date"), pl.lit("voided").alias("kind"),
                      (-(pl.col("net") + pl.col("_released").fill_null(ZERO))).cast(DECIMAL).alias("amount"),
                      pl.lit(gl.INVOICE).alias("source_type"), pl.col("invoice_id").alias("source_id")))
    credited = _credit_note_shares(ds).filter(pl.col("deferred") != 0).select(
        "invoice_id", "currency", pl.col("issue_date").alias("date"), pl.lit("credited").alias("kind"),
        (-pl.col("deferred")).cast(DECIMAL).alias("amount"), pl.lit(gl.CREDIT_NOTE).alias("source_type"),
        pl.col("credit_note_id").alias("source_id"))
    return pl.concat([billed, credited, released, voided]).sort("invoice_id", "date", "kind", "source_id")


def _roll(events: pl.DataFrame, start: dt.date, end: dt.date, moves: tuple[str, ...]) -> pl.DataFrame:
    """Per currency: opening (before ``start``), each kind of ``moves`` in the month as a positive figure
    (the first adds, the others take away), closing (up to ``end``) and ``ties``."""
    opening = events.filter(pl.col("date") < start).group_by("currency").agg(pl.col("amount").sum().alias("opening"))
    month = events.filter(pl.col("date").is_between(start, end)).group_by("currency").agg(
        pl.col("amount").filter(pl.col("kind") == moves[0]).sum().alias(moves[0]),
        *[(-pl.col("amount").filter(pl.col("kind") == k).sum()).alias(k) for k in moves[1:]])
    closing = events.filter(pl.col("date") <= end).group_by("currency").agg(pl.col("amount").sum().alias("closing"))
    out = pl.concat([f.select("currency") for f in (opening, month, closing)]).unique()
    for f in (opening, month, closing):
        out = out.join(f, on="currency", how="left")
    money = ("opening", *moves, "closing")
    return (out.with_columns(pl.col(c).fill_null(ZERO).cast(DECIMAL) for c in money)
            .with_columns(ties=pl.col("opening") + pl.col(moves[0]) - pl.sum_horizontal(moves[1:])
                          == pl.col("closing"))
            .select("currency", *money, "ties").sort("currency"))


def deferred_revenue(ds: Dataset, period: str | dt.date) -> pl.DataFrame:
    """Deferred revenue roll-forward per currency: opening + billed_in_advance - credited - released - voided
    = closing.

    ``ties`` says the identity holds; ``ledger_deferred`` is the credit balance of account 2100 at month end
    (null without a ledger) and ``ledger_difference`` ledger - closing.
    """
    start, end = month_bounds(period)
    out = _roll(deferred_events(ds), start, end, DEFERRED_MOVES)
    ledger = gl.account_balance(ds, gl.DEFERRED_REVENUE, end).with_columns(ledger=-pl.col("ledger"))
    if ledger.height:  # a currency with only a ledger balance is a difference too
        out = out.join(ledger.select("currency"), on="currency", how="full", coalesce=True).with_columns(
            pl.col("opening", *DEFERRED_MOVES, "closing").fill_null(ZERO), pl.col("ties").fill_null(True))
    has_ledger = ds.has("gl_entries")
    return (out.join(ledger, on="currency", how="left")
            .with_columns(period=pl.lit(start.strftime("%Y-%m")),
                          ledger_deferred=(pl.col("ledger").fill_null(ZERO) if has_ledger else pl.lit(None))
                          .cast(DECIMAL))
            .with_columns(ledger_difference=(pl.col("ledger_deferred") - pl.col("closing")).cast(DECIMAL))
            .select("period", "currency", "opening", *DEFERRED_MOVES, "closing", "ties", "ledger_deferred",
                    "ledger_difference").sort("currency"))


def deferred_ledger_differences(ds: Dataset, as_of: dt.date) -> pl.DataFrame:
    """The documents whose deferred revenue at ``as_of`` differs from what the ledger holds on 2100 for them
    (invoices, their releases, credit notes, other entries): source_type, source_id, currency, schedule,
    ledger, difference (ledger - schedule, credit balances positive). Empty without a ledger."""
    mine = deferred_events(ds).filter(pl.col("date") <= as_of).select(
        "source_type", "source_id", "currency", pl.col("amount").alias("schedule"))
    theirs = (gl.ledger_lines(ds).filter((pl.col("account") == gl.DEFERRED_REVENUE) & (pl.col("date") <= as_of))
              .select("source_type", "source_id", "currency", (-pl.col("amount")).cast(DECIMAL).alias("ledger"))
              .collect())
    if not ds.has("gl_entries"):
        mine = mine.clear()
    return document_differences(mine, theirs)


def accrued_events(ds: Dataset) -> pl.DataFrame:
    """Dated movements of unbilled (accrued) revenue: revenue earned before its invoice exists.

    A month charge is earned at the end of its month; a year term day by day (the month ends of
    :func:`deferred_schedule`). What is earned before the invoice's issue date is ``earned`` then, and
    ``invoiced`` (taken off) on the issue date. Columns: invoice_id, line_no, customer_id, subscription_id,
    currency, kind (``month`` or ``year term``), service_start, service_end, issue_date, net, date, move
    (ACCRUED_MOVES), amount.
    """
    keys = ["invoice_id", "line_no", "customer_id", "subscription_id", "currency", "kind", "service_start",
            "service_end", "issue_date", "net"]
    months = (billed_lines(ds).filter(~pl.col("year_term")).with_columns(
        kind=pl.lit("month"), service_start=pl.col("line_start"), service_end=pl.col("line_end"),
        date=pl.col("billing_month").dt.month_end(), amount=pl.col("net"))
        .filter(pl.col("issue_date") > pl.col("date")).select(*keys, "date", "amount"))
    terms = (deferred_schedule(ds).with_columns(
        kind=pl.lit("year term"), service_start=pl.col("term_start"), service_end=pl.col("term_end"),
        date=pl.col("month").dt.month_end(), amount=pl.col("recognised"))
        .filter((pl.col("issue_date") > pl.col("date")) & (pl.col("amount") != 0)).select(*keys, "date", "amount"))
    earned = pl.concat([months, terms]).with_columns(move=pl.lit("earned"))
    invoiced = (earned.group_by(keys).agg(pl.col("amount").sum())
                .with_columns(date=pl.col("issue_date"), move=pl.lit("invoiced"),
                              amount=(-pl.col("amount")).cast(DECIMAL)))
    return (pl.concat([earned, invoiced.select(earned.columns)])
            .with_columns(pl.col("amount").cast(DECIMAL)).sort("invoice_id", "line_no", "date", "move"))


def accrued_revenue(ds: Dataset, period: str | dt.date) -> pl.DataFrame:
    """Unbilled (accrued) revenue roll-forward per currency: opening + earned - invoiced = closing, ``ties``."""
    start, end = month_bounds(period)
    events = accrued_events(ds).rename({"move": "kind", "kind": "charge"})
    return _roll(events, start, end, ACCRUED_MOVES).with_columns(period=pl.lit(start.strftime("%Y-%m"))).select(
        "period", "currency", "opening", *ACCRUED_MOVES, "closing", "ties")


def accrued_detail(ds: Dataset, period: str | dt.date) -> pl.DataFrame:
    """The unbilled (accrued) revenue of the month per invoice line: the charges earned before their invoice
    exists that were open at the month's start, earned in it or still open at its end.

    Columns: customer_id, invoice_id, line_no, subscription_id, currency, kind, service_start, service_end,
    issue_date, net, opening, earned, invoiced, closing.
    """
    start, end = month_bounds(period)
    events = accrued_events(ds)
    keys = ["customer_id", "invoice_id", "line_no", "subscription_id", "currency", "kind", "service_start",
            "service_end", "issue_date", "net"]
    in_month = pl.col("date").is_between(start, end)
    return (events.filter(pl.col("date") <= end).group_by(keys).agg(
        pl.col("amount").filter(pl.col("date") < start).sum().cast(DECIMAL).alias("opening"),
        pl.col("amount").filter(in_month & (pl.col("move") == "earned")).sum().cast(DECIMAL).alias("earned"),
        (-pl.col("amount").filter(in_month & (pl.col("move") == "invoiced")).sum()).cast(DECIMAL)
        .alias("invoiced"),
        pl.col("amount").sum().cast(DECIMAL).alias("closing"))
        .filter((pl.col("opening") != 0) | (pl.col("earned") != 0) | (pl.col("closing") != 0))
        .sort("customer_id", "invoice_id", "line_no"))


def unbilled_revenue(ds: Dataset, period: str | dt.date) -> pl.DataFrame:
    """Charges the rating engine expects for the month that no invoice line covers (by subscription and days).

    A charge is covered when a line of a non-void invoice for the same
    subscription overlaps its service days. Charges of zero are left out.
    Columns: customer_id, subscription_id, plan_id, product, currency, kind,
    service_start, service_end, amount, discount, net, tax_amount, total.
    """
    start, _ = month_bounds(period)
    charges = expected_charges(ds, [start]).filter(pl.col("amount") != 0).collect()
    lines = billed_lines(ds).select("subscription_id", "line_start", "line_end")
    covered = (charges.select("subscription_id", "service_start", "service_end")
               .join(lines, on="subscription_id", how="inner")
               .filter((pl.col("line_start") <= pl.col("service_end"))
                       & (pl.col("line_end") >= pl.col("service_start")))
               .select("subscription_id", "service_start", "service_end").unique())
    return (charges.join(covered, on=["subscription_id", "service_start", "service_end"], how="anti")
            .with_columns(net=(pl.col("amount") - pl.col("discount")).cast(DECIMAL))
            .select("customer_id", "subscription_id", "plan_id", "product", "currency", "kind", "service_start",
                    "service_end", "amount", "discount", "net", "tax_amount", "total")
            .sort("customer_id", "subscription_id", "service_start"))


def revenue_recognised(ds: Dataset, period: str | dt.date) -> pl.DataFrame:
    """Revenue earned in the month per currency, split the way Stripe's period summary does.

    ``from_billings``: net of the month's charges other than year terms (the lines of the invoices for the
    month); ``from_deferred``: the days of the month of year terms invoiced by its end (released from
    deferred revenue); ``from_unbilled``: the days of the month of year terms not yet invoiced (accrued);
    ``uninvoiced``: expected charges no invoice covers (:func:`unbilled_revenue`); ``credited``: credit note
    amounts (before tax) issued in the month on non-void invoices; ``total`` = from_billings + from_deferred
    + from_unbilled + uninvoiced - credited.
    """
    start, end = month_bounds(period)
    billed = (_lines_of(ds, start).filter(~pl.col("year_term")).group_by("currency")
              .agg(pl.col("net").sum().alias("from_billings")))
    terms = deferred_schedule(ds).filter(pl.col("month") == start)
    invoiced = pl.col("issue_date") <= end
    released = terms.group_by("currency").agg(
        pl.col("recognised").filter(invoiced).sum().alias("from_deferred"),
        pl.col("recognised").filter(~invoiced).sum().alias("from_unbilled"))
    missing = unbilled_revenue(ds, start).group_by("currency").agg(pl.col("net").sum().alias("uninvoiced"))
    live = ds.frame("invoices").filter(pl.col("status") != "void").select("invoice_id", "currency")
    credited = (ds.frame("credit_notes").filter(pl.col("issue_date").is_between(start, end))
                .join(live, on="invoice_id", how="inner").group_by("currency")
                .agg(pl.col("amount").sum().alias("credited")).collect())
    parts = [billed, released, missing, credited]
    out = pl.concat([p.select("currency") for p in parts]).unique()
    for p in parts:
        out = out.join(p, on="currency", how="left")
    money = ("from_billings", "from_deferred", "from_unbilled", "uninvoiced", "credited")
    return (out.with_columns(pl.col(c).fill_null(ZERO).cast(DECIMAL) for c in money)
            .with_columns(total=(pl.sum_horizontal(money[:-1]) - pl.col("credited")).cast(DECIMAL),
                          period=pl.lit(start.strftime("%Y-%m")))
            .select("period", "currency", *money, "total").sort("currency"))

BRIDGE_PARTS = ("new", "churned", "price", "volume", "proration")


def _per_subscription(lines: pl.DataFrame) -> pl.DataFrame:
    """Net, quantity and full-month net (before proration) per subscription of one month's lines."""
    dim = pl.col("billing_month").dt.days_in_month()
    prorated = (pl.col("interval") == "month") & (pl.col("billing") == "recurring") & ~pl.col("year_term") \
        & (pl.col("line_days") < dim)
    kept = pl.when(pl.col("amount") != 0).then(pl.col("net") / pl.col("amount")) \
        .otherwise(pl.lit(1).cast(DECIMAL))
    full = (pl.when(~prorated).then(pl.col("net"))
            .when(pl.col("unit_price").is_not_null())
            .then(round_money(pl.col("quantity").fill_null(ZERO) * pl.col("unit_price") * kept, pl.col("currency")))
            .otherwise(round_money(pl.col("net") * dim.cast(DECIMAL) / pl.col("line_days").cast(DECIMAL),
                                   pl.col("currency"))))
    key = pl.coalesce("subscription_id", pl.format("{}/{}", "invoice_id", "line_no"))
    return (lines.with_columns(key=key, full=full.cast(DECIMAL))
            .group_by("key", "currency").agg(pl.col("customer_id").first(), pl.col("net").sum().cast(DECIMAL),
                                            pl.col("quantity").fill_null(ZERO).sum().cast(DECIMAL).alias("qty"),
                                            pl.col("full").sum().cast(DECIMAL)))


def revenue_bridge_detail(ds: Dataset, period: str | dt.date) -> pl.DataFrame:
    """Month-on-month change of billed revenue per subscription, split into new, churned, price, volume, proration.

    new: billed this month, not last month; churned: billed last month, not this
    one (negative). For a subscription billed in both months, with F the
    full-month net (before proration) and Q the billed quantity: volume =
    round((Q1 - Q0) x F0 / Q0) (0 when Q0 = 0), price = F1 - F0 - volume (price,
    tier and discount changes), proration = (net1 - net0) - (F1 - F0). The parts
    add up to ``change`` = current - previous exactly.
    """
    start, _ = month_bounds(period)
    prev_start = (start - dt.timedelta(days=1)).replace(day=1)
    lines = billed_lines(ds)
    cur = _per_subscription(lines.filter(pl.col("billing_month") == start))
    prev = _per_subscription(lines.filter(pl.col("billing_month") == prev_start))
    both = prev.join(cur, on=["key", "currency"], how="full", coalesce=True, suffix="_cur")
    has0, has1 = pl.col("net").is_not_null(), pl.col("net_cur").is_not_null()
    n0, n1 = pl.col("net").fill_null(ZERO), pl.col("net_cur").fill_null(ZERO)
    cont = has0 & has1
    volume = pl.when(cont & (pl.col("qty") != 0)).then(
        round_money((pl.col("qty_cur") - pl.col("qty")) * pl.col("full") / pl.col("qty"), pl.col("currency"))
    ).otherwise(ZERO)
    return (both.with_columns(
        customer_id=pl.coalesce("customer_id_cur", "customer_id"),
        previous=n0.cast(DECIMAL), current=n1.cast(DECIMAL), change=(n1 - n0).cast(DECIMAL),
        new=pl.when(~has0).then(n1).otherwise(ZERO).cast(DECIMAL),
        churned=pl.when(~has1).then(-n0).otherwise(ZERO).cast(DECIMAL),
        volume=volume.cast(DECIMAL),
    ).with_columns(
        price=pl.when(cont).then(pl.col("full_cur") - pl.col("full") - pl.col("volume")).otherwise(ZERO)
        .cast(DECIMAL),
        proration=pl.when(cont).then((n1 - n0) - (pl.col("full_cur") - pl.col("full"))).otherwise(ZERO)
        .cast(DECIMAL),
    ).select(pl.lit(start.strftime("%Y-%m")).alias("period"), pl.col("key").alias("subscription_id"),
             "customer_id", "currency", "previous", "current", "change", *BRIDGE_PARTS)
        .sort("currency", "customer_id", "subscription_id"))


def revenue_bridge(ds: Dataset, period: str | dt.date) -> pl.DataFrame:
    """The bridge per currency: previous, the five parts, current, and ``ties`` (previous + parts = current)."""
    detail = revenue_bridge_detail(ds, period)
    money = ("previous", *BRIDGE_PARTS, "current", "change")
    return (detail.group_by("period", "currency").agg(pl.col(c).sum().cast(DECIMAL) for c in money)
            .with_columns(ties=pl.col("previous") + pl.sum_horizontal(BRIDGE_PARTS) == pl.col("current"))
            .select("period", "currency", *money, "ties").sort("currency"))
