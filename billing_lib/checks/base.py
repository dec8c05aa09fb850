"""What a check is and what a finding looks like.

A check is one unit, registered with :func:`check`: its catalogue name, a short title, its whole
description (the finder's docstring), severity, scope, the finder and how an investigation explains a
finding of it (the pandera idea: what the user reads sits beside the function that finds).

A finder takes the :class:`~billing_lib.checks.context.CheckContext` and returns one or more
:class:`Finding` kinds: rows of a lazy plan and the :mod:`~billing_lib.checks.figures` that each column of
the finding is made of. The verification collects each kind as *typed* rows (keys, ``detail``, expected,
actual and difference as typed values or small structs of them, ``currency``, ``at_stake``, the message's
values), with the polars engine of the run, and only then writes their text, eagerly on the small
collected frame (see :mod:`~billing_lib.checks.figures` for why).

A rendered finding holds any of the ``KEY_COLUMNS`` that locate it (others are null), ``period``,
``detail`` (what part is wrong, part of the stable id), ``expected``/``actual``/``difference`` as text,
``currency``, ``at_stake`` (money the finding puts at risk, in that currency) and ``message``.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from billing_lib.checks.context import RELEASABLE_TABLES, SHARED_FRAMES, CheckContext
from billing_lib.checks.evidence import ROOT_CAUSES, Evidence, Explanation
from billing_lib.checks.figures import Figure, Part, figure
from billing_lib.core.money import DECIMAL

Severity = Literal["error", "warning", "info"]
Scope = Literal["customer", "global"]

KEY_COLUMNS = ["customer_id", "invoice_id", "line_no", "subscription_id", "payment_id"]
FINDING_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(), "invoice_id": pl.String(), "line_no": pl.Int64(), "subscription_id": pl.String(),
    "payment_id": pl.String(), "period": pl.String(), "detail": pl.String(), "expected": pl.String(),
    "actual": pl.String(), "difference": pl.String(), "currency": pl.String(), "at_stake": DECIMAL,
    "message": pl.String(),
}

# The catalogue in the order the checks run, their findings are sorted in exceptions.csv, and reports and
# docs/checks.md list them. A new check is added here where it belongs; moving one reorders every run's output.
CATALOGUE: tuple[str, ...] = (
    "date_inconsistency", "orphan_reference", "line_arithmetic", "invoice_totals", "price_mismatch",
    "quantity_mismatch", "discount_mismatch", "tax_mismatch", "unbilled_charge", "duplicate_charge",
    "billed_outside_term", "currency_mismatch", "gl_mismatch", "invoice_number_gap", "unapplied_payment",
    "payment_mismatch", "status_mismatch", "credit_note_excess",
)


@dataclass(frozen=True)
class Finding:
    """One kind of finding of a check: its rows (a lazy plan) and the figure each finding column is made of."""

    rows: pl.LazyFrame
    columns: dict[str, Figure] = field(default_factory=dict)

    def typed(self) -> pl.LazyFrame:
        """The findings as typed rows: a key or amount as itself, a value of several parts as a struct of them
        (fields ``"0"``, ``"1"``...), a constant left out. No text is built here."""
        exprs = []
        for name, fig in self.columns.items():
            if fig.plain:
                exprs.append(fig.inputs[0].alias(name))
            elif fig.inputs:
                exprs.append(pl.struct(*(e.alias(str(i)) for i, e in enumerate(fig.inputs))).alias(name))
        return self.rows.select(exprs)

    def render(self, typed: pl.DataFrame) -> pl.DataFrame:
        """The collected typed rows as the finding schema, with their text (eagerly, on this small frame)."""
        exprs = []
        for name, dtype in FINDING_SCHEMA.items():
            fig = self.columns.get(name)
            if fig is None:
                expr = pl.lit(None)
            elif fig.plain:
                expr = pl.col(name)
            else:
                expr = fig.render([pl.col(name).struct.field(str(i)) for i in range(len(fig.inputs))])
            exprs.append(expr.cast(dtype).alias(f"__{name}"))
        # with_columns (not select) keeps the row count when a column is a constant
        return (typed.rechunk().with_columns(exprs).select(pl.col(f"__{n}").alias(n) for n in FINDING_SCHEMA))


def finding(rows: pl.LazyFrame, *, detail: Part, **columns: Part) -> Finding:
    """A kind of finding over ``rows``: each finding column (see ``FINDING_SCHEMA``) as a figure, a typed
    expression, a literal ``str`` or ``None``; columns not given are null."""
    unknown = sorted(set(columns) - set(FINDING_SCHEMA))
    if unknown:
        raise ValueError(f"not finding columns: {unknown}; known: {list(FINDING_SCHEMA)}")
    figs = {name: figure(value) for name, value in {"detail": detail, **columns}.items() if value is not None}
    if not any(e.meta.root_names() for f in figs.values() for e in f.inputs):
        raise ValueError("a finding needs at least one value taken from its rows")
    return Finding(rows, figs)


Finder = Callable[[CheckContext], Finding | Sequence[Finding]]
Explain = Explanation | Callable[[dict, Evidence], Explanation]


@dataclass(frozen=True)
class Check:
    """A registered check: catalogue name, title, whole description, severity, scope, finder and explanation."""

    name: str
    title: str
    description: str
    severity: Severity
    scope: Scope
    run: Finder
    explain: Explain
    reads: frozenset[str] = frozenset()

    @property
    def summary(self) -> str:
        """The description's first paragraph on one line (a whole sentence, for tables)."""
        return " ".join(self.description.split("\n\n")[0].split())

    def kinds(self, ctx: CheckContext) -> list[Finding]:
        """The finder's finding kinds on this context."""
        found = self.run(ctx)
        return [found] if isinstance(found, Finding) else list(found)

    def collect(self, ctx: CheckContext) -> pl.DataFrame:
        """The findings on this context, typed rows collected with the context's engine, then written as text."""
        kinds = self.kinds(ctx)
        # collected together: what the kinds share (the ledger, the documents) is computed once
        typed = pl.collect_all([kind.typed() for kind in kinds], engine=ctx.engine)
        frames = [kind.render(rows) for kind, rows in zip(kinds, typed, strict=True)]
        return pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=FINDING_SCHEMA)

    def explanation(self, found: dict, evidence: Evidence) -> Explanation:
        """What a finding of this check means and its likely root cause, read beside the data."""
        return self.explain if isinstance(self.explain, Explanation) else self.explain(found, evidence)


REGISTRY: dict[str, Check] = {}


def check(name: str, *, title: str, explain: Explain, severity: Severity = "error",
          scope: Scope = "customer", reads: tuple[str, ...] = ()) -> Callable[[Finder], Finder]:
    """Register a finder as the check ``name`` of the catalogue; its docstring is the check's description.

    ``reads``: the shared frames of :class:`CheckContext` the check reads, those they are made from included,
    and the releasable tables of the dataset it reads itself (``tests/test_check_reads.py`` holds the list to
    what the check reads): a run frees a frame or table once no check left to run reads it."""
    if name not in CATALOGUE:
        raise ValueError(f"check {name!r} is not in CATALOGUE (billing_lib/checks/base.py): add it where it "
                         f"belongs in the order")
    if isinstance(explain, Explanation) and explain.cause not in ROOT_CAUSES:
        raise ValueError(f"check {name!r}: root cause {explain.cause!r} is not one of ROOT_CAUSES")
    unknown = sorted(set(reads) - set(SHARED_FRAMES) - set(RELEASABLE_TABLES))
    if unknown:
        raise ValueError(f"check {name!r} reads {unknown}, which are neither shared frames of CheckContext nor "
                         f"releasable tables")

    def register(fn: Finder) -> Finder:
        doc = inspect.cleandoc(fn.__doc__ or "")
        if not doc:
            raise ValueError(f"check {name!r} needs a docstring: it is the check's description")
        REGISTRY[name] = Check(name, title, doc, severity, scope, fn, explain, frozenset(reads))
        return fn
    return register


def catalogue() -> list[Check]:
    """Every registered check, in catalogue order."""
    return [REGISTRY[name] for name in CATALOGUE if name in REGISTRY]
