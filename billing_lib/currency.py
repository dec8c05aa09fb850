"""ISO 4217 currencies: which codes exist and how many minor-unit digits each has.

The digits come from the maintained ``iso4217`` package (the published ISO
table), never from a hand-written list.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

import polars as pl
from iso4217 import Currency

# Codes the ISO table lists without minor units (gold, SDR, testing codes):
# money in them is kept to this many digits.
_NO_MINOR_UNIT_DIGITS = 2


@lru_cache(maxsize=1)
def currency_digits_table() -> dict[str, int]:
    """Every active ISO 4217 alphabetic code mapped to its minor-unit digits."""
    table: dict[str, int] = {}
    for cur in Currency:
        exp = cur.exponent
        table[cur.code] = _NO_MINOR_UNIT_DIGITS if exp is None else int(exp)
    return table


def is_currency(code: str) -> bool:
    """True when ``code`` is an active ISO 4217 alphabetic code (case-sensitive)."""
    return code in currency_digits_table()


def minor_digits(code: str) -> int:
    """Minor-unit digits of ``code`` (USD 2, JPY 0, KWD 3); ValueError if unknown."""
    try:
        return currency_digits_table()[code]
    except KeyError:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code") from None


def quantize(amount: Decimal, code: str) -> Decimal:
    """Round ``amount`` half away from zero to the minor unit of ``code``."""
    exp = Decimal(1).scaleb(-minor_digits(code))
    return amount.quantize(exp, rounding=ROUND_HALF_UP)  # ROUND_HALF_UP is away from zero


def digits_expr(currency: pl.Expr) -> pl.Expr:
    """Polars expression: the minor-unit digits of a currency-code column."""
    table = currency_digits_table()
    return currency.replace_strict(list(table), list(table.values()), default=None,
                                   return_dtype=pl.Int8)


def format_money(amount: Decimal | None, code: str) -> str:
    """Plain decimal text with exactly the currency's digits ("1234.50", "1200")."""
    if amount is None:
        return ""
    return f"{quantize(amount, code):f}"
