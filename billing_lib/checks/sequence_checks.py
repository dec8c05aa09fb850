"""The invoice number sequence: one gapless sequence per prefix, in the order of issue.

Global: it needs every invoice of the dataset, not one customer's, so it does not run on customer shards.
"""
from __future__ import annotations

import polars as pl

from billing_lib.checks.base import Finding, check, finding
from billing_lib.checks.context import CheckContext
from billing_lib.checks.evidence import Explanation
from billing_lib.checks.figures import Figure, joined, text
from billing_lib.core.numbering import number_text
from billing_lib.core.runs import run_last

MAX_LISTED_PER_GAP = 100  # a longer run of missing numbers is reported as one range


def _number(n: pl.Expr) -> Figure:
    """The invoice id of number ``n`` in the row's sequence (its prefix, padded to its width)."""
    return Figure((pl.col("prefix"), n, pl.col("width")), lambda c: number_text(c[0], c[1], c[2]))


def _next_in_prefix(value: pl.Expr) -> pl.Expr:
    """The value of the next row of the same prefix (rows sorted by prefix): a shift, not a window over the
    prefixes, which hashes every number."""
    return pl.when(~run_last("prefix")).then(value.shift(-1))


@check("invoice_number_gap", title="Invoice number sequence", scope="global",
       explain=Explanation("An invoice number is missing from, or repeated in, the sequence.", "numbering",
                           "auditors expect one gapless sequence"),
       reads=("invoice_numbers",))
def invoice_number_gap(ctx: CheckContext) -> list[Finding]:
    """A number missing from, or repeated in, the invoice number sequence (void invoices keep their number)."""
    inv = ctx.invoice_numbers.lazy().filter(pl.col("number").is_not_null())
    repeated = (inv.group_by("invoice_id").agg(pl.len().alias("times"), pl.col("verified").any(),
                                               pl.col("period").min(), pl.col("customer_id").unique().sort())
                .filter((pl.col("times") > 1) & pl.col("verified")))
    out = [finding(
        repeated, invoice_id=pl.col("invoice_id"), period=pl.col("period"), detail="repeated",
        expected="1", actual=pl.col("times"), difference=pl.col("times") - 1,
        message=text("Invoice number {invoice} is used {times} times (customers {customers}); each number must be "
                     "used once.", invoice=pl.col("invoice_id"), times=pl.col("times"),
                     customers=joined(pl.col("customer_id"))))]

    numbers = (inv.group_by("prefix", "number").agg(pl.col("width").max(), pl.col("verified").any(),
                                                    pl.col("period").min())
               .sort("prefix", "number")
               .with_columns(**{f"next_{c}": _next_in_prefix(pl.col(c)) for c in ("number", "verified", "period")})
               .filter((pl.col("next_number") - pl.col("number") > 1)
                       & (pl.col("verified") | pl.col("next_verified"))))
    gaps = numbers.with_columns(run=pl.col("next_number") - pl.col("number") - 1)
    # list the numbers of short gaps only: sparse numbering (random ids) would otherwise list billions
    short = (gaps.filter(pl.col("run") <= MAX_LISTED_PER_GAP)
             .with_columns(missing=pl.int_ranges(pl.col("number") + 1, pl.col("next_number")))
             .explode("missing"))
    out.append(finding(
        short, invoice_id=_number(pl.col("missing")), period=pl.col("next_period"), detail="missing",
        expected=_number(pl.col("missing")),
        message=text("Invoice number {missing} is missing from the sequence (between {before} and {after}).",
                     missing=_number(pl.col("missing")), before=_number(pl.col("number")),
                     after=_number(pl.col("next_number")))))
    long = gaps.filter(pl.col("run") > MAX_LISTED_PER_GAP)
    out.append(finding(
        long, invoice_id=_number(pl.col("number") + 1), period=pl.col("next_period"), detail="missing range",
        expected=text("{run} numbers", run=pl.col("run")), actual="0",
        message=text("{run} invoice numbers are missing from the sequence, from {first} to {last}.",
                     run=pl.col("run"), first=_number(pl.col("number") + 1), last=_number(pl.col("next_number") - 1))))
    return out
