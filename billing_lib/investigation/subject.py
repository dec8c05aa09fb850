"""What an investigation is about: one customer, one invoice or one finding, over a range of months.

:func:`investigate` checks the parameters (exactly one id, months as ``YYYY-MM``),
verifies the months and returns an :class:`Investigation` holding the check
context (rated charges, lines, cash application) and the findings, from which
the story, the explanations and the corrections are drawn. An id the data
does not hold raises :class:`InvestigationError`: one sentence, shown in a
workbook without a traceback.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import polars as pl

from billing_lib.checks.context import CheckContext
from billing_lib.core.periods import month_range, parse_period, period_name
from billing_lib.data.dataset import Dataset
from billing_lib.errors import BillingInputError
from billing_lib.verification import finalize, run_checks, select_checks


class InvestigationError(BillingInputError):
    """Raised when the investigation's parameters are wrong or name an id the data does not hold."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the message is all the analyst needs
        return [f"{type(self).__name__}: {self}"]


@dataclass(frozen=True)
class Subject:
    """The id asked about and the customer it leads to (None for a finding that concerns no customer)."""

    kind: str                  # "customer", "invoice" or "exception"
    value: str
    customer_id: str | None
    invoice_id: str | None = None
    exception_id: str | None = None

    def describe(self) -> str:
        """``customer C-00031``, ``invoice INV-0000098 of customer C-00008``..."""
        text = f"{self.kind} {self.value}"
        if self.kind != "customer":
            text += f" of customer {self.customer_id}" if self.customer_id else " (no single customer)"
        return text


def _one_id(customer_id: str | None, invoice_id: str | None, exception_id: str | None) -> tuple[str, str]:
    given = {k: v for k, v in (("customer", customer_id), ("invoice", invoice_id), ("exception", exception_id))
             if v is not None and str(v).strip()}
    if len(given) != 1:
        named = ", ".join(f"{k}_id={v!r}" for k, v in given.items()) or "none"
        raise InvestigationError(f"give exactly one of customer_id, invoice_id or exception_id (given: {named})")
    kind, value = next(iter(given.items()))
    return kind, str(value).strip()


def months_between(ds: Dataset, period_from: str | None, period_to: str | None) -> list[dt.date]:
    """The months from ``period_from`` to ``period_to`` (``YYYY-MM``); an open end takes the first or last
    month an invoice covers."""
    starts = (ds.frame("invoices").filter(pl.col("status") != "void")
              .select(pl.col("period_start").dt.month_start()).drop_nulls().collect().to_series())
    try:
        first = parse_period(period_from) if period_from else (starts.min() if len(starts) else None)
        last = parse_period(period_to) if period_to else (starts.max() if len(starts) else None)
    except BillingInputError as exc:
        raise InvestigationError(str(exc)) from None
    if first is None or last is None:
        raise InvestigationError("the data holds no invoices: give period_from and period_to (YYYY-MM)")
    if first > last:
        raise InvestigationError(f"period_from {period_name(first)} is after period_to {period_name(last)}")
    return month_range(first, last)


@dataclass
class Investigation:
    """One investigation: the subject, the months, the check context and the findings of those months."""

    ds: Dataset
    subject: Subject
    ctx: CheckContext
    all_findings: pl.DataFrame
    base_currency: str = "EUR"

    @property
    def months(self) -> list[dt.date]:
        return self.ctx.months

    @property
    def customer_id(self) -> str | None:
        return self.subject.customer_id

    @property
    def range_text(self) -> str:
        """``2024-01 to 2024-06`` (or one month)."""
        first, last = period_name(self.months[0]), period_name(self.months[-1])
        return first if first == last else f"{first} to {last}"

    @cached_property
    def findings(self) -> pl.DataFrame:
        """The customer's findings (or the one finding when it concerns no customer), the asked one first."""
        frame = self.all_findings
        if self.subject.customer_id is not None:
            frame = frame.filter(pl.col("customer_id") == self.subject.customer_id)
        else:
            frame = frame.filter(pl.col("exception_id") == self.subject.exception_id)
        focus = (pl.col("exception_id") == self.subject.exception_id) if self.subject.exception_id else \
            (pl.col("invoice_id") == self.subject.invoice_id) if self.subject.invoice_id else pl.lit(True)
        return frame.with_columns(focus=focus.fill_null(False)).sort("focus", descending=True, maintain_order=True)

    @cached_property
    def customer(self) -> dict | None:
        """The customer's row (None when the finding concerns no customer or the customer is unknown)."""
        if self.customer_id is None:
            return None
        rows = self.ds.frame("customers").filter(pl.col("customer_id") == self.customer_id).collect()
        return rows.row(0, named=True) if rows.height else None


def _customer_exists(ds: Dataset, customer_id: str) -> bool:
    named = [ds.frame(t).select("customer_id") for t in ("customers", "subscriptions", "invoices", "payments")]
    return pl.concat(named).filter(pl.col("customer_id") == customer_id).head(1).collect().height > 0


def investigate(ds: Dataset, *, customer_id: str | None = None, invoice_id: str | None = None,
                exception_id: str | None = None, period_from: str | None = None, period_to: str | None = None,
                base_currency: str = "EUR") -> Investigation:
    """Check the parameters, verify the months and return the investigation of the one id given."""
    kind, value = _one_id(customer_id, invoice_id, exception_id)
    months = months_between(ds, period_from, period_to)
    ctx = CheckContext(ds, months)
    findings = finalize(run_checks(ctx, select_checks()))
    where = f"in {ds.folder}"
    if kind == "customer":
        if not _customer_exists(ds, value):
            raise InvestigationError(f"customer_id {value!r} is not a customer {where} (identifiers are compared "
                                     f"exactly: 007 is not 7)")
        subject = Subject("customer", value, value)
    elif kind == "invoice":
        rows = ds.frame("invoices").filter(pl.col("invoice_id") == value).select("customer_id").collect()
        if rows.height == 0:
            raise InvestigationError(f"invoice_id {value!r} is not an invoice {where}")
        subject = Subject("invoice", value, rows["customer_id"][0], invoice_id=value)
    else:
        rows = findings.filter(pl.col("exception_id") == value)
        if rows.height == 0:
            span = period_name(months[0]) + ("" if len(months) == 1 else f" to {period_name(months[-1])}")
            raise InvestigationError(f"exception_id {value!r} is not among the findings of {span} {where}; check "
                                     f"the id (billing verify lists them in exceptions.csv) and the period range")
        row = rows.row(0, named=True)
        subject = Subject("exception", value, row["customer_id"], invoice_id=row["invoice_id"], exception_id=value)
    return Investigation(ds, subject, ctx, findings, base_currency)
