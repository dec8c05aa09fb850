"""The rating engine: what every subscription should be charged for a month.

This is the single source of truth for "what should have been billed": the
verification checks compare invoices with it, and the invoice generator
writes it out. It is written as one lazy polars plan over whole tables (no
Python loop over rows), so it scales with the data.

One *charge* is one (subscription, billing month) that the contract bills:

* ``recurring``: a ``month`` recurring plan, every month the subscription is
  active, prorated by active days / days in the month;
* ``year_term``: a ``year`` recurring plan, the whole term on the invoice of
  the month the term starts (the start and each anniversary);
* ``usage``: a usage plan, every month it is active, on the usage metered
  within its active days of that month (never prorated).

Amount, discount and tax are each rounded once, half away from zero, to the
currency's minor unit; the discount is taken on the rounded amount and the
tax on the rounded amount less the rounded discount.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from billing_lib.core.money import DECIMAL, ZERO, line_discount, line_tax, round_money
from billing_lib.core.periods import month_diff, periods_frame
from billing_lib.data.dataset import Dataset

CHARGE_COLUMNS = [
    "customer_id", "subscription_id", "plan_id", "product", "currency", "period", "issue_date", "due_date",
    "kind", "charge_model", "service_start", "service_end", "quantity", "unit_price", "event_count",
    "active_days", "days_in_month", "prorated", "full_amount", "amount", "discount_pct", "discount",
    "tax_rate_pct", "tax_amount", "total", "description",
]
TIERED = ("graduated", "volume")
PRICED = ("flat", "per_unit", "package")


def _dec(expr: pl.Expr) -> pl.Expr:
    return expr.cast(DECIMAL)


def subscription_terms(ds: Dataset) -> pl.LazyFrame:
    """Each subscription with its customer's terms and the plan row in the customer's currency.

    Subscriptions whose customer or plan (in that currency) does not exist are
    left out: verification reports them as orphan references.
    """
    customers = ds.frame("customers").select(
        "customer_id", "currency", "country", "tax_exempt", "payment_terms_days")
    plans = ds.frame("plans").select(
        "plan_id", "currency", "product", "billing", "interval", "charge_model",
        pl.col("unit_price").alias("plan_unit_price"), "package_size", "free_units", "rate_pct", "fixed_fee")
    subs = ds.frame("subscriptions").select(
        "subscription_id", "customer_id", "plan_id", pl.col("quantity").alias("seats"), "start_date", "end_date",
        "discount_pct", "unit_price_override")
    return (subs.join(customers, on="customer_id", how="inner")
            .join(plans, on=["plan_id", "currency"], how="inner")
            .with_columns(price=pl.coalesce("unit_price_override", "plan_unit_price"),
                          kind=pl.when(pl.col("billing") == "usage").then(pl.lit("usage"))
                          .when(pl.col("interval") == "year").then(pl.lit("year_term"))
                          .otherwise(pl.lit("recurring"))))


def _active_months(terms: pl.LazyFrame, months: list[dt.date]) -> pl.LazyFrame:
    """Cross subscriptions with the months, keeping the months each is billed in."""
    crossed = terms.join(periods_frame(months), how="cross").filter(
        (pl.col("start_date") <= pl.col("period_end"))
        & (pl.col("end_date").is_null() | (pl.col("end_date") >= pl.col("period"))))
    crossed = crossed.with_columns(
        active_start=pl.max_horizontal("start_date", "period"),
        active_end=pl.min_horizontal(pl.coalesce("end_date", "period_end"), "period_end"),
        term_no=month_diff(pl.col("period"), pl.col("start_date")) // 12,
    ).with_columns(
        active_days=(pl.col("active_end") - pl.col("active_start")).dt.total_days() + 1,
        term_start=pl.col("start_date").dt.offset_by(pl.format("{}y", pl.col("term_no"))),
    )
    year_term_due = ((month_diff(pl.col("period"), pl.col("start_date")) % 12 == 0)
                     & (pl.col("end_date").is_null() | (pl.col("term_start") <= pl.col("end_date"))))
    return crossed.filter((pl.col("kind") != "year_term") | year_term_due).with_columns(
        service_start=pl.when(pl.col("kind") == "year_term").then("term_start").otherwise("active_start"),
        service_end=pl.when(pl.col("kind") == "year_term")
        .then(pl.col("start_date").dt.offset_by(pl.format("{}y", pl.col("term_no") + 1)) - pl.duration(days=1))
        .otherwise("active_end"),
    )


def _with_usage(rows: pl.LazyFrame, ds: Dataset) -> pl.LazyFrame:
    """Add the billable usage (within active days) of usage charges: quantity and event_count."""
    usage_rows = rows.filter(pl.col("kind") == "usage").select("subscription_id", "period", "active_start",
                                                               "active_end")
    # each event meets only the row of its own UTC month (the active days lie within the month): one equi-join
    # and one aggregation. Summing per day first would not pay: a subscription's events rarely share a day.
    events = ds.frame("usage").select("subscription_id", "quantity", day=pl.col("event_time").dt.date()) \
        .with_columns(period=pl.col("day").dt.month_start())
    metered = (events.join(usage_rows, on=["subscription_id", "period"], how="inner")
               .filter(pl.col("day").is_between(pl.col("active_start"), pl.col("active_end")))
               .group_by("subscription_id", "period")
               .agg(pl.col("quantity").sum().alias("metered"), pl.len().alias("metered_events")))
    return rows.join(metered, on=["subscription_id", "period"], how="left").with_columns(
        units=pl.when(pl.col("kind") == "usage").then(pl.col("metered").fill_null(ZERO))
        .otherwise(_dec(pl.col("seats").fill_null(0))).cast(DECIMAL),
        event_count=pl.when(pl.col("kind") == "usage").then(pl.col("metered_events").fill_null(0))
        .otherwise(0).cast(pl.Int64),
    ).drop("metered", "metered_events")


def tiers_with_bounds(ds: Dataset) -> pl.LazyFrame:
    """Plan tiers with the lower bound (the previous tier's up_to, 0 for the first)."""
    return (ds.frame("plan_tiers").sort("plan_id", "currency", "tier")
            .with_columns(lower=pl.col("up_to").shift(1).over("plan_id", "currency").fill_null(ZERO),
                          flat_fee=pl.col("flat_fee").fill_null(ZERO))
            .select("plan_id", "currency", "tier", "lower", "up_to",
                    pl.col("unit_price").alias("tier_price"), pl.col("flat_fee").alias("tier_fee")))


def tier_charge(rows: pl.LazyFrame, tiers: pl.LazyFrame) -> pl.LazyFrame:
    """Charge of each (subscription, period) row of a graduated or volume plan on its ``units``.

    graduated: every unit at the price of the tier it falls in, plus the flat fee of
    every tier that receives units; volume: all units at the tier that holds the
    quantity, plus that tier's flat fee; zero units cost nothing.
    """
    q = pl.col("units")
    in_tier = pl.when(q > pl.col("lower")).then(
        pl.min_horizontal(q, pl.coalesce("up_to", q)) - pl.col("lower")).otherwise(ZERO)
    graduated = in_tier * pl.col("tier_price") + pl.when(in_tier > 0).then(pl.col("tier_fee")).otherwise(ZERO)
    holds_q = (q > pl.col("lower")) & (pl.col("up_to").is_null() | (q <= pl.col("up_to")))
    volume = pl.when(holds_q).then(q * pl.col("tier_price") + pl.col("tier_fee")).otherwise(ZERO)
    return (rows.filter(pl.col("charge_model").is_in(TIERED))
            .select("subscription_id", "period", "plan_id", "currency", "charge_model", "units")
            .join(tiers, on=["plan_id", "currency"], how="inner")
            .with_columns(part=pl.when(pl.col("charge_model") == "graduated").then(graduated).otherwise(volume)
                          .cast(DECIMAL))
            .group_by("subscription_id", "period").agg(pl.col("part").sum().alias("tiered_charge")))


def model_charge() -> pl.Expr:
    """Unrounded, unprorated charge of the non-tiered models on ``units`` and ``event_count``."""
    q, price = pl.col("units"), pl.col("price")
    packages = ((pl.max_horizontal(q - pl.col("free_units"), ZERO)) / pl.col("package_size")).ceil()
    return (pl.when(pl.col("charge_model") == "flat").then(price)
            .when(pl.col("charge_model") == "per_unit").then(q * price)
            .when(pl.col("charge_model") == "package").then(packages * price)
            .when(pl.col("charge_model") == "percentage")
            .then(q * pl.col("rate_pct") / 100 + _dec(pl.col("event_count")) * pl.col("fixed_fee"))
            .otherwise(None).cast(DECIMAL))


def tax_rate_in_force(ds: Dataset, rows: pl.LazyFrame) -> pl.LazyFrame:
    """Add ``tax_rate_pct``: the rate of the customer's country in force on the issue date (0 if exempt)."""
    wanted = rows.select("country", "issue_date").unique()
    rates = (wanted.join(ds.frame("tax_rates").select("country", "valid_from", "valid_to", "rate_pct"),
                         on="country", how="inner")
             .filter((pl.col("valid_from") <= pl.col("issue_date"))
                     & (pl.col("valid_to").is_null() | (pl.col("valid_to") >= pl.col("issue_date"))))
             .sort("valid_from")
             .group_by("country", "issue_date").agg(pl.col("rate_pct").last().alias("country_rate")))
    return rows.join(rates, on=["country", "issue_date"], how="left").with_columns(
        tax_rate_pct=pl.when(pl.col("tax_exempt")).then(ZERO)
        .otherwise(pl.col("country_rate").fill_null(ZERO)).cast(DECIMAL),
        tax_rate_known=pl.col("tax_exempt") | pl.col("country_rate").is_not_null(),
    ).drop("country_rate")


def charge_description() -> pl.Expr:
    """A charge's line description ("Seats (SEAT) subscription 2024-01-01 to 2024-01-31") from its columns."""
    what = pl.concat_str([pl.col("product").fill_null(pl.col("plan_id")), pl.lit(" ("), pl.col("plan_id"),
                          pl.lit(")")])
    days = pl.format(", prorated {}/{} days", pl.col("active_days"), pl.col("days_in_month"))
    span = pl.format(" {} to {}", pl.col("service_start").dt.strftime("%Y-%m-%d"),
                     pl.col("service_end").dt.strftime("%Y-%m-%d"))
    label = (pl.when(pl.col("kind") == "usage").then(pl.lit(" usage"))
             .when(pl.col("kind") == "year_term").then(pl.lit(" annual term"))
             .otherwise(pl.lit(" subscription")))
    return pl.concat_str([what, label, span, pl.when(pl.col("prorated")).then(days).otherwise(pl.lit(""))])


CHARGE_ORDER = ["customer_id", "period", "subscription_id"]


def expected_charges(ds: Dataset, months: list[dt.date], *, ordered: bool = True) -> pl.LazyFrame:
    """What the contract bills in each of ``months``: one row per charge, columns ``CHARGE_COLUMNS``.

    Charges of zero are kept (amount 0); an invoice may show or omit them. ``ordered``: sorted by
    ``CHARGE_ORDER``; a caller that sorts the collected charges itself passes False.
    """
    # read twice (the tiered charges are computed from the same rows): computed once
    rows = _with_usage(_active_months(subscription_terms(ds), months), ds).cache()
    rows = rows.join(tier_charge(rows, tiers_with_bounds(ds)), on=["subscription_id", "period"], how="left")
    full = pl.when(pl.col("charge_model").is_in(TIERED)).then(pl.col("tiered_charge").fill_null(ZERO)) \
        .otherwise(model_charge())
    prorated = (pl.col("kind") == "recurring") & (pl.col("active_days") < pl.col("days_in_month"))
    rows = rows.with_columns(full_exact=full.cast(DECIMAL), prorated=prorated).with_columns(
        amount=round_money(
            pl.when(pl.col("prorated"))
            .then(pl.col("full_exact") * _dec(pl.col("active_days")) / _dec(pl.col("days_in_month")))
            .otherwise(pl.col("full_exact")), pl.col("currency")),
        full_amount=round_money(pl.col("full_exact"), pl.col("currency")),
    ).with_columns(
        discount=line_discount(pl.col("amount"), pl.col("discount_pct"), pl.col("currency")),
    )
    rows = tax_rate_in_force(ds, rows).with_columns(
        tax_amount=line_tax(pl.col("amount"), pl.col("discount"), pl.col("tax_rate_pct"), pl.col("currency")),
    ).with_columns(
        total=(pl.col("amount") - pl.col("discount") + pl.col("tax_amount")).cast(DECIMAL),
        quantity=pl.when(pl.col("charge_model") == "flat").then(_dec(pl.lit(1))).otherwise(pl.col("units")),
        unit_price=pl.when(pl.col("charge_model").is_in(PRICED)).then(pl.col("price")).otherwise(None)
        .cast(DECIMAL),
        due_date=pl.col("issue_date").dt.offset_by(pl.format("{}d", pl.col("payment_terms_days"))),
    ).with_columns(description=charge_description())
    rows = rows.select(CHARGE_COLUMNS + ["tax_rate_known", "seats", "units", "price", "full_exact"])
    return rows.sort(CHARGE_ORDER) if ordered else rows
