"""Cash application: which invoice each payment pays, and how much of it.

A payment is applied, in this order of trust:

1. ``invoice_id``: the invoice the payer named (an invoice of the same customer that is not void);
2. ``reference``: invoice numbers of the customer found in the bank reference text (several named invoices
   are paid oldest number first, each up to what it still owes, the rest on the last);
3. ``amount``: exactly one open invoice of the customer in the payment's currency, issued on or before
   the day the money came in, that still owes exactly the amount (several payments of one amount are
   paired with several such invoices in order of date);
4. ``sum``: two or three such open invoices that together owe exactly the amount (searched among the
   customer's oldest ``MAX_SUM_CANDIDATES`` open invoices, so the search stays bounded).

A payment that none of these place is unapplied. :func:`apply_payments` returns one row per (payment,
invoice) with the applied amount and the method; the checks and the month-end schedules share it.
"""
from __future__ import annotations

import polars as pl

from billing_lib.core.money import DECIMAL, ZERO

MAX_SUM_CANDIDATES = 24
# an invoice number inside free text: a word that may hold - / . inside, but does not end in punctuation
TOKEN_RE = r"\w(?:[\w\-/.]*\w)?"
APPLICATION_SCHEMA = {"payment_id": pl.String, "customer_id": pl.String, "invoice_id": pl.String,
                      "applied": DECIMAL, "method": pl.String}


def _frame(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def owed_before_payments(invoices: pl.DataFrame, credit_notes: pl.DataFrame) -> pl.DataFrame:
    """Live invoices (one row per number) with ``credited`` (credit notes: amount + tax) and ``owed`` =
    total - credited."""
    live = (invoices.filter(pl.col("status") != "void").unique("invoice_id", keep="first", maintain_order=True)
            .select("invoice_id", "customer_id", "currency", "issue_date", pl.col("total").cast(DECIMAL)))
    credited = (credit_notes.group_by("invoice_id")
                .agg((pl.col("amount").cast(DECIMAL) + pl.col("tax").cast(DECIMAL).fill_null(ZERO)).sum()
                     .cast(DECIMAL).alias("credited")))
    return (live.join(credited, on="invoice_id", how="left")
            .with_columns(credited=pl.col("credited").fill_null(ZERO))
            .with_columns(owed=(pl.col("total") - pl.col("credited")).cast(DECIMAL)))


def _owed_now(inv: pl.DataFrame, apps: list[pl.DataFrame]) -> pl.DataFrame:
    """Invoices with ``open_amount``: what is still owed after the applications so far."""
    if apps:
        paid = pl.concat(apps).group_by("invoice_id").agg(pl.col("applied").sum().cast(DECIMAL).alias("_paid"))
        inv = inv.join(paid, on="invoice_id", how="left")
    else:
        inv = inv.with_columns(_paid=pl.lit(None, DECIMAL))
    return inv.with_columns(open_amount=(pl.col("owed") - pl.col("_paid").fill_null(ZERO)).cast(DECIMAL)).drop(
        "_paid")


def _allocate(rows: pl.DataFrame, method: str) -> pl.DataFrame:
    """Spread each payment over its invoices (sorted): each up to its open amount, the rest on the last."""
    open_ = pl.max_horizontal(pl.col("open_amount"), ZERO).cast(DECIMAL)
    rows = rows.sort("payment_id", "invoice_id").with_columns(
        _before=(open_.cum_sum().over("payment_id") - open_).cast(DECIMAL),
        _last=pl.int_range(pl.len()).over("payment_id") == pl.len().over("payment_id") - 1)
    part = pl.min_horizontal(pl.max_horizontal(pl.col("amount") - pl.col("_before"), ZERO), open_).cast(DECIMAL)
    rows = rows.with_columns(_part=part)
    rows = rows.with_columns(
        applied=pl.when(pl.col("_last"))
        .then(pl.col("amount") - (pl.col("_part").sum().over("payment_id") - pl.col("_part")))
        .otherwise(pl.col("_part")).cast(DECIMAL))
    return rows.select("payment_id", "customer_id", "invoice_id", "applied", method=pl.lit(method))


def apply_payments(invoices: pl.DataFrame | pl.LazyFrame, payments: pl.DataFrame | pl.LazyFrame,
                   credit_notes: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Applications: payment_id, customer_id, invoice_id, applied (Decimal), method
    (``invoice_id``, ``reference``, ``amount`` or ``sum``)."""
    inv = owed_before_payments(_frame(invoices), _frame(credit_notes))
    pays = _frame(payments).select("payment_id", "customer_id", "currency", pl.col("amount").cast(DECIMAL),
                                   "received_date", "invoice_id", "reference")
    if pays.height == 0:
        return pl.DataFrame(schema=APPLICATION_SCHEMA)
    apps: list[pl.DataFrame] = []

    named = pays.filter(pl.col("invoice_id").is_not_null()).join(
        inv.select("invoice_id", "customer_id"), on=["invoice_id", "customer_id"], how="inner")
    apps.append(named.select("payment_id", "customer_id", "invoice_id", applied=pl.col("amount"),
                             method=pl.lit("invoice_id")))
    rest = pays.join(named.select("payment_id"), on="payment_id", how="anti")

    tokens = (rest.filter(pl.col("reference").is_not_null())
              .select("payment_id", "customer_id", "amount", tok=pl.col("reference").str.extract_all(TOKEN_RE))
              .explode("tok").unique(["payment_id", "tok"]))
    open_now = _owed_now(inv, apps)
    referenced = tokens.join(open_now.select("invoice_id", "customer_id", "open_amount"),
                             left_on=["tok", "customer_id"], right_on=["invoice_id", "customer_id"], how="inner")
    referenced = referenced.rename({"tok": "invoice_id"})
    if referenced.height:
        apps.append(_allocate(referenced, "reference"))
    rest = rest.join(referenced.select("payment_id").unique(), on="payment_id", how="anti")

    if rest.height:
        open_now = _owed_now(inv, apps).filter(pl.col("open_amount") > 0)
        key = ["customer_id", "currency"]
        p = rest.drop("invoice_id").sort("received_date", "payment_id").with_columns(
            _n=pl.int_range(pl.len()).over(*key, "amount"))
        o = open_now.sort("issue_date", "invoice_id").with_columns(
            _n=pl.int_range(pl.len()).over(*key, "open_amount"))
        exact = (p.join(o.select(*key, "invoice_id", "issue_date", "open_amount", "_n"),
                        left_on=[*key, "amount", "_n"], right_on=[*key, "open_amount", "_n"], how="inner")
                 .filter(pl.col("issue_date") <= pl.col("received_date")))
        apps.append(exact.select("payment_id", "customer_id", "invoice_id", applied=pl.col("amount"),
                                 method=pl.lit("amount")))
        rest = rest.join(exact.select("payment_id"), on="payment_id", how="anti")

    if rest.height:
        apps.append(_apply_sums(rest, _owed_now(inv, apps)))
    return pl.concat([a.cast(APPLICATION_SCHEMA) for a in apps]).sort("payment_id", "invoice_id")


def _apply_sums(rest: pl.DataFrame, open_now: pl.DataFrame) -> pl.DataFrame:
    """Payments that two or three open invoices of the customer owe exactly, together."""
    key = ["customer_id", "currency"]
    cand = (open_now.filter(pl.col("open_amount") > 0).join(rest.select(key).unique(), on=key, how="semi")
            .sort("issue_date", "invoice_id")
            .with_columns(_r=pl.int_range(pl.len()).over(key)).filter(pl.col("_r") < MAX_SUM_CANDIDATES)
            .select(*key, "invoice_id", "issue_date", "open_amount", "_r"))
    if cand.height < 2:
        return pl.DataFrame(schema=APPLICATION_SCHEMA)
    a = cand.rename({c: f"{c}_a" for c in ("invoice_id", "issue_date", "open_amount", "_r")})
    b = cand.rename({c: f"{c}_b" for c in ("invoice_id", "issue_date", "open_amount", "_r")})
    c = cand.rename({c: f"{c}_c" for c in ("invoice_id", "issue_date", "open_amount", "_r")})
    pairs = a.join(b, on=key).filter(pl.col("_r_a") < pl.col("_r_b")).with_columns(
        _sum=(pl.col("open_amount_a") + pl.col("open_amount_b")).cast(DECIMAL), _last=pl.col("issue_date_b"),
        invoice_id_c=pl.lit(None, pl.String), _size=pl.lit(2))
    triples = (a.join(b, on=key).filter(pl.col("_r_a") < pl.col("_r_b")).join(c, on=key)
               .filter(pl.col("_r_b") < pl.col("_r_c"))
               .with_columns(_sum=(pl.col("open_amount_a") + pl.col("open_amount_b") + pl.col("open_amount_c"))
                             .cast(DECIMAL),
                             _last=pl.max_horizontal("issue_date_b", "issue_date_c"), _size=pl.lit(3)))
    cols = [*key, "invoice_id_a", "invoice_id_b", "invoice_id_c", "open_amount_a", "open_amount_b",
            "open_amount_c", "_sum", "_last", "_size", "issue_date_a"]
    combos = pl.concat([pairs.with_columns(open_amount_c=pl.lit(None, DECIMAL)).select(cols), triples.select(cols)])
    hit = (rest.join(combos, left_on=[*key, "amount"], right_on=[*key, "_sum"], how="inner")
           .filter(pl.max_horizontal("issue_date_a", "_last") <= pl.col("received_date"))
           .sort("payment_id", "_size", "invoice_id_a", "invoice_id_b", "invoice_id_c", nulls_last=True)
           .unique("payment_id", keep="first", maintain_order=True))
    parts = [hit.select("payment_id", "customer_id", invoice_id=pl.col(f"invoice_id_{s}"),
                        applied=pl.col(f"open_amount_{s}"), method=pl.lit("sum")) for s in "abc"]
    return pl.concat(parts).filter(pl.col("invoice_id").is_not_null())
