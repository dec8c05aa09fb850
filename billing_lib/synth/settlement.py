"""After issue: a few credit notes, payments (full, in instalments, partial or none) and invoice status.

All of it is kept consistent: a credit note never exceeds its invoice, a
payment never overpays, and the status follows the balance (total - payments
- credit notes <= 0 is ``paid``). A few unpaid invoices are given up as ``uncollectible``, and
those long overdue are written off (a manual ledger entry, as the contract says). Mistakes are
planted by ``settlement_mistakes``.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from billing_lib.core.money import DECIMAL, ZERO, dec, round_money

CREDIT_REASONS = ("Service outage, goodwill credit", "Pricing correction agreed with the customer",
                  'Returned seats, "unused" licences')
CREDIT_SHARES = ("10", "25", "50")
REFERENCE_FORMATS = ("{}", "Payment {}", "REF {} / thank you", "Überweisung {}, Rechnung")


def credit_notes(headers: pl.DataFrame, lines: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Credit notes on about 1% of the clean month-only invoices (at least one when any qualifies)."""
    untouched = lines.group_by("inv").agg(
        clean=pl.col("_plant").is_null().all() & (pl.col("kind") != "year_term").all())
    cand = (headers.join(untouched, on="inv")
            .filter(pl.col("clean") & (pl.col("variant") == "") & pl.col("plant").is_null()
                    & ((pl.col("subtotal") - pl.col("discount")) > 0))
            .sort("inv"))
    if cand.height == 0:
        return pl.DataFrame(schema={"credit_note_id": pl.String, "invoice_id": pl.String, "inv": pl.Int64,
                                    "issue_date": pl.Date, "amount": DECIMAL, "tax": DECIMAL, "reason": pl.String,
                                    "currency": pl.String})
    count = max(1, round(0.01 * cand.height))
    picked = (cand.with_columns(key=pl.Series(rng.random(cand.height))).sort("key").head(count)
              .with_columns(r=pl.Series(rng.integers(0, 3, count))))
    share = pl.col("r").replace_strict(list(range(3)), list(CREDIT_SHARES), return_dtype=pl.String).cast(DECIMAL)
    notes = picked.select(
        "invoice_id", "inv", "currency",
        issue_date=pl.col("issue_date").dt.offset_by(pl.format("{}d", pl.col("r") * 5 + 3)),
        amount=round_money((pl.col("subtotal") - pl.col("discount")) * share / 100, pl.col("currency")),
        tax=round_money(pl.col("tax") * share / 100, pl.col("currency")),
        reason=pl.col("r").replace_strict(list(range(3)), list(CREDIT_REASONS), return_dtype=pl.String),
    ).sort("issue_date", "invoice_id")
    width = max(6, len(str(notes.height)))
    return notes.with_columns(credit_note_id=pl.format(
        "CN-{}", pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(width)))


def payments(headers: pl.DataFrame, notes: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Payments of the live invoices: 72% in full, 8% in two instalments, 10% partly, 10% not yet."""
    credited = notes.group_by("inv").agg((pl.col("amount") + pl.col("tax")).sum().alias("credited"))
    h = (headers.join(credited, on="inv", how="left").sort("inv")
         .with_columns(owed=(pl.col("total") - pl.col("credited").fill_null(ZERO)).cast(DECIMAL)))
    n = h.height
    u = rng.random(n)
    delay = rng.integers(0, h["terms_days"].to_numpy() + 21)
    later = rng.integers(10, 40, n)
    fmt = rng.integers(0, len(REFERENCE_FORMATS), n)
    unnamed = rng.random(n) < 0.03
    h = h.with_columns(
        plan=pl.Series(np.where(u < 0.72, "full", np.where(u < 0.80, "split", np.where(u < 0.90, "part", "none")))),
        delay=pl.Series(delay), later=pl.Series(later), fmt=pl.Series(fmt), unnamed=pl.Series(unnamed),
    ).filter((pl.col("status").is_null() | (pl.col("status") != "void")) & (pl.col("owed") > 0)
             & (pl.col("plan") != "none")
             & (pl.col("plant").is_null() | (pl.col("plant") != "currency_mismatch")))
    cur = pl.col("currency")
    first = (pl.when(pl.col("plan") == "full").then(pl.col("owed"))
             .when(pl.col("plan") == "split").then(round_money(pl.col("owed") / 2, cur))
             .otherwise(round_money(pl.col("owed") * dec("0.4"), cur)))
    one = h.with_columns(amount=first.cast(DECIMAL), instalment=pl.lit(1),
                         received_date=pl.col("issue_date").dt.offset_by(pl.format("{}d", pl.col("delay"))))
    two = (one.filter(pl.col("plan") == "split")
           .with_columns(amount=(pl.col("owed") - pl.col("amount")).cast(DECIMAL), instalment=pl.lit(2),
                         received_date=pl.col("received_date").dt.offset_by(pl.format("{}d", pl.col("later")))))
    pays = pl.concat([one, two]).filter(pl.col("amount") > 0)
    reference = pl.when(pl.col("fmt") == 0).then(pl.col("invoice_id"))
    for i, text in enumerate(REFERENCE_FORMATS[1:], start=1):
        reference = reference.when(pl.col("fmt") == i).then(pl.format(text, pl.col("invoice_id")))
    pays = (pays.select("customer_id", "currency", "amount", "received_date", "inv", "instalment",
                        invoice_id=pl.when(pl.col("unnamed")).then(None).otherwise(pl.col("invoice_id")),
                        reference=reference, named=pl.col("invoice_id"))
            .sort("received_date", "named", "instalment"))
    width = max(7, len(str(pays.height)))
    return pays.with_columns(payment_id=pl.format("PAY-{}", pl.int_range(1, pl.len() + 1).cast(pl.String)
                                                  .str.zfill(width)))


def with_status(headers: pl.DataFrame, notes: pl.DataFrame, pays: pl.DataFrame) -> pl.DataFrame:
    """``status``: void stays void; ``paid`` when nothing is owed, else ``open``."""
    credited = notes.group_by("inv").agg((pl.col("amount") + pl.col("tax")).sum().alias("_cr"))
    paid = pays.group_by("inv").agg(pl.col("amount").sum().alias("_paid"))
    balance = pl.col("total") - pl.col("_cr").fill_null(ZERO) - pl.col("_paid").fill_null(ZERO)
    return (headers.join(credited, on="inv", how="left").join(paid, on="inv", how="left")
            .with_columns(status=pl.when(pl.col("status") == "void").then(pl.lit("void"))
                          .when(balance <= 0).then(pl.lit("paid")).otherwise(pl.lit("open")))
            .drop("_cr", "_paid"))


DOUBTFUL_SHARE = 0.03
DOUBTFUL_AFTER_DAYS = 15  # overdue this long before an unpaid invoice may be given up
WRITE_OFF_AFTER_DAYS = 45  # days after the due date that the ledger writes an uncollectible invoice off


def doubtful_debts(candidates: pl.DataFrame, pick, last_day: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(invoices marked ``uncollectible``: inv; write-offs: inv, invoice_id, currency, date, amount).

    ``candidates`` are invoices (inv, invoice_id, currency, status, due_date, total) that may be chosen;
    ``pick(frame, count)`` chooses ``count`` of them. About 2% of the open invoices without any payment or
    credit note, due 15 days or more before ``last_day``, are given up (at least two when two qualify);
    those due 45 days or more before ``last_day`` are written off in full 45 days after their due date.
    """
    cand = candidates.filter((pl.col("status") == "open")
                             & (pl.col("due_date") <= last_day - dt.timedelta(days=DOUBTFUL_AFTER_DAYS)))
    count = max(2, round(DOUBTFUL_SHARE * cand.height))
    chosen = pick(cand, count)
    written = (chosen.with_columns(date=pl.col("due_date").dt.offset_by(f"{WRITE_OFF_AFTER_DAYS}d"))
               .filter(pl.col("date") <= last_day)
               .select("inv", "invoice_id", "currency", "date", pl.col("total").cast(DECIMAL).alias("amount")))
    return chosen.select("inv"), written
