"""Tables, headline and conclusions of the investigation workbook, and the choice of cases worth one.

:func:`largest_open_cases` picks the findings the monthly run investigates:
the most money at stake in the base currency, leaving out what the case log
says is resolved or accepted.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl

from billing_lib.core.currency import format_money
from billing_lib.core.money import DECIMAL
from billing_lib.data.dataset import Dataset
from billing_lib.investigation.resolution import by_invoice, money_by_currency
from billing_lib.investigation.subject import Investigation
from billing_lib.reports.summary import Amount, Summary
from billing_lib.verification import VerificationResult
from billing_lib.workbook.analysis import check_title, exceptions_table, largest_cases

FINDING_COLUMNS = ["exception_id", "check", "severity", "invoice_id", "line_no", "subscription_id", "payment_id",
                   "period", "currency", "at_stake", "message"]


def findings_table(inv: Investigation, case_log: str | Path | None = None) -> pl.DataFrame:
    """The findings of the investigation (the asked one first); with a case log, each one's case status."""
    frame = inv.findings.select(FINDING_COLUMNS)
    if case_log is None:
        return frame
    from billing_lib.cases import open_case_log
    from billing_lib.cases.marking import with_standing
    marked = with_standing(open_case_log(case_log), inv.findings)
    return marked.select(*FINDING_COLUMNS, "case_status", "resolution", "note")


def summary_line(inv: Investigation) -> str:
    """One sentence: what is investigated, over which months, how many findings."""
    n = inv.findings.height
    who = inv.subject.describe()
    name = f" ({inv.customer['name']})" if inv.customer and inv.customer.get("name") else ""
    return (f"Investigating {who}{name} over {inv.range_text}: {n} finding{'s' if n != 1 else ''} "
            f"{'concern' if n != 1 else 'concerns'} {'this customer' if inv.customer_id else 'it'}.")


def headline(inv: Investigation, corrections: pl.DataFrame, explanations: pl.DataFrame) -> dict:
    """The investigation in a few figures (JSON-ready) for the index page."""
    money = money_by_currency(corrections.filter(pl.col("document") != "ledger adjustment"))
    docs = by_invoice(corrections)
    causes = explanations["likely_root_cause"].value_counts(sort=True)["likely_root_cause"].to_list() \
        if explanations.height else []
    other = corrections.filter(~pl.col("document").is_in(["credit note", "additional invoice", "ledger adjustment"]))
    asked = inv.findings.row(0, named=True) if inv.subject.kind == "exception" and inv.findings.height else None
    return {
        "subject": inv.subject.describe(),
        "customer": (inv.customer or {}).get("name") or None,
        "customer_id": inv.customer_id,
        "finding_asked": check_title(asked["check"]) if asked else None,
        "invoice_asked": (asked or {}).get("invoice_id") or (inv.subject.value if inv.subject.kind == "invoice"
                                                             else None),
        "periods": [m.strftime("%Y-%m") for m in inv.months],
        "findings": int(inv.findings.height),
        "credit_notes": int(docs.filter(pl.col("document") == "credit note").height),
        "additional_invoices": int(docs.filter(pl.col("document") == "additional invoice").height),
        "other_corrections": dict(sorted(other.group_by("document").len().rows())),
        "correction_by_currency": {c: format_money(v, c) for c, v in money.items() if v != 0},
        "likely_root_causes": causes[:3],
    }


def conclusions(head: dict) -> list[str]:
    """Plain sentences from the headline."""
    months = head["periods"][0] if len(head["periods"]) == 1 else f"{head['periods'][0]} to {head['periods'][-1]}"
    lines = [f"{head['subject'][0].upper()}{head['subject'][1:]}: {head['findings']} finding(s) over {months}."]
    if head["findings"] == 0:
        lines.append("Nothing to correct: every invoice line follows the contract.")
        return lines
    lines.append(f"Proposed: {head['credit_notes']} credit note(s) and {head['additional_invoices']} additional "
                 f"invoice(s).")
    if head["correction_by_currency"]:
        lines.append("What the customer owes changes by " + ", ".join(
            f"{v} {c}" for c, v in sorted(head["correction_by_currency"].items())) + ".")
    if head["likely_root_causes"]:
        lines.append("Most likely root causes: " + ", ".join(head["likely_root_causes"]) + ".")
    return lines


def who(head: dict) -> str:
    """The customer as a reader names them ("Tokyo KK (C-00033)"), else the subject ("invoice INV-0000098")."""
    if head.get("customer") and head.get("customer_id"):
        return f"{head['customer']} ({head['customer_id']})"
    if head.get("customer_id"):
        return f"customer {head['customer_id']}"
    return head.get("subject") or "the subject"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else ("es" if noun.endswith("ch") else "s"))


def proposed(head: dict) -> str:
    """The proposed corrections in words ("1 credit note and 1 refund"), "" when none."""
    parts = [(head["credit_notes"], "credit note"), (head["additional_invoices"], "additional invoice"),
             *((n, doc) for doc, n in sorted(head.get("other_corrections", {}).items()))]
    named = [_plural(n, doc) for n, doc in parts if n]
    return " and ".join([", ".join(named[:-1]), named[-1]]) if len(named) > 1 else "".join(named)


def verdict(head: dict) -> str:
    """The headline: what happened, to whom, on which invoice, and how many findings to resolve."""
    what = head.get("finding_asked")
    on = f", invoice {head['invoice_asked']}" if head.get("invoice_asked") else ""
    n = _plural(head["findings"], "finding")
    return (f"{what} for {who(head)}{on}: {n} to resolve." if what
            else f"{who(head)[0].upper()}{who(head)[1:]}{on}: {n} to resolve.")


def summary(head: dict) -> Summary:
    """The report's one-screen summary from :func:`headline`: who and which months were looked at, the
    findings and their likely causes, how much the customer's balance changes, what to decide."""
    months = head["periods"][0] if len(head["periods"]) == 1 else f"{head['periods'][0]} to {head['periods'][-1]}"
    who = f"{head['subject'][0].upper()}{head['subject'][1:]}" if head["subject"] else "The subject"
    checked = [f"{who}, over {months}",
               "Every invoice line against the contract, metered usage against the billed quantity, payments, "
               "credit notes and the statement of account"]
    if head["findings"] == 0:
        return Summary(verdict="Nothing to correct: every invoice line follows the contract.", checked=checked,
                       found=["No findings."])
    found = [_plural(head["findings"], "finding"), f"Proposed: {proposed(head) or 'no change of documents'}"]
    if head["likely_root_causes"]:
        found.append("Most likely root causes: " + ", ".join(head["likely_root_causes"]))
    stake = [Amount("change in what the customer owes", Decimal(v), c)
             for c, v in sorted(head["correction_by_currency"].items())]
    decisions = [(f"Approve {proposed(head)}" if proposed(head) else "Correct the findings")
                 + ", or accept the findings as correct in the case log (billing cases).",
                 "Review the message to the client before it is sent."]
    return Summary(verdict=verdict(head), checked=checked,
                   found=found, at_stake=stake, decisions=decisions,
                   note="The corrections, their ledger effect and the client message are written beside this report.")


def _decimal_at_stake(exceptions: pl.DataFrame) -> pl.DataFrame:
    if exceptions.schema.get("at_stake") != DECIMAL:
        exceptions = exceptions.with_columns(pl.col("at_stake").cast(pl.String).cast(DECIMAL))
    return exceptions


def largest_open_cases(exceptions: pl.DataFrame, ds: Dataset, base_currency: str, n: int,
                       case_log: str | Path | None = None) -> pl.DataFrame:
    """The ``n`` findings of a customer with the most money at stake (base currency) that are not resolved
    or accepted in ``case_log`` (all count as open without a log). Findings without money at stake, and those
    that concern no single customer (ledger balances, number gaps), are left out: an investigation tells a
    customer's story."""
    frame = _decimal_at_stake(exceptions)
    if case_log is not None:
        from billing_lib.cases import open_case_log
        from billing_lib.cases.marking import with_standing
        frame = with_standing(open_case_log(case_log), frame).filter(pl.col("in_report")).select(frame.columns)
    table = exceptions_table(VerificationResult(frame, {}), ds, base_currency)
    table = table.filter(pl.col("at_stake").is_not_null() & (pl.col("at_stake") > Decimal(0))
                         & pl.col("customer_id").is_not_null())
    return largest_cases(table, n)


def files_table(paths: list[Path]) -> pl.DataFrame:
    """The files a workbook wrote, by name, with what each holds."""
    what = {"corrections.csv": "one row per correcting document of each finding",
            "ledger_effect.csv": "the journal lines the corrections post",
            "client_messages.csv": "the drafted client message(s) as text",
            "resolution.xlsx": "the three tables above, one sheet each"}
    return pl.DataFrame({"file": [p.name for p in paths],
                         "holds": [what.get(p.name, "the client message as HTML") for p in paths]})


def readable(frame: pl.DataFrame, money: dict[str, str] | None = None) -> pl.DataFrame:
    """Decimal columns that are not money (quantities, percentages) as short text: ``3``, ``2.5``."""
    from billing_lib.core.money import number_text
    money = money or {}
    plain = [c for c, t in frame.schema.items() if isinstance(t, pl.Decimal) and c not in money]
    return frame.with_columns(number_text(pl.col(c)).alias(c) for c in plain) if plain else frame


def show(frame: pl.DataFrame, money: dict[str, str] | None = None, *, empty: str | None = "No rows.") -> None:
    """:func:`billing_lib.workbook.display.show_table` with quantities and percentages shown without trailing zeros."""
    from billing_lib.workbook.display import show_table
    show_table(readable(frame, money), money, empty=empty)
