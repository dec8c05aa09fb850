"""The month-end close checklist: each control passes or fails, with the figures that show why.

Every control is computed by the month-end schedules (:mod:`.receivables`,
:mod:`.revenue`) and, for the audit findings, by ``billing verify``; nothing
here recomputes a figure of its own. On books kept as the data contract says,
every control passes: receivables less unapplied cash equal the ledger's 1100
balance and deferred revenue its 2100 balance, in every currency. A control that cannot apply (no ledger
in the dataset) has status ``n/a`` and ``passed`` null.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from billing_lib.core.money import to_text
from billing_lib.core.periods import month_bounds
from billing_lib.data.dataset import Dataset
from billing_lib.month_end import receivables, revenue

DEFAULT_MAX_UNAPPLIED_DAYS = 30
MAX_DOCUMENTS = 10  # reconciling documents named in a failed ledger control's evidence
COLUMNS = {"control": pl.String, "status": pl.String, "passed": pl.Boolean, "evidence": pl.String}


def _amounts(frame: pl.DataFrame, column: str, label: str | None = None) -> str:
    """'EUR 12.50, JPY 300' for one money column of a frame with a currency column ('none' when empty)."""
    if frame.is_empty():
        return "none"
    text = frame.select(pl.format("{} {}", pl.col("currency"), to_text(pl.col(column), pl.col("currency"))))
    return (f"{label} " if label else "") + ", ".join(text.to_series().to_list())


def _row(control: str, passed: bool | None, evidence: str) -> dict:
    status = "n/a" if passed is None else ("pass" if passed else "fail")
    return {"control": control, "status": status, "passed": passed, "evidence": evidence}


def _identity(frame: pl.DataFrame, parts: list[tuple[str, str]], result: str) -> str:
    """One sentence per currency: 'EUR: opening 1.00 + invoiced 2.00 - ... = closing 3.00'."""
    if frame.is_empty():
        return "no activity"
    cur = pl.col("currency")
    pieces = [pl.format("{} {}", pl.lit(f"{sign} {name}" if i else name), to_text(pl.col(name), cur))
              for i, (sign, name) in enumerate(parts)]
    text = frame.select(pl.concat_str([cur, pl.lit(": "), pl.concat_str(pieces, separator=" "),
                                       pl.lit(f" = {result} "), to_text(pl.col(result), cur),
                                       pl.when(pl.col("ties")).then(pl.lit("")).otherwise(pl.lit(" (does not tie)"))]))
    return "; ".join(text.to_series().to_list())


def _documents(items: pl.DataFrame) -> str:
    """'invoice INV-1 EUR 5.00, manual (no id) EUR -2.00' for the reconciling items of
    :func:`billing_lib.month_end.reconcile.document_differences`, the largest first, at most MAX_DOCUMENTS."""
    size = pl.when(pl.col("difference") < 0).then(-pl.col("difference")).otherwise(pl.col("difference"))
    shown = items.sort(size, "source_type", "source_id", descending=[True, False, False], nulls_last=True)
    text = shown.head(MAX_DOCUMENTS).select(pl.format("{} {} {} {}", "source_type",
                                                      pl.col("source_id").fill_null("(no id)"), "currency",
                                                      to_text(pl.col("difference"), pl.col("currency"))))
    more = items.height - MAX_DOCUMENTS
    return ", ".join(text.to_series().to_list()) + (f" and {more} more" if more > 0 else "")


def _ledger_control(name: str, frame: pl.DataFrame, has_ledger: bool, what: str, items: pl.DataFrame) -> dict:
    if not has_ledger:
        return _row(name, None, "the dataset has no gl_entries")
    off = frame.filter(pl.col("ledger_difference") != 0)
    if off.is_empty():
        return _row(name, True, f"{what} equals the ledger in every currency")
    return _row(name, False, f"ledger minus {what}: " + _amounts(off, "ledger_difference")
                + (f"; documents that differ: {_documents(items)}" if not items.is_empty() else ""))


CONTROL_TITLES = {
    "ar_roll_forward_ties": "Receivables roll forward",
    "ar_ties_to_ledger": "Receivables tie to the ledger",
    "deferred_revenue_ties": "Deferred revenue rolls forward",
    "deferred_revenue_ties_to_ledger": "Deferred revenue ties to the ledger",
    "no_unbilled_revenue": "Every expected charge invoiced",
    "fx_rates_complete": "Exchange rates complete",
    "revenue_bridge_ties": "Revenue bridge ties",
    "verify_errors_resolved": "Verification errors resolved",
}


def control_title(control: str) -> str:
    """A control as a reader names it ("Receivables tie to the ledger"); an unknown name as it is."""
    if control.startswith("no_unapplied_cash_over_") and control.endswith("_days"):
        return f"No unapplied cash held over {control.removeprefix('no_unapplied_cash_over_')[:-5]} days"
    return CONTROL_TITLES.get(control, control)


def close_checklist(ds: Dataset, period: str | dt.date, *, base_currency: str = "EUR",
                    max_unapplied_days: int = DEFAULT_MAX_UNAPPLIED_DAYS, exceptions: pl.DataFrame | None = None,
                    applications: pl.DataFrame | None = None) -> pl.DataFrame:
    """The close controls of a month: control, status (pass/fail/n/a), passed, evidence.

    ``exceptions`` is the exceptions frame of a ``billing verify`` run for the
    month (run here when not given); the month passes that control when no
    finding of severity ``error`` is left. ``applications`` places payments on
    invoices (default: the audit's cash application). A ledger control that
    fails names the documents whose amounts differ from the ledger's.
    """
    start, end = month_bounds(period)
    has_ledger = ds.has("gl_entries")
    applications = receivables.payment_applications(ds, applications)
    rows = []

    ar = receivables.roll_forward(ds, start, applications)
    rows.append(_row("ar_roll_forward_ties", bool(ar["ties"].all()), _identity(
        ar, [("", "opening"), ("+", "invoiced"), ("-", "collected"), ("-", "credited"), ("-", "written_off"),
             ("-", "voided")], "closing")))
    rows.append(_ledger_control("ar_ties_to_ledger", ar, has_ledger, "closing receivables less unapplied cash",
                                receivables.ledger_differences(ds, end, applications)))

    dr = revenue.deferred_revenue(ds, start)
    rows.append(_row("deferred_revenue_ties", bool(dr["ties"].all()), _identity(
        dr, [("", "opening"), ("+", "billed_in_advance"), ("-", "credited"), ("-", "released"), ("-", "voided")],
        "closing")))
    rows.append(_ledger_control("deferred_revenue_ties_to_ledger", dr, has_ledger, "deferred revenue",
                                revenue.deferred_ledger_differences(ds, end)))

    cash = receivables.unapplied_cash(ds, end, applications)
    old = cash.filter(pl.col("days_held") > max_unapplied_days)
    rows.append(_row(f"no_unapplied_cash_over_{max_unapplied_days}_days", old.is_empty(),
                     "none" if old.is_empty() else "; ".join(
                         old.select(pl.format("{} ({}) {} {} held {} days", "payment_id", "customer_id", "currency",
                                              to_text(pl.col("unapplied"), pl.col("currency")), "days_held"))
                         .to_series().to_list())))

    unbilled = revenue.unbilled_revenue(ds, start)
    by_cur = unbilled.group_by("currency").agg(pl.col("net").sum()).sort("currency")
    rows.append(_row("no_unbilled_revenue", unbilled.is_empty(),
                     "every expected charge is invoiced" if unbilled.is_empty()
                     else f"{unbilled.height} charges not invoiced: " + _amounts(by_cur, "net")))

    missing = revenue.missing_fx_rates(ds, start, base_currency)
    rows.append(_row("fx_rates_complete", missing.is_empty(),
                     f"every billed line converts to {base_currency}" if missing.is_empty() else
                     "no rate on or before: " + ", ".join(missing.select(pl.format(
                         "{} {}", "currency", pl.col("issue_date").dt.strftime("%Y-%m-%d"))).to_series().to_list())))

    bridge = revenue.revenue_bridge(ds, start)
    rows.append(_row("revenue_bridge_ties", bool(bridge["ties"].all()),
                     "no billed revenue in either month" if bridge.is_empty()
                     else "change in billed revenue " + _amounts(bridge, "change")))

    if exceptions is None:
        from billing_lib.verification import verify
        exceptions = verify(ds, [start]).exceptions
    errors = exceptions.filter(pl.col("severity") == "error")
    counts = errors.group_by("check").len().sort("check")
    rows.append(_row("verify_errors_resolved", errors.is_empty(),
                     f"no error findings ({exceptions.height} findings in all)" if errors.is_empty() else
                     f"{errors.height} error findings open: " + ", ".join(
                         counts.select(pl.format("{} {}", "check", "len")).to_series().to_list())))
    return pl.DataFrame(rows, schema=COLUMNS)
