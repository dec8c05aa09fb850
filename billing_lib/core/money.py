"""Money inside polars: exact decimals, rounded half away from zero per currency.

Every amount, price, quantity and percentage is held as ``DECIMAL`` (a
128-bit fixed-point type with ten decimal places), never as a binary float.
A line is rated at full precision and rounded once, to the minor unit of
its own currency, with :func:`round_money`.
"""
from __future__ import annotations

import polars as pl

from billing_lib.core.currency import digits_by_membership, digits_expr

SCALE = 10
DECIMAL = pl.Decimal(38, SCALE)
ZERO = pl.lit(0, dtype=DECIMAL)


def dec(value: str | int) -> pl.Expr:
    """A decimal literal ("19.99", 0)."""
    return pl.lit(str(value)).cast(DECIMAL)


def round_to(expr: pl.Expr, digits: int) -> pl.Expr:
    """Round to a fixed number of digits, half away from zero."""
    return expr.round(digits, mode="half_away_from_zero")


def round_money(amount: pl.Expr, currency: pl.Expr) -> pl.Expr:
    """Round each amount to the minor unit of its row's currency, half away from zero.

    Scaling by 10^digits, rounding to a whole number and scaling back is exact
    in decimal arithmetic. Rows of an unknown currency keep two digits
    (validation rejects them before rating; this only keeps the expression total).
    """
    return _round_to_digits(amount, digits_expr(currency).fill_null(2).cast(pl.Int64))


def _round_to_digits(amount: pl.Expr, digits: pl.Expr) -> pl.Expr:
    factor = pl.lit(10, dtype=pl.Int64).pow(digits).cast(DECIMAL)
    return round_to(amount.cast(DECIMAL) * factor, 0).cast(DECIMAL) / factor


def line_discount(amount: pl.Expr, discount_pct: pl.Expr, currency: pl.Expr) -> pl.Expr:
    """A line's discount: the percentage of its (already rounded) amount, rounded once."""
    return round_money(amount * discount_pct / 100, currency)


def line_tax(amount: pl.Expr, discount: pl.Expr, tax_rate_pct: pl.Expr, currency: pl.Expr,
             inclusive: pl.Expr | None = None) -> pl.Expr:
    """A line's tax: the rate of its rounded amount less its rounded discount, rounded once. Where
    ``inclusive`` holds, that net amount already contains the tax: net x rate / (100 + rate)."""
    net = amount - discount
    if inclusive is None:
        return round_money(net * tax_rate_pct / 100, currency)
    return pl.when(inclusive).then(round_money(net * tax_rate_pct / (tax_rate_pct + 100), currency)) \
        .otherwise(round_money(net * tax_rate_pct / 100, currency))


def to_text(amount: pl.Expr, currency: pl.Expr) -> pl.Expr:
    """Decimal text with exactly the currency's minor-unit digits ("12.50", "1200", "1.125")."""
    # text is written on small collected frames, often from lists of amounts: see digits_by_membership
    digits = digits_by_membership(currency).fill_null(2).cast(pl.Int64)
    # a DECIMAL prints SCALE (more than any currency's) fraction digits: keep as many as the currency has,
    # cut at the point (no regular expression: inside list.eval one would be compiled for every row). Text
    # is written on small collected frames only: the panic "assertion failed: i < self.len()" seen in CI
    # comes from pl.format on a text column holding an empty chunk (tests/test_streaming_panic.py)
    text = _round_to_digits(amount, digits).cast(pl.String)
    point = text.str.find(".", literal=True)
    return text.str.slice(0, point + digits + (digits > 0).cast(pl.Int64))


def number_text(value: pl.Expr) -> pl.Expr:
    """Decimal text without trailing zeros ("3", "2.5") for quantities and rates."""
    s = value.cast(DECIMAL).cast(pl.String)
    trimmed = s.str.replace(r"(\.\d*?)0+$", "$1").str.replace(r"\.$", "")
    return pl.when(trimmed == "-0").then(pl.lit("0")).otherwise(trimmed)


def money_text_where_currency(amount: pl.Expr, currency: pl.Expr | None = None) -> pl.Expr:
    """:func:`to_text` of ``amount`` on rows that have a currency (default column ``currency``), null on
    rows without one (a finding about a whole period, a customer with no amount at stake)."""
    cur = pl.col("currency") if currency is None else currency
    return pl.when(cur.is_not_null()).then(to_text(amount, cur))
