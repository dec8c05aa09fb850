"""The general ledger journal (``gl_entries``) that posts every document as the contract's Accounts say.

Invoice: Dr 1100 total; Cr 4000 month revenue, Cr 2100 year-term revenue (net of
discount), Cr 2200 tax; the revenue credit is taken as total - tax - year-term
net, so each entry balances and ties to the invoice as issued. Void invoice:
the same entry reversed on the day it was replaced. Payment: Dr 1000, Cr 1100.
Credit note (only on month-only invoices): Dr 4000 amount, Dr 2200 tax, Cr
1100. Revenue release: at each month end of the range from the month its invoice
is issued in, Dr 2100 / Cr 4000 for the days of every invoiced year term served by
then and not yet released (the first release catches up the days served before the
invoice existed), cumulatively rounded so the releases of a term add up to its net
amount exactly. Write-off: a ``manual`` entry Dr 6100 / Cr 1100 naming the invoice.

The posting code is the generator's own, written from the contract apart from
:mod:`billing_lib.engine.ledger` (whose chart of accounts it shares), so the month-end
schedules and the checks are tested against an independent journal.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from billing_lib.core.money import DECIMAL, ZERO, dec, round_money
from billing_lib.engine.ledger import (
    BAD_DEBT,
    CASH,
    CREDIT_NOTE,
    DEFERRED_REVENUE,
    INVOICE,
    MANUAL,
    PAYMENT,
    RECEIVABLES,
    REVENUE,
    REVENUE_RELEASE,
    SALES_TAX,
)
from billing_lib.synth.money_ops import larger, minor_unit

GL_ORDER = {INVOICE: 0, CREDIT_NOTE: 1, PAYMENT: 2, REVENUE_RELEASE: 3, MANUAL: 4}
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
    """Deferred revenue released per year-term invoice and month end of the range, once the invoice exists."""
    live = headers.filter(pl.col("status") != "void").select("inv", "invoice_id", "issue_date")
    terms = (lines.filter(pl.col("kind") == "year_term").join(live, on="inv")
             .select("invoice_id", "currency", "period_start", "period_end", "issue_date",
                     net=pl.col("amount") - pl.col("discount"),
                     days=(pl.col("period_end") - pl.col("period_start")).dt.total_days() + 1))
    month_frame = pl.DataFrame({"m": months}).with_columns(me=pl.col("m").dt.month_end())
    cut = terms.join(month_frame, how="cross").filter(
        (pl.col("me") >= pl.col("period_start")) & (pl.col("me") >= pl.col("issue_date"))
        & (pl.col("m") <= pl.col("period_end")))
    # days already released: those before the month, when the invoice existed at the month before's end
    before = pl.when(pl.col("issue_date") < pl.col("m")).then(
        pl.max_horizontal((pl.col("m") - pl.col("period_start")).dt.total_days(), pl.lit(0))).otherwise(0)
    upto = pl.min_horizontal((pl.col("me") - pl.col("period_start")).dt.total_days() + 1, pl.col("days"))
    share = lambda d: round_money(pl.col("net") * d.cast(DECIMAL) / pl.col("days").cast(DECIMAL),  # noqa: E731
                                  pl.col("currency"))
    return (cut.with_columns(value=(share(upto) - share(before)).cast(DECIMAL))
            .group_by("invoice_id", "currency", "me").agg(pl.col("value").sum())
            .select(pl.col("me").alias("date"), "currency", pl.col("invoice_id").alias("source_id"),
                    pl.col("value").alias("amount")))


def gl_entries(headers: pl.DataFrame, lines: pl.DataFrame, notes: pl.DataFrame, pays: pl.DataFrame,
               months: list[dt.date], void_dates: pl.DataFrame, plants: pl.DataFrame | None = None,
               write_offs: pl.DataFrame | None = None) -> pl.DataFrame:
    """The journal: entry_id, line_no, date, account, debit, credit, currency, source_type, source_id.

    ``plants`` (source_type, source_id, action) plants ledger mistakes: ``drop`` leaves the document
    unposted, ``amount`` posts every line of it about 10% higher (the entry still balances).
    ``write_offs`` (invoice_id, currency, date, amount) are posted as manual entries naming the invoice.
    """
    year_net = (lines.filter(pl.col("kind") == "year_term").group_by("inv")
                .agg((pl.col("amount") - pl.col("discount")).sum().alias("year_net")))
    inv = (headers.join(year_net, on="inv", how="left")
           .with_columns(year_net=pl.col("year_net").fill_null(ZERO))
           .select("inv", "status", "currency", "total", "tax", "year_net",
                   date=pl.col("issue_date"), source_id=pl.col("invoice_id")))
    month_rev = pl.col("total") - pl.col("tax") - pl.col("year_net")
    accounts = [(RECEIVABLES, "debit", pl.col("total")), (REVENUE, "credit", month_rev),
                (DEFERRED_REVENUE, "credit", pl.col("year_net")), (SALES_TAX, "credit", pl.col("tax"))]
    posted = _posting(inv, INVOICE, GL_ORDER[INVOICE], accounts, keep_zero=(RECEIVABLES,))
    voided = inv.filter(pl.col("status") == "void").drop("date").join(void_dates, on="inv")
    reversed_ = _posting(voided, INVOICE, REVERSAL,
                         [(a, "credit" if s == "debit" else "debit", e) for a, s, e in accounts],
                         keep_zero=(RECEIVABLES,))
    cn = notes.select("currency", "amount", "tax", date=pl.col("issue_date"), source_id=pl.col("credit_note_id"))
    credit = _posting(cn, CREDIT_NOTE, GL_ORDER[CREDIT_NOTE],
                      [(REVENUE, "debit", pl.col("amount")), (SALES_TAX, "debit", pl.col("tax")),
                       (RECEIVABLES, "credit", pl.col("amount") + pl.col("tax"))])
    pay = pays.select("currency", "amount", date=pl.col("received_date"), source_id=pl.col("payment_id"))
    cash = _posting(pay, PAYMENT, GL_ORDER[PAYMENT],
                    [(CASH, "debit", pl.col("amount")), (RECEIVABLES, "credit", pl.col("amount"))])
    release = _posting(_releases(lines, headers, months), REVENUE_RELEASE, GL_ORDER[REVENUE_RELEASE],
                       [(DEFERRED_REVENUE, "debit", pl.col("amount")), (REVENUE, "credit", pl.col("amount"))])
    parts = [posted, reversed_, credit, cash, release]
    if write_offs is not None and write_offs.height:
        bad = write_offs.select("date", "currency", "amount", source_id=pl.col("invoice_id"))
        parts.append(_posting(bad, MANUAL, GL_ORDER[MANUAL],
                              [(BAD_DEBT, "debit", pl.col("amount")), (RECEIVABLES, "credit", pl.col("amount"))]))
    journal = pl.concat(parts)
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
