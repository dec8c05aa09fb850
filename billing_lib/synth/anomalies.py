"""Planting the invoice-side mistakes, and the ground truth that names each one.

Every mistake is planted as polars expressions over all lines at once. A line
mistake re-derives what follows from it (discount, tax, invoice totals) so
only the intended check fires; the ``check`` of each ground-truth row is the
catalogue check that must find it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from billing_lib.core.money import DECIMAL, ZERO, dec, line_discount, line_tax, round_money
from billing_lib.engine.rating import PRICED
from billing_lib.invoicing.assemble import header_sums
from billing_lib.synth.money_ops import larger, minor_unit
from billing_lib.synth.victims import choose_victims

TRUTH_COLUMNS = ["anomaly", "check", "customer_id", "invoice_id", "line_no", "subscription_id", "payment_id",
                 "period"]
LINE_CHECKS = ("billed_outside_term", "discount_mismatch", "quantity_mismatch", "tax_mismatch", "unbilled_charge",
               "price_mismatch", "line_arithmetic", "duplicate_charge", "orphan_reference")
INVOICE_CHECKS = ("currency_mismatch", "date_inconsistency", "invoice_totals")
# currency a mis-issued invoice shows instead of the customer's (same minor digits)
CURRENCY_SWAP = {"EUR": "USD", "USD": "EUR", "GBP": "EUR"}
RE_DERIVED = ("price_mismatch", "quantity_mismatch", "billed_outside_term")


@dataclass(frozen=True)
class TaxChange:
    """The rate change inside the range: country, old rate (text) and the day the new rate starts."""

    country: str
    old_rate: str
    since: dt.date


def _candidates(lines: pl.DataFrame, change: TaxChange) -> pl.DataFrame:
    """Lines with the figures each mistake would give them (computed for every line, used for few)."""
    cur, minor = pl.col("currency"), minor_unit(pl.col("currency"))
    priced = pl.col("charge_model").is_in(PRICED) & ~pl.col("prorated") & pl.col("unit_price").is_not_null()
    new_price = (pl.col("unit_price") + larger(round_money(pl.col("unit_price") * dec("0.1"), cur), minor))
    mult = (pl.when(pl.col("charge_model") == "flat").then(dec(1))
            .when(pl.col("charge_model") == "per_unit").then(pl.col("quantity"))
            .otherwise((pl.col("amount") / pl.col("unit_price")).round(0)))
    price_amount = pl.when(priced).then(round_money(mult.cast(DECIMAL) * pl.col("_new_price"), cur)) \
        .otherwise(pl.col("amount") + larger(round_money(pl.col("amount") * dec("0.1"), cur), minor))
    proration = pl.when(pl.col("prorated")).then(
        pl.col("active_days").cast(DECIMAL) / pl.col("days_in_month").cast(DECIMAL)).otherwise(dec(1))
    qty_amount = round_money((pl.col("_new_qty") * pl.col("unit_price")).cast(DECIMAL) * proration, cur)
    tax_reason = (pl.when(pl.col("tax_exempt")).then(pl.lit("tax_on_exempt_customer"))
                  .when((pl.col("country") == change.country) & (pl.col("issue_date") >= change.since))
                  .then(pl.lit("old_tax_rate_after_change")).otherwise(pl.lit("wrong_tax_rate")))
    wrong_rate = (pl.when(tax_reason == "tax_on_exempt_customer").then(dec(20))
                  .when(tax_reason == "old_tax_rate_after_change").then(dec(change.old_rate))
                  .otherwise(pl.col("tax_rate_pct") + dec(2)))
    return lines.with_columns(
        _minor=minor, _priced=priced, _new_price=new_price.cast(DECIMAL),
        _new_qty=(pl.col("quantity") + dec(1)).cast(DECIMAL),
        _tax_reason=tax_reason, _wrong_rate=wrong_rate.cast(DECIMAL),
        _n_lines=pl.len().over("inv"),
    ).with_columns(
        _price_amount=price_amount.cast(DECIMAL), _qty_amount=qty_amount.cast(DECIMAL),
        _wrong_tax=line_tax(pl.col("amount"), pl.col("discount"), pl.col("_wrong_rate"), cur),
    )


def _eligible() -> dict[str, pl.Expr]:
    c = pl.col
    return {
        "billed_outside_term": (c("kind") == "recurring") & c("prorated") & (c("full_amount") != c("amount")),
        "discount_mismatch": c("discount") > 0,
        "quantity_mismatch": (c("charge_model") == "per_unit") & c("unit_price").is_not_null()
        & (c("_qty_amount") != c("amount")),
        "tax_mismatch": c("_wrong_tax") != c("tax_amount"),
        "unbilled_charge": c("_n_lines") >= 2,
        "currency_mismatch": c("currency").is_in(list(CURRENCY_SWAP)),
        "price_mismatch": c("_price_amount") != c("amount"),
        "line_arithmetic": pl.lit(True),
        "duplicate_charge": pl.lit(True),
        "orphan_reference": pl.lit(True),
        "date_inconsistency": pl.lit(True),
        "invoice_totals": pl.lit(True),
    }


def _apply_line_mistakes(lines: pl.DataFrame) -> pl.DataFrame:
    """Change the figures of the chosen lines; ``_plant`` names the check planted on each line."""
    p, cur = pl.col("_plant"), pl.col("currency")
    lines = lines.with_columns(
        unit_price=pl.when((p == "price_mismatch") & pl.col("_priced")).then("_new_price").otherwise("unit_price"),
        quantity=pl.when(p == "quantity_mismatch").then("_new_qty").otherwise("quantity"),
        amount=pl.when(p == "price_mismatch").then("_price_amount")
        .when(p == "quantity_mismatch").then("_qty_amount")
        .when(p == "billed_outside_term").then("full_amount").otherwise("amount"),
        period_start=pl.when(p == "billed_outside_term").then(pl.col("period")).otherwise("period_start"),
        period_end=pl.when(p == "billed_outside_term").then(pl.col("period").dt.month_end())
        .otherwise("period_end"),
        tax_rate_pct=pl.when(p == "tax_mismatch").then("_wrong_rate").otherwise("tax_rate_pct"),
    ).with_columns(
        discount=pl.when(p == "discount_mismatch").then(ZERO)
        .when(p.is_in(RE_DERIVED)).then(line_discount(pl.col("amount"), pl.col("discount_pct"), cur))
        .otherwise("discount"),
    ).with_columns(
        tax_amount=pl.when(p.is_in([*RE_DERIVED, "discount_mismatch", "tax_mismatch"]))
        .then(line_tax(pl.col("amount"), pl.col("discount"), pl.col("tax_rate_pct"), cur))
        .when(p == "line_arithmetic").then(pl.col("tax_amount") + pl.col("_minor") * (pl.col("r") + 1))
        .otherwise("tax_amount").cast(DECIMAL),
    )
    extra = (lines.filter(p.is_in(["duplicate_charge", "orphan_reference"]))
             .with_columns(line_no=(pl.col("_n_lines") + 1).cast(pl.Int64),
                           subscription_id=pl.when(p == "orphan_reference")
                           .then(pl.format("S-GHOST-{}", pl.int_range(1, pl.len() + 1).over("_plant")))
                           .otherwise("subscription_id"),
                           _added=pl.lit(True)))
    kept = lines.filter(p.is_null() | (p != "unbilled_charge")).with_columns(_added=pl.lit(False))
    return (pl.concat([kept, extra]).sort("inv", "line_no")
            .with_columns(line_no=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("inv")))


def _apply_invoice_mistakes(headers: pl.DataFrame, victims: pl.DataFrame) -> pl.DataFrame:
    v = victims.filter(pl.col("check").is_in(INVOICE_CHECKS)).select("inv", pl.col("check").alias("_plant"), "r")
    h = headers.join(v, on="inv", how="left")
    p = pl.col("_plant")
    return h.with_columns(
        total=pl.when(p == "invoice_totals")
        .then(pl.col("total") + minor_unit(pl.col("currency")) * (pl.col("r") + 2)).otherwise("total")
        .cast(DECIMAL),
        currency=pl.when(p == "currency_mismatch").then(pl.col("currency").replace(CURRENCY_SWAP))
        .otherwise("currency"),
        due_date=pl.when(p == "date_inconsistency")
        .then(pl.col("due_date").dt.offset_by(pl.format("{}d", pl.col("r") + 1))).otherwise("due_date"),
    ).rename({"_plant": "plant"}).drop("r")


def _truth_from_lines(lines: pl.DataFrame) -> pl.DataFrame:
    p = pl.col("_plant")
    anomaly = (pl.when(p == "tax_mismatch").then(pl.col("_tax_reason"))
               .when(p == "price_mismatch").then(pl.when(pl.col("_priced")).then(pl.lit("wrong_unit_price"))
                                                 .otherwise(pl.lit("wrong_rated_amount")))
               .otherwise(p.replace_strict({
                   "line_arithmetic": "tax_amount_miscomputed", "quantity_mismatch": "wrong_quantity",
                   "discount_mismatch": "discount_left_off", "unbilled_charge": "line_left_off",
                   "duplicate_charge": "line_billed_twice", "billed_outside_term": "full_month_billed_outside_term",
                   "orphan_reference": "line_for_unknown_subscription"}, default=None)))
    planted = lines.filter(p.is_not_null() & p.is_in(LINE_CHECKS)
                           & ((~p.is_in(["duplicate_charge", "orphan_reference"])) | pl.col("_added")))
    return planted.select(
        anomaly.alias("anomaly"), p.alias("check"), "customer_id",
        pl.when(p == "unbilled_charge").then(None).otherwise(pl.col("inv")).alias("inv"),
        pl.when(p == "unbilled_charge").then(None).otherwise(pl.col("line_no")).alias("line_no"),
        "subscription_id", pl.col("period"))


@dataclass
class Planted:
    """Lines and headers with mistakes in them, and one ground-truth row per mistake (``inv`` not yet a number)."""

    lines: pl.DataFrame
    headers: pl.DataFrame
    truth: pl.DataFrame


def plant_mistakes(lines: pl.DataFrame, headers: pl.DataFrame, customers: pl.DataFrame, protected: list[str],
                   rate: float, change: TaxChange, rng: np.random.Generator) -> Planted:
    """Plant every invoice-side mistake at ``rate``; re-derive invoice totals from the lines."""
    lines = _candidates(lines.join(customers.select("customer_id", "country", "tax_exempt"), on="customer_id"),
                        change)
    base = ~pl.col("customer_id").is_in(protected) & (pl.col("variant") == "")
    victims = choose_victims(lines, _eligible(), base, rate, rng)
    dropped = victims.filter(pl.col("check") == "unbilled_charge").select("inv", "line_no", "check")
    lines = lines.join(victims.filter(pl.col("check").is_in(LINE_CHECKS))
                       .select("inv", "line_no", pl.col("check").alias("_plant"), "r"),
                       on=["inv", "line_no"], how="left")
    truth_dropped = _truth_from_lines(lines.join(dropped.select("inv", "line_no"), on=["inv", "line_no"])
                                      .with_columns(_added=pl.lit(False)))
    lines = _apply_line_mistakes(lines)
    truth = pl.concat([_truth_from_lines(lines.filter(pl.col("_plant") != "unbilled_charge")), truth_dropped])
    headers = _apply_invoice_mistakes(header_sums(lines, headers), victims)
    inv_truth = headers.filter(pl.col("plant").is_not_null()).select(
        pl.col("plant").replace_strict({"invoice_totals": "header_total_altered",
                                        "currency_mismatch": "invoice_in_wrong_currency",
                                        "date_inconsistency": "due_date_shifted"}).alias("anomaly"),
        pl.col("plant").alias("check"), "customer_id", "inv", pl.lit(None, pl.Int64).alias("line_no"),
        pl.lit(None, pl.String).alias("subscription_id"), "period")
    return Planted(lines, headers, pl.concat([truth.with_columns(pl.col("line_no").cast(pl.Int64)), inv_truth]))
