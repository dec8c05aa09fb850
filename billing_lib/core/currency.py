"""ISO 4217 currencies: which codes exist and how many minor-unit digits each has.

The digits come from the maintained ``iso4217`` package (the published ISO
table), never from a hand-written list.
"""
from __future__ import annotations

import re
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
    """Round ``amount`` half away from zero to the minor unit of ``code``; a zero is positive (-0.004 USD
    is 0.00, never -0.00)."""
    exp = Decimal(1).scaleb(-minor_digits(code))
    rounded = amount.quantize(exp, rounding=ROUND_HALF_UP)  # ROUND_HALF_UP is away from zero
    return rounded.copy_abs() if rounded.is_zero() else rounded


def digits_expr(currency: pl.Expr) -> pl.Expr:
    """Polars expression: the minor-unit digits of a currency-code column (null for an unknown code)."""
    table = currency_digits_table()
    return currency.replace_strict(list(table), list(table.values()), default=None,
                                   return_dtype=pl.Int8)


def digits_by_membership(currency: pl.Expr) -> pl.Expr:
    """:func:`digits_expr` as a chain of membership tests, for text written from lists of amounts: inside
    ``list.eval`` under a ``when``, ``replace_strict`` builds its map again for every list (0.1 s to write a
    posting list on 5,000 findings, against 2 ms). On a flat column of a million rows it is twice as slow
    as :func:`digits_expr`, so rating keeps that one."""
    by_digits: dict[int, list[str]] = {}
    for code, digits in currency_digits_table().items():
        by_digits.setdefault(digits, []).append(code)
    chain = None
    for digits, codes in sorted(by_digits.items(), key=lambda item: -len(item[1])):  # the most common first
        test = currency.is_in(codes)
        chain = (pl.when(test) if chain is None else chain.when(test)).then(pl.lit(digits, pl.Int8))
    return chain.otherwise(pl.lit(None, pl.Int8))


def format_money(amount: Decimal | None, code: str) -> str:
    """Plain decimal text with exactly the currency's digits ("1234.50", "1200")."""
    if amount is None:
        return ""
    return f"{quantize(amount, code):f}"


# ------------------------------------------------------------------------------------------------
# Amounts for people: the invoice's currency in the customer's locale (Babel, CLDR data)

FALLBACK_LOCALE = "en"


@lru_cache(maxsize=256)
def customer_locale(country: str | None, preferred: str | None = None) -> str:
    """The locale a customer's documents are formatted in.

    ``preferred`` (e.g. a ``locale`` column of customers) when Babel knows it; else the first official
    language of the country written left to right (DE -> de_DE, JP -> ja_JP), since the documents are
    in English and an amount in a right-to-left script would be reordered inside English text; else
    English for the country (KW -> en, with the currency's code); else ``en``.
    """
    from babel import Locale, UnknownLocaleError
    from babel.languages import get_official_languages

    def known(name: str) -> Locale | None:
        try:
            return Locale.parse(str(name).replace("-", "_"))
        except (UnknownLocaleError, ValueError, TypeError):
            return None

    if preferred and (loc := known(preferred)) is not None:
        return str(loc)
    cc = (country or "").upper()
    for lang in (get_official_languages(cc, de_facto=True) if cc else ()):
        loc = known(f"{lang}_{cc}")
        if loc is not None and loc.text_direction == "ltr":
            return str(loc)
    return str(known(f"en_{cc}") or FALLBACK_LOCALE) if cc else FALLBACK_LOCALE


@lru_cache(maxsize=512)
def _currency_pattern(locale: str, digits: int):
    import copy

    from babel import Locale
    pattern = copy.copy(Locale.parse(locale).currency_formats["standard"])
    pattern.frac_prec = (digits, digits)
    return pattern


def format_money_local(amount: Decimal | None, code: str, locale: str, *, exact: bool = False) -> str:
    """``amount`` as a person in ``locale`` reads it ("1.234,50 €" in de_DE, "￥1,200" in ja_JP,
    "1,234.125 د.ك." in ar_KW), with exactly the ISO 4217 digits of ``code`` (rounded half away
    from zero). ``exact`` keeps extra digits of a unit price (0.0125 €) instead of rounding."""
    if amount is None:
        return ""
    digits = minor_digits(code)
    if exact:
        amount = amount.copy_abs() if amount.is_zero() else amount
        digits = max(digits, -amount.normalize().as_tuple().exponent)
    else:
        amount = quantize(amount, code)
    text = _currency_pattern(locale, digits).apply(amount, locale, currency=code, currency_digits=False)
    # CLDR's currency spacing, which Babel leaves out: a symbol that is letters ("KWD") stands apart from digits
    return re.sub(r"([A-Za-z])(?=[0-9])", "\\1\u00a0", text)


def format_number_local(value: Decimal | int | None, locale: str) -> str:
    """A quantity or rate in ``locale`` with all its digits and no trailing zeros ("1,500", "2,5")."""
    from babel.numbers import format_decimal
    if value is None:
        return ""
    return format_decimal(Decimal(value).normalize(), locale=locale, decimal_quantization=False)
