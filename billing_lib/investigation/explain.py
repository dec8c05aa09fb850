"""Every finding in plain language, with its likely root cause.

:func:`explanations` reads each finding beside the data it names (the line,
the subscription, the payment) and says what went wrong for a reader who does
not know the check catalogue, then names the likely root cause: one of
:data:`~billing_lib.checks.evidence.ROOT_CAUSES` with a sentence saying why that one. Each check carries
its own explanation (``@check(..., explain=...)`` in :mod:`billing_lib.checks`); the cause is a
hypothesis to confirm, chosen from what the data shows (a negotiated price billed at list price points at
the price book, a full month on a mid-month start at proration, a tax-exempt customer taxed at the tax
setup, ...).
"""
from __future__ import annotations

import polars as pl

from billing_lib.checks import REGISTRY
from billing_lib.checks.evidence import ROOT_CAUSES, Evidence, Explanation
from billing_lib.investigation.subject import Investigation

__all__ = ["ROOT_CAUSES", "explanations", "root_cause_counts"]

UNKNOWN = Explanation("See the finding's message.", "manual edit", "no specific pattern recognised")
SCHEMA = {"exception_id": pl.String, "check": pl.String, "invoice_id": pl.String, "line_no": pl.Int64,
          "period": pl.String, "finding": pl.String, "in_plain_words": pl.String, "likely_root_cause": pl.String,
          "because": pl.String, "cause_means": pl.String}


def explanations(inv: Investigation, findings: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per finding: what it says, what it means, the likely root cause and why."""
    evidence = Evidence(inv.ctx)
    frame = inv.findings if findings is None else findings
    rows = []
    for f in frame.iter_rows(named=True):
        known = REGISTRY.get(f["check"])
        plain, cause, why = known.explanation(f, evidence) if known else UNKNOWN
        rows.append({"exception_id": f["exception_id"], "check": f["check"], "invoice_id": f["invoice_id"],
                     "line_no": f["line_no"], "period": f["period"], "finding": f["message"], "in_plain_words": plain,
                     "likely_root_cause": cause, "because": why, "cause_means": ROOT_CAUSES[cause]})
    return pl.DataFrame(rows, schema=SCHEMA, orient="row") if rows else pl.DataFrame(schema=SCHEMA)


def root_cause_counts(table: pl.DataFrame) -> pl.DataFrame:
    """Findings per likely root cause, most frequent first."""
    return (table.group_by("likely_root_cause").agg(pl.len().alias("findings"))
            .sort(["findings", "likely_root_cause"], descending=[True, False]))
