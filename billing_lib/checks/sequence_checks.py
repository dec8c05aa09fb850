"""The invoice number sequence: one gapless sequence per prefix, in the order of issue.

This is the one *global* check: it needs every invoice of the dataset, not
one customer's, so it does not run on customer shards.
"""
from __future__ import annotations

import polars as pl

from billing_lib.checks.base import check, findings
from billing_lib.checks.context import PERIOD_FMT, CheckContext
from billing_lib.core.numbering import number_parts, number_text

MAX_LISTED_PER_GAP = 100  # a longer run of missing numbers is reported as one range


@check("invoice_number_gap", scope="global")
def invoice_number_gap(ctx: CheckContext) -> pl.LazyFrame:
    """A number missing from, or repeated in, the invoice number sequence (void invoices keep their number)."""
    inv = ctx.ds.frame("invoices").select(
        "invoice_id", "customer_id", period=pl.col("period_start").dt.strftime(PERIOD_FMT),
        **number_parts(pl.col("invoice_id")),
    ).filter(pl.col("number").is_not_null()).with_columns(
        width=pl.col("digits").str.len_chars(), verified=pl.col("period").is_in(ctx.period_names.implode()))
    repeated = (inv.group_by("invoice_id").agg(pl.len().alias("times"), pl.col("verified").any(),
                                               pl.col("period").min(), pl.col("customer_id").unique().sort())
                .filter((pl.col("times") > 1) & pl.col("verified")))
    out = [findings(
        repeated, invoice_id=pl.col("invoice_id"), period=pl.col("period"), detail=pl.lit("repeated"),
        expected=pl.lit("1"), actual=pl.col("times").cast(pl.String),
        difference=(pl.col("times") - 1).cast(pl.String),
        message=pl.format("Invoice number {} is used {} times (customers {}); each number must be used once.",
                          pl.col("invoice_id"), pl.col("times"), pl.col("customer_id").list.join(", ")))]

    numbers = (inv.group_by("prefix", "number").agg(pl.col("width").max(), pl.col("verified").any(),
                                                    pl.col("period").min())
               .sort("prefix", "number")
               .with_columns(next_number=pl.col("number").shift(-1).over("prefix"),
                             next_verified=pl.col("verified").shift(-1).over("prefix"),
                             next_period=pl.col("period").shift(-1).over("prefix"))
               .filter((pl.col("next_number") - pl.col("number") > 1)
                       & (pl.col("verified") | pl.col("next_verified"))))
    gaps = numbers.with_columns(run=pl.col("next_number") - pl.col("number") - 1)
    pad = lambda n: number_text(pl.col("prefix"), n, pl.col("width"))  # noqa: E731
    # list the numbers of short gaps only: sparse numbering (random ids) would otherwise list billions
    short = (gaps.filter(pl.col("run") <= MAX_LISTED_PER_GAP)
             .with_columns(missing=pl.int_ranges(pl.col("number") + 1, pl.col("next_number")))
             .explode("missing"))
    out.append(findings(
        short, invoice_id=pad(pl.col("missing")), period=pl.col("next_period"), detail=pl.lit("missing"),
        expected=pad(pl.col("missing")), actual=pl.lit(None),
        message=pl.format("Invoice number {} is missing from the sequence (between {} and {}).",
                          pad(pl.col("missing")), pad(pl.col("number")), pad(pl.col("next_number")))))
    long = gaps.filter(pl.col("run") > MAX_LISTED_PER_GAP)
    out.append(findings(
        long, invoice_id=pad(pl.col("number") + 1), period=pl.col("next_period"), detail=pl.lit("missing range"),
        expected=pl.format("{} numbers", pl.col("run")), actual=pl.lit("0"),
        message=pl.format("{} invoice numbers are missing from the sequence, from {} to {}.", pl.col("run"),
                          pad(pl.col("number") + 1), pad(pl.col("next_number") - 1))))
    return pl.concat(out)
