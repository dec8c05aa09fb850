"""Frames that several checks share, computed once per verification run.

``CheckContext`` is handed to every check. Its derived frames (invoice lines
with their invoice, the expected charges of the verified months, the match
between the two) are built lazily on first use and cached as collected
frames, so each is computed once however many checks read it.
"""
from __future__ import annotations

import datetime as dt
from functools import cached_property

import polars as pl

from billing_lib.checks.base import IN_MEMORY_UP_TO_ROWS
from billing_lib.core.periods import month_range
from billing_lib.data.dataset import Dataset
from billing_lib.engine.rating import expected_charges

PERIOD_FMT = "%Y-%m"


class CheckContext:
    """The dataset, the months under verification and the frames derived from them."""

    def __init__(self, ds: Dataset, months: list[dt.date] | None = None):
        self.ds = ds
        self._months = months

    @cached_property
    def engine(self) -> str:
        """The polars engine the checks collect with (see ``IN_MEMORY_UP_TO_ROWS``)."""
        return "in-memory" if sum(self.ds.row_counts().values()) <= IN_MEMORY_UP_TO_ROWS else "auto"

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
        return (self.ds.frame("invoices")
                .with_columns(period=pl.col("period_start").dt.strftime(PERIOD_FMT))
                .filter(pl.col("period").is_in(self.period_names.implode()))
                .collect(engine=self.engine))

    @cached_property
    def live_invoices(self) -> pl.DataFrame:
        """Invoices of the verified months that are not void."""
        return self.invoices.filter(pl.col("status") != "void")

    @cached_property
    def lines(self) -> pl.DataFrame:
        """Lines of live invoices of the verified months with their invoice's customer, currency and period."""
        head = self.live_invoices.select(
            "invoice_id", "customer_id", "currency", "period", "issue_date", "status", "tax_behavior",
            pl.col("period_start").alias("invoice_period_start"), pl.col("period_end").alias("invoice_period_end"))
        # a repeated invoice number is reported by invoice_number_gap; lines are taken once per number here
        head = head.unique("invoice_id", keep="first", maintain_order=True)
        return (self.ds.frame("invoice_lines").join(head.lazy(), on="invoice_id", how="inner")
                .collect(engine=self.engine))

    @cached_property
    def payments(self) -> pl.DataFrame:
        """Payments received in the verified months."""
        return (self.ds.frame("payments")
                .filter(pl.col("received_date").dt.strftime(PERIOD_FMT).is_in(self.period_names.implode()))
                .collect(engine=self.engine))

    @cached_property
    def applications(self) -> pl.DataFrame:
        """Cash application of every payment of the dataset (see :mod:`billing_lib.engine.cash_application`)."""
        from billing_lib.engine.cash_application import apply_payments
        return apply_payments(self.ds.frame("invoices"), self.ds.frame("payments"), self.ds.frame("credit_notes"))

    @cached_property
    def plans(self) -> pl.DataFrame:
        return self.ds.frame("plans").collect(engine=self.engine)

    @cached_property
    def expected(self) -> pl.DataFrame:
        """Expected charges of the verified months, with ``period`` as YYYY-MM."""
        if not self.months:
            return expected_charges(self.ds, [dt.date(1970, 1, 1)]).head(0).with_columns(
                period=pl.lit("")).collect(engine=self.engine)
        # rating meets the whole usage table: the engine polars picks (streaming) keeps its memory low
        return (expected_charges(self.ds, self.months)
                .with_columns(period=pl.col("period").dt.strftime(PERIOD_FMT)).collect())

    @cached_property
    def ranked_lines(self) -> pl.DataFrame:
        """Subscription lines ranked within (subscription, period) in order of issue: rank 1 is the line
        compared with the contract."""
        lines = self.lines.filter(pl.col("subscription_id").is_not_null())
        return (lines.sort("subscription_id", "period", "issue_date", "invoice_id", "line_no")
                .with_columns(rank=pl.int_range(pl.len()).over("subscription_id", "period") + 1))

    @cached_property
    def repeated_lines(self) -> pl.DataFrame:
        """Lines of the verified months whose service days overlap those of a line issued before them for the
        same subscription (on any live invoice, of any month), with the earlier line as ``first_*``."""
        issued = self.ds.frame("invoices").filter(pl.col("status") != "void").select(
            "invoice_id", "issue_date").unique("invoice_id", keep="first")
        order = ["issue_date", "invoice_id", "line_no"]
        earlier = (self.ds.frame("invoice_lines").filter(pl.col("subscription_id").is_not_null())
                   .join(issued, on="invoice_id", how="inner")
                   .select("subscription_id", *order, "period_start", "period_end")
                   .rename(lambda c: c if c == "subscription_id" else f"first_{c}"))
        mine = self.lines.lazy().filter(pl.col("subscription_id").is_not_null())
        before = _lexicographic_less([pl.col(f"first_{c}") for c in order], [pl.col(c) for c in order])
        overlap = ((pl.col("first_period_start") <= pl.col("period_end"))
                   & (pl.col("first_period_end") >= pl.col("period_start")))
        return (mine.join(earlier, on="subscription_id", how="inner").filter(before & overlap)
                .sort(*order, *(f"first_{c}" for c in order))
                .unique(["invoice_id", "line_no"], keep="first", maintain_order=True)
                .collect(engine=self.engine))

    @cached_property
    def matched(self) -> pl.DataFrame:
        """The first line of each (subscription, period) beside the charge the contract expects for it."""
        exp = self.expected.select(
            "subscription_id", "period", pl.col("customer_id").alias("exp_customer_id"),
            pl.col("currency").alias("exp_currency"), "kind", "charge_model",
            pl.col("service_start").alias("exp_start"), pl.col("service_end").alias("exp_end"),
            pl.col("quantity").alias("exp_quantity"), pl.col("unit_price").alias("exp_unit_price"),
            pl.col("amount").alias("exp_amount"), "discount_pct", pl.col("discount").alias("exp_discount"),
            pl.col("tax_rate_pct").alias("exp_tax_rate_pct"), pl.col("tax_amount").alias("exp_tax_amount"),
            pl.col("total").alias("exp_total"), "prorated", "tax_rate_known")
        first = self.ranked_lines.filter(pl.col("rank") == 1)
        return first.join(exp, on=["subscription_id", "period"], how="inner")


def _lexicographic_less(left: list[pl.Expr], right: list[pl.Expr]) -> pl.Expr:
    """True where the tuple ``left`` sorts before the tuple ``right``."""
    if len(left) == 1:
        return left[0] < right[0]
    return (left[0] < right[0]) | ((left[0] == right[0]) & _lexicographic_less(left[1:], right[1:]))
