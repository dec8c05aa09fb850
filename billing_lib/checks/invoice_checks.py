"""Invoice-side checks: lines and totals against their own figures and against the contract.

Each check reads shared frames from the :class:`~billing_lib.checks.context.CheckContext` and returns its
kinds of finding. They divide the work so that one mistake is reported once, by the check that owns it:

* a line's own arithmetic (tax from its own amount and rate) is ``line_arithmetic``; the rate itself against
  the one in force is ``tax_mismatch``;
* quantity against seats or metered usage is ``quantity_mismatch``; the price (or, where no unit price is
  shown, the rated amount) on the right quantity and days is ``price_mismatch``; days outside the
  subscription are ``billed_outside_term``;
* the discount is judged on the line's own amount, so a wrong amount does not also make the discount look
  wrong;
* a line that bills days an earlier line already bills is ``duplicate_charge`` only, not also
  ``billed_outside_term``;
* an invoice is its number and its customer: where two customers carry one number (``invoice_number_gap``),
  each invoice keeps its own lines (a line goes to the invoice of the customer whose subscription it bills,
  else to the number's first invoice), so ``invoice_totals`` compares each header with its own lines.
"""
from __future__ import annotations

import polars as pl

from billing_lib.checks.base import Finding, check, finding
from billing_lib.checks.context import INVOICE_KEY, CheckContext
from billing_lib.checks.evidence import Evidence, Explanation, decimal
from billing_lib.checks.figures import CUR, Figure, choose, day, money, month, number, text
from billing_lib.core.money import DECIMAL, ZERO, line_discount, line_tax, round_money
from billing_lib.data.contract import UNKNOWN_COUNTRY
from billing_lib.engine.rating import tax_rate_in_force

# the frames these checks read (lines and invoices, loaded) always carry tax_behavior
INCLUSIVE = (pl.col("tax_behavior") == "inclusive").fill_null(False)


def _abs(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr < 0).then(-expr).otherwise(expr).cast(DECIMAL)


def _line_ref() -> Figure:
    return text("Invoice {invoice} line {line}", invoice=pl.col("invoice_id"), line=pl.col("line_no"))


def _line_keys() -> dict[str, pl.Expr]:
    return {"customer_id": pl.col("customer_id"), "invoice_id": pl.col("invoice_id"),
            "line_no": pl.col("line_no"), "subscription_id": pl.col("subscription_id"), "period": pl.col("period"),
            "currency": CUR}


def _money_finding(frame: pl.LazyFrame, detail: str, expected: pl.Expr, actual: pl.Expr, at_stake: pl.Expr,
                   message: Figure, keys: dict[str, pl.Expr] | None = None) -> Finding:
    return finding(frame, **(keys or _line_keys()), detail=detail, expected=money(expected), actual=money(actual),
                   difference=money(actual - expected), at_stake=_abs(at_stake), message=message)


def _whole_month(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    return (start.dt.day() == 1) & (end == start.dt.month_end())


@check("line_arithmetic", title="Line arithmetic",
       explain=Explanation("The line's own figures do not add up (tax, discount or amount).", "manual edit",
                           "a computed figure was overwritten by hand"),
       reads=("every_line", "lines", "plans"))
def line_arithmetic(ctx: CheckContext) -> list[Finding]:
    """A line whose tax, discount or (per-unit/flat, whole month) amount does not follow from its own figures."""
    lines = ctx.lines.lazy().with_columns(
        _tax=line_tax(pl.col("amount"), pl.col("discount"), pl.col("tax_rate_pct"), CUR, INCLUSIVE))
    tax = pl.col("_tax")
    bad_tax = lines.filter(pl.col("tax_amount").ne_missing(tax))
    out = [_money_finding(
        bad_tax, "tax_amount", tax, pl.col("tax_amount"), pl.col("tax_amount") - tax,
        text("{line} shows tax {shown} {currency}, but {share} its net amount {net} is {due}.", line=_line_ref(),
             shown=money(pl.col("tax_amount")), currency=CUR,
             share=choose((INCLUSIVE, text("the {rate}% included in", rate=number(pl.col("tax_rate_pct")))),
                          otherwise=text("{rate}% of", rate=number(pl.col("tax_rate_pct")))),
             net=money(pl.col("amount") - pl.col("discount")), due=money(tax)))]

    bad_discount = lines.filter((pl.col("discount") < 0) | ((pl.col("amount") >= 0)
                                                            & (pl.col("discount") > pl.col("amount"))))
    out.append(_money_finding(
        bad_discount, "discount", pl.col("amount"), pl.col("discount"),
        pl.col("discount") - pl.col("amount"),
        text("{line} shows a discount of {discount} {currency} on an amount of {amount}; a discount lies between 0 "
             "and the amount.", line=_line_ref(), discount=money(pl.col("discount")), currency=CUR,
             amount=money(pl.col("amount")))))

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
        text("{line} bills {billed} {currency}, but quantity {quantity} x unit price {price} is {due}.",
             line=_line_ref(), billed=money(pl.col("amount")), currency=CUR, quantity=number(pl.col("quantity")),
             price=money(pl.col("unit_price")), due=money(amount))))
    return out


@check("invoice_totals", title="Invoice totals",
       explain=Explanation("The invoice header does not equal the sum of its lines.", "manual edit",
                           "the header was changed after the lines were computed"),
       reads=("every_line", "invoices", "lines", "live_invoices"))
def invoice_totals(ctx: CheckContext) -> list[Finding]:
    """An invoice whose subtotal, discount or tax is not the sum of its lines, or whose total is not
    subtotal - discount + tax."""
    # an invoice is its number and its customer: where two customers carry a number, each has its own lines
    sums = (ctx.lines.lazy().group_by(INVOICE_KEY)
            .agg(line_amount=pl.col("amount").sum(), line_discount=pl.col("discount").sum(),
                 line_tax=pl.col("tax_amount").sum()))
    heads = (ctx.live_invoices.lazy().join(sums, on=INVOICE_KEY, how="left")
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
            text(f"Invoice {{invoice}} shows {field} {{shown}} {{currency}}, but its {label} add up to {{summed}}.",
                 invoice=pl.col("invoice_id"), shown=money(pl.col(field)), currency=CUR,
                 summed=money(pl.col(summed))), keys))
    # tax on top, or already included in the line amounts (tax_behavior inclusive)
    heads = heads.with_columns(_total=pl.col("subtotal") - pl.col("discount")
                               + pl.when(INCLUSIVE).then(ZERO).otherwise(pl.col("tax")))
    total = pl.col("_total")
    out.append(_money_finding(
        heads.filter(pl.col("total") != total), "total", total, pl.col("total"), pl.col("total") - total,
        text("Invoice {invoice} shows total {shown} {currency}, but {rule} is {due}.",
             invoice=pl.col("invoice_id"), shown=money(pl.col("total")), currency=CUR,
             rule=choose((INCLUSIVE, "subtotal - discount (tax included)"), otherwise="subtotal - discount + tax"),
             due=money(total)), keys))
    return out


def _within_days() -> pl.Expr:
    return (pl.col("period_start") >= pl.col("exp_start")) & (pl.col("period_end") <= pl.col("exp_end"))


def _explain_price(found: dict, evidence: Evidence) -> Explanation:
    """Read beside the line, the rated charge and the subscription: the list price billed to a customer with a
    negotiated one (price book); a whole month billed for part of one (proration); a unit price the contract
    does not hold (price book); a tiered, package or percentage amount (price book); else a manual edit."""
    line = evidence.lines.get((found["invoice_id"], found["customer_id"], found["line_no"])) or {}
    exp = evidence.expected.get((found["subscription_id"], found["period"])) or {}
    sub = evidence.subscriptions.get(found["subscription_id"]) or {}
    billed_price = decimal(line.get("unit_price"))
    listed = decimal(evidence.list_price.get((line.get("plan_id"), line.get("currency"))))
    if sub.get("unit_price_override") is not None and billed_price is not None and billed_price == listed:
        return Explanation("The line is priced at the list price, but this customer has a negotiated price.",
                           "price book", "the negotiated price (unit_price_override) was not used")
    if exp.get("prorated") and line.get("amount") is not None and \
            decimal(line["amount"]) == decimal(exp.get("full_amount")):
        return Explanation("The line bills the whole month although the subscription was active only part of it.",
                           "proration", f"{exp['active_days']} of {exp['days_in_month']} days were due")
    if billed_price is not None and exp.get("unit_price") is not None and billed_price != decimal(exp["unit_price"]):
        return Explanation(f"The unit price on the invoice ({billed_price.normalize():f}) is not the contract's "
                           f"({decimal(exp['unit_price']).normalize():f}).", "price book",
                           "the price on the invoice appears nowhere in the contract for this plan")
    model = exp.get("charge_model")
    if model in ("graduated", "volume", "package", "percentage"):
        return Explanation(f"The line's amount is not what the plan's {model} prices give for this quantity.",
                           "price book", f"the {model} prices (tiers, packages or rate) used differ from the price "
                                         f"book")
    return Explanation("The line's amount is not what the contract's price gives for this quantity and these days.",
                       "manual edit", "the quantity and price are right but the amount was set otherwise")


@check("price_mismatch", title="Price", explain=_explain_price,
       reads=("every_line", "expected", "lines", "matched", "ranked_lines"))
def price_mismatch(ctx: CheckContext) -> list[Finding]:
    """A line rated at another price than the contract: plan price, tier, override or proration."""
    m = ctx.matched.lazy()
    shown_price = m.filter(pl.col("exp_unit_price").is_not_null()
                           & pl.col("unit_price").ne_missing(pl.col("exp_unit_price")))
    out = [_money_finding(
        shown_price, "unit_price", pl.col("exp_unit_price"), pl.col("unit_price"),
        pl.col("amount") - pl.col("exp_amount"),
        text("{line} charges unit price {price} {currency} for plan {plan}, but the contract price is {due}.",
             line=_line_ref(), price=money(pl.col("unit_price")), currency=CUR, plan=pl.col("plan_id"),
             due=money(pl.col("exp_unit_price"))))]
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
        text("{line} bills {billed} {currency} for {quantity} {units} of plan {plan} ({model}), but the contract "
             "rates it at {due}.", line=_line_ref(), billed=money(pl.col("amount")), currency=CUR,
             quantity=number(pl.col("quantity")),
             units=choose((pl.col("prorated"), "units, prorated,"), otherwise="units"),
             plan=pl.col("plan_id"), model=pl.col("charge_model"), due=money(pl.col("exp_amount")))))
    return out


def _explain_quantity(found: dict, evidence: Evidence) -> Explanation:
    """Metered units other than the meter's (missed usage), or seats other than the subscription's (seat
    count)."""
    exp = evidence.expected.get((found["subscription_id"], found["period"])) or {}
    if exp.get("kind") == "usage":
        return Explanation("The invoice bills a different number of units than the usage metered in the month.",
                           "missed usage", f"the meter shows {found['expected']} units, the invoice {found['actual']}")
    return Explanation("The invoice bills a different number of seats than the subscription has.", "seat count",
                       f"the subscription has {found['expected']} seats, the invoice {found['actual']}")


@check("quantity_mismatch", title="Quantity", explain=_explain_quantity,
       reads=("every_line", "expected", "lines", "matched", "ranked_lines"))
def quantity_mismatch(ctx: CheckContext) -> Finding:
    """A billed quantity that differs from the subscription's seats or the metered usage."""
    m = ctx.matched.lazy().filter(pl.col("quantity").ne_missing(pl.col("exp_quantity")))
    return finding(
        m, **_line_keys(), detail="quantity", expected=number(pl.col("exp_quantity")),
        actual=number(pl.col("quantity")), difference=number(pl.col("quantity") - pl.col("exp_quantity")),
        at_stake=_abs(pl.col("amount") - pl.col("exp_amount")),
        message=text("{line} bills quantity {quantity} for subscription {subscription}, but the {source} for "
                     "{period} is {due}.", line=_line_ref(), quantity=number(pl.col("quantity")),
                     subscription=pl.col("subscription_id"),
                     source=choose((pl.col("kind") == "usage", "metered usage"), otherwise="subscribed seats"),
                     period=pl.col("period"), due=number(pl.col("exp_quantity"))))


def _explain_discount(found: dict, evidence: Evidence) -> Explanation:
    """The subscription's agreed discount missing or wrong on the line: the discount setup, naming the discount
    expected and the one given."""
    return Explanation("The subscription's agreed discount is missing or wrong on this line.", "discount setup",
                       f"discount expected {found['expected']}, given {found['actual']}")


@check("discount_mismatch", title="Discount", explain=_explain_discount,
       reads=("every_line", "expected", "lines", "matched", "ranked_lines"))
def discount_mismatch(ctx: CheckContext) -> Finding:
    """A line whose discount is not the subscription's discount_pct of the line amount (missing or wrong)."""
    m = ctx.matched.lazy().with_columns(_due=line_discount(pl.col("amount"), pl.col("discount_pct"), CUR))
    due = pl.col("_due")
    bad = m.filter(pl.col("discount").ne_missing(due))
    return _money_finding(
        bad, "discount", due, pl.col("discount"), pl.col("discount") - due,
        text("{line} gives a discount of {discount} {currency}, but subscription {subscription} has {pct}% off, "
             "which is {due} on this amount.", line=_line_ref(), discount=money(pl.col("discount")), currency=CUR,
             subscription=pl.col("subscription_id"), pct=number(pl.col("discount_pct")), due=money(due)))


def _explain_tax(found: dict, evidence: Evidence) -> Explanation:
    """The tax setup: tax on an exempt customer, no rate of the country in force, a rate from before the
    country's last change (the change not applied), or a rate the country never had."""
    customer = evidence.customers.get(found["customer_id"]) or {}
    if customer.get("tax_exempt"):
        return Explanation("Tax was charged although the customer is tax exempt.", "tax setup",
                           "the customer's exemption is not recorded in the billing system")
    if found["expected"] is None:  # tax_rate_missing
        return Explanation("No tax rate of the customer's country is in force on the issue date, so the tax due "
                           "cannot be told.", "tax setup", f"tax_rates has no rate of {customer.get('country')} "
                                                           f"for that day; the line charges {found['actual']}%")
    used = decimal(found["actual"])
    rates = evidence.tax_rates.get(customer.get("country"), [])
    newer = [r for r in rates if r["valid_from"] and decimal(r["rate_pct"]) == decimal(found["expected"])]
    older = [r for r in rates if used is not None and decimal(r["rate_pct"]) == used and newer
             and r["valid_from"] < newer[-1]["valid_from"]]
    plain = "The tax rate on the line is not the rate in force in the customer's country on the issue date."
    if older:
        return Explanation(plain, "tax setup", f"{found['actual']}% is the rate before the change to "
                                               f"{found['expected']}% on {newer[-1]['valid_from']}: the rate change "
                                               f"was not applied")
    return Explanation(plain, "tax setup", f"{found['actual']}% used, {found['expected']}% in force: the country's "
                                           f"rate is set up wrongly in billing")


@check("tax_mismatch", title="Tax rate", explain=_explain_tax,
       reads=("every_line", "lines"))
def tax_mismatch(ctx: CheckContext) -> list[Finding]:
    """A tax rate other than the one in force for the customer's country on the issue date, tax on an
    exempt customer, or (detail ``tax_rate_missing``) a line of a country with no rate in force at all.

    A ``tax_rates`` table that names no country but ``ZZ`` (unknown) keeps no rates by country, as in an
    import of a system that keeps them by tax code: then no line's rate can be judged and none is reported."""
    customers = ctx.ds.frame("customers").select("customer_id", "country", "tax_exempt")
    lines = ctx.lines.lazy().join(customers, on="customer_id", how="inner")
    lines = tax_rate_in_force(ctx.ds, lines.rename({"tax_rate_pct": "line_rate"}))
    bad = lines.filter(pl.col("tax_rate_known") & pl.col("line_rate").ne_missing(pl.col("tax_rate_pct"))) \
        .with_columns(_due=line_tax(pl.col("amount"), pl.col("discount"), pl.col("tax_rate_pct"), CUR,
                                    INCLUSIVE))
    due = pl.col("_due")
    why = choose(
        (pl.col("tax_exempt"), text("customer {customer} is tax exempt", customer=pl.col("customer_id"))),
        otherwise=text("the rate in force in {country} on {date} is {rate}%", country=pl.col("country"),
                       date=day(pl.col("issue_date")), rate=number(pl.col("tax_rate_pct"))))
    wrong = finding(
        bad, **_line_keys(), detail="tax_rate_pct", expected=number(pl.col("tax_rate_pct")),
        actual=number(pl.col("line_rate")), difference=number(pl.col("line_rate") - pl.col("tax_rate_pct")),
        at_stake=_abs(pl.col("tax_amount") - due),
        message=text("{line} charges tax at {rate}%, but {why}.", line=_line_ref(), rate=number(pl.col("line_rate")),
                     why=why))
    # no rate of the country in force: the tax due is unknown (never taken as 0 %), so no money at stake is named;
    # a tax_rates table naming no country but ZZ keeps no rates by country (an import of a system that keeps them
    # by tax code): no line's rate can be told, and none is reported
    by_country = ctx.ds.frame("tax_rates").filter(pl.col("country") != UNKNOWN_COUNTRY).select(
        (pl.len() > 0).alias("_rates_by_country"))
    unknown = finding(
        lines.join(by_country, how="cross").filter(~pl.col("tax_rate_known") & pl.col("_rates_by_country")),
        **_line_keys(), detail="tax_rate_missing",
        actual=number(pl.col("line_rate")),
        message=text("{line} charges tax at {rate}%, but tax_rates has no rate of {country} in force on {date}: the "
                     "tax due cannot be told. Add the country's rate to tax_rates.", line=_line_ref(),
                     rate=number(pl.col("line_rate")), country=pl.col("country"), date=day(pl.col("issue_date"))))
    return [wrong, unknown]


def _explain_unbilled(found: dict, evidence: Evidence) -> Explanation:
    """Metered usage never invoiced (missed usage), or an active subscription the billing run left out."""
    exp = evidence.expected.get((found["subscription_id"], found["period"])) or {}
    if exp.get("kind") == "usage":
        return Explanation("Usage was metered for this month but never invoiced.", "missed usage",
                           f"{exp.get('event_count', 0)} usage event(s) in the month, no invoice line")
    return Explanation("A charge the contract bills for this month is on no invoice.", "billing run",
                       "the subscription was active in the month but the billing run left it out")


@check("unbilled_charge", title="Unbilled charges", explain=_explain_unbilled,
       reads=("every_line", "expected", "lines", "ranked_lines"))
def unbilled_charge(ctx: CheckContext) -> Finding:
    """A billable subscription-month (recurring charge, year term or usage) with no invoice line."""
    billed = ctx.ranked_lines.lazy().select("subscription_id", "period").unique()
    missing = ctx.expected.lazy().filter(pl.col("amount") != 0).join(billed, on=["subscription_id", "period"],
                                                                      how="anti")
    what = choose((pl.col("kind") == "usage", "usage"), (pl.col("kind") == "year_term", "annual term"),
                  otherwise="subscription")
    return finding(
        missing, customer_id=pl.col("customer_id"), subscription_id=pl.col("subscription_id"),
        period=pl.col("period"), currency=CUR, detail=pl.col("kind"), expected=money(pl.col("total")),
        actual=money(ZERO), difference=money(-pl.col("total")), at_stake=pl.col("total"),
        message=text("The {what} charge of subscription {subscription} (plan {plan}) for {period} is {total} "
                     "{currency} but no invoice line bills it.", what=what, subscription=pl.col("subscription_id"),
                     plan=pl.col("plan_id"), period=pl.col("period"), total=money(pl.col("total")), currency=CUR))


@check("duplicate_charge", title="Duplicate charges",
       explain=Explanation("The same subscription and service days are billed a second time.", "duplicate run",
                           "an earlier line already bills these days"),
       reads=("every_line", "lines", "repeated_lines"))
def duplicate_charge(ctx: CheckContext) -> Finding:
    """The same subscription and service days billed twice (a line overlapping one issued before it)."""
    dup = ctx.repeated_lines.lazy()
    total = pl.col("amount") - pl.col("discount") + pl.when(INCLUSIVE).then(ZERO).otherwise(pl.col("tax_amount"))
    return finding(
        dup, **_line_keys(), detail="duplicate", expected=money(ZERO), actual=money(total),
        difference=money(total), at_stake=total,
        message=text("{line} bills subscription {subscription} for {start} to {end} again; invoice {first} line "
                     "{first_line} already bills {first_start} to {first_end}.", line=_line_ref(),
                     subscription=pl.col("subscription_id"), start=day(pl.col("period_start")),
                     end=day(pl.col("period_end")), first=pl.col("first_invoice_id"),
                     first_line=pl.col("first_line_no"), first_start=day(pl.col("first_period_start")),
                     first_end=day(pl.col("first_period_end"))))


@check("billed_outside_term", title="Billed outside the term",
       explain=Explanation("The line bills days when the subscription was not active.", "proration",
                           "the start or end date of the subscription was not applied"),
       reads=("every_line", "expected", "lines", "plans", "ranked_lines", "repeated_lines"))
def billed_outside_term(ctx: CheckContext) -> Finding:
    """A charge for days outside the subscription's active days."""
    subs = ctx.ds.frame("subscriptions").select("subscription_id", "start_date", "end_date")
    plans = ctx.plans.lazy().select("plan_id", "currency", "interval", "billing")
    # every subscription line but those already reported as duplicates
    line = [*INVOICE_KEY, "line_no"]
    repeated = ctx.repeated_lines.lazy().select(line)
    lines = (ctx.ranked_lines.lazy().join(repeated, on=line, how="anti")
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
    active = text("{start} to {end}", start=day(pl.col("start_date")), end=day(pl.col("end_date"), missing="open"))
    billed = text("{start} to {end}", start=day(pl.col("period_start")), end=day(pl.col("period_end")))
    return finding(
        bad, **_line_keys(), detail="service_days", expected=active, actual=billed,
        difference=money(pl.col("amount") - pl.col("exp_amount").fill_null(ZERO)),
        at_stake=_abs(pl.col("amount") - pl.col("exp_amount").fill_null(ZERO)),
        message=text("{line} bills subscription {subscription} for {billed}, but it is active only {active}.",
                     line=_line_ref(), subscription=pl.col("subscription_id"), billed=billed, active=active))


def _explain_currency(found: dict, evidence: Evidence) -> Explanation:
    """A document in another currency than the customer's: the customer setup, naming both currencies."""
    return Explanation("The document is in another currency than the customer is billed in.", "customer setup",
                       f"{found['actual']} used, {found['expected']} agreed")


@check("currency_mismatch", title="Currency", explain=_explain_currency,
       reads=("invoices", "live_invoices", "payments"))
def currency_mismatch(ctx: CheckContext) -> list[Finding]:
    """An invoice or payment in another currency than the customer's."""
    customers = ctx.ds.frame("customers").select("customer_id", pl.col("currency").alias("customer_currency"))
    inv = ctx.live_invoices.lazy().join(customers, on="customer_id", how="inner").filter(
        pl.col("currency") != pl.col("customer_currency"))
    theirs = pl.col("customer_currency")
    pay = ctx.payments.lazy().join(customers, on="customer_id", how="inner").filter(
        pl.col("currency") != pl.col("customer_currency"))
    return [
        finding(inv, customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"), period=pl.col("period"),
                detail="invoice", expected=theirs, actual=CUR, currency=CUR, at_stake=pl.col("total"),
                message=text("Invoice {invoice} is in {currency}, but customer {customer} is billed in {theirs}.",
                             invoice=pl.col("invoice_id"), currency=CUR, customer=pl.col("customer_id"),
                             theirs=theirs)),
        finding(pay, customer_id=pl.col("customer_id"), payment_id=pl.col("payment_id"),
                invoice_id=pl.col("invoice_id"), period=month(pl.col("received_date")), detail="payment",
                expected=theirs, actual=CUR, currency=CUR, at_stake=pl.col("amount"),
                message=text("Payment {payment} is in {currency}, but customer {customer} is billed in {theirs}.",
                             payment=pl.col("payment_id"), currency=CUR, customer=pl.col("customer_id"),
                             theirs=theirs)),
    ]
