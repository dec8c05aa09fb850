"""The customer's story in tables: profile and terms, subscriptions, every line against the contract, usage
against what was billed, payments and credit notes, and a statement of account with a running balance.

Each function takes an :class:`~billing_lib.investigation.subject.Investigation` and returns a polars
frame (``.to_pandas()`` for pandas); money stays Decimal. A finding that concerns no customer gives
empty tables.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from billing_lib.core.money import DECIMAL, ZERO
from billing_lib.core.periods import month_end
from billing_lib.core.runs import run_position
from billing_lib.engine.rating import charge_description
from billing_lib.investigation.subject import Investigation


def _none(frame_schema: dict) -> pl.DataFrame:
    return pl.DataFrame(schema=frame_schema)


def profile(inv: Investigation) -> pl.DataFrame:
    """The customer's master data and terms as (field, value) rows, with the tax rate in force now."""
    c = inv.customer
    if c is None:
        return _none({"field": pl.String, "value": pl.String})
    last = month_end(inv.months[-1])
    rates = (inv.ds.frame("tax_rates").filter(pl.col("country") == c["country"])
             .filter((pl.col("valid_from") <= last) & (pl.col("valid_to").is_null() | (pl.col("valid_to") >= last)))
             .sort("valid_from").collect())
    rate = "0 (tax exempt)" if c["tax_exempt"] else (
        f"{rates['rate_pct'][-1].normalize():f}%" if rates.height else "no rate in tax_rates")
    invoices = inv.ds.frame("invoices").filter(pl.col("customer_id") == c["customer_id"]).collect()
    subs = inv.ds.frame("subscriptions").filter(pl.col("customer_id") == c["customer_id"]).collect()
    rows = [("customer", c["customer_id"]), ("name", c["name"] or ""), ("email", c.get("email") or ""),
            ("country", c["country"]), ("currency", c["currency"]),
            ("payment terms", f"{c['payment_terms_days']} days"),
            ("tax exempt", "yes" if c["tax_exempt"] else "no"),
            (f"tax rate in force on {last.isoformat()}", rate),
            ("subscriptions", str(subs.height)),
            ("invoices", f"{invoices.height} ({invoices.filter(pl.col('status') == 'void').height} void)")]
    return pl.DataFrame(rows, schema={"field": pl.String, "value": pl.String}, orient="row")


def subscriptions(inv: Investigation) -> pl.DataFrame:
    """The customer's subscriptions with the plan and the contract price (override or price book)."""
    if inv.customer is None:
        return _none({"subscription_id": pl.String})
    cur = inv.customer["currency"]
    plans = inv.ds.frame("plans").filter(pl.col("currency") == cur).select(
        "plan_id", "product", "billing", "interval", "charge_model", pl.col("unit_price").alias("list_price"))
    return (inv.ds.frame("subscriptions").filter(pl.col("customer_id") == inv.customer_id)
            .join(plans, on="plan_id", how="left")
            .select("subscription_id", "plan_id", "product", "billing", "interval", "charge_model",
                    pl.col("quantity").alias("seats"), "start_date", "end_date", "discount_pct", "list_price",
                    pl.col("unit_price_override").alias("negotiated_price"), pl.lit(cur).alias("currency"))
            .sort("start_date", "subscription_id").collect())


def line_comparison(inv: Investigation) -> pl.DataFrame:
    """Every invoice line of the months beside the charge the contract gives for its subscription and month,
    and every charge due but not billed: billed and expected net, tax and total, and the difference.

    ``status``: ``matches``; ``differs`` (from the contract); ``not billed`` (due, no line); ``not due`` (a
    line the contract has no charge for); ``repeated`` (the subscription and month billed on an earlier line).
    """
    ctx = inv.ctx
    schema_cols = ["period", "invoice_id", "line_no", "subscription_id", "description", "currency",
                   "billed_quantity", "expected_quantity", "billed_net", "expected_net", "billed_tax",
                   "expected_tax", "billed_total", "expected_total", "difference", "status"]
    if inv.customer_id is None:
        return _none({c: pl.String for c in schema_cols})
    lines = (ctx.lines.filter(pl.col("customer_id") == inv.customer_id)
             .sort("subscription_id", "period", "issue_date", "invoice_id", "line_no", nulls_last=True)
             .with_columns(rank=run_position("subscription_id", "period").cast(pl.Int64) + 1))
    expected = ctx.expected.filter(pl.col("customer_id") == inv.customer_id).select(
        "subscription_id", "period", pl.col("currency").alias("exp_currency"),
        pl.col("quantity").alias("expected_quantity"), (pl.col("amount") - pl.col("discount")).alias("expected_net"),
        pl.col("tax_amount").alias("expected_tax"), pl.col("total").alias("expected_total"),
        charge_description().alias("exp_description"), pl.lit(1, pl.Int64).alias("rank"))
    joined = lines.join(expected, on=["subscription_id", "period", "rank"], how="full", coalesce=True)
    billed_total = pl.col("amount") - pl.col("discount") + pl.col("tax_amount")
    out = joined.with_columns(
        billed_net=(pl.col("amount") - pl.col("discount")).cast(DECIMAL), billed_tax=pl.col("tax_amount"),
        billed_total=billed_total.cast(DECIMAL), billed_quantity=pl.col("quantity"),
        currency=pl.coalesce("currency", "exp_currency"),
        description=pl.coalesce("description", "exp_description"),
    ).with_columns(
        difference=(pl.col("billed_total").fill_null(ZERO) - pl.col("expected_total").fill_null(ZERO)).cast(DECIMAL),
        status=pl.when(pl.col("invoice_id").is_null()).then(pl.lit("not billed"))
        .when(pl.col("rank") > 1).then(pl.lit("repeated"))
        .when(pl.col("expected_total").is_null()).then(pl.lit("not due"))
        .when((pl.col("billed_total") == pl.col("expected_total")) & (pl.col("billed_tax") == pl.col("expected_tax"))
              & (pl.col("billed_quantity") == pl.col("expected_quantity")))
        .then(pl.lit("matches")).otherwise(pl.lit("differs")))
    # a zero charge may be left off an invoice: not a difference
    out = out.filter(~((pl.col("status") == "not billed") & (pl.col("expected_total") == 0)))
    return out.select(schema_cols).sort("period", "invoice_id", "line_no", "subscription_id", nulls_last=True)


def usage_vs_billed(inv: Investigation) -> pl.DataFrame:
    """Per usage subscription and month: the billable metered units and the quantity the invoices billed."""
    ctx = inv.ctx
    if inv.customer_id is None:
        return _none({"subscription_id": pl.String, "period": pl.String})
    metered = ctx.expected.filter((pl.col("customer_id") == inv.customer_id) & (pl.col("kind") == "usage")).select(
        "subscription_id", "period", "plan_id", pl.col("units").alias("metered"), "event_count")
    billed = (ctx.lines.filter(pl.col("customer_id") == inv.customer_id)
              .join(metered.select("subscription_id").unique(), on="subscription_id", how="semi")
              .group_by("subscription_id", "period").agg(pl.col("quantity").sum().alias("billed"),
                                                         pl.len().alias("lines")))
    return (metered.join(billed, on=["subscription_id", "period"], how="left")
            .with_columns(billed=pl.col("billed").fill_null(ZERO), lines=pl.col("lines").fill_null(0))
            .with_columns(difference=(pl.col("billed") - pl.col("metered")).cast(DECIMAL))
            .select("subscription_id", "plan_id", "period", "event_count", "metered", "billed", "lines", "difference")
            .sort("subscription_id", "period"))


def payments_and_credits(inv: Investigation) -> pl.DataFrame:
    """The customer's payments and credit notes, by date: what came in, what was credited, on which invoice."""
    cols = {"date": pl.Date, "document": pl.String, "document_id": pl.String, "invoice_id": pl.String,
            "currency": pl.String, "amount": DECIMAL, "tax": DECIMAL, "total": DECIMAL, "note": pl.String}
    if inv.customer_id is None:
        return _none(cols)
    pays = inv.ds.frame("payments").filter(pl.col("customer_id") == inv.customer_id).select(
        pl.col("received_date").alias("date"), pl.lit("payment").alias("document"),
        pl.col("payment_id").alias("document_id"), "invoice_id", "currency", pl.col("amount").cast(DECIMAL),
        pl.lit(None, DECIMAL).alias("tax"), pl.col("amount").cast(DECIMAL).alias("total"),
        pl.col("reference").alias("note"))
    heads = inv.ds.frame("invoices").select("invoice_id", "customer_id", "currency").unique("invoice_id")
    notes = (inv.ds.frame("credit_notes").join(heads, on="invoice_id", how="inner")
             .filter(pl.col("customer_id") == inv.customer_id)
             .select(pl.col("issue_date").alias("date"), pl.lit("credit note").alias("document"),
                     pl.col("credit_note_id").alias("document_id"), "invoice_id", "currency",
                     pl.col("amount").cast(DECIMAL), pl.col("tax").cast(DECIMAL).fill_null(ZERO),
                     (pl.col("amount") + pl.col("tax").fill_null(ZERO)).cast(DECIMAL).alias("total"),
                     pl.col("reason").alias("note")))
    return pl.concat([pays, notes]).select(list(cols)).cast(cols).sort("date", "document", "document_id").collect()


def statement(inv: Investigation) -> pl.DataFrame:
    """Statement of account, every document of the customer in the data (later months too: were the invoices
    paid?): invoices (debit), credit notes and payments (credit) in date order, a running balance per currency.
    Void invoices are listed without effect.

    The customer's documents are collected as typed rows first, then rechunked, then their notes written:
    polars 2.1's ``pl.format`` panics on a text column holding an empty chunk, which a streaming collect
    leaves behind (see ``tests/test_streaming_panic.py``).
    """
    cols = {"date": pl.Date, "document": pl.String, "document_id": pl.String, "currency": pl.String,
            "debit": DECIMAL, "credit": DECIMAL, "balance": DECIMAL, "note": pl.String}
    if inv.customer_id is None:
        return _none(cols)
    heads = (inv.ds.frame("invoices").filter(pl.col("customer_id") == inv.customer_id)
             .select("issue_date", "invoice_id", "currency", "total", "status", "period_start", "period_end")
             .collect().rechunk())
    invoices = heads.select(
        pl.col("issue_date").alias("date"), pl.lit(0).alias("order"), pl.lit("invoice").alias("document"),
        pl.col("invoice_id").alias("document_id"), "currency",
        pl.when(pl.col("status") == "void").then(ZERO).otherwise(pl.col("total")).cast(DECIMAL).alias("debit"),
        pl.lit(None, DECIMAL).alias("credit"),
        pl.format("{} to {}, {}", pl.col("period_start").dt.strftime("%Y-%m-%d"),
                  pl.col("period_end").dt.strftime("%Y-%m-%d"), pl.col("status")).alias("note"))
    other = payments_and_credits(inv).rechunk().select(
        "date", pl.when(pl.col("document") == "payment").then(2).otherwise(1).alias("order"), "document",
        "document_id", "currency", pl.lit(None, DECIMAL).alias("debit"), pl.col("total").alias("credit"),
        pl.format("{}{}", pl.when(pl.col("invoice_id").is_not_null()).then(pl.format("on {}: ", "invoice_id"))
                  .otherwise(pl.lit("")), pl.col("note").fill_null("")).alias("note"))
    rows = (pl.concat([invoices, other]).sort("date", "order", "document_id", "currency")
            .with_columns(balance=(pl.col("debit").fill_null(ZERO) - pl.col("credit").fill_null(ZERO))
                          .cum_sum().over("currency").cast(DECIMAL)))
    return rows.select(list(cols)).cast(cols)


def balances(inv: Investigation) -> dict[str, object]:
    """The closing balance per currency of the statement (what the customer owes; negative: in credit)."""
    st = statement(inv)
    if st.is_empty():
        return {}
    last = st.group_by("currency", maintain_order=True).agg(pl.col("balance").last())
    return {r["currency"]: r["balance"] for r in last.sort("currency").iter_rows(named=True)}


def statement_date(inv: Investigation) -> str:
    """The day the statement runs to: its last document, or the issue day of the last month's invoices."""
    last = month_end(inv.months[-1]) + dt.timedelta(days=1)
    st = statement(inv)
    return max([last, *st["date"].to_list()]).isoformat()
