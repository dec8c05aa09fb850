"""The pre-billing review: the month's draft invoices, checked and compared before they go out.

:func:`prepare_run` rates the period from contracts, usage and the price book (the same engine as
``billing generate`` and the checks), writes the drafts with their HTML and PDF documents into
``<output_dir>/drafts`` and runs the verification engine's checks on them. The rest of the module
turns that run into what the reviewer decides on:

* :func:`customer_changes`: each customer's drafts against last month's issued invoices (new,
  churned, large swings) with the cause (new subscription, annual term, ended subscription, price,
  volume, proration) from the revenue bridge of :mod:`billing_lib.month_end.revenue`;
* :func:`draft_findings` and :func:`draft_status`: the checks' findings on the drafts, and per
  draft whether it can go (no error-severity finding);
* :func:`totals_by_product` and :func:`totals_by_currency`;
* :func:`compare_with_issued`: when the period was already invoiced, the drafts against the
  invoices actually issued (where the billing system and the contract disagree);
* :func:`decide` and :func:`write_review`: go / no-go, ``approved_invoices.csv`` and ``review.json``
  for the send step.

The drafts are made from the dataset *as it stood before the period was invoiced*
(:func:`before_period`): invoices of the period and later months are set aside and settlement
(payments, credit notes, ledger) is left out, since drafts have not been paid or posted. In the
normal case (the period not invoiced yet) this is the dataset itself and the drafts are numbered
exactly as ``billing generate`` numbers them. When the period already has issued invoices, the
drafts serve for comparison only: sending them would bill the month twice, so the decision is
no-go and nothing is approved.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import polars as pl

from billing_lib.checks.base import REGISTRY
from billing_lib.core.currency import format_money
from billing_lib.core.fx import rates, round_base, with_base_amount
from billing_lib.core.money import DECIMAL, ZERO, money_text_where_currency, number_text
from billing_lib.core.output import atomic_outputs, neutralize_formulas
from billing_lib.core.periods import month_end, period_name
from billing_lib.data.dataset import Dataset
from billing_lib.invoicing.delivery.approval import (
    APPROVAL_COLUMNS,
    APPROVED_FILE,
    FINDINGS_FILE,
    REVIEW_FILE,
    clear_review,
    finish_review,
    folder_hashes,
)
from billing_lib.invoicing.generate import GeneratedInvoices, documents_told, generate_period, write_generated
from billing_lib.month_end.revenue import revenue_bridge_detail
from billing_lib.reports.summary import Amount, Summary
from billing_lib.verification import VerificationResult, verify

SETTLEMENT_CHECKS = ("unapplied_payment", "payment_mismatch", "status_mismatch", "credit_note_excess",
                     "gl_mismatch")
SETTLEMENT_TABLES = ("payments", "credit_notes", "gl_entries")
SWING_PCT = Decimal(20)  # a change of this share of last month's amount (or more) is flagged
CAUSES = {"new": "new subscription", "term": "annual term", "churned": "ended subscription", "price": "price",
          "volume": "volume", "proration": "proration"}
STATUS_ORDER = {"new": 0, "resumed": 1, "churned": 2, "changed": 3, "unchanged": 4}
Progress = Callable[[str], None]


def draft_checks() -> list[str]:
    """The checks that apply to drafts: the catalogue without settlement and ledger checks
    (drafts are neither paid nor posted yet)."""
    return [name for name in REGISTRY if name not in SETTLEMENT_CHECKS]


def _month(period: str | dt.date) -> dt.date:
    if isinstance(period, dt.date):
        return period.replace(day=1)
    from billing_lib.core.periods import parse_period
    return parse_period(period)


def before_period(ds: Dataset, period: dt.date) -> Dataset:
    """The dataset as it stood before ``period`` was invoiced: invoices of earlier months only,
    no payments, credit notes or ledger entries."""
    tables = {name: frame for name, frame in ds.tables.items() if name not in SETTLEMENT_TABLES}
    if "invoices" in tables:
        tables["invoices"] = tables["invoices"].filter(pl.col("period_start") < period)
        kept = tables["invoices"]["invoice_id"].implode()
        if "invoice_lines" in tables:
            tables["invoice_lines"] = tables["invoice_lines"].filter(pl.col("invoice_id").is_in(kept))
    return Dataset(ds.folder, tables, dict(ds.files))


def _as_table(frame: pl.DataFrame, like: pl.Schema) -> pl.DataFrame:
    """``frame`` in the columns and types of a loaded table (columns it lacks are empty)."""
    return frame.select([pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c)
                         for c, t in like.items()])


def with_drafts(ds: Dataset, drafts: GeneratedInvoices) -> Dataset:
    """``ds`` with the draft invoices and lines added, typed like loaded tables (for the checks)."""
    tables = dict(ds.tables)
    for name, frame in (("invoices", drafts.headers.sort("number")),
                        ("invoice_lines", drafts.lines.sort("number", "line_no"))):
        schema = ds.frame(name).collect_schema()
        tables[name] = pl.concat([ds.frame(name).collect(), _as_table(frame, schema)], how="vertical")
    return Dataset(ds.folder, tables, dict(ds.files))


@dataclass
class InvoiceRun:
    """One period's drafts: the data, the drafts, the dataset they were checked in and the result."""

    period: dt.date
    data: Dataset
    drafts: GeneratedInvoices
    review: Dataset
    result: VerificationResult
    issued: pl.DataFrame
    written: list[Path] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)  # content hash of each draft as written (billing send's)

    @property
    def already_invoiced(self) -> bool:
        """True when the data already holds issued (non-void) invoices for the period."""
        return self.issued.height > 0


def issued_invoices(ds: Dataset, period: dt.date) -> pl.DataFrame:
    """The non-void invoices the data holds for ``period``."""
    return (ds.frame("invoices").filter((pl.col("period_start").dt.month_start() == period)
                                        & (pl.col("status") != "void"))
            .drop("_row", strict=False).sort("invoice_id").collect())


def prepare_run(ds: Dataset, period: str | dt.date, output_dir: str | Path,
                progress: Progress | None = None) -> InvoiceRun:
    """Generate ``period``'s drafts into ``<output_dir>/drafts`` (CSV, HTML, PDF) and check them.

    An earlier review's ``approved_invoices.csv``, ``review.json`` and ``draft_findings.csv`` in
    ``output_dir`` are removed first: they approved other drafts, and until :func:`write_review` runs
    for these nothing in ``output_dir`` approves them."""
    say = progress or (lambda _text: None)
    month = _month(period)
    base = before_period(ds, month)
    say(f"rating {period_name(month)} from contracts, usage and the price book")
    drafts = generate_period(base, month)
    clear_review(output_dir)
    say(f"writing {drafts.headers.height} draft invoices and their documents")
    written = write_generated(drafts, base, Path(output_dir) / "drafts", progress=documents_told(say))
    hashes = folder_hashes(Path(output_dir) / "drafts")
    review = with_drafts(base, drafts)
    say("running the checks on the drafts")
    result = verify(review, [month], checks=draft_checks())
    return InvoiceRun(month, ds, drafts, review, result, issued_invoices(ds, month), written, hashes)


def situation(run: InvoiceRun) -> str:
    """One sentence on what the drafts are: the month's invoices to send, or a comparison when the
    period was already invoiced."""
    n = run.drafts.headers.height
    if n == 0 and not run.already_invoiced:
        return f"Nothing to invoice for {period_name(run.period)}: no subscription has a charge this month."
    first_last = ""
    if n:
        ids = run.drafts.headers.sort("number")["invoice_id"]
        first_last = f" ({ids[0]} to {ids[-1]})"
    if run.already_invoiced:
        issued = run.issued["invoice_id"]
        return (f"{period_name(run.period)} already has {run.issued.height} issued invoice(s) ({issued.min()} to "
                f"{issued.max()}). The {n} draft(s){first_last} were made from the data as it stood before "
                "the month was invoiced, to compare with what was issued; they are not to be sent.")
    return (f"{n} draft invoice(s){first_last} for {period_name(run.period)}, numbered after the last issued "
            "invoice; they are sent once approved below.")


# ------------------------------------------------------------------------------------------------
# findings and approval

def draft_findings(run: InvoiceRun) -> pl.DataFrame:
    """The checks' findings on the drafts, most serious first (check, severity, customer, invoice, message)."""
    return (run.result.exceptions
            .select("check", "severity", "customer_id", "invoice_id", "line_no", "subscription_id", "currency",
                    "at_stake", "message")
            .sort(pl.col("severity") != "error", "check", "customer_id", "invoice_id", "line_no",
                  nulls_last=True))


def _customer_names(ds: Dataset) -> pl.DataFrame:
    return ds.frame("customers").select("customer_id", "name").collect()


def draft_status(run: InvoiceRun) -> pl.DataFrame:
    """One row per draft: customer, currency, lines, total, errors, warnings and ``approved``
    (no error-severity finding on it, and the period not already invoiced)."""
    found = (run.result.exceptions.filter(pl.col("invoice_id").is_not_null())
             .group_by("invoice_id").agg((pl.col("severity") == "error").sum().alias("errors"),
                                         (pl.col("severity") != "error").sum().alias("warnings")))
    heads = run.drafts.headers.select("invoice_id", "customer_id", "currency", pl.col("n_lines").alias("lines"),
                                      "subtotal", "discount", "tax", "total", "number")
    return (heads.join(found, on="invoice_id", how="left")
            .join(_customer_names(run.data), on="customer_id", how="left")
            .with_columns(pl.col("errors").fill_null(0).cast(pl.Int64), pl.col("warnings").fill_null(0).cast(pl.Int64))
            .with_columns(approved=(pl.col("errors") == 0) & pl.lit(not run.already_invoiced))
            .sort("number")
            .select("invoice_id", "customer_id", "name", "currency", "lines", "subtotal", "discount", "tax", "total",
                    "errors", "warnings", "approved"))


def approved_ids(run: InvoiceRun) -> list[str]:
    """The drafts that may be sent, sorted."""
    return sorted(draft_status(run).filter(pl.col("approved"))["invoice_id"].to_list())


# ------------------------------------------------------------------------------------------------
# drafts against last month

def _subscription_causes(run: InvoiceRun) -> pl.DataFrame:
    """The revenue bridge per subscription (drafts against last month), with year terms told apart."""
    detail = revenue_bridge_detail(run.review, run.period)
    starts = run.data.frame("subscriptions").select("subscription_id", "start_date").collect()
    term_lines = (run.drafts.lines.filter(pl.col("kind") == "year_term").select("subscription_id").unique()
                  .with_columns(term=pl.lit(True)))
    started_now = pl.col("start_date").dt.month_start() == run.period
    return (detail.join(starts, on="subscription_id", how="left").join(term_lines, on="subscription_id", how="left")
            .with_columns(term=pl.when(pl.col("term").fill_null(False) & ~started_now.fill_null(False))
                          .then(pl.col("new")).otherwise(ZERO).cast(DECIMAL))
            .with_columns(new=(pl.col("new") - pl.col("term")).cast(DECIMAL)))


def customer_changes(run: InvoiceRun, swing_pct: Decimal = SWING_PCT) -> pl.DataFrame:
    """Each customer's drafts (net of discounts, before tax) against last month's issued invoices.

    ``status`` is new (never billed before), resumed (billed before, not last month), churned (billed last
    month, nothing drafted now), changed or unchanged;
    ``cause`` names the parts of the change, largest first (new subscription, annual term, ended
    subscription, price, volume, proration); ``flagged`` marks new, resumed and churned customers and changes of
    ``swing_pct`` % of last month or more.
    """
    subs = _subscription_causes(run)
    parts = list(CAUSES)
    per = (subs.group_by("customer_id", "currency")
           .agg(pl.col("previous").sum(), pl.col("current").sum(), pl.col("change").sum(),
                *(pl.col(p).sum() for p in parts))
           .with_columns(pl.col(c).cast(DECIMAL) for c in ("previous", "current", "change", *parts)))
    rows = []
    for r in per.iter_rows(named=True):
        ranked = sorted((p for p in parts if r[p] != 0), key=lambda p: (-abs(r[p]), parts.index(p)))
        rows.append({"customer_id": r["customer_id"], "currency": r["currency"],
                     "cause": ", ".join(CAUSES[p] for p in ranked)})
    causes = pl.DataFrame(rows, schema={"customer_id": pl.String, "currency": pl.String, "cause": pl.String})
    pct = pl.when(pl.col("previous") != 0).then(
        (pl.col("change") * 100 / pl.col("previous")).round(1, mode="half_away_from_zero")).cast(DECIMAL)
    billed_before = (run.review.frame("invoices").filter((pl.col("period_start") < run.period)
                                                        & (pl.col("status") != "void"))
                     .select("customer_id").unique().collect()["customer_id"].implode())
    drafted = run.drafts.headers["customer_id"].unique().implode()  # churned: no draft now, billed last month
    status = (pl.when((pl.col("previous") == 0) & ~pl.col("customer_id").is_in(billed_before)).then(pl.lit("new"))
              .when(pl.col("previous") == 0).then(pl.lit("resumed"))
              .when(~pl.col("customer_id").is_in(drafted)).then(pl.lit("churned"))
              .when(pl.col("change") != 0).then(pl.lit("changed")).otherwise(pl.lit("unchanged")))
    out = (per.join(causes, on=["customer_id", "currency"], how="left")
           .join(_customer_names(run.data), on="customer_id", how="left")
           .with_columns(change_pct=pct, status=status)
           .with_columns(flagged=pl.col("status").is_in(["new", "resumed", "churned"])
                         | (pl.col("change_pct").abs() >= pl.lit(swing_pct).cast(DECIMAL)).fill_null(False)))
    return (out.select("customer_id", "name", "currency", pl.col("previous").alias("last_month"),
                       pl.col("current").alias("draft"), "change", "change_pct", "status", "cause", "flagged")
            .sort(pl.col("flagged").not_(), pl.col("status").replace_strict(STATUS_ORDER, default=9),
                  pl.col("change_pct").abs(), "customer_id", descending=[False, False, True, False],
                  nulls_last=True))


def flagged_changes(changes: pl.DataFrame) -> pl.DataFrame:
    """The flagged rows of :func:`customer_changes` for display: the change in % as text ("+35.5%")."""
    pct = pl.when(pl.col("change_pct").is_not_null()).then(
        pl.format("{}%", pl.when(pl.col("change_pct") > 0).then(pl.lit("+")).otherwise(pl.lit(""))
                  + number_text(pl.col("change_pct"))))
    return (changes.filter(pl.col("flagged")).with_columns(change_pct=pct)
            .select("customer_id", "name", "currency", "status", "last_month", "draft", "change", "change_pct",
                    "cause"))


def change_summary(changes: pl.DataFrame) -> pl.DataFrame:
    """How many customers are new, churned, changed or unchanged, and how many of them are flagged."""
    return (changes.group_by("status").agg(pl.len().alias("customers"), pl.col("flagged").sum().alias("flagged"))
            .with_columns(pl.col("flagged").cast(pl.Int64), pl.col("customers").cast(pl.Int64))
            .sort(pl.col("status").replace_strict(STATUS_ORDER, default=9)))


# ------------------------------------------------------------------------------------------------
# totals and comparison with issued invoices

def _draft_lines_with_product(run: InvoiceRun) -> pl.DataFrame:
    plans = run.data.frame("plans").select("plan_id", "currency", "product").collect()
    return (run.drafts.lines.join(plans, left_on=["plan_id", "invoice_currency"],
                                  right_on=["plan_id", "currency"], how="left")
            .with_columns(product=pl.coalesce("product", "plan_id")))


def totals_by_product(run: InvoiceRun) -> pl.DataFrame:
    """Draft lines summed by product and currency: lines, amount, discount, tax, total."""
    lines = _draft_lines_with_product(run)
    return (lines.group_by("product", pl.col("invoice_currency").alias("currency"))
            .agg(pl.len().alias("lines"), pl.col("amount").sum(), pl.col("discount").sum(),
                 pl.col("tax_amount").sum().alias("tax"))
            .with_columns(pl.col(c).cast(DECIMAL) for c in ("amount", "discount", "tax"))
            .with_columns(total=(pl.col("amount") - pl.col("discount") + pl.col("tax")).cast(DECIMAL),
                          lines=pl.col("lines").cast(pl.Int64))
            .sort("currency", "product"))


def totals_by_currency(run: InvoiceRun) -> pl.DataFrame:
    """Drafts summed by currency: invoices, subtotal, discount, tax, total."""
    return (run.drafts.headers.group_by("currency")
            .agg(pl.len().alias("invoices"), pl.col("subtotal").sum(), pl.col("discount").sum(), pl.col("tax").sum(),
                 pl.col("total").sum())
            .with_columns(pl.col("invoices").cast(pl.Int64),
                          *(pl.col(c).cast(DECIMAL) for c in ("subtotal", "discount", "tax", "total")))
            .sort("currency"))


def total_in_base(run: InvoiceRun, base_currency: str) -> tuple[Decimal, list[str]]:
    """What the drafts bill, tax included, in ``base_currency`` at the rates in force at the period's end
    (rounded to its minor unit), and the currencies left out of it for want of a rate."""
    totals = totals_by_currency(run).select("currency", "total").with_columns(on=pl.lit(month_end(run.period)))
    converted = with_base_amount(totals, rates(run.data), base_currency, amount="total", currency="currency",
                                 on="on", out="total_base")
    missing = converted.filter(pl.col("total_base").is_null())["currency"].to_list()
    total = converted.select(round_base(pl.col("total_base").sum(), base_currency)).item()
    return (total if total is not None else Decimal(0)), missing


def compare_with_issued(run: InvoiceRun) -> pl.DataFrame:
    """Per customer: the total of the invoices issued for the period against the drafts' total (empty
    when nothing was issued); ``difference`` = issued - drafts, non-zero rows first."""
    if not run.already_invoiced:
        return pl.DataFrame(schema={"customer_id": pl.String, "name": pl.String, "currency": pl.String,
                                    "issued_invoices": pl.String, "issued": DECIMAL, "draft": DECIMAL,
                                    "difference": DECIMAL})
    issued = (run.issued.group_by("customer_id", "currency")
              .agg(pl.col("invoice_id").sort().str.join(" ").alias("issued_invoices"),
                   pl.col("total").sum().cast(DECIMAL).alias("issued")))
    drafted = (run.drafts.headers.group_by("customer_id", "currency")
               .agg(pl.col("total").sum().cast(DECIMAL).alias("draft")))
    both = issued.join(drafted, on=["customer_id", "currency"], how="full", coalesce=True)
    return (both.with_columns(pl.col("issued").fill_null(ZERO), pl.col("draft").fill_null(ZERO),
                              pl.col("issued_invoices").fill_null(""))
            .with_columns(difference=(pl.col("issued") - pl.col("draft")).cast(DECIMAL))
            .join(_customer_names(run.data), on="customer_id", how="left")
            .select("customer_id", "name", "currency", "issued_invoices", "issued", "draft", "difference")
            .sort(pl.col("difference") == 0, "currency", "customer_id"))


# ------------------------------------------------------------------------------------------------
# decision and outputs for the send step

@dataclass(frozen=True)
class Decision:
    """Go or no-go, why, and the counts behind it (JSON-ready)."""

    go: bool
    reasons: tuple[str, ...]
    counts: dict

    @property
    def label(self) -> str:
        return "go" if self.go else "no-go"


def decide(run: InvoiceRun) -> Decision:
    """Go when there is something to send, no error-severity finding and the period is not invoiced yet."""
    status = draft_status(run)
    found = run.result.exceptions
    errors = found.filter(pl.col("severity") == "error")
    counts = {
        "period": period_name(run.period),
        "drafts": status.height,
        "approved": int(status["approved"].sum()),
        "held": int((~status["approved"]).sum()),
        "findings": found.height,
        "errors": errors.height,
        "warnings": found.height - errors.height,
        "drafts_with_errors": int((status["errors"] > 0).sum()),
        "already_issued": run.issued.height,
        "totals": {r["currency"]: format_money(r["total"], r["currency"])
                   for r in totals_by_currency(run).iter_rows(named=True)},
    }
    reasons = []
    if run.already_invoiced:
        reasons.append(f"{period_name(run.period)} already has {run.issued.height} issued invoice(s): sending the "
                       "drafts would bill the month twice; they serve to compare with what was issued")
    if errors.height:
        reasons.append(f"{errors.height} error finding(s) on {counts['drafts_with_errors']} draft(s) and the "
                       f"period: correct the data and run again, or send only the approved drafts (billing send "
                       f"--approved {APPROVED_FILE})")
    if status.height == 0:
        reasons.append(f"nothing to invoice for {period_name(run.period)}")
    go = not run.already_invoiced and errors.height == 0 and status.height > 0
    return Decision(go, tuple(reasons), counts)


def conclusions(decision: Decision, changes: pl.DataFrame) -> list[str]:
    """The sentences that close the workbook."""
    c = decision.counts
    flagged = int(changes["flagged"].sum()) if changes.height else 0
    lines = [f"Decision: {decision.label.upper()} for {c['period']}: {c['approved']} of {c['drafts']} draft "
             f"invoice(s) approved to send, {c['held']} held."]
    lines += [f"Why not: {reason}." for reason in decision.reasons]
    totals = ", ".join(f"{v} {k}" for k, v in c["totals"].items()) or "none"
    lines.append(f"Drafts total {totals} (tax included).")
    lines.append(f"Checks on the drafts: {c['errors']} error(s), {c['warnings']} warning(s).")
    lines.append(f"{flagged} customer(s) flagged against last month (new, resumed, churned or a swing of "
                 f"{SWING_PCT}% or more).")
    return lines


def headline(decision: Decision, changes: pl.DataFrame) -> dict:
    """The figures the index page shows for this workbook."""
    c = decision.counts
    return {"decision": decision.label, "drafts": c["drafts"], "approved": c["approved"], "held": c["held"],
            "errors": c["errors"], "warnings": c["warnings"],
            "flagged customers": int(changes["flagged"].sum()) if changes.height else 0}


def approved_table(run: InvoiceRun) -> pl.DataFrame:
    """The approved drafts for ``approved_invoices.csv``: invoice_id, period and the content hash of the
    draft as written (``billing send`` refuses an approval whose period or hash is not the draft's)."""
    period = period_name(run.period)
    rows = [(invoice_id, period, run.hashes[invoice_id]) for invoice_id in approved_ids(run)]
    return pl.DataFrame(rows, schema={c: pl.String for c in APPROVAL_COLUMNS}, orient="row")


def summary(run: InvoiceRun, decision: Decision, changes: pl.DataFrame, base_currency: str = "EUR") -> Summary:
    """The report's one-screen summary: the drafts and checks, what they found, what they bill (one total in
    ``base_currency``, then each currency) and hold back, and, on a no-go, what must be decided before
    anything is sent."""
    c = decision.counts
    flagged = int(changes["flagged"].sum()) if changes.height else 0
    checked = [f"{c['drafts']} draft invoice(s) for {c['period']}, rated from the contracts, usage and price book",
               "The verification checks on the drafts, and each customer against last month"]
    found = [f"{c['approved']} approved to send, {c['held']} held",
             f"Checks on the drafts: {c['errors']} error(s), {c['warnings']} warning(s)",
             f"{flagged} customer(s) flagged against last month"]
    if c["already_issued"]:
        found.append(f"{c['already_issued']} invoice(s) already issued for {c['period']}")
    in_base, no_rate = total_in_base(run, base_currency)
    stake = [Amount(f"to be billed by the drafts, tax included, in {base_currency}"
                    + (f" (without {', '.join(no_rate)}: no exchange rate)" if no_rate else ""), in_base,
                    base_currency)]
    if set(c["totals"]) - {base_currency}:
        stake += [Amount(f"in {cur} drafts", Decimal(total), cur) for cur, total in sorted(c["totals"].items())]
    held = draft_findings(run).filter(pl.col("at_stake").is_not_null() & pl.col("currency").is_not_null())
    stake += [Amount("at stake in the findings", Decimal(format_money(amount, cur)), cur) for cur, amount in
              held.group_by("currency").agg(pl.col("at_stake").sum()).sort("currency").rows() if amount]
    if decision.go:
        verdict = f"Go: the {c['approved']} draft invoice(s) of {c['period']} can be sent (billing send)."
        decisions: list[str] = []
    else:
        # the reasons' first clauses in the verdict itself, so the index card says why without the report
        why = "; ".join(reason.split(":")[0] for reason in decision.reasons)
        verdict = f"No-go for {c['period']}: {why}. Do not send the drafts as they are."
        decisions = [reason[0].upper() + reason[1:] + "." for reason in decision.reasons]
    return Summary(verdict=verdict, checked=checked, found=found, at_stake=stake, decisions=decisions,
                   note="The list of approved invoices and the review for the send step are written beside this "
                        "report.")


def write_review(run: InvoiceRun, decision: Decision, output_dir: str | Path) -> list[Path]:
    """Write ``approved_invoices.csv`` (invoice_id, period, content_hash; sorted), ``review.json`` (decision,
    reasons, counts) and ``draft_findings.csv`` into ``output_dir`` atomically."""
    out = Path(output_dir)
    review = {"decision": decision.label, "period": period_name(run.period), "reasons": list(decision.reasons),
              "counts": decision.counts, "drafts_folder": "drafts", "approved_file": APPROVED_FILE}
    findings = draft_findings(run).with_columns(at_stake=money_text_where_currency(pl.col("at_stake")))
    with atomic_outputs(out) as stage:
        approved_table(run).write_csv(stage / APPROVED_FILE, line_terminator="\n")
        (stage / REVIEW_FILE).write_text(json.dumps(review, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
        neutralize_formulas(findings).write_csv(stage / FINDINGS_FILE, line_terminator="\n")
    finish_review(out)
    return [out / APPROVED_FILE, out / REVIEW_FILE, out / FINDINGS_FILE]
