"""Benford's law digit tests (Nigrini, *Forensic Analytics*, 2012): first, second, first-two and last-two digits,
and the summation test.

Digits are read from the exact decimal value, never from a binary float: an amount becomes the whole
number of 10^-10 units it holds (``Decimal(38,10)`` is exact at that scale), and its leading digits are
taken by integer division. ``12.30`` has first digit 1, second digit 2, first two digits 12; an amount
with a single significant digit continues with zeros (``0.05``: first two digits 50). The last two
digits are those of the amount written in its currency's minor unit (``12.30 EUR`` -> 30,
``¥17,479`` -> 79; an amount finer than its currency keeps its own digits), counted for amounts of at
least 1,000 such units (10.00 EUR) so they never overlap the first two digits, as benford_py does.

Each test gives, per possible digit, the count, the found and expected shares and the Z statistic with
Nigrini's continuity correction (1/2N, used only when smaller than the difference); and for the test as
a whole the number of amounts, the chi-square statistic and the mean absolute deviation (MAD) with
Nigrini's conformity label. Nigrini publishes no MAD ranges for the last-two digits test: it takes the
first-two digits ranges, the MAD of a conforming sample being about the same over 100 equally likely
pairs as over the 90 first-two digit pairs.
"""
from __future__ import annotations

import math

import polars as pl

from billing_lib.core.currency import digits_expr
from billing_lib.core.money import DECIMAL

TESTS = ("first", "second", "first_two", "last_two")
LABELS = ("close", "acceptable", "marginal", "nonconformity")
# Nigrini (2012), table 7.1: upper bounds of close, acceptable and marginally acceptable conformity
MAD_RANGES = {"first": (0.006, 0.012, 0.015), "second": (0.008, 0.010, 0.012),
              "first_two": (0.0012, 0.0018, 0.0022), "last_two": (0.0012, 0.0018, 0.0022)}
TEST_NAMES = {"first": "first digit", "second": "second digit", "first_two": "first-two digits",
              "last_two": "last-two digits"}
SCALE = 10                      # DECIMAL's fraction digits: amount x 10^SCALE is a whole number
LAST_TWO_FROM = 1000            # minor units an amount needs for the last-two digits test
SPIKE_Z = 1.96                  # a digit found more often than expected at the 5% level
_I128 = pl.Int128


def expected_shares(test: str) -> dict[int, float]:
    """Benford's expected share of each digit (uniform 1/100 for the last two digits)."""
    if test == "first":
        return {d: math.log10(1 + 1 / d) for d in range(1, 10)}
    if test == "first_two":
        return {d: math.log10(1 + 1 / d) for d in range(10, 100)}
    if test == "second":
        return {k: sum(math.log10(1 + 1 / (10 * d + k)) for d in range(1, 10)) for k in range(10)}
    if test == "last_two":
        return dict.fromkeys(range(100), 0.01)
    raise ValueError(f"unknown digit test {test!r}; one of {', '.join(TESTS)}")


def _pow10(exponent: pl.Expr) -> pl.Expr:
    return pl.lit(10, dtype=_I128).pow(exponent)


def digit_columns(frame: pl.DataFrame, amount: str = "amount", currency: str | None = "currency") -> pl.DataFrame:
    """``frame`` with the columns ``first``, ``second``, ``first_two`` and ``last_two`` (null where the
    amount has no such digits: zero, or fewer than 1,000 minor units for the last two)."""
    a = pl.col(amount).cast(DECIMAL).abs()
    # minor-unit digits: the currency's (2 for a code ISO 4217 does not know), none for a row without currency
    cd = (pl.when(pl.col(currency).is_null()).then(pl.lit(0)).otherwise(digits_expr(pl.col(currency)).fill_null(2))
          if currency and currency in frame.columns else pl.lit(0))
    whole = a.cast(_I128)  # the integer part; the fraction becomes a whole number of 10^-SCALE
    scaled = frame.select(
        (whole * _pow10(pl.lit(SCALE)) + ((a - whole.cast(DECIMAL)) * 10 ** SCALE).cast(_I128)).alias("__n"),
        cd.cast(pl.Int64).alias("__cd"))
    n = pl.col("__n")
    length = pl.sum_horizontal([(n >= _pow10(pl.lit(k))).cast(pl.Int64) for k in range(1, 39)]) + 1
    trailing = pl.sum_horizontal([((n % _pow10(pl.lit(k))) == 0).cast(pl.Int64) for k in range(1, SCALE + 1)])
    scaled = scaled.with_columns(__len=length, __frac=pl.lit(SCALE) - trailing)
    first_two = (pl.when(pl.col("__len") >= 2).then(n // _pow10(pl.col("__len") - 2)).otherwise(n * 10))
    minor = n // _pow10(pl.lit(SCALE) - pl.max_horizontal("__cd", "__frac"))
    nonzero = n > 0
    digits = scaled.select(
        pl.when(nonzero).then(n // _pow10(pl.col("__len") - 1)).cast(pl.Int64).alias("first"),
        pl.when(nonzero).then(first_two % 10).cast(pl.Int64).alias("second"),
        pl.when(nonzero).then(first_two).cast(pl.Int64).alias("first_two"),
        pl.when(minor >= LAST_TWO_FROM).then(minor % 100).cast(pl.Int64).alias("last_two"))
    return pl.concat([frame, digits], how="horizontal")


def z_score(found: float, expected: float, n: int) -> float:
    """Nigrini's Z: (|found - expected| - 1/2n) / sqrt(expected (1 - expected) / n), the 1/2n continuity
    correction left out when it is not smaller than the difference."""
    diff = abs(found - expected)
    correction = 1 / (2 * n)
    return (diff - correction if correction < diff else diff) / math.sqrt(expected * (1 - expected) / n)


def conformity(test: str, mad: float) -> str:
    """Nigrini's label for a MAD: close, acceptable, marginal or nonconformity (upper bounds included)."""
    close, acceptable, marginal = MAD_RANGES[test]
    return "close" if mad <= close else "acceptable" if mad <= acceptable else \
        "marginal" if mad <= marginal else "nonconformity"


def digit_test(digits: pl.Series, test: str) -> pl.DataFrame:
    """One test over a column of digits (nulls ignored): test, digits, count, found, expected, z_score per
    possible digit, in digit order."""
    counts = dict(digits.drop_nulls().value_counts().iter_rows())
    n = sum(counts.values())
    rows = []
    for digit, expected in expected_shares(test).items():
        count = int(counts.get(digit, 0))
        found = count / n if n else 0.0
        rows.append((test, digit, count, found, expected, z_score(found, expected, n) if n else None))
    return pl.DataFrame(rows, schema={"test": pl.String, "digits": pl.Int64, "count": pl.Int64, "found": pl.Float64,
                                      "expected": pl.Float64, "z_score": pl.Float64}, orient="row")


def summarize(table: pl.DataFrame) -> dict:
    """n, MAD, conformity and chi-square of one :func:`digit_test` table."""
    test = table["test"][0]
    n = int(table["count"].sum())
    if n == 0:
        return {"test": test, "n": 0, "mad": None, "conformity": None, "chi_square": None}
    found, expected, counts = table["found"].to_list(), table["expected"].to_list(), table["count"].to_list()
    mad = math.fsum(abs(f - e) for f, e in zip(found, expected, strict=True)) / len(found)
    chi = math.fsum((c - n * e) ** 2 / (n * e) for c, e in zip(counts, expected, strict=True))
    return {"test": test, "n": n, "mad": mad, "conformity": conformity(test, mad), "chi_square": chi}


def benford(tested: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The four tests over ``tested`` (a frame with ``amount`` and ``currency``): (``benford.csv`` rows,
    ``benford_summary.csv`` rows)."""
    digits = digit_columns(tested)
    tables = [digit_test(digits[test], test) for test in TESTS]
    summary = pl.DataFrame([summarize(t) for t in tables],
                           schema={"test": pl.String, "n": pl.Int64, "mad": pl.Float64, "conformity": pl.String,
                                   "chi_square": pl.Float64})
    return pl.concat(tables), summary


def spikes(table: pl.DataFrame, test: str, limit: int = 5) -> pl.DataFrame:
    """The digits of ``test`` found significantly more often than expected (Z above 1.96), largest Z first."""
    return (table.filter((pl.col("test") == test) & (pl.col("found") > pl.col("expected"))
                         & (pl.col("z_score") > SPIKE_Z))
            .sort(["z_score", "digits"], descending=[True, False]).head(limit))


def digits_label(test: str, digit: int) -> str:
    """A digit as read in its test: ``05`` for last-two digits, else the number."""
    return f"{digit:02d}" if test == "last_two" else str(digit)


def summation(tested: pl.DataFrame) -> pl.DataFrame:
    """Nigrini's summation test per currency: the sum of the amounts (absolute) of each first-two digits, its
    share of the currency's sum, against the equal 1/90 share Benford's law expects of every pair."""
    digits = digit_columns(tested).filter(pl.col("first_two").is_not_null())
    if digits.is_empty():
        return pl.DataFrame(schema={"currency": pl.String, "digits": pl.Int64, "count": pl.UInt32,
                                    "amount": tested.schema["amount"], "share": pl.Float64, "expected": pl.Float64})
    grid = (digits.select(pl.col("currency").unique()).join(
        pl.DataFrame({"digits": list(range(10, 100))}, schema={"digits": pl.Int64}), how="cross"))
    sums = digits.group_by("currency", pl.col("first_two").alias("digits")).agg(
        pl.len().alias("count"), pl.col("amount").abs().sum().alias("amount"))
    out = grid.join(sums, on=["currency", "digits"], how="left").with_columns(
        pl.col("count").fill_null(0), pl.col("amount").fill_null(0))
    total = pl.col("amount").sum().over("currency")
    return (out.with_columns(share=pl.when(total > 0).then(pl.col("amount").cast(pl.Float64)
                                                           / total.cast(pl.Float64)).otherwise(0.0),
                             expected=pl.lit(1 / 90))
            .sort("currency", "digits", nulls_last=True))
