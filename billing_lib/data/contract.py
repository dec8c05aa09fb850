"""The data contract as code: which tables a dataset holds and what each column means.

One :class:`TableSpec` per table, one :class:`Column` per column. The loader
(:mod:`billing_lib.data.loading`) reads these specs to type and validate a
dataset; docs/data-contract.md describes the same rules in words (and
tests/test_docs.py checks that it names every table and column).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

import polars as pl
import pycountry

from billing_lib.core.money import DECIMAL

Kind = Literal["id", "text", "date", "timestamp", "decimal", "int", "bool", "currency", "country", "enum"]


@dataclass(frozen=True)
class Column:
    """One column: its kind, whether it must be present and filled, and its limits."""

    name: str
    kind: Kind
    required: bool = True          # the column must be in the file
    filled: bool = True            # every row must have a value (else empty means 0 / not set)
    non_negative: bool = False
    percent: bool = False          # 0..100
    choices: tuple[str, ...] = ()  # for kind == "enum"

    @property
    def dtype(self) -> pl.DataType:
        """The polars type a loaded value of this column has (text kinds stay ``String``)."""
        return {"date": pl.Date(), "timestamp": pl.Datetime("us", "UTC"), "decimal": DECIMAL, "int": pl.Int64(),
                "bool": pl.Boolean()}.get(self.kind, pl.String())


@dataclass(frozen=True)
class TableSpec:
    """One table of the contract."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    required: bool = False        # the table must exist and hold a row
    reference: bool = False       # configuration: a duplicate key is a load error
    doc: str = ""

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _c(name: str, kind: Kind, **kw) -> Column:
    return Column(name, kind, **kw)


def _opt(name: str, kind: Kind, **kw) -> Column:
    """An optional column: may be absent from the file, and empty cells are allowed."""
    return Column(name, kind, required=False, filled=False, **kw)


def _empty_ok(name: str, kind: Kind, **kw) -> Column:
    """A column that must be present but whose cells may be empty."""
    return Column(name, kind, filled=False, **kw)


BILLING = ("recurring", "usage")
INTERVALS = ("month", "year")
CHARGE_MODELS = ("flat", "per_unit", "graduated", "volume", "package", "percentage")
INVOICE_STATUSES = ("open", "paid", "void", "uncollectible")
TAX_BEHAVIORS = ("exclusive", "inclusive")
SOURCE_TYPES = ("invoice", "payment", "credit_note", "revenue_release", "manual")

TABLES: dict[str, TableSpec] = {t.name: t for t in [
    TableSpec("customers", (
        _c("customer_id", "id"),
        _empty_ok("name", "text"),
        _opt("email", "text"),
        _c("country", "country"),
        _c("currency", "currency"),
        _c("payment_terms_days", "int", non_negative=True),
        _empty_ok("tax_exempt", "bool"),
    ), key=("customer_id",), required=True, reference=True, doc="who is billed, in which currency and country"),
    TableSpec("plans", (
        _c("plan_id", "id"),
        _c("currency", "currency"),
        _opt("product", "text"),
        _c("billing", "enum", choices=BILLING),
        _c("interval", "enum", choices=INTERVALS),
        _c("charge_model", "enum", choices=CHARGE_MODELS),
        _empty_ok("unit_price", "decimal", non_negative=True),
        _opt("package_size", "decimal", non_negative=True),
        _opt("free_units", "decimal", non_negative=True),
        _opt("rate_pct", "decimal", percent=True),
        _opt("fixed_fee", "decimal", non_negative=True),
    ), key=("plan_id", "currency"), required=True, reference=True, doc="the price book"),
    TableSpec("plan_tiers", (
        _c("plan_id", "id"),
        _c("currency", "currency"),
        _c("tier", "int", non_negative=True),
        _empty_ok("up_to", "decimal", non_negative=True),
        _empty_ok("unit_price", "decimal", non_negative=True),
        _opt("flat_fee", "decimal", non_negative=True),
    ), key=("plan_id", "currency", "tier"), reference=True, doc="tiers of graduated and volume plans"),
    TableSpec("subscriptions", (
        _c("subscription_id", "id"),
        _c("customer_id", "id"),
        _c("plan_id", "id"),
        _empty_ok("quantity", "decimal", non_negative=True),
        _c("start_date", "date"),
        _empty_ok("end_date", "date"),
        _opt("discount_pct", "decimal", percent=True),
        _opt("unit_price_override", "decimal", non_negative=True),
    ), key=("subscription_id",), required=True, reference=True, doc="who buys which plan, when"),
    TableSpec("usage", (
        _c("event_id", "id"),
        _c("subscription_id", "id"),
        _c("event_time", "timestamp"),
        _c("quantity", "decimal", non_negative=True),
    ), key=("event_id",), reference=True, doc="metered usage events"),
    TableSpec("tax_rates", (
        _c("country", "country"),
        _c("valid_from", "date"),
        _empty_ok("valid_to", "date"),
        _c("rate_pct", "decimal", percent=True),
    ), key=("country", "valid_from"), required=True, reference=True, doc="sales tax by country and date"),
    TableSpec("fx_rates", (
        _c("date", "date"),
        _c("currency", "currency"),
        _c("rate_to_base", "decimal", non_negative=True),
    ), key=("date", "currency"), reference=True, doc="exchange rates to the base currency"),
    TableSpec("invoices", (
        _c("invoice_id", "id"),
        _c("customer_id", "id"),
        _c("currency", "currency"),
        _c("issue_date", "date"),
        _c("due_date", "date"),
        _c("period_start", "date"),
        _c("period_end", "date"),
        _c("subtotal", "decimal"),
        _c("discount", "decimal"),
        _c("tax", "decimal"),
        _c("total", "decimal"),
        _c("status", "enum", choices=INVOICE_STATUSES),
        _opt("tax_behavior", "enum", choices=TAX_BEHAVIORS),
    ), key=("invoice_id",), doc="issued invoices (headers)"),
    TableSpec("invoice_lines", (
        _c("invoice_id", "id"),
        _c("line_no", "int"),
        _empty_ok("subscription_id", "id"),
        _empty_ok("plan_id", "id"),
        _opt("description", "text"),
        _c("period_start", "date"),
        _c("period_end", "date"),
        _empty_ok("quantity", "decimal"),
        _empty_ok("unit_price", "decimal"),
        _c("amount", "decimal"),
        _empty_ok("discount", "decimal"),
        _empty_ok("tax_rate_pct", "decimal"),
        _empty_ok("tax_amount", "decimal"),
    ), key=("invoice_id", "line_no"), doc="invoice lines"),
    TableSpec("credit_notes", (
        _c("credit_note_id", "id"),
        _c("invoice_id", "id"),
        _c("issue_date", "date"),
        _c("amount", "decimal"),
        _empty_ok("tax", "decimal"),
        _opt("reason", "text"),
    ), key=("credit_note_id",), doc="credit notes against invoices"),
    TableSpec("payments", (
        _c("payment_id", "id"),
        _c("customer_id", "id"),
        _c("currency", "currency"),
        _c("amount", "decimal"),
        _c("received_date", "date"),
        _empty_ok("invoice_id", "id"),
        _opt("reference", "text"),
    ), key=("payment_id",), doc="payments received"),
    TableSpec("gl_entries", (
        _c("entry_id", "id"),
        _c("line_no", "int"),
        _c("date", "date"),
        _c("account", "id"),
        _empty_ok("debit", "decimal", non_negative=True),
        _empty_ok("credit", "decimal", non_negative=True),
        _c("currency", "currency"),
        _c("source_type", "enum", choices=SOURCE_TYPES),
        _empty_ok("source_id", "id"),
    ), key=("entry_id", "line_no"), doc="general ledger journal"),
]}

# Empty cells of these columns mean 0 (the contract's "optional numeric" rule).
ZERO_WHEN_EMPTY = {
    "plans": ("package_size", "free_units", "rate_pct", "fixed_fee"),
    "plan_tiers": ("flat_fee",),
    "subscriptions": ("discount_pct",),
    "invoice_lines": ("discount", "tax_rate_pct", "tax_amount"),
    "credit_notes": ("tax",),
    "gl_entries": ("debit", "credit"),
}

FILE_SUFFIXES = (".csv", ".parquet", ".xlsx")

# ISO 3166 leaves ZZ to its users; the project (and its importers) write it for "country unknown"
UNKNOWN_COUNTRY = "ZZ"
# the only spellings of a boolean (any case), as the contract says
BOOLEAN_TEXT = {"true": True, "false": False}


@cache
def country_codes() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code (from ``pycountry``, which follows Debian's iso-codes), and ``ZZ``."""
    return frozenset({c.alpha_2 for c in pycountry.countries} | {UNKNOWN_COUNTRY})
