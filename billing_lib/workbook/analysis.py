"""Summary tables of a verification run, for the workbooks and the reports.

Every function takes plain inputs (a :class:`~billing_lib.verification.VerificationResult`,
the :class:`~billing_lib.data.dataset.Dataset`, the base currency) and returns a
polars frame in a deterministic order (call ``.to_pandas()`` for pandas).
Money stays polars Decimal: amounts in their own currency, and, where the
dataset's ``fx_rates`` allow, ``at_stake_base`` in the base currency. Findings
whose currency has no rate are counted as ``unconverted``, never guessed.
"""
from __future__ import annotations

from decimal import Decimal

import polars as pl

from billing_lib.checks.base import CATALOGUE, REGISTRY
from billing_lib.core.fx import rates, round_base, with_base_amount
from billing_lib.core.money import DECIMAL
from billing_lib.data.contract import TABLES
from billing_lib.data.dataset import Dataset
from billing_lib.reports.summary import Amount, Summary
from billing_lib.verification import VerificationResult

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
TOP_CUSTOMERS = 15
LARGEST_CASES = 15


def exceptions_table(result: VerificationResult, ds: Dataset, base_currency: str) -> pl.DataFrame:
    """The exceptions with the customer's name, ``rate_to_base`` and ``at_stake_base`` (full precision).

    A finding is converted at the rate in force on the last day of its period.
    """
    names = ds.frame("customers").select("customer_id", pl.col("name").alias("customer_name")).collect()
    frame = result.exceptions.join(names, on="customer_id", how="left", maintain_order="left")
    period_end = (pl.col("period") + "-01").str.to_date("%Y-%m-%d", strict=False).dt.month_end()
    frame = frame.with_columns(period_end.alias("period_end"))
    return with_base_amount(frame, rates(ds), base_currency, amount="at_stake", currency="currency",
                            on="period_end", out="at_stake_base").drop("period_end")


def data_health(ds: Dataset) -> pl.DataFrame:
    """One row per contract table: whether it is required, the file read and its rows (0 when absent)."""
    counts = ds.row_counts()
    rows = [{"table": name, "required": spec.required,
             "file": ds.files[name].name if name in ds.files else "",
             "rows": counts.get(name, 0)} for name, spec in TABLES.items()]
    return pl.DataFrame(rows, schema={"table": pl.String, "required": pl.Boolean, "file": pl.String,
                                      "rows": pl.Int64})


def periods_covered(ds: Dataset, result: VerificationResult) -> pl.DataFrame:
    """Invoiced months in the data (invoices, of them void) and whether this run verified them."""
    verified = result.summary.get("periods", [])
    inv = (ds.frame("invoices").with_columns(period=pl.col("period_start").dt.strftime("%Y-%m"))
           .group_by("period").agg(invoices=pl.len().cast(pl.Int64),
                                   void=(pl.col("status") == "void").sum().cast(pl.Int64))
           .collect())
    asked = pl.DataFrame({"period": verified}, schema={"period": pl.String})
    frame = pl.concat([inv.select("period"), asked], how="vertical").unique()
    frame = frame.join(inv, on="period", how="left").with_columns(
        pl.col("invoices").fill_null(0), pl.col("void").fill_null(0),
        verified=pl.col("period").is_in(pl.Series(verified, dtype=pl.String).implode()))
    return frame.filter(pl.col("period").is_not_null()).sort("period").select(
        "period", "invoices", "void", "verified")


def by_check(result: VerificationResult, table: pl.DataFrame) -> pl.DataFrame:
    """Every check of the run: severity, description, findings, money at stake in the base currency.

    Sorted by findings at stake (largest first), then findings, then catalogue order.
    """
    catalogue = [{"check": name, "severity": info["severity"],
                  "description": REGISTRY[name].summary if name in REGISTRY else "", "order": i}
                 for i, (name, info) in enumerate(result.summary.get("by_check", {}).items())]
    base = pl.DataFrame(catalogue, schema={"check": pl.String, "severity": pl.String, "description": pl.String,
                                           "order": pl.Int64})
    agg = table.group_by("check").agg(
        findings=pl.len().cast(pl.Int64),
        at_stake_base=pl.col("at_stake_base").sum(),
        unconverted=(pl.col("at_stake").is_not_null() & pl.col("at_stake_base").is_null()).sum().cast(pl.Int64))
    # a check that reported findings without being in the summary still shows
    extra = agg.join(base, on="check", how="anti").select("check").with_columns(
        severity=pl.lit(""), description=pl.lit(""), order=pl.lit(len(catalogue), dtype=pl.Int64))
    frame = pl.concat([base, extra], how="vertical").join(agg, on="check", how="left").with_columns(
        pl.col("findings").fill_null(0), pl.col("unconverted").fill_null(0),
        pl.col("at_stake_base").fill_null(pl.lit(0).cast(DECIMAL)))
    if not table.is_empty():
        sev = table.select("check", pl.col("severity").alias("seen")).unique("check", keep="first")
        frame = frame.join(sev, on="check", how="left").with_columns(
            severity=pl.when(pl.col("severity") == "").then(pl.col("seen")).otherwise(pl.col("severity"))
        ).drop("seen")
    return (frame.sort([pl.col("at_stake_base"), pl.col("findings"), pl.col("order")],
                       descending=[True, True, False])
            .select("check", "severity", "description", "findings", "at_stake_base", "unconverted"))


def by_customer(table: pl.DataFrame, top: int = TOP_CUSTOMERS) -> pl.DataFrame:
    """The ``top`` customers by money at stake in the base currency, with their findings and errors."""
    frame = (table.filter(pl.col("customer_id").is_not_null())
             .group_by("customer_id").agg(
                 customer_name=pl.col("customer_name").first(),
                 findings=pl.len().cast(pl.Int64),
                 errors=(pl.col("severity") == "error").sum().cast(pl.Int64),
                 checks=pl.col("check").unique().sort().str.join(", "),
                 at_stake_base=pl.col("at_stake_base").sum(),
                 unconverted=(pl.col("at_stake").is_not_null() & pl.col("at_stake_base").is_null())
                 .sum().cast(pl.Int64)))
    return (frame.sort(["at_stake_base", "findings", "customer_id"], descending=[True, True, False])
            .head(top)
            .select("customer_id", "customer_name", "findings", "errors", "checks", "at_stake_base",
                    "unconverted"))


def at_stake_by_currency(table: pl.DataFrame) -> pl.DataFrame:
    """Money at stake per currency, and in the base currency where a rate converts it."""
    priced = table.filter(pl.col("currency").is_not_null() & pl.col("at_stake").is_not_null())
    return (priced.group_by("currency").agg(
        findings=pl.len().cast(pl.Int64),
        at_stake=pl.col("at_stake").sum(),
        at_stake_base=pl.when(pl.col("at_stake_base").is_null().any()).then(None)
        .otherwise(pl.col("at_stake_base").sum()).first(),
        unconverted=pl.col("at_stake_base").is_null().sum().cast(pl.Int64))
        .with_columns(pl.col("at_stake_base").cast(DECIMAL))
        .sort("currency"))


def largest_cases(table: pl.DataFrame, n: int = LARGEST_CASES) -> pl.DataFrame:
    """The ``n`` findings with the most money at stake (base currency first, then own amount)."""
    return (table.sort([pl.col("at_stake_base"), pl.col("at_stake"), pl.col("exception_id")],
                       descending=[True, True, False], nulls_last=True)
            .head(n)
            .select("exception_id", "check", "severity", "customer_id", "customer_name", "invoice_id", "period",
                    "currency", "at_stake", "at_stake_base", "message"))


def headline(result: VerificationResult, table: pl.DataFrame, base_currency: str) -> dict:
    """The run in a few plain figures (JSON-ready): periods, findings, errors, money at stake."""
    s = result.summary
    total = table.select(round_base(pl.col("at_stake_base").sum(), base_currency)).item() \
        if not table.is_empty() else Decimal(0)
    unconverted = table.filter(pl.col("at_stake").is_not_null() & pl.col("at_stake_base").is_null()).height
    # checks as a reader names them (their catalogue title), in catalogue order
    hit = {name for name, info in s.get("by_check", {}).items() if info.get("count")}
    order = {name: i for i, name in enumerate(CATALOGUE)}
    checks_hit = [check_title(name) for name in sorted(hit, key=lambda n: (order.get(n, len(order)), n))]
    customers = table.filter(pl.col("customer_id").is_not_null())["customer_id"].n_unique()
    return {
        "periods": list(s.get("periods", [])),
        "findings": int(s.get("exceptions", table.height)),
        "errors": int(s.get("by_severity", {}).get("error", 0)),
        "warnings": int(s.get("by_severity", {}).get("warning", 0)),
        "checks_with_findings": checks_hit,
        "customers_affected": int(customers),
        "base_currency": base_currency,
        "at_stake_base": _money(total, base_currency),
        "unconverted_findings": unconverted,
        "at_stake_by_currency": dict(s.get("at_stake_by_currency", {})),
    }


def conclusions(head: dict) -> list[str]:
    """Short plain sentences that sum up a :func:`headline` (no markup; escape before rendering)."""
    periods = head["periods"]
    span = ", ".join(periods) if periods else "no invoiced period"
    if head["findings"] == 0:
        return [f"No findings: every check passed for {span}.",
                "Nothing in the invoices or the ledger needs correcting."]
    lines = [f"{_count(head['findings'], 'finding')} for {span}: {_count(head['errors'], 'error')} and "
             f"{_count(head['warnings'], 'warning')}, affecting {_count(head['customers_affected'], 'customer')}.",
             f"Money at stake: {head['at_stake_base']} {head['base_currency']}"
             + (f" (plus {_count(head['unconverted_findings'], 'finding')} in currencies without an exchange rate)."
                if head["unconverted_findings"] else ".")]
    if head["checks_with_findings"]:
        lines.append("Checks with findings: " + ", ".join(head["checks_with_findings"]) + ".")
    lines.append("Work through the largest cases first; the full list is in exceptions.csv.")
    return lines


def check_title(name: str) -> str:
    """A check as a reader names it: its catalogue title ("Duplicate charges"), else its name."""
    return REGISTRY[name].title if name in REGISTRY else name


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _money(value: Decimal | None, code: str) -> str:
    from billing_lib.core.currency import format_money
    return format_money(value if value is not None else Decimal(0), code)


def summary(head: dict, checks: pl.DataFrame, months: pl.DataFrame) -> Summary:
    """The report's one-screen summary from a :func:`headline`, the :func:`by_check` table and the
    :func:`periods_covered` table: what was checked, what was found, money at stake, what needs a decision."""
    base = head["base_currency"]
    span = ", ".join(head["periods"]) if head["periods"] else "every invoiced month"
    verified = months.filter(pl.col("verified"))
    invoices, void = int(verified["invoices"].sum() or 0), int(verified["void"].sum() or 0)
    checked = [f"{_count(invoices, 'invoice')} for {span}" + (f" ({void} void, checked for numbering only)"
                                                              if void else ""),
               f"Every check of the catalogue ({checks.height}): line arithmetic, totals, prices, quantities, "
               "discounts, tax, unbilled and duplicate charges, payments, ledger",
               f"Money at stake converted to {base} with the dataset's exchange rates"]
    if head["findings"] == 0:
        return Summary(verdict=f"No findings: the invoices and ledger of {span} passed every check.", checked=checked,
                       found=["Every check passed."], at_stake=[Amount("at stake", Decimal(0), base)])
    hit = checks.filter(pl.col("findings") > 0).sort(["findings", "check"], descending=[True, False])
    found = [f"{_count(head['findings'], 'finding')}: {_count(head['errors'], 'error')} and "
             f"{_count(head['warnings'], 'warning')}",
             f"{_count(head['customers_affected'], 'customer')} affected",
             "Most findings: " + ", ".join(f"{check_title(c)} ({n})"
                                           for c, n in hit.select("check", "findings").head(3).rows())]
    stake = [Amount(f"at stake in total, in {base}", Decimal(head["at_stake_base"]), base)]
    by_currency = head.get("at_stake_by_currency", {})
    if set(by_currency) - {base}:
        stake += [Amount(f"in {cur} documents", Decimal(value), cur) for cur, value in sorted(by_currency.items())]
    decisions = []
    if head["errors"]:
        decisions.append(f"Correct the {_count(head['errors'], 'error')}, largest cases first: an issued invoice "
                         "by a credit note or a further invoice, the ledger by an adjusting entry (each "
                         "investigation report proposes them).")
    if head["warnings"]:
        decisions.append(f"Review the {_count(head['warnings'], 'warning')}: correct them or accept them.")
    if head["unconverted_findings"]:
        decisions.append(f"{_count(head['unconverted_findings'], 'finding')} in currencies without an exchange "
                         f"rate: add the rates to fx_rates to count them in {base}.")
    verdict = (f"{_count(head['errors'], 'error')} to correct in the invoices and ledger of {span}."
               if head["errors"] else f"{_count(head['warnings'], 'warning')} to review for {span}.")
    return Summary(verdict=verdict, checked=checked, found=found, at_stake=stake, decisions=decisions,
                   note="Every finding is in the findings file beside this report (CSV and Excel), with an id "
                        "that stays the same from one run to the next.")
