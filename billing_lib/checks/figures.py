"""How a finding reads: typed values inside a check's plan, text only on the small collected finding frame.

A :class:`Figure` is one column of a finding (a key, an amount, a date, the sentence) held as typed
expressions over the check's rows (``inputs``) and the recipe that turns them into text. The verification
collects the inputs (a plan that may be large and run on polars' streaming engine), then applies the recipe
eagerly on the collected findings, which are few. No string is built inside a large plan: polars 2.1's
streaming engine panics inside ``pl.format`` over text columns (``assertion failed: i < self.len()``, see
``tests/test_streaming_panic.py``), and the small frame costs nothing to format.

Constructors: :func:`money` (decimal text with the currency's digits), :func:`number` (no trailing zeros),
:func:`day` and :func:`month`, :func:`integer`, :func:`joined` (a list), :func:`choose` (a word or sentence
chosen by a condition) and :func:`text`, a message template with named fields::

    text("{line} shows tax {shown} {currency}.", line=LINE, shown=money(pl.col("tax_amount")), currency=CUR)

A plain ``pl.Expr`` is taken as a typed value shown as it is (a key, an amount at stake), a ``str`` as
literal text and ``None`` as null.
"""
from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from billing_lib.core.money import number_text, to_text

Recipe = Callable[[Sequence[pl.Expr]], pl.Expr]
CUR = pl.col("currency")


@dataclass(frozen=True)
class Figure:
    """Typed ``inputs`` (expressions over a check's rows) and the ``recipe`` that reads them as one value.

    ``plain`` marks a figure that is its one input unchanged (a key or an amount): it stays typed.
    """

    inputs: tuple[pl.Expr, ...]
    recipe: Recipe
    plain: bool = False

    def render(self, columns: Sequence[pl.Expr]) -> pl.Expr:
        """The value from expressions standing for the collected inputs, in order."""
        return self.recipe(columns)


Part = Figure | pl.Expr | str | None


def figure(value: Part) -> Figure:
    """``value`` as a figure: a ``pl.Expr`` is a typed value shown as is, a ``str`` literal text, ``None`` null."""
    if isinstance(value, Figure):
        return value
    if isinstance(value, pl.Expr):
        return Figure((value,), lambda c: c[0], plain=True)
    if value is None:
        return Figure((), lambda _: pl.lit(None))
    if isinstance(value, str):
        return Figure((), lambda _: pl.lit(value))
    raise TypeError(f"a finding's value is a Figure, a polars expression, a str or None, not {type(value).__name__}")


def _combine(parts: Sequence[Part], recipe: Callable[[list[pl.Expr]], pl.Expr]) -> Figure:
    """One figure from several: their inputs side by side, ``recipe`` over their rendered values."""
    figs = [figure(p) for p in parts]
    bounds, start = [], 0
    for f in figs:
        bounds.append((start, start + len(f.inputs)))
        start += len(f.inputs)

    def render(cols: Sequence[pl.Expr]) -> pl.Expr:
        return recipe([f.render(cols[a:b]) for f, (a, b) in zip(figs, bounds, strict=True)])
    return Figure(tuple(e for f in figs for e in f.inputs), render)


def money(amount: pl.Expr, currency: pl.Expr = CUR) -> Figure:
    """An amount as decimal text with exactly its currency's minor digits ("12.50", "1200", "1.125")."""
    return Figure((amount, currency), lambda c: to_text(c[0], c[1]))


def number(value: pl.Expr) -> Figure:
    """A quantity or rate as decimal text without trailing zeros ("3", "2.5")."""
    return Figure((value,), lambda c: number_text(c[0]))


def day(date: pl.Expr, missing: str | None = None) -> Figure:
    """A date as YYYY-MM-DD (``missing`` where there is none)."""
    if missing is None:
        return Figure((date,), lambda c: c[0].dt.strftime("%Y-%m-%d"))
    return Figure((date,), lambda c: c[0].dt.strftime("%Y-%m-%d").fill_null(missing))


def month(date: pl.Expr) -> Figure:
    """The month of a date as YYYY-MM (the ``period`` of a finding)."""
    return Figure((date,), lambda c: c[0].dt.strftime("%Y-%m"))


def integer(value: pl.Expr) -> Figure:
    """A whole number as text ("7")."""
    return Figure((value,), lambda c: c[0].cast(pl.String))


def joined(values: pl.Expr, separator: str = ", ") -> Figure:
    """A list of texts joined ("C1, C2")."""
    return Figure((values,), lambda c: c[0].list.join(separator))


def choose(*cases: tuple[pl.Expr, Part], otherwise: Part = None) -> Figure:
    """The value of the first case whose condition holds, else ``otherwise``."""
    conditions = [cond for cond, _ in cases]
    values = [value for _, value in cases]

    def recipe(rendered: list[pl.Expr]) -> pl.Expr:
        conds, vals, rest = rendered[:len(cases)], rendered[len(cases):2 * len(cases)], rendered[-1]
        expr = pl.when(conds[0]).then(vals[0])
        for cond, val in zip(conds[1:], vals[1:], strict=True):
            expr = expr.when(cond).then(val)
        return expr.otherwise(rest)
    return _combine([*conditions, *values, otherwise], recipe)


def text(template: str, **fields: Part) -> Figure:
    """A sentence from a template with named fields: ``text("Invoice {id} is due {due}.", id=..., due=...)``.

    Every field of the template must be given, and every field given must be used.
    """
    literals, names = [], []
    for literal, name, spec, conversion in string.Formatter().parse(template):
        if spec or conversion:
            raise ValueError(f"template field {{{name}}} takes no format spec or conversion: {template!r}")
        literals.append(literal)
        if name is not None:
            if not name.isidentifier():
                raise ValueError(f"template fields are named, not positional: {template!r}")
            names.append(name)
    missing, unused = sorted(set(names) - set(fields)), sorted(set(fields) - set(names))
    if missing or unused:
        raise ValueError(f"template {template!r}: fields without a value {missing}, values without a field {unused}")
    pattern = "{}".join(literals)
    if len(literals) == len(names):  # the template ends in a field
        pattern += "{}"
    return _combine([fields[n] for n in names], lambda parts: pl.format(pattern, *parts))
