"""Errors the library raises for the user to act on.

Every error a user can cause (bad input, a wrong call) derives from
:class:`BillingInputError`; the command line turns it into one clear message
and exit code 2. Anything else is an unexpected fault (exit code 1).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input file, located as precisely as possible.

    ``row`` is the spreadsheet row number: the header is row 1, the first
    data row is row 2 (for a CSV without line breaks inside fields this is
    also the line number).
    """

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


class BillingInputError(Exception):
    """Raised when the input or the call is wrong; the message says what to fix."""

    exit_code = 2


class DatasetError(BillingInputError):
    """Raised when a dataset does not follow the data contract; holds every problem found."""

    def __init__(self, source: str, problems: list[Problem], limit: int = 50):
        self.source = source
        self.problems = sorted(problems, key=lambda p: (p.file, p.row or 0, p.column or "", p.message))
        shown = self.problems[:limit]
        lines = [f"{source} does not follow the billing data contract ({len(self.problems)} problem"
                 f"{'s' if len(self.problems) != 1 else ''}):"]
        lines += [f"  - {p}" for p in shown]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more problems of the same kinds")
        lines.append("Fix the data (see docs/data-contract.md) and run again.")
        super().__init__("\n".join(lines))


class ParameterError(BillingInputError):
    """Raised when a parameter (period, folder, currency, YAML file) is wrong."""
