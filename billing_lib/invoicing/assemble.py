"""Invoices from rated charges: one invoice per customer and month, one line per charge.

Also makes the legitimate void case: one invoice is issued, voided (it keeps
its number and lines) and re-issued later under a new number for the same
customer and period. Invoices are numbered in order of issue, without gaps.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from billing_lib.core.money import DECIMAL

REISSUE_AFTER_DAYS = 9
LINE_ORDER = ["inv", "subscription_id", "kind", "service_start"]


@dataclass
class Invoices:
    """Invoice lines and headers keyed by ``inv`` (the gapless issue sequence number)."""

    lines: pl.DataFrame
    headers: pl.DataFrame


def _lines_from_charges(charges: pl.DataFrame) -> pl.DataFrame:
    return charges.select(
        "customer_id", "currency", "period", "issue_date", "due_date", "subscription_id", "plan_id",
        "description", pl.col("service_start").alias("period_start"), pl.col("service_end").alias("period_end"),
        "quantity", "unit_price", "amount", "discount", "tax_rate_pct", "tax_amount",
        # kept for planting and posting, never written
        "kind", "charge_model", "discount_pct", "prorated", "active_days", "days_in_month", "full_amount",
        "service_start", "units", "price", "event_count",  # and for explaining the charge on documents
        pl.col("due_date").sub(pl.col("issue_date")).dt.total_days().alias("terms_days"),
    ).with_columns(variant=pl.lit(""))


def build_invoices(charges: pl.DataFrame, void_key: tuple[str, dt.date] | None) -> Invoices:
    """Invoices for the non-zero ``charges``; ``void_key`` (customer_id, month start) names the voided one."""
    lines = _lines_from_charges(charges)
    if void_key is not None:
        is_pair = (pl.col("customer_id") == void_key[0]) & (pl.col("period") == void_key[1])
        voided = lines.filter(is_pair).with_columns(variant=pl.lit("void"))
        reissue_date = pl.col("issue_date").dt.offset_by(f"{REISSUE_AFTER_DAYS}d")
        lines = pl.concat([
            lines.with_columns(
                variant=pl.when(is_pair).then(pl.lit("reissue")).otherwise("variant"),
                issue_date=pl.when(is_pair).then(reissue_date).otherwise("issue_date"),
            ).with_columns(
                due_date=pl.col("issue_date").dt.offset_by(pl.format("{}d", pl.col("terms_days")))),
            voided,
        ])
    headers = (lines.group_by("customer_id", "period", "variant")
               .agg(pl.col("currency").first(), pl.col("issue_date").first(), pl.col("due_date").first(),
                    pl.col("terms_days").first(), pl.len().alias("n_lines"))
               .sort("issue_date", "customer_id", "variant")
               .with_columns(inv=pl.int_range(1, pl.len() + 1, dtype=pl.Int64),
                             period_start=pl.col("period"), period_end=pl.col("period").dt.month_end(),
                             status=pl.when(pl.col("variant") == "void").then(pl.lit("void")).otherwise(None)))
    lines = (lines.join(headers.select("customer_id", "period", "variant", "inv"),
                        on=["customer_id", "period", "variant"])
             .sort(LINE_ORDER)
             .with_columns(line_no=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("inv")))
    return Invoices(lines, headers)


def header_sums(lines: pl.DataFrame, headers: pl.DataFrame) -> pl.DataFrame:
    """Headers with subtotal, discount, tax and total recomputed from their lines."""
    sums = lines.group_by("inv").agg(pl.col("amount").sum().alias("subtotal"),
                                     pl.col("discount").sum().alias("discount"),
                                     pl.col("tax_amount").sum().alias("tax"),
                                     pl.len().alias("n_lines"))
    return (headers.drop("subtotal", "discount", "tax", "total", "n_lines", strict=False)
            .join(sums, on="inv", how="left")
            .with_columns(pl.col(c).cast(DECIMAL) for c in ("subtotal", "discount", "tax"))
            .with_columns(total=(pl.col("subtotal") - pl.col("discount") + pl.col("tax")).cast(DECIMAL)))
