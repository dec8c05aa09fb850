"""Revenue at month end: billed revenue in the base currency, deferred revenue, recognition, unbilled, bridge.

Conventions (where the contract is silent):

* Billed revenue of a period is the net (amount - discount) of the lines of the
  non-void invoices *for* that month (their ``period_start`` month), tax excluded.
* Converting to the base currency uses the latest ``fx_rates`` row on or before
  the invoice's issue date; the base currency converts at 1; a line without a
  rate is not converted (null) and is listed by :func:`missing_fx_rates`.
* A year-term line is a line whose plan (in the invoice currency) has interval
  ``year``, or whose service days outnumber the days of its invoice's month. Its
  net is recognised evenly per day over its service days; each month releases the
  rounded cumulative share minus the rounded share before it, so the releases of a
  term add up to its net exactly (a 366-day term is split over 366 days).
* Deferred revenue follows the ledger's dates: billed in advance on the invoice's
  issue date, released at each month end. A term starting in a month is invoiced
  on the 1st of the next month, so at the end of its first month the balance can
  be negative (revenue recognised before it is invoiced).
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from billing_lib.core.fx import RATE, rates, round_base, with_base_amount
from billing_lib.core.money import DECIMAL, ZERO, revenue_net, round_money
from billing_lib.core.periods import month_bounds
from billing_lib.data.contract import tax_included
from billing_lib.data.dataset import Dataset
from billing_lib.engine.ledger import DEFERRED_REVENUE, account_balance
from billing_lib.engine.rating import expected_charges

DIMENSIONS = ("product", "plan_id", "country", "customer_id")


def billed_lines(ds: Dataset) -> pl.DataFrame:
    """Every line of a non-void invoice with what reporting needs.

    Columns: invoice_id, line_no, customer_id, country, currency, issue_date,
    billing_month (first day of the invoice's month), subscription_id, plan_id,
    product, billing, interval, line_start, line_end, line_days, quantity,
    unit_price, amount, discount, net, year_term.
    """
    inv = ds.frame("invoices").filter(pl.col("status") != "void").select(
        "invoice_id", "customer_id", "currency", "issue_date",
        pl.col("period_start").dt.month_start().alias("billing_month"), "tax_behavior")
    customers = ds.frame("customers").select("customer_id", "country")
    plans = ds.frame("plans").select("plan_id", "currency", "product", "billing", "interval")
    lines = ds.frame("invoice_lines").select(
        "invoice_id", "line_no", "subscription_id", "plan_id", pl.col("period_start").alias("line_start"),
        pl.col("period_end").alias("line_end"), "quantity", "unit_price", "amount",
        pl.col("discount").fill_null(ZERO), pl.col("tax_amount").fill_null(ZERO))
    days = (pl.col("line_end") - pl.col("line_start")).dt.total_days() + 1
    return (lines.join(inv, on="invoice_id", how="inner")
            .join(customers, on="customer_id", how="left")
            .join(plans, on=["plan_id", "currency"], how="left")
            # revenue: amount less discount, less the tax where the invoice's prices include it
            .with_columns(line_days=days, net=revenue_net(pl.col("amount"), pl.col("discount"), pl.col("tax_amount"),
                                                          tax_included()))
            .with_columns(year_term=(pl.col("interval") == "year").fill_null(False)
                          | (pl.col("line_days") > pl.col("billing_month").dt.days_in_month()))
            .select("invoice_id", "line_no", "customer_id", "country", "currency", "issue_date", "billing_month",
                    "subscription_id", "plan_id", "product", "billing", "interval", "line_start", "line_end",
                    "line_days", "quantity", "unit_price", "amount", "discount", "net", "year_term")
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


def deferred_schedule(ds: Dataset) -> pl.DataFrame:
    """The release schedule: one row per year-term line and calendar month of its service days.

    Columns: invoice_id, line_no, customer_id, subscription_id, currency,
    billing_month, issue_date, term_start, term_end, term_days, net,
    recognition_month, days, recognised, cumulative, remaining. ``cumulative`` is
    round(net x days elapsed by the month end / term_days), ``recognised`` its
    increase in the month; the last month's ``cumulative`` is exactly ``net``.
    """
    terms = billed_lines(ds).filter(pl.col("year_term")).select(
        "invoice_id", "line_no", "customer_id", "subscription_id", "currency", "billing_month", "issue_date",
        pl.col("line_start").alias("term_start"), pl.col("line_end").alias("term_end"),
        pl.col("line_days").alias("term_days"), "net")
    months = terms.with_columns(
        recognition_month=pl.date_ranges(pl.col("term_start").dt.month_start(), pl.col("term_end"), "1mo")
    ).explode("recognition_month")
    elapsed = (pl.min_horizontal(pl.col("recognition_month").dt.month_end(), pl.col("term_end"))
               - pl.col("term_start")).dt.total_days() + 1
    before = pl.max_horizontal((pl.col("recognition_month") - pl.col("term_start")).dt.total_days(), pl.lit(0))

    def share(days: pl.Expr) -> pl.Expr:
        return round_money(pl.col("net") * days.cast(DECIMAL) / pl.col("term_days").cast(DECIMAL), pl.col("currency"))

    return (months.with_columns(days=elapsed - before, cumulative=share(elapsed).cast(DECIMAL),
                                previous=share(before).cast(DECIMAL))
            .with_columns(recognised=(pl.col("cumulative") - pl.col("previous")).cast(DECIMAL),
                          remaining=(pl.col("net") - pl.col("cumulative")).cast(DECIMAL))
            .select("invoice_id", "line_no", "customer_id", "subscription_id", "currency", "billing_month",
                    "issue_date", "term_start", "term_end", "term_days", "net", "recognition_month", "days",
                    "recognised", "cumulative", "remaining")
            .sort("invoice_id", "line_no", "recognition_month"))


def deferred_waterfall(ds: Dataset) -> pl.DataFrame:
    """Waterfall per currency and billing month: billed net, then one column per recognition month (``YYYY-MM``)."""
    sched = deferred_schedule(ds)
    if sched.is_empty():
        return pl.DataFrame(schema={"currency": pl.String, "billing_month": pl.String, "billed": DECIMAL})
    sched = sched.with_columns(pl.col("billing_month").dt.strftime("%Y-%m"),
                               month=pl.col("recognition_month").dt.strftime("%Y-%m"))
    billed = (sched.unique(["invoice_id", "line_no"]).group_by("currency", "billing_month")
              .agg(pl.col("net").sum().cast(DECIMAL).alias("billed")))
    cells = sched.group_by("currency", "billing_month", "month").agg(pl.col("recognised").sum().cast(DECIMAL))
    wide = cells.sort("month").pivot(on="month", index=["currency", "billing_month"], values="recognised")
    columns = sorted(c for c in wide.columns if c not in ("currency", "billing_month"))
    return (billed.join(wide, on=["currency", "billing_month"], how="left")
            .with_columns(pl.col(c).fill_null(ZERO) for c in columns)
            .select("currency", "billing_month", "billed", *columns).sort("currency", "billing_month"))


def deferred_revenue(ds: Dataset, period: str | dt.date) -> pl.DataFrame:
    """Deferred revenue roll-forward per currency: opening + billed_in_advance - recognised = closing.

    ``ties`` says the identity holds; ``ledger_deferred`` is the credit balance of
    account 2100 at month end (null without a ledger) and ``ledger_difference``
    ledger - closing.
    """
    start, end = month_bounds(period)
    sched = deferred_schedule(ds)
    billed = sched.unique(["invoice_id", "line_no"]).select("currency", "issue_date", "net")
    release = sched.select("currency", pl.col("recognition_month").dt.month_end().alias("date"), "recognised")

    def balance(upto: dt.date, name: str) -> pl.DataFrame:
        b = billed.filter(pl.col("issue_date") <= upto).group_by("currency").agg(pl.col("net").sum().alias("b"))
        r = release.filter(pl.col("date") <= upto).group_by("currency").agg(pl.col("recognised").sum().alias("r"))
        return (b.join(r, on="currency", how="full", coalesce=True)
                .select("currency", (pl.col("b").fill_null(ZERO) - pl.col("r").fill_null(ZERO)).alias(name)))

    moves = [balance(start - dt.timedelta(days=1), "opening"),
             billed.filter(pl.col("issue_date").is_between(start, end)).group_by("currency")
             .agg(pl.col("net").sum().alias("billed_in_advance")),
             release.filter(pl.col("date").is_between(start, end)).group_by("currency")
             .agg(pl.col("recognised").sum()),
             balance(end, "closing")]
    out = pl.concat([m.select("currency") for m in moves]).unique()
    for m in moves:
        out = out.join(m, on="currency", how="left")
    money = ("opening", "billed_in_advance", "recognised", "closing")
    ledger = account_balance(ds, DEFERRED_REVENUE, end).with_columns(ledger=-pl.col("ledger"))
    has_ledger = ds.has("gl_entries")
    return (out.with_columns(pl.col(c).fill_null(ZERO).cast(DECIMAL) for c in money)
            .join(ledger, on="currency", how="left")
            .with_columns(period=pl.lit(start.strftime("%Y-%m")),
                          ties=pl.col("opening") + pl.col("billed_in_advance") - pl.col("recognised")
                          == pl.col("closing"),
                          ledger_deferred=(pl.col("ledger").fill_null(ZERO) if has_ledger else pl.lit(None))
                          .cast(DECIMAL))
            .with_columns(ledger_difference=(pl.col("ledger_deferred") - pl.col("closing")).cast(DECIMAL))
            .select("period", "currency", *money, "ties", "ledger_deferred", "ledger_difference").sort("currency"))


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
    """Revenue of the month per currency, split the way Stripe's period summary does.

    ``from_billings``: net of the month's non-year-term lines; ``from_deferred``:
    year-term releases of the month; ``unbilled``: :func:`unbilled_revenue`;
    ``credited``: credit note amounts (before tax) issued in the month on
    non-void invoices; ``total`` = from_billings + from_deferred + unbilled - credited.
    """
    start, end = month_bounds(period)
    billed = (_lines_of(ds, start).filter(~pl.col("year_term")).group_by("currency")
              .agg(pl.col("net").sum().alias("from_billings")))
    released = (deferred_schedule(ds).filter(pl.col("recognition_month") == start).group_by("currency")
                .agg(pl.col("recognised").sum().alias("from_deferred")))
    unbilled = unbilled_revenue(ds, start).group_by("currency").agg(pl.col("net").sum().alias("unbilled"))
    live = ds.frame("invoices").filter(pl.col("status") != "void").select("invoice_id", "currency")
    credited = (ds.frame("credit_notes").filter(pl.col("issue_date").is_between(start, end))
                .join(live, on="invoice_id", how="inner").group_by("currency")
                .agg(pl.col("amount").sum().alias("credited")).collect())
    parts = [billed, released, unbilled, credited]
    out = pl.concat([p.select("currency") for p in parts]).unique()
    for p in parts:
        out = out.join(p, on="currency", how="left")
    money = ("from_billings", "from_deferred", "unbilled", "credited")
    return (out.with_columns(pl.col(c).fill_null(ZERO).cast(DECIMAL) for c in money)
            .with_columns(total=(pl.col("from_billings") + pl.col("from_deferred") + pl.col("unbilled")
                                 - pl.col("credited")).cast(DECIMAL),
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
