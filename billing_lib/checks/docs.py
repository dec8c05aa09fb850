"""``docs/checks.md``, written from the check registry so the page cannot drift from the checks.

``python -m billing_lib.checks.docs`` writes the page; ``--check`` only compares it and exits 1 when the
committed page is stale (the test suite does the same).
"""
from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

from billing_lib.checks import (
    catalogue,
    document_checks,
    invoice_checks,
    ledger_checks,
    sequence_checks,
    settlement_checks,
)
from billing_lib.checks.base import Check
from billing_lib.checks.context import ENGINE_VARIABLE, IN_MEMORY_UP_TO_ROWS
from billing_lib.checks.evidence import ROOT_CAUSES, Explanation

PAGE = Path(__file__).resolve().parents[2] / "docs" / "checks.md"

INTRO = f"""\
# The check catalogue

<!-- Written by `python -m billing_lib.checks.docs` from the checks in billing_lib/checks/: edit the checks
(their docstrings, titles and explanations), then run it again. A test fails when this page is stale. -->

Every check of `billing verify`, in catalogue order: the order in which the checks run and in which the rows
of `exceptions.csv` and the reports list them (`CATALOGUE` in `billing_lib/checks/base.py`). How a run works
and what it writes: [verification](verification.md).

## How a check is made

A check is one unit, registered with `@check(name, title=..., severity=..., scope=..., explain=...)` on its
finder: the docstring is its description (shown below), the title names it in reports, the severity is
`error`, `warning` or `info`, the scope is `customer` (it can run on shards of customers) or `global` (it needs
the whole dataset), and `explain` says what a finding means and its likely root cause in an investigation.

The finder takes the shared `CheckContext` and returns its kinds of finding: rows of a lazy polars plan and,
for each column of a finding, a typed value or a *figure* (an amount with its currency, a quantity, a date,
a message template with named fields). The plan is collected as typed rows; the text (`expected`, `actual`,
`difference`, `message`, and keys written from parts) is written afterwards, eagerly, on the small collected
frame. No text is built inside a large plan: polars 2.1's `pl.format` panics on a text column holding an empty
chunk, which the streaming engine leaves behind a filter (`tests/test_streaming_panic.py` keeps the
reproduction).

The polars engine of every collect of a verification is the setting `{ENGINE_VARIABLE}`: `streaming`,
`in-memory` or `auto` (the default: in-memory up to {IN_MEMORY_UP_TO_ROWS:,} rows, beyond that the engine
polars picks, which streams and keeps the memory low). The check tests run under both engines.
"""


RULES = """\
## One root cause, one finding

A mistake is reported once, by the check that owns it; what follows from it is not a second finding (it is
left out, or never arises because the records are read as they are meant). How each family of checks divides
the work:
"""
FAMILIES = [("Invoices and lines", invoice_checks), ("Dates and references", document_checks),
            ("The invoice number sequence", sequence_checks), ("Payments, status and credit notes", settlement_checks),
            ("The general ledger", ledger_checks)]


def _markdown(docstring: str) -> str:
    """A module docstring in Markdown: ``code`` and Sphinx roles (:mod:`x.y`) as code spans."""
    text = re.sub(r":\w+:`(~?)([\w.]+)`",
                  lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`", docstring)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _explanation(c: Check) -> str:
    if isinstance(c.explain, Explanation):
        e = c.explain
        return (f"{e.plain} Likely root cause: **{e.cause}** ({ROOT_CAUSES[e.cause]}), because "
                f"{e.because}.")
    return _one_line(inspect.getdoc(c.explain) or "Decided from the finding and the data it names.")


def _heading(i: int, c: Check) -> str:
    return f"{i}. `{c.name}`: {c.title}"


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _section(i: int, c: Check) -> str:
    return "\n".join([
        f"### {_heading(i, c)}", "",
        f"Severity `{c.severity}`, scope `{c.scope}`.", "",
        c.description, "",
        f"*In an investigation:* {_explanation(c)}", "",
    ])


def markdown() -> str:
    """The whole page."""
    checks = catalogue()
    rows = ["| # | check | title | severity | scope | finds |", "|---|---|---|---|---|---|"]
    rows += [f"| {i} | [`{c.name}`](#{_anchor(_heading(i, c))}) | {c.title} | "
             f"{c.severity} | {c.scope} | {c.summary} |" for i, c in enumerate(checks, 1)]
    parts = [INTRO, "## The catalogue", "", *rows, "", RULES]
    parts += [f"### {name}\n\n{_markdown(inspect.getdoc(module) or '')}\n" for name, module in FAMILIES]
    parts += ["## Each check", ""]
    parts += [_section(i, c) for i, c in enumerate(checks, 1)]
    parts += ["## Likely root causes", "",
              "The causes an investigation may name, each a hypothesis to confirm:", ""]
    parts += [f"- **{cause}**: {means}" for cause, means in ROOT_CAUSES.items()]
    return "\n".join(parts).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write docs/checks.md, or with ``--check`` say whether it is up to date (exit 1 when stale)."""
    parser = argparse.ArgumentParser(prog="python -m billing_lib.checks.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the page is stale")
    args = parser.parse_args(argv)
    text = markdown()
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != text:
            print(f"{PAGE} is stale: run python -m billing_lib.checks.docs", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
