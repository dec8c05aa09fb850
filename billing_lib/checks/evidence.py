"""What an explanation may read beside a finding, and the root causes it may name.

Each check explains its findings for an investigation (``@check(..., explain=...)``): a fixed
:class:`Explanation`, or a function of the finding and the :class:`Evidence` (the line, the rated charge,
the subscription, the price book, the customer, the tax rates) that picks the likely root cause from what
the data shows. The cause is one of :data:`ROOT_CAUSES`: a hypothesis to confirm, not a verdict.
"""
from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from typing import NamedTuple

from billing_lib.checks.context import CheckContext

ROOT_CAUSES = {
    "price book": "the price list or a negotiated price is wrong or out of date in the billing system",
    "proration": "the start or end date of the subscription was not applied to the month",
    "missed usage": "metered usage did not reach the invoice (import late, filtered, or counted twice)",
    "seat count": "a change in seats did not reach billing",
    "discount setup": "the subscription's discount is missing or different in the billing system",
    "tax setup": "the tax rate or the customer's exemption is set up wrongly",
    "billing run": "a billing run left a subscription out (new or changed subscription not picked up)",
    "duplicate run": "the same charge was produced twice (a billing run or an import repeated)",
    "manual edit": "figures were typed or changed by hand after the invoice was computed",
    "customer setup": "the customer's master data (currency, terms) differs from what the invoice used",
    "numbering": "an invoice number was skipped or reused (deleted draft, failed run, manual number)",
    "cash application": "a payment was recorded twice, overpaid, or arrived without a usable reference",
    "ledger posting": "the posting to the general ledger failed or was changed by hand",
    "status sync": "the invoice status was not updated when payments or credits arrived",
    "credit handling": "a credit note was issued on top of an earlier credit or correction",
    "master data": "a document names a customer, subscription or plan that does not exist",
}


class Explanation(NamedTuple):
    """A finding in plain words, its likely root cause (one of ``ROOT_CAUSES``) and why that one."""

    plain: str
    cause: str
    because: str


def decimal(value: object) -> Decimal | None:
    """A finding's figure (text or number) as a Decimal; None when empty."""
    return None if value is None or value == "" else Decimal(str(value))


class Evidence:
    """The data an explanation looks up, as dictionaries keyed the way findings name things."""

    def __init__(self, ctx: CheckContext):
        self.ctx = ctx

    @cached_property
    def lines(self) -> dict[tuple[str, str, int], dict]:
        """Invoice lines of the verified months by (invoice_id, customer_id, line_no)."""
        return {(r["invoice_id"], r["customer_id"], r["line_no"]): r for r in self.ctx.lines.iter_rows(named=True)}

    @cached_property
    def expected(self) -> dict[tuple[str, str], dict]:
        """Rated charges by (subscription_id, period)."""
        return {(r["subscription_id"], r["period"]): r for r in self.ctx.expected.iter_rows(named=True)}

    @cached_property
    def subscriptions(self) -> dict[str, dict]:
        return {r["subscription_id"]: r for r in self.ctx.ds.frame("subscriptions").collect().iter_rows(named=True)}

    @cached_property
    def list_price(self) -> dict[tuple[str, str], Decimal]:
        """The price book's unit price by (plan_id, currency)."""
        return {(r["plan_id"], r["currency"]): r["unit_price"] for r in self.ctx.plans.iter_rows(named=True)}

    @cached_property
    def payment_copies(self) -> set[str]:
        """Payments that repeat an earlier one."""
        return set(self.ctx.payment_copies["payment_id"].to_list())

    @cached_property
    def customers(self) -> dict[str, dict]:
        return {r["customer_id"]: r for r in self.ctx.ds.frame("customers").collect().iter_rows(named=True)}

    @cached_property
    def tax_rates(self) -> dict[str, list[dict]]:
        """Tax rates per country, oldest first."""
        rates: dict[str, list[dict]] = {}
        for r in self.ctx.ds.frame("tax_rates").sort("valid_from").collect().iter_rows(named=True):
            rates.setdefault(r["country"], []).append(r)
        return rates
