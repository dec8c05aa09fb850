"""The general ledger journal (``gl_entries``) that posts every document as the contract's Accounts say.

Invoice: Dr 1100 total; Cr 4000 month revenue, Cr 2100 year-term revenue (net of
discount), Cr 2200 tax; the revenue credit is taken as total - tax - year-term
net, so each entry balances and ties to the invoice as issued. Void invoice:
the same entry reversed on the day it was replaced. Payment: Dr 1000, Cr 1100.
Credit note (only on month-only invoices): Dr 4000 amount, Dr 2200 tax, Cr
1100. Revenue release: at each month end of the range, Dr 2100 / Cr 4000 for
the days of that month of every invoiced year term, cumulatively rounded so
the releases of a term add up to its net amount exactly.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from billing_lib.core.money import DECIMAL, ZERO, dec, round_money
from billing_lib.synth.money_ops import larger, minor_unit

GL_ORDER = {"invoice": 0, "credit_note": 1, "payment": 2, "revenue_release": 3}
REVERSAL = 9


def _posting(frame: pl.DataFrame, source_type: str, order: int, accounts: list[tuple[str, str, pl.Expr]],
             keep_zero: tuple[str, ...] = ()) -> pl.DataFrame:
    """One journal line per (document, account); ``accounts`` are (account, 'debit'|'credit', amount)."""
    parts = []
    for line, (account, side, amount) in enumerate(accounts, start=1):
        parts.append(frame.select(
            "date", "currency", "source_id", pl.lit(order).alias("order"), pl.lit(line).alias("slot"),
            pl.lit(account).alias("account"), amount.cast(DECIMAL).alias("value"), pl.lit(side).alias("side"),
        ).filter((pl.col("value") != 0) | pl.lit(account in keep_zero)))
    out = pl.concat(parts)
    return out.with_columns(source_type=pl.lit(source_type))


def _releases(lines: pl.DataFrame, headers: pl.DataFrame, months: list[dt.date]) -> pl.DataFrame:
    """Deferred revenue released per year-term invoice and month end of the range."""
    live = headers.filter(pl.col("status") != "void").select("inv", "invoice_id")
    terms = (lines.filter(pl.col("kind") == "year_term").join(live, on="inv")
             .select("invoice_id", "currency", "period_start", "period_end",
                     net=pl.col("amount") - pl.col("discount"),
                     days=(pl.col("period_end") - pl.col("period_start")).dt.total_days() + 1))
    month_frame = pl.DataFrame({"m": months}).with_columns(me=pl.col("m").dt.month_end())
    cut = terms.join(month_frame, how="cross").filter(
        (pl.col("me") >= pl.col("period_start")) & (pl.col("m") <= pl.col("period_end")))
    before = pl.max_horizontal((pl.col("m") - pl.col("period_start")).dt.total_days(), pl.lit(0))
    upto = pl.min_horizontal((pl.col("me") - pl.col("period_start")).dt.total_days() + 1, pl.col("days"))
    share = lambda d: round_money(pl.col("net") * d.cast(DECIMAL) / pl.col("days").cast(DECIMAL),  # noqa: E731
                                  pl.col("currency"))
    return (cut.with_columns(value=(share(upto) - share(before)).cast(DECIMAL))
            .group_by("invoice_id", "currency", "me").agg(pl.col("value").sum())
            .select(pl.col("me").alias("date"), "currency", pl.col("invoice_id").alias("source_id"),
                    pl.col("value").alias("amount")))


def gl_entries(headers: pl.DataFrame, lines: pl.DataFrame, notes: pl.DataFrame, pays: pl.DataFrame,
               months: list[dt.date], void_dates: pl.DataFrame, plants: pl.DataFrame | None = None) -> pl.DataFrame:
    """The journal: entry_id, line_no, date, account, debit, credit, currency, source_type, source_id.

    ``plants`` (source_type, source_id, action) plants ledger mistakes: ``drop`` leaves the document
    unposted, ``amount`` posts every line of it about 10% higher (the entry still balances).
    """
    year_net = (lines.filter(pl.col("kind") == "year_term").group_by("inv")
                .agg((pl.col("amount") - pl.col("discount")).sum().alias("year_net")))
    inv = (headers.join(year_net, on="inv", how="left")
           .with_columns(year_net=pl.col("year_net").fill_null(ZERO))
           .select("inv", "status", "currency", "total", "tax", "year_net",
                   date=pl.col("issue_date"), source_id=pl.col("invoice_id")))
    month_rev = pl.col("total") - pl.col("tax") - pl.col("year_net")
    accounts = [("1100", "debit", pl.col("total")), ("4000", "credit", month_rev),
                ("2100", "credit", pl.col("year_net")), ("2200", "credit", pl.col("tax"))]
    posted = _posting(inv, "invoice", GL_ORDER["invoice"], accounts, keep_zero=("1100",))
    voided = inv.filter(pl.col("status") == "void").drop("date").join(void_dates, on="inv")
    reversed_ = _posting(voided, "invoice", REVERSAL,
                         [(a, "credit" if s == "debit" else "debit", e) for a, s, e in accounts], keep_zero=("1100",))
    cn = notes.select("currency", "amount", "tax", date=pl.col("issue_date"), source_id=pl.col("credit_note_id"))
    credit = _posting(cn, "credit_note", GL_ORDER["credit_note"],
                      [("4000", "debit", pl.col("amount")), ("2200", "debit", pl.col("tax")),
                       ("1100", "credit", pl.col("amount") + pl.col("tax"))])
    pay = pays.select("currency", "amount", date=pl.col("received_date"), source_id=pl.col("payment_id"))
    cash = _posting(pay, "payment", GL_ORDER["payment"],
                    [("1000", "debit", pl.col("amount")), ("1100", "credit", pl.col("amount"))])
    release = _posting(_releases(lines, headers, months), "revenue_release", GL_ORDER["revenue_release"],
                       [("2100", "debit", pl.col("amount")), ("4000", "credit", pl.col("amount"))])
    journal = pl.concat([posted, reversed_, credit, cash, release])
    if plants is not None and plants.height:
        cur = pl.col("currency")
        journal = (journal.join(plants, on=["source_type", "source_id"], how="left")
                   .filter(pl.col("action").is_null() | (pl.col("action") != "drop"))
                   .with_columns(value=pl.when(pl.col("action") == "amount")
                                 .then(pl.col("value") + larger(round_money(pl.col("value") * dec("0.1"), cur),
                                                                minor_unit(cur)))
                                 .otherwise(pl.col("value")).cast(DECIMAL))
                   .drop("action"))
    journal = journal.sort("date", "order", "source_id", "slot")
    keys = journal.select("date", "order", "source_id").unique(maintain_order=True)
    width = max(7, len(str(keys.height)))
    keys = keys.with_columns(entry_id=pl.format("JE-{}", pl.int_range(1, pl.len() + 1).cast(pl.String)
                                                .str.zfill(width)))
    return (journal.join(keys, on=["date", "order", "source_id"], maintain_order="left")
            .with_columns(line_no=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("entry_id"),
                          debit=pl.when(pl.col("side") == "debit").then("value"),
                          credit=pl.when(pl.col("side") == "credit").then("value"))
            .select("entry_id", "line_no", "date", "account", "debit", "credit", "currency", "source_type",
                    "source_id"))
