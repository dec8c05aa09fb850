"""Frames that several checks share, computed once per verification run, and the polars engine they use.

``CheckContext`` is handed to every check. Its derived frames (invoice lines
with their invoice, the expected charges of the verified months, the match
between the two) are built lazily on first use and cached as collected
frames, so each is computed once however many checks read it. Text columns
(``period`` as YYYY-MM) are added after collection, on the collected frame.

The engine every collect of a verification uses is a setting:
``BILLING_ENGINE=streaming|in-memory|auto`` (default ``auto``: polars'
in-memory engine up to ``IN_MEMORY_UP_TO_ROWS`` rows, beyond that the engine
polars picks, which streams).
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import cached_property

import polars as pl

from billing_lib.core.numbering import number_parts
from billing_lib.core.periods import month_range
from billing_lib.core.runs import run_position
from billing_lib.data.dataset import Dataset
from billing_lib.engine.rating import CHARGE_ORDER, expected_charges
from billing_lib.errors import ParameterError

PERIOD_FMT = "%Y-%m"
INVOICE_KEY = ["invoice_id", "customer_id"]  # an invoice is its number and its customer
ENGINE_VARIABLE = "BILLING_ENGINE"
ENGINES = ("auto", "streaming", "in-memory")
# Datasets up to this many rows are checked with polars' in-memory engine: on the many small plans of a
# verification run it is about ten times faster than the streaming engine that "auto" picks. Larger ones
# keep "auto", whose streaming keeps the peak memory low (on the 1M-line benchmark the in-memory engine
# needed 6.2 GiB instead of 4.2).
IN_MEMORY_UP_TO_ROWS = 2_000_000


def engine_setting() -> str:
    """The ``BILLING_ENGINE`` setting: ``auto`` (default), ``streaming`` or ``in-memory``."""
    value = os.environ.get(ENGINE_VARIABLE, "").strip().lower() or "auto"
    if value not in ENGINES:
        raise ParameterError(f"{ENGINE_VARIABLE}={os.environ[ENGINE_VARIABLE]!r} is not an engine; use one of "
                             f"{', '.join(ENGINES)} (or leave it unset for auto)")
    return value


def polars_engine(rows: int, setting: str | None = None) -> str:
    """The polars engine for a dataset of ``rows`` rows under the setting (default: ``BILLING_ENGINE``)."""
    setting = setting or engine_setting()
    if setting != "auto":
        return setting
    return "in-memory" if rows <= IN_MEMORY_UP_TO_ROWS else "auto"


def _with_period(frame: pl.DataFrame, date: str) -> pl.DataFrame:
    """``period`` (YYYY-MM of the ``date`` column) added to a collected frame."""
    return frame.with_columns(period=pl.col(date).dt.strftime(PERIOD_FMT))


def invoice_heads(invoices: pl.LazyFrame) -> pl.LazyFrame:
    """One row per invoice, i.e. per number and customer (a live one before a void one of the same key), with
    ``copies`` (how many customers carry the number) and ``first`` (the number's first invoice: live before
    void, then in the order of the invoices table)."""
    return (invoices.with_columns(_void=pl.col("status") == "void").sort("_void", maintain_order=True)
            .unique(INVOICE_KEY, keep="first", maintain_order=True)
            .with_columns(copies=pl.len().over("invoice_id"), first=pl.col("invoice_id").is_first_distinct())
            .drop("_void"))


def attributed_lines(lines: pl.LazyFrame, heads: pl.LazyFrame, subscriptions: pl.LazyFrame) -> pl.LazyFrame:
    """Every line beside the invoice it belongs to (``heads``: see :func:`invoice_heads`). A number one
    customer carries is that customer's invoice; where several customers carry a number (a repeated number,
    a finding of its own), a line belongs to the invoice of the customer whose subscription it bills, else
    (no subscription, or another customer's) to the number's first invoice."""
    pairs = lines.join(heads, on="invoice_id", how="inner")
    # only the lines of a number several customers carry need their subscription's customer
    owner = subscriptions.select("subscription_id", pl.col("customer_id").alias("_owner")).unique("subscription_id")
    shared = (pairs.filter(pl.col("copies") > 1).with_columns(_line=pl.struct(lines.collect_schema().names()))
              .join(owner, on="subscription_id", how="left"))
    owns = (pl.col("_owner") == pl.col("customer_id")).fill_null(False)
    shared = shared.filter(owns | (~owns.any().over("_line") & pl.col("first"))).drop("_line", "_owner")
    return pl.concat([pairs.filter(pl.col("copies") == 1), shared])


def duplicate_copies(payments: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Payments that repeat an earlier one (same customer, currency, amount, day and reference), with the
    first one as ``original_id`` (the first by payment_id is taken as the original)."""
    key = ["customer_id", "currency", "amount", "received_date", "reference"]
    return (payments.lazy().sort("payment_id")
            .with_columns(original_id=pl.col("payment_id").first().over(key),
                          copy_no=pl.int_range(pl.len()).over(key))
            .filter(pl.col("copy_no") > 0))


@dataclass(frozen=True)
class CrossCustomerFrames:
    """What a shard of customers needs from the whole dataset, computed once elsewhere (on a distributed
    engine, by the task that sees every invoice and payment): the cash application rows of the shard's
    invoices and payments, and every payment of an unknown customer it could not place."""

    applications: pl.DataFrame
    unknown_payer_payments: pl.DataFrame


# the frames checks share, each made once on first use (cached properties of CheckContext)
SHARED_FRAMES = ("invoices", "invoice_numbers", "live_invoices", "every_line", "lines", "payments", "payment_copies",
                 "applications", "unknown_payer_payments", "plans", "expected", "ranked_lines", "repeated_lines",
                 "matched")
# the dataset's tables a run may let go of once read: the usage events (10M rows, 0.44 GB on the benchmark)
# serve the rating and the check of the subscriptions they name, nothing after; the ledger (3M lines,
# 0.24 GB) serves its own check only
RELEASABLE_TABLES = ("usage", "gl_entries")
# the shared frames made from a releasable table: while one may still be made, the table is kept
MADE_FROM = {"usage": ("expected", "matched"), "gl_entries": ()}


class CheckContext:
    """The dataset, the months under verification and the frames derived from them."""

    def __init__(self, ds: Dataset, months: list[dt.date] | None = None, whole: CheckContext | None = None,
                 cross: CrossCustomerFrames | None = None):
        """``whole``: for a shard of customers (``Dataset.only_customers``), the context of the whole dataset, from
        which the frames that cross customers are read: the cash application (a payment of a customer the
        customers table lacks, a shard of its own, may pay an invoice of another shard). ``cross``: those frames
        themselves, where the whole dataset is not at hand."""
        self.ds = ds
        self._months = months
        self.whole = whole or self
        self.cross = cross

    def release(self, keep: set[str] | frozenset[str]) -> None:
        """Free the shared frames made so far but those in ``keep`` (a frame asked for again is made again),
        and the releasable tables of the dataset not in ``keep`` whose frames are made or not wanted (this
        context then holds the dataset without them): a run frees what no check left to run reads, which
        lowers its peak memory."""
        for name in SHARED_FRAMES:
            if name not in keep:
                self.__dict__.pop(name, None)
        for table in RELEASABLE_TABLES:
            still_made = [f for f in MADE_FROM[table] if f in keep and f not in self.__dict__]
            if table not in keep and table in self.ds.tables and not still_made:
                self.ds = self.ds.without(table)

    @cached_property
    def engine(self) -> str:
        """The polars engine the checks collect with (``BILLING_ENGINE``, see :func:`polars_engine`)."""
        return polars_engine(sum(self.ds.row_counts().values()))

    @cached_property
    def large_engine(self) -> str:
        """The engine of plans over the largest tables (rating over usage): polars' own choice under ``auto``,
        which streams and keeps the memory low; else the setting."""
        setting = engine_setting()
        return "auto" if setting == "auto" else setting

    def in_months(self, date: str) -> pl.Expr:
        """True where the month of the ``date`` column is a verified month (a typed comparison)."""
        return pl.col(date).dt.month_start().is_in(pl.Series(self.months, dtype=pl.Date).implode())

    @cached_property
    def months(self) -> list[dt.date]:
        """The billing months verified: the ones asked for, else every month from the first to the last
        month an invoice covers (a month in between without any invoice is verified too)."""
        if self._months is not None:
            return sorted(self._months)
        starts = (self.ds.frame("invoices").filter(pl.col("status") != "void")
                  .select(pl.col("period_start").dt.month_start()).drop_nulls()
                  .collect(engine=self.engine).to_series())
        return month_range(starts.min(), starts.max()) if len(starts) else []

    @cached_property
    def period_names(self) -> pl.Series:
        return pl.Series([m.strftime(PERIOD_FMT) for m in self.months], dtype=pl.String)

    @cached_property
    def invoices(self) -> pl.DataFrame:
        """Invoice headers of the verified months (void ones included), with ``period`` as YYYY-MM."""
        typed = self.ds.frame("invoices").filter(self.in_months("period_start")).collect(engine=self.engine)
        return _with_period(typed, "period_start")

    @cached_property
    def invoice_numbers(self) -> pl.DataFrame:
        """Every invoice of the dataset (void ones too) with ``period``, ``verified`` (in a verified month) and
        its number read from the id: ``prefix``, ``number`` and ``width`` (null when the id does not end in
        digits). The ids are read on the collected frame."""
        typed = (self.ds.frame("invoices")
                 .select("invoice_id", "customer_id", "period_start", verified=self.in_months("period_start"))
                 .collect(engine=self.engine))
        return (_with_period(typed, "period_start").with_columns(**number_parts(pl.col("invoice_id")))
                .with_columns(width=pl.col("digits").str.len_chars()).drop("period_start", "digits"))

    @cached_property
    def live_invoices(self) -> pl.DataFrame:
        """Invoices of the verified months that are not void."""
        return self.invoices.filter(pl.col("status") != "void")

    def live_lines(self) -> pl.LazyFrame:
        """Lines of every live invoice (any month) with their invoice's customer, currency, issue date,
        status and period (``invoice_period_start``/``_end``): an invoice is its number and its customer
        (see :func:`attributed_lines`)."""
        heads = invoice_heads(self.ds.frame("invoices").select(
            *INVOICE_KEY, "currency", "issue_date", "status", "tax_behavior",
            pl.col("period_start").alias("invoice_period_start"), pl.col("period_end").alias("invoice_period_end")))
        lines = attributed_lines(self.ds.frame("invoice_lines"), heads, self.ds.frame("subscriptions"))
        return lines.filter(pl.col("status") != "void").drop("copies", "first")

    @cached_property
    def every_line(self) -> pl.DataFrame:
        """:meth:`CheckContext.live_lines` collected, with ``period`` (YYYY-MM of the invoice's period) after their own
        columns."""
        typed = self.live_lines().collect(engine=self.engine)
        head = ["customer_id", "currency", "period", "issue_date", "status", "tax_behavior", "invoice_period_start",
                "invoice_period_end"]
        own = [c for c in typed.columns if c not in head]
        return _with_period(typed, "invoice_period_start").select(*own, *head)

    @cached_property
    def lines(self) -> pl.DataFrame:
        """Lines of live invoices of the verified months with their invoice's customer, currency and period."""
        every = self.every_line
        verified = every.select(self.in_months("invoice_period_start").fill_null(False)).to_series()
        return every if verified.all() else every.filter(verified)  # all of them: one frame, not a copy

    @cached_property
    def payments(self) -> pl.DataFrame:
        """Payments received in the verified months."""
        return self.ds.frame("payments").filter(self.in_months("received_date")).collect(engine=self.engine)

    @cached_property
    def payment_copies(self) -> pl.DataFrame:
        """Payments of the dataset that repeat an earlier one, with the first one as ``original_id``."""
        return duplicate_copies(self.ds.frame("payments")).collect(engine=self.engine)

    @cached_property
    def applications(self) -> pl.DataFrame:
        """Cash application of every payment of the whole dataset (see
        :mod:`billing_lib.engine.cash_application`)."""
        if self.cross is not None:
            return self.cross.applications
        if self.whole is not self:
            return self.whole.applications
        from billing_lib.engine.cash_application import apply_payments
        return apply_payments(self.ds.frame("invoices"), self.ds.frame("payments"), self.ds.frame("credit_notes"),
                              self.ds.frame("customers"))

    @cached_property
    def unknown_payer_payments(self) -> pl.DataFrame:
        """Payments of the whole dataset (any month) from a customer the customers table lacks that the cash
        application placed nowhere: ``orphan_reference`` reports them, and what they leave unpaid is theirs."""
        if self.cross is not None:
            return self.cross.unknown_payer_payments
        if self.whole is not self:
            return self.whole.unknown_payer_payments
        known = self.ds.frame("customers").select("customer_id")
        return (self.ds.frame("payments").join(known, on="customer_id", how="anti")
                .join(self.applications.lazy().select("payment_id"), on="payment_id", how="anti")
                .select("payment_id", "customer_id", "currency", "amount", "received_date")
                .collect(engine=self.engine))

    @cached_property
    def plans(self) -> pl.DataFrame:
        return self.ds.frame("plans").collect(engine=self.engine)

    @cached_property
    def expected(self) -> pl.DataFrame:
        """Expected charges of the verified months, with ``period`` as YYYY-MM, without their ``description``
        (no check reads it: :func:`~billing_lib.engine.rating.charge_description` writes it from the columns
        where a charge is shown; on the 1M-line benchmark it is 0.2 s and 90 MB)."""
        if not self.months:
            plan = expected_charges(self.ds, [dt.date(1970, 1, 1)]).head(0)
            charges = plan.drop("description").collect(engine=self.engine)
        else:
            # rating meets the whole usage table: under auto, the engine polars picks (streaming) keeps memory low.
            # The charges are sorted once collected: the streaming engine's sort of the 1M charges of the
            # benchmark took 1.3 s, the in-memory one 0.4 s
            plan = expected_charges(self.ds, self.months, ordered=False)
            charges = (plan.drop("description").collect(engine=self.large_engine).lazy().sort(CHARGE_ORDER)
                       .collect(engine="in-memory"))
        return _with_period(charges, "period")

    @cached_property
    def ranked_lines(self) -> pl.DataFrame:
        """Subscription lines ranked within (subscription, period) in order of issue: rank 1 is the line
        compared with the contract."""
        lines = self.lines
        if lines["subscription_id"].null_count():
            lines = lines.filter(pl.col("subscription_id").is_not_null())
        # ranked on the sorted keys, the ranks put back in the lines' order: the frame shares the lines' columns
        # instead of holding a sorted copy of them (230 MB on the 1M-line benchmark)
        order = ["subscription_id", "period", "issue_date", "invoice_id", "line_no"]
        ranks = (lines.select(order).with_row_index("_at").sort(order, maintain_order=True)
                 .select("_at", rank=run_position("subscription_id", "period").cast(pl.Int64) + 1)
                 .sort("_at").get_column("rank"))
        return lines.with_columns(ranks)

    @cached_property
    def repeated_lines(self) -> pl.DataFrame:
        """Lines of the verified months whose service days overlap those of a line issued before them for the
        same subscription (on any live invoice, of any month), with the earlier line as ``first_*``."""
        order = ["issue_date", "invoice_id", "line_no"]
        billed = (self.every_line.lazy().filter(pl.col("subscription_id").is_not_null())
                  .select("subscription_id", *order, "period_start", "period_end"))
        # only subscriptions with two lines that share a day can repeat one, so the pairs below are few. They are
        # found in one pass over the lines in order of subscription and start: a line starting on or before the
        # last day of the subscription's lines before it. The day is ranked by the subscription's run, so the
        # running maximum never reaches back into another subscription (a window over 1M lines took 0.2 s more)
        def ranked(day: str) -> pl.Expr:
            return (pl.col("subscription_id").rle_id().cast(pl.Int64) * 2**32
                    + pl.col(day).cast(pl.Int32).cast(pl.Int64) + 2**31)
        shared_days = (billed.select("subscription_id", "period_start", "period_end")
                       .sort("subscription_id", "period_start")
                       .filter(ranked("period_start") <= ranked("period_end").cum_max().shift(1))
                       .select("subscription_id").unique())
        earlier = (billed.join(shared_days, on="subscription_id", how="semi")
                   .rename(lambda c: c if c == "subscription_id" else f"first_{c}"))
        mine = (self.lines.lazy().filter(pl.col("subscription_id").is_not_null())
                .join(shared_days, on="subscription_id", how="semi"))
        before = _lexicographic_less([pl.col(f"first_{c}") for c in order], [pl.col(c) for c in order])
        overlap = ((pl.col("first_period_start") <= pl.col("period_end"))
                   & (pl.col("first_period_end") >= pl.col("period_start")))
        return (mine.join(earlier, on="subscription_id", how="inner").filter(before & overlap)
                .sort(*order, *(f"first_{c}" for c in order))
                .unique(["invoice_id", "customer_id", "line_no"], keep="first", maintain_order=True)
                .collect(engine=self.engine))

    @cached_property
    def matched(self) -> pl.DataFrame:
        """The first line of each (subscription, period) beside the charge the contract expects for it: the
        figures the price, quantity and discount checks compare (``exp_*``, the charge's), and no other column
        (on the 1M-line benchmark a million rows; every column more is held through those checks)."""
        exp = self.expected.select(
            "subscription_id", "period", "kind", "charge_model", pl.col("service_start").alias("exp_start"),
            pl.col("service_end").alias("exp_end"), pl.col("quantity").alias("exp_quantity"),
            pl.col("unit_price").alias("exp_unit_price"), pl.col("amount").alias("exp_amount"), "discount_pct",
            "prorated")
        first = self.ranked_lines.filter(pl.col("rank") == 1).select(
            *INVOICE_KEY, "line_no", "subscription_id", "plan_id", "currency", "period", "period_start",
            "period_end", "quantity", "unit_price", "amount", "discount")
        return first.join(exp, on=["subscription_id", "period"], how="inner")


def _lexicographic_less(left: list[pl.Expr], right: list[pl.Expr]) -> pl.Expr:
    """True where the tuple ``left`` sorts before the tuple ``right``."""
    if len(left) == 1:
        return left[0] < right[0]
    return (left[0] < right[0]) | ((left[0] == right[0]) & _lexicographic_less(left[1:], right[1:]))
