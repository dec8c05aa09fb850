"""Planting the settlement and ledger mistakes, each on an invoice that carries no other mistake.

Each kind is planted on about ``rate`` x the clean invoices (at least one whenever one can carry it,
none at rate 0): a credit note above its invoice (``credit_note_excess``), a payment recorded twice
or an overpaying payment (``payment_mismatch``), a stray payment that names and matches nothing
(``unapplied_payment``), a status that contradicts the balance (``status_mismatch``), and a payment
posted with another amount or an invoice not posted at all (``gl_mismatch``).

Ground-truth keys: payment mistakes name ``payment_id`` (a duplicate also names the invoice it pays,
an overpayment names the invoice it overpays and the payment); a stray payment and a mis-posted payment
name only the payment; invoice mistakes name ``invoice_id``. ``period`` is the invoice's month, or the
month the payment was received when no invoice is named.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from billing_lib.core.money import DECIMAL, dec, round_money
from billing_lib.synth.money_ops import larger, minor_unit

TRUTH_SCHEMA = {"anomaly": pl.String, "check": pl.String, "customer_id": pl.String, "invoice_id": pl.String,
                "line_no": pl.Int64, "subscription_id": pl.String, "payment_id": pl.String, "period": pl.Date}
STRAY_REFERENCE = "Bank transfer, no remittance advice"


class Planter:
    """Chooses victims among clean invoices, each invoice at most once."""

    def __init__(self, headers: pl.DataFrame, lines: pl.DataFrame, protected: list[str], rate: float,
                 rng: np.random.Generator):
        marks = lines.group_by("inv").agg(clean=pl.col("_plant").is_null().all(),
                                          month_only=(pl.col("kind") != "year_term").all())
        self.clean = (headers.join(marks, on="inv")
                      .filter(pl.col("clean") & (pl.col("variant") == "") & pl.col("plant").is_null()
                              & ~pl.col("customer_id").is_in(protected))
                      .sort("inv"))
        self.count = max(1, round(rate * self.clean.height)) if rate > 0 else 0
        self.rng = rng
        self.taken = pl.DataFrame(schema={"inv": pl.Int64})

    def pick(self, candidates: pl.DataFrame, count: int | None = None) -> pl.DataFrame:
        """Up to ``count`` (default: the rate's) random rows of ``candidates`` (one per invoice, clean, not
        taken), with a small random integer ``r``."""
        count = self.count if count is None else count
        cand = (candidates.join(self.clean.select("inv"), on="inv", how="semi")
                .join(self.taken, on="inv", how="anti").unique("inv", keep="first").sort("inv"))
        if count <= 0 or cand.height == 0:
            return cand.head(0).with_columns(r=pl.lit(0, pl.Int64))
        chosen = (cand.with_columns(_key=pl.Series(self.rng.random(cand.height))).sort("_key").head(count)
                  .drop("_key").sort("inv"))
        chosen = chosen.with_columns(r=pl.Series(self.rng.integers(0, 8, chosen.height), dtype=pl.Int64))
        self.taken = pl.concat([self.taken, chosen.select(pl.col("inv").cast(pl.Int64))])
        return chosen


def _truth(frame: pl.DataFrame, anomaly: str, check: str, invoice: bool, payment: bool,
           period: str = "period") -> pl.DataFrame:
    null = pl.lit(None, pl.String)
    return frame.select(
        anomaly=pl.lit(anomaly), check=pl.lit(check), customer_id=pl.col("customer_id"),
        invoice_id=pl.col("invoice_id") if invoice else null, line_no=pl.lit(None, pl.Int64),
        subscription_id=null, payment_id=pl.col("payment_id") if payment else null,
        period=pl.col(period).dt.month_start()).cast(TRUTH_SCHEMA)


def excess_notes(planter: Planter, notes: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Add a credit note above its invoice's subtotal - discount to some clean month-only invoices."""
    cand = planter.clean.filter(pl.col("month_only") & ((pl.col("subtotal") - pl.col("discount")) > 0)).join(
        notes.select("inv"), on="inv", how="anti")
    victims = planter.pick(cand)
    cur = pl.col("currency")
    extra = victims.select(
        "invoice_id", "inv", "currency", issue_date=pl.col("issue_date").dt.offset_by("5d"),
        amount=(pl.col("subtotal") - pl.col("discount") + minor_unit(cur) * (pl.col("r") + 1)).cast(DECIMAL),
        tax=pl.col("tax").cast(DECIMAL), reason=pl.lit("Credited twice in error"))
    merged = pl.concat([notes.drop("credit_note_id"), extra.select(notes.drop("credit_note_id").columns)])
    merged = merged.sort("issue_date", "invoice_id")
    width = max(6, len(str(merged.height)))
    merged = merged.with_columns(credit_note_id=pl.format(
        "CN-{}", pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(width)))
    truth = _truth(victims, "credit_note_exceeds_invoice", "credit_note_excess", invoice=True, payment=False)
    return merged, truth


def payment_mistakes(planter: Planter, pays: pl.DataFrame, last_day: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Duplicate some payments, let some overpay, and add stray payments; payments are renumbered."""
    one = pays.group_by("inv").agg(pl.len().alias("n"), pl.col("received_date").max().alias("last_received"),
                                   pl.col("amount").sum().alias("paid"))
    # invoices paid in full by one payment
    single = planter.clean.join(one.filter(pl.col("n") == 1), on="inv").filter(pl.col("paid") == pl.col("total"))
    half = (planter.count + 1) // 2 if planter.count else 0
    dup = planter.pick(single.filter(pl.col("last_received") <= last_day), half)
    over = planter.pick(single, max(planter.count - half, 1) if planter.count else 0)
    stray = planter.pick(planter.clean.filter((pl.col("total") > 0)
                                              & (pl.col("issue_date").dt.offset_by("3d") <= last_day)))
    cur = pl.col("currency")
    pays = pays.drop("payment_id").with_columns(_extra=pl.lit(0), _plant=pl.lit(None, pl.String))
    over_amount = (pl.col("amount") + larger(round_money(pl.col("amount") * dec("0.1"), cur), minor_unit(cur)))
    pays = (pays.join(over.select("inv", _over=pl.lit(True)), on="inv", how="left")
            .with_columns(amount=pl.when(pl.col("_over")).then(over_amount).otherwise("amount").cast(DECIMAL),
                          _plant=pl.when(pl.col("_over")).then(pl.lit("overpaid")).otherwise("_plant"))
            .drop("_over"))
    copies = pays.join(dup.select("inv"), on="inv").with_columns(_extra=pl.lit(1), _plant=pl.lit("duplicate"))
    strays = stray.select(
        "customer_id", "currency",
        amount=(round_money(pl.col("total") * dec("0.37"), cur) + minor_unit(cur) * (pl.col("r") + 3)).cast(DECIMAL),
        received_date=pl.col("issue_date").dt.offset_by("3d"), inv=pl.lit(None, pl.Int64),
        instalment=pl.lit(1), invoice_id=pl.lit(None, pl.String), reference=pl.lit(STRAY_REFERENCE),
        named=pl.lit(None, pl.String), _extra=pl.lit(2), _plant=pl.lit("stray"), _stray_inv=pl.col("inv"))
    pays = pl.concat([pays.with_columns(_stray_inv=pl.lit(None, pl.Int64)), copies.with_columns(
        _stray_inv=pl.lit(None, pl.Int64)), strays], how="diagonal_relaxed")
    pays = pays.with_columns(pl.col("amount").cast(DECIMAL)).sort("received_date", "named", "instalment", "_extra",
                                                                  "customer_id", nulls_last=True)
    width = max(7, len(str(pays.height)))
    pays = pays.with_columns(payment_id=pl.format("PAY-{}", pl.int_range(1, pl.len() + 1).cast(pl.String)
                                                  .str.zfill(width)))
    marked = pays.filter(pl.col("_plant").is_not_null()).with_columns(
        invoice_id=pl.col("named"), period_inv=pl.col("received_date"))
    with_period = marked.join(planter.clean.select("inv", "period"), on="inv", how="left")
    truth = pl.concat([
        _truth(with_period.filter(pl.col("_plant") == "duplicate"), "payment_recorded_twice", "payment_mismatch",
               invoice=True, payment=True, period="received_date"),
        _truth(with_period.filter(pl.col("_plant") == "overpaid"), "invoice_overpaid", "payment_mismatch",
               invoice=True, payment=True),
        _truth(with_period.filter(pl.col("_plant") == "stray"), "payment_matching_no_invoice", "unapplied_payment",
               invoice=False, payment=True, period="received_date"),
    ])
    return pays.drop("_extra", "_plant", "_stray_inv"), truth


def status_mistakes(planter: Planter, headers: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Flip the status of some clean invoices: paid to open, open to paid."""
    victims = planter.pick(headers.join(planter.clean.select("inv"), on="inv", how="semi")
                           .filter((pl.col("total") > 0) & pl.col("status").is_in(["paid", "open"])))
    flip = victims.select("inv", _flip=pl.when(pl.col("status") == "paid").then(pl.lit("open"))
                          .otherwise(pl.lit("paid")))
    out = (headers.join(flip, on="inv", how="left")
           .with_columns(status=pl.coalesce("_flip", "status")).drop("_flip"))
    truth = pl.concat([
        _truth(victims.filter(pl.col("status") == "paid"), "paid_invoice_left_open", "status_mismatch",
               invoice=True, payment=False),
        _truth(victims.filter(pl.col("status") == "open"), "open_invoice_marked_paid", "status_mismatch",
               invoice=True, payment=False)])
    return out, truth


def ledger_mistakes(planter: Planter, pays: pl.DataFrame, last_day: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(plants for gl_entries: source_type, source_id, action; truth): payments posted at another amount,
    invoices not posted."""
    half = (planter.count + 1) // 2 if planter.count else 0
    pay = planter.pick(pays.filter(pl.col("inv").is_not_null() & (pl.col("received_date") <= last_day))
                       .select("inv", "payment_id", "received_date"), half)
    pay = pay.join(planter.clean.select("inv", "customer_id"), on="inv")
    inv = planter.pick(planter.clean, max(planter.count - half, 1) if planter.count else 0)
    plants = pl.concat([
        pay.select(source_type=pl.lit("payment"), source_id=pl.col("payment_id"), action=pl.lit("amount")),
        inv.select(source_type=pl.lit("invoice"), source_id=pl.col("invoice_id"), action=pl.lit("drop"))])
    truth = pl.concat([
        _truth(pay, "payment_posted_with_other_amount", "gl_mismatch", invoice=False, payment=True,
               period="received_date"),
        _truth(inv, "invoice_not_posted", "gl_mismatch", invoice=True, payment=False)])
    return plants, truth
