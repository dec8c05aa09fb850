"""Invoice-side checks: lines and totals against their own figures and against the contract.

Each check reads shared frames from the :class:`CheckContext` and returns a
lazy frame of findings. They divide the work so that one mistake is reported
once, by the check that owns it:

* a line's own arithmetic (tax from its own amount and rate) is
  ``line_arithmetic``; the rate itself against the one in force is ``tax_mismatch``;
* quantity against seats or metered usage is ``quantity_mismatch``; the price
  (or, where no unit price is shown, the rated amount) on the right quantity
  and days is ``price_mismatch``; days outside the subscription are
  ``billed_outside_term``;
* the discount is judged on the line's own amount, so a wrong amount does not
  also make the discount look wrong.
"""
from __future__ import annotations

import polars as pl

from billing_lib.checks.base import check, findings
from billing_lib.checks.context import CheckContext
from billing_lib.core.money import DECIMAL, ZERO, line_discount, line_tax, number_text, round_money, to_text
from billing_lib.engine.rating import tax_rate_in_force

CUR = pl.col("currency")
# the frames these checks read (lines and invoices, loaded) always carry tax_behavior
INCLUSIVE = (pl.col("tax_behavior") == "inclusive").fill_null(False)


def _money(expr: pl.Expr) -> pl.Expr:
    return to_text(expr, CUR)


def _abs(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr < 0).then(-expr).otherwise(expr).cast(DECIMAL)


def _line_ref() -> pl.Expr:
    return pl.format("Invoice {} line {}", pl.col("invoice_id"), pl.col("line_no"))


def _line_keys() -> dict[str, pl.Expr]:
    return {"customer_id": pl.col("customer_id"), "invoice_id": pl.col("invoice_id"),
            "line_no": pl.col("line_no"), "subscription_id": pl.col("subscription_id"), "period": pl.col("period"),
            "currency": CUR}


def _money_finding(frame: pl.LazyFrame, detail: str, expected: pl.Expr, actual: pl.Expr, at_stake: pl.Expr,
                   message: pl.Expr, keys: dict[str, pl.Expr] | None = None) -> pl.LazyFrame:
    return findings(frame, **(keys or _line_keys()), detail=pl.lit(detail), expected=_money(expected),
                    actual=_money(actual), difference=_money(actual - expected), at_stake=_abs(at_stake),
                    message=message)


def _whole_month(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    return (start.dt.day() == 1) & (end == start.dt.month_end())


@check("line_arithmetic")
def line_arithmetic(ctx: CheckContext) -> pl.LazyFrame:
    """A line whose tax, discount or (per-unit/flat, whole month) amount does not follow from its own figures."""
    lines = ctx.lines.lazy().with_columns(
        _tax=line_tax(pl.col("amount"), pl.col("discount"), pl.col("tax_rate_pct"), CUR, INCLUSIVE))
    tax = pl.col("_tax")
    bad_tax = lines.filter(pl.col("tax_amount").ne_missing(tax))
    rate = number_text(pl.col("tax_rate_pct"))
    share = pl.when(INCLUSIVE).then(pl.format("the {}% included in", rate)).otherwise(pl.format("{}% of", rate))
    out = [_money_finding(
        bad_tax, "tax_amount", tax, pl.col("tax_amount"), pl.col("tax_amount") - tax,
        pl.format("{} shows tax {} {}, but {} its net amount {} is {}.", _line_ref(),
                  _money(pl.col("tax_amount")), CUR, share, _money(pl.col("amount") - pl.col("discount")),
                  _money(tax)))]

    bad_discount = lines.filter((pl.col("discount") < 0) | ((pl.col("amount") >= 0)
                                                            & (pl.col("discount") > pl.col("amount"))))
    out.append(_money_finding(
        bad_discount, "discount", pl.col("amount"), pl.col("discount"),
        pl.col("discount") - pl.col("amount"),
        pl.format("{} shows a discount of {} {} on an amount of {}; a discount lies between 0 and the amount.",
                  _line_ref(), _money(pl.col("discount")), CUR, _money(pl.col("amount")))))

    models = ctx.plans.lazy().select("plan_id", "currency", "charge_model")
    simple = lines.join(models, on=["plan_id", "currency"], how="inner").filter(
        pl.col("charge_model").is_in(["per_unit", "flat"])
        & _whole_month(pl.col("period_start"), pl.col("period_end"))
        & pl.col("quantity").is_not_null() & pl.col("unit_price").is_not_null())
    simple = simple.with_columns(_amount=round_money(pl.col("quantity") * pl.col("unit_price"), CUR))
    amount = pl.col("_amount")
    out.append(_money_finding(
        simple.filter(pl.col("amount") != amount), "amount", amount, pl.col("amount"),
        pl.col("amount") - amount,
        pl.format("{} bills {} {}, but quantity {} x unit price {} is {}.", _line_ref(), _money(pl.col("amount")),
                  CUR, number_text(pl.col("quantity")), _money(pl.col("unit_price")), _money(amount))))
    return pl.concat(out)


@check("invoice_totals")
def invoice_totals(ctx: CheckContext) -> pl.LazyFrame:
    """An invoice whose subtotal, discount or tax is not the sum of its lines, or whose total is not
    subtotal - discount + tax."""
    sums = (ctx.ds.frame("invoice_lines").group_by("invoice_id")
            .agg(line_amount=pl.col("amount").sum(), line_discount=pl.col("discount").sum(),
                 line_tax=pl.col("tax_amount").sum()))
    heads = (ctx.live_invoices.lazy().join(sums, on="invoice_id", how="left")
             .with_columns(pl.col("line_amount", "line_discount", "line_tax").fill_null(ZERO)))
    keys = {"customer_id": pl.col("customer_id"), "invoice_id": pl.col("invoice_id"), "period": pl.col("period"),
            "currency": CUR}
    out = []
    for field, summed, label in (("subtotal", "line_amount", "line amounts"),
                                 ("discount", "line_discount", "line discounts"),
                                 ("tax", "line_tax", "line taxes")):
        bad = heads.filter(pl.col(field) != pl.col(summed))
        out.append(_money_finding(
            bad, field, pl.col(summed), pl.col(field), pl.col(field) - pl.col(summed),
            pl.format("Invoice {} shows {} {} {}, but its {} add up to {}.", pl.col("invoice_id"), pl.lit(field),
                      _money(pl.col(field)), CUR, pl.lit(label), _money(pl.col(summed))), keys))
    # tax on top, or already included in the line amounts (tax_behavior inclusive)
    heads = heads.with_columns(_total=pl.col("subtotal") - pl.col("discount")
                               + pl.when(INCLUSIVE).then(ZERO).otherwise(pl.col("tax")))
    total = pl.col("_total")
    rule = pl.when(INCLUSIVE).then(pl.lit("subtotal - discount (tax included)")) \
        .otherwise(pl.lit("subtotal - discount + tax"))
    out.append(_money_finding(
        heads.filter(pl.col("total") != total), "total", total, pl.col("total"), pl.col("total") - total,
        pl.format("Invoice {} shows total {} {}, but {} is {}.", pl.col("invoice_id"),
                  _money(pl.col("total")), CUR, rule, _money(total)), keys))
    return pl.concat(out)


def _within_days() -> pl.Expr:
    return (pl.col("period_start") >= pl.col("exp_start")) & (pl.col("period_end") <= pl.col("exp_end"))


@check("price_mismatch")
def price_mismatch(ctx: CheckContext) -> pl.LazyFrame:
    """A line rated at another price than the contract: plan price, tier, override or proration."""
    m = ctx.matched.lazy()
    shown_price = m.filter(pl.col("exp_unit_price").is_not_null()
                           & pl.col("unit_price").ne_missing(pl.col("exp_unit_price")))
    out = [_money_finding(
        shown_price, "unit_price", pl.col("exp_unit_price"), pl.col("unit_price"),
        pl.col("amount") - pl.col("exp_amount"),
        pl.format("{} charges unit price {} {} for plan {}, but the contract price is {}.", _line_ref(),
                  _money(pl.col("unit_price")), CUR, pl.col("plan_id"), _money(pl.col("exp_unit_price"))))]
    # same quantity and price, days within the contract's, other amount: a tier, package, percentage or
    # proration rated wrongly, or fewer days billed than due (days beyond them are billed_outside_term's)
    rated = m.filter(pl.col("unit_price").eq_missing(pl.col("exp_unit_price"))
                     & pl.col("quantity").eq_missing(pl.col("exp_quantity")) & _within_days()
                     & (pl.col("amount") != pl.col("exp_amount")))
    # a per-unit or flat line over a whole month whose amount is not quantity x price is line_arithmetic's
    own_arithmetic = pl.col("charge_model").is_in(["per_unit", "flat"]) & _whole_month(
        pl.col("period_start"), pl.col("period_end"))
    rated = rated.filter(~own_arithmetic)
    out.append(_money_finding(
        rated, "amount", pl.col("exp_amount"), pl.col("amount"), pl.col("amount") - pl.col("exp_amount"),
        pl.format("{} bills {} {} for {} {} of plan {} ({}), but the contract rates it at {}.", _line_ref(),
                  _money(pl.col("amount")), CUR, number_text(pl.col("quantity")),
                  pl.when(pl.col("prorated")).then(pl.lit("units, prorated,")).otherwise(pl.lit("units")),
                  pl.col("plan_id"), pl.col("charge_model"), _money(pl.col("exp_amount")))))
    return pl.concat(out)


@check("quantity_mismatch")
def quantity_mismatch(ctx: CheckContext) -> pl.LazyFrame:
    """A billed quantity that differs from the subscription's seats or the metered usage."""
    m = ctx.matched.lazy().filter(pl.col("quantity").ne_missing(pl.col("exp_quantity")))
    source = pl.when(pl.col("kind") == "usage").then(pl.lit("metered usage")).otherwise(pl.lit("subscribed seats"))
    return findings(
        m, **_line_keys(), detail=pl.lit("quantity"), expected=number_text(pl.col("exp_quantity")),
        actual=number_text(pl.col("quantity")), difference=number_text(pl.col("quantity") - pl.col("exp_quantity")),
        at_stake=_abs(pl.col("amount") - pl.col("exp_amount")),
        message=pl.format("{} bills quantity {} for subscription {}, but the {} for {} is {}.", _line_ref(),
                          number_text(pl.col("quantity")), pl.col("subscription_id"), source, pl.col("period"),
                          number_text(pl.col("exp_quantity"))))


@check("discount_mismatch")
def discount_mismatch(ctx: CheckContext) -> pl.LazyFrame:
    """A line whose discount is not the subscription's discount_pct of the line amount (missing or wrong)."""
    m = ctx.matched.lazy().with_columns(_due=line_discount(pl.col("amount"), pl.col("discount_pct"), CUR))
    due = pl.col("_due")
    bad = m.filter(pl.col("discount").ne_missing(due))
    return _money_finding(
        bad, "discount", due, pl.col("discount"), pl.col("discount") - due,
        pl.format("{} gives a discount of {} {}, but subscription {} has {}% off, which is {} on this amount.",
                  _line_ref(), _money(pl.col("discount")), CUR, pl.col("subscription_id"),
                  number_text(pl.col("discount_pct")), _money(due)))


@check("tax_mismatch")
def tax_mismatch(ctx: CheckContext) -> pl.LazyFrame:
    """A tax rate other than the one in force for the customer's country on the issue date, or tax on an
    exempt customer."""
    customers = ctx.ds.frame("customers").select("customer_id", "country", "tax_exempt")
    lines = ctx.lines.lazy().join(customers, on="customer_id", how="inner")
    lines = tax_rate_in_force(ctx.ds, lines.rename({"tax_rate_pct": "line_rate"}))
    bad = lines.filter(pl.col("tax_rate_known") & pl.col("line_rate").ne_missing(pl.col("tax_rate_pct"))) \
        .with_columns(_due=line_tax(pl.col("amount"), pl.col("discount"), pl.col("tax_rate_pct"), CUR,
                                    INCLUSIVE))
    due = pl.col("_due")
    why = pl.when(pl.col("tax_exempt")).then(pl.format("customer {} is tax exempt", pl.col("customer_id"))) \
        .otherwise(pl.format("the rate in force in {} on {} is {}%", pl.col("country"),
                             pl.col("issue_date").dt.strftime("%Y-%m-%d"), number_text(pl.col("tax_rate_pct"))))
    return findings(
        bad, **_line_keys(), detail=pl.lit("tax_rate_pct"), expected=number_text(pl.col("tax_rate_pct")),
        actual=number_text(pl.col("line_rate")), difference=number_text(pl.col("line_rate") - pl.col("tax_rate_pct")),
        at_stake=_abs(pl.col("tax_amount") - due),
        message=pl.format("{} charges tax at {}%, but {}.", _line_ref(), number_text(pl.col("line_rate")), why))


@check("unbilled_charge")
def unbilled_charge(ctx: CheckContext) -> pl.LazyFrame:
    """A billable subscription-month (recurring charge, year term or usage) with no invoice line."""
    billed = ctx.ranked_lines.lazy().select("subscription_id", "period").unique()
    missing = ctx.expected.lazy().filter(pl.col("amount") != 0).join(billed, on=["subscription_id", "period"],
                                                                      how="anti")
    what = pl.when(pl.col("kind") == "usage").then(pl.lit("usage")) \
        .when(pl.col("kind") == "year_term").then(pl.lit("annual term")).otherwise(pl.lit("subscription"))
    return findings(
        missing, customer_id=pl.col("customer_id"), subscription_id=pl.col("subscription_id"),
        period=pl.col("period"), currency=CUR, detail=pl.col("kind"), expected=_money(pl.col("total")),
        actual=_money(ZERO), difference=_money(-pl.col("total")), at_stake=pl.col("total"),
        message=pl.format("The {} charge of subscription {} (plan {}) for {} is {} {} but no invoice line bills it.",
                          what, pl.col("subscription_id"), pl.col("plan_id"), pl.col("period"),
                          _money(pl.col("total")), CUR))


@check("duplicate_charge")
def duplicate_charge(ctx: CheckContext) -> pl.LazyFrame:
    """The same subscription and service days billed twice (a line overlapping one issued before it)."""
    dup = ctx.repeated_lines.lazy()
    total = pl.col("amount") - pl.col("discount") + pl.when(INCLUSIVE).then(ZERO).otherwise(pl.col("tax_amount"))
    return findings(
        dup, **_line_keys(), detail=pl.lit("duplicate"), expected=_money(ZERO), actual=_money(total),
        difference=_money(total), at_stake=total,
        message=pl.format("{} bills subscription {} for {} to {} again; invoice {} line {} already bills {} to {}.",
                          _line_ref(), pl.col("subscription_id"), pl.col("period_start").dt.strftime("%Y-%m-%d"),
                          pl.col("period_end").dt.strftime("%Y-%m-%d"), pl.col("first_invoice_id"),
                          pl.col("first_line_no"), pl.col("first_period_start").dt.strftime("%Y-%m-%d"),
                          pl.col("first_period_end").dt.strftime("%Y-%m-%d")))


@check("billed_outside_term")
def billed_outside_term(ctx: CheckContext) -> pl.LazyFrame:
    """A charge for days outside the subscription's active days."""
    subs = ctx.ds.frame("subscriptions").select("subscription_id", "start_date", "end_date")
    plans = ctx.plans.lazy().select("plan_id", "currency", "interval", "billing")
    # every subscription line but those already reported as duplicates
    repeated = ctx.repeated_lines.lazy().select("invoice_id", "line_no")
    lines = (ctx.ranked_lines.lazy().join(repeated, on=["invoice_id", "line_no"], how="anti")
             .join(subs, on="subscription_id", how="inner")
             .join(plans, on=["plan_id", "currency"], how="left"))
    year_term = (pl.col("interval") == "year") & (pl.col("billing") == "recurring")
    # a year term runs past an end date by design; only where it starts counts
    ends_late = pl.col("end_date").is_not_null() & ~year_term.fill_null(False) & (
        pl.col("period_end") > pl.col("end_date"))
    starts_outside = (pl.col("period_start") < pl.col("start_date")) | (
        pl.col("end_date").is_not_null() & (pl.col("period_start") > pl.col("end_date")))
    bad = lines.filter(starts_outside | ends_late)
    # the first line of the month is measured against the month's charge; a further line is wholly extra
    exp = ctx.expected.lazy().select("subscription_id", "period", pl.col("amount").alias("exp_amount"))
    bad = bad.join(exp, on=["subscription_id", "period"], how="left").with_columns(
        exp_amount=pl.when(pl.col("rank") == 1).then(pl.col("exp_amount")).otherwise(ZERO))
    active = pl.format("{} to {}", pl.col("start_date").dt.strftime("%Y-%m-%d"),
                       pl.col("end_date").dt.strftime("%Y-%m-%d").fill_null("open"))
    billed = pl.format("{} to {}", pl.col("period_start").dt.strftime("%Y-%m-%d"),
                       pl.col("period_end").dt.strftime("%Y-%m-%d"))
    return findings(
        bad, **_line_keys(), detail=pl.lit("service_days"), expected=active, actual=billed,
        difference=_money(pl.col("amount") - pl.col("exp_amount").fill_null(ZERO)),
        at_stake=_abs(pl.col("amount") - pl.col("exp_amount").fill_null(ZERO)),
        message=pl.format("{} bills subscription {} for {}, but it is active only {}.", _line_ref(),
                          pl.col("subscription_id"), billed, active))


@check("currency_mismatch")
def currency_mismatch(ctx: CheckContext) -> pl.LazyFrame:
    """An invoice or payment in another currency than the customer's."""
    customers = ctx.ds.frame("customers").select("customer_id", pl.col("currency").alias("customer_currency"))
    inv = ctx.live_invoices.lazy().join(customers, on="customer_id", how="inner").filter(
        pl.col("currency") != pl.col("customer_currency"))
    out = [findings(
        inv, customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"), period=pl.col("period"),
        detail=pl.lit("invoice"), expected=pl.col("customer_currency"), actual=CUR, currency=CUR,
        at_stake=pl.col("total"),
        message=pl.format("Invoice {} is in {}, but customer {} is billed in {}.", pl.col("invoice_id"), CUR,
                          pl.col("customer_id"), pl.col("customer_currency")))]
    pay = ctx.payments.lazy().join(customers, on="customer_id", how="inner").filter(
        pl.col("currency") != pl.col("customer_currency"))
    out.append(findings(
        pay, customer_id=pl.col("customer_id"), payment_id=pl.col("payment_id"), invoice_id=pl.col("invoice_id"),
        period=pl.col("received_date").dt.strftime("%Y-%m"), detail=pl.lit("payment"),
        expected=pl.col("customer_currency"), actual=CUR, currency=CUR, at_stake=pl.col("amount"),
        message=pl.format("Payment {} is in {}, but customer {} is billed in {}.", pl.col("payment_id"), CUR,
                          pl.col("customer_id"), pl.col("customer_currency"))))
    return pl.concat(out)
