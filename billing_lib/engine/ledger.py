"""The general ledger as the data contract keeps it: the chart of accounts, the posting rules, ledger lines.

Accounts (``gl_entries.account``): 1000 cash, 1100 accounts receivable, 2100 deferred revenue, 2200 sales tax
payable, 4000 revenue, 6100 bad debt expense. Every amount here is *signed* as debit - credit.

The posting rules (the contract's Accounts paragraph) are functions from a document's figures to its lines,
``[(account, debit - credit), ...]``; the figures may be polars expressions or Decimals, so the checks, the
month-end schedules and the investigation post with the same rules:

* invoice: Dr 1100 total, Cr 4000 month revenue (total - tax - year-term net), Cr 2100 year-term net, Cr 2200 tax;
* payment: Dr 1000, Cr 1100;
* credit note: Dr 4000 (Dr 2100 for the year-term share), Dr 2200 its tax, Cr 1100 amount + tax;
* revenue release: Dr 2100, Cr 4000, at each month end, of every invoiced year term (see :func:`term_months`);
* void: the invoice's postings reversed; write-off: a ``manual`` entry Dr 6100, Cr 1100.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

import polars as pl

from billing_lib.core.money import DECIMAL, ZERO, round_money
from billing_lib.data.dataset import Dataset

CASH = "1000"
RECEIVABLES = "1100"
DEFERRED_REVENUE = "2100"
SALES_TAX = "2200"
REVENUE = "4000"
BAD_DEBT = "6100"
ACCOUNT_NAMES = {CASH: "cash", RECEIVABLES: "accounts receivable", DEFERRED_REVENUE: "deferred revenue",
                 SALES_TAX: "sales tax payable", REVENUE: "revenue", BAD_DEBT: "bad debt expense"}

INVOICE = "invoice"
PAYMENT = "payment"
CREDIT_NOTE = "credit_note"
REVENUE_RELEASE = "revenue_release"
MANUAL = "manual"  # the contract's SOURCE_TYPES (billing_lib.data.contract), named

LINE_COLUMNS = ["source_type", "source_id", "currency", "date", "account", "amount"]

Amount = TypeVar("Amount")  # a polars expression or a Decimal: the rules are plain arithmetic
Rule = list[tuple[str, Amount]]


# ------------------------------------------------------------------------------------------ posting rules

def invoice_rule(total: Amount, tax: Amount, year_net: Amount) -> Rule:
    """An invoice: Dr 1100 total, Cr 4000 total - tax - year_net, Cr 2100 year_net, Cr 2200 tax."""
    return [(RECEIVABLES, total), (REVENUE, -(total - tax - year_net)), (DEFERRED_REVENUE, -year_net),
            (SALES_TAX, -tax)]


def payment_rule(amount: Amount) -> Rule:
    """A payment received: Dr 1000, Cr 1100 (a refund is the same with the opposite sign)."""
    return [(CASH, amount), (RECEIVABLES, -amount)]


def credit_note_rule(amount: Amount, tax: Amount, deferred: Amount) -> Rule:
    """A credit note: Dr 4000 amount - deferred, Dr 2100 deferred (a year-term invoice's share), Dr 2200 tax,
    Cr 1100 amount + tax."""
    return [(REVENUE, amount - deferred), (DEFERRED_REVENUE, deferred), (SALES_TAX, tax),
            (RECEIVABLES, -(amount + tax))]


def release_rule(amount: Amount) -> Rule:
    """A revenue release at a month end: Dr 2100, Cr 4000."""
    return [(DEFERRED_REVENUE, amount), (REVENUE, -amount)]


def write_off_rule(amount: Amount) -> Rule:
    """A write-off of an uncollectible invoice (a ``manual`` entry): Dr 6100, Cr 1100."""
    return [(BAD_DEBT, amount), (RECEIVABLES, -amount)]


def reversal(rule: Rule) -> Rule:
    """The equal and opposite lines (a voided invoice's postings reversed)."""
    return [(account, -amount) for account, amount in rule]


F = TypeVar("F", pl.DataFrame, pl.LazyFrame)


def post(frame: F, source_type: str, rule: Callable[..., Rule], *columns: str) -> F:
    """The signed lines of every document of ``frame`` (with source_id, currency and date): one row per document
    and account of ``rule`` applied to ``columns``; columns LINE_COLUMNS."""
    lines = rule(*(pl.col(c) for c in columns))
    return pl.concat([frame.select(pl.lit(source_type).alias("source_type"), "source_id", "currency", "date",
                                   pl.lit(account).alias("account"), amount.cast(DECIMAL).alias("amount"))
                      for account, amount in lines])


# ------------------------------------------------------------------------------------------ year terms

def year_term_flag(interval: pl.Expr, line_start: pl.Expr, line_end: pl.Expr, billing_month: pl.Expr) -> pl.Expr:
    """A line the ledger defers (2100): its plan's interval is ``year``, or it serves more days than its
    invoice's month has (a month plan billed ahead)."""
    days = (line_end - line_start).dt.total_days() + 1
    return (interval == "year").fill_null(False) | (days > billing_month.dt.days_in_month()).fill_null(False)


def tax_inclusive(invoices: pl.LazyFrame | pl.DataFrame) -> pl.Expr:
    """True on an invoice whose ``tax_behavior`` is ``inclusive`` (its line amounts hold the tax); false when
    the optional column is absent or empty."""
    if "tax_behavior" not in invoices.collect_schema().names():
        return pl.lit(False)
    return (pl.col("tax_behavior") == "inclusive").fill_null(False)


def line_revenue(inclusive: pl.Expr) -> pl.Expr:
    """A line's revenue, its part of 4000 or 2100: amount - discount, less its tax_amount on a tax-inclusive
    invoice (``inclusive``)."""
    tax = pl.when(inclusive).then(pl.col("tax_amount").fill_null(ZERO)).otherwise(ZERO)
    return (pl.col("amount") - pl.col("discount").fill_null(ZERO) - tax).cast(DECIMAL)


def invoice_amounts(invoices: pl.LazyFrame, lines: pl.LazyFrame, plans: pl.LazyFrame) -> pl.LazyFrame:
    """Each invoice (one row per invoice_id as given) with ``lines_net`` (its lines' revenue, see
    :func:`line_revenue`) and ``year_net`` (the same of its year-term lines), both 0 without lines.

    Lines that carry a ``customer_id`` (their invoice's customer, as the checks attribute them where two customers
    carry one number) are summed per number and customer."""
    key = ["invoice_id", "customer_id"] if "customer_id" in lines.collect_schema().names() else ["invoice_id"]
    head = invoices.select(*key, "currency", pl.col("period_start").dt.month_start().alias("_month"),
                           tax_inclusive(invoices).alias("_inclusive"))
    net = line_revenue(pl.col("_inclusive"))
    per_line = (lines.join(head, on=key, how="inner")
                .join(plans.select("plan_id", "currency", "interval"), on=["plan_id", "currency"], how="left")
                .with_columns(_net=net, _year=year_term_flag(pl.col("interval"), pl.col("period_start"),
                                                             pl.col("period_end"), pl.col("_month"))))
    sums = per_line.group_by(key).agg(
        pl.col("_net").sum().cast(DECIMAL).alias("lines_net"),
        pl.col("_net").filter(pl.col("_year")).sum().cast(DECIMAL).alias("year_net"))
    return (invoices.join(sums, on=key, how="left")
            .with_columns(pl.col("lines_net", "year_net").fill_null(ZERO)))


def credit_note_deferred(amount: pl.Expr, year_net: pl.Expr, lines_net: pl.Expr, currency: pl.Expr) -> pl.Expr:
    """The part of a credit note's amount on 2100: the year-term lines' share of its invoice's net, rounded to
    the currency (all of it when every line is a year term, nothing without one)."""
    return (pl.when((year_net == 0) | (lines_net == 0)).then(ZERO)
            .when(year_net == lines_net).then(amount)
            .otherwise(round_money(amount * year_net / lines_net, currency))).cast(DECIMAL)


def term_months(terms: pl.DataFrame) -> pl.DataFrame:
    """The revenue recognition and release of year terms, month by month (the contract's rule).

    ``terms`` has currency, issue_date, term_start, term_end, net, and any keys (kept). One row per term and
    ``month`` (first day), from the term's first month to the later of its last month and its invoice's month:

    * ``days``: days of the term served in the month; ``recognised``: the revenue they earn, the cumulative
      share round(net x days served by the month end / term days) less the same at the month before, so a
      term's months add up to its net exactly; ``cumulative``: recognised by the month end;
    * ``released``: what the ledger releases from 2100 at the month end: nothing before the invoice exists,
      ``cumulative`` at the end of the month the invoice is issued in, then each month's ``recognised``;
    * ``deferred``: the term's 2100 balance at the month end (net - cumulative once invoiced, else 0);
      ``unbilled``: revenue earned before the invoice exists (cumulative while not invoiced, else 0).
    """
    if terms.is_empty():
        return terms.with_columns(
            term_days=pl.lit(None, pl.Int64), month=pl.lit(None, pl.Date), days=pl.lit(None, pl.Int64),
            **{c: pl.lit(None, DECIMAL) for c in ("recognised", "cumulative", "released", "deferred", "unbilled")})
    start, end, issue = pl.col("term_start"), pl.col("term_end"), pl.col("issue_date")
    term_days = (end - start).dt.total_days() + 1
    months = terms.with_columns(
        term_days=term_days,
        month=pl.date_ranges(start.dt.month_start(),
                             pl.max_horizontal(end.dt.month_start(), issue.dt.month_start()), "1mo"),
    ).explode("month")
    month_end = pl.col("month").dt.month_end()

    def served_by(day: pl.Expr) -> pl.Expr:  # days of the term served up to ``day`` inclusive
        return pl.min_horizontal(pl.max_horizontal((day - start).dt.total_days() + 1, pl.lit(0)),
                                 pl.col("term_days"))

    def share(days: pl.Expr) -> pl.Expr:
        return round_money(pl.col("net") * days.cast(DECIMAL) / pl.col("term_days").cast(DECIMAL),
                           pl.col("currency")).cast(DECIMAL)

    before = pl.col("month") - pl.duration(days=1)
    out = months.with_columns(days=served_by(month_end) - served_by(before), cumulative=share(served_by(month_end)),
                              _previous=share(served_by(before)))
    invoiced = issue <= month_end
    invoiced_before = issue <= before
    return (out.with_columns(
        recognised=(pl.col("cumulative") - pl.col("_previous")).cast(DECIMAL),
        released=(pl.when(invoiced).then(pl.col("cumulative")).otherwise(ZERO)
                  - pl.when(invoiced_before).then(pl.col("_previous")).otherwise(ZERO)).cast(DECIMAL),
        deferred=pl.when(invoiced).then(pl.col("net") - pl.col("cumulative")).otherwise(ZERO).cast(DECIMAL),
        unbilled=pl.when(invoiced).then(ZERO).otherwise(pl.col("cumulative")).cast(DECIMAL),
    ).drop("_previous"))


# ------------------------------------------------------------------------------------------ the journal

def signed_amount() -> pl.Expr:
    """A ledger line's amount as debit - credit (an empty side is 0)."""
    return (pl.col("debit").fill_null(ZERO) - pl.col("credit").fill_null(ZERO)).cast(DECIMAL)


def ledger_lines(ds: Dataset) -> pl.LazyFrame:
    """Every ``gl_entries`` line signed: entry_id, line_no, date, account, currency, source_type, source_id,
    amount (debit - credit)."""
    return ds.frame("gl_entries").select("entry_id", "line_no", "date", "account", "currency", "source_type",
                                         "source_id", signed_amount().alias("amount"))


def account_balance(ds: Dataset, account: str, as_of: dt.date) -> pl.DataFrame:
    """Debit-minus-credit balance of ``account`` per currency over the entries dated up to ``as_of``:
    columns ``currency`` and ``ledger``."""
    return (ledger_lines(ds).filter((pl.col("account") == account) & (pl.col("date") <= as_of))
            .group_by("currency").agg(pl.col("amount").sum().cast(DECIMAL).alias("ledger")).collect())


def write_off_entries(ds: Dataset) -> pl.DataFrame:
    """The ledger's write-offs: ``manual`` entries that debit 6100 and credit 1100 and touch no other account.

    One row per entry and source_id: entry_id, date, currency, source_id (the written-off invoice, as the
    ledger names it), amount (the credit to 1100; negative when the entry reinstates a receivable).
    """
    manual = ledger_lines(ds).filter(pl.col("source_type") == MANUAL)
    write_offs = (manual.group_by("entry_id")
                  .agg(pl.col("account").is_in([RECEIVABLES, BAD_DEBT]).all().alias("only"),
                       (pl.col("account") == BAD_DEBT).any().alias("bad_debt"))
                  .filter(pl.col("only") & pl.col("bad_debt")).select("entry_id"))
    return (manual.join(write_offs, on="entry_id", how="semi").filter(pl.col("account") == RECEIVABLES)
            .group_by("entry_id", "source_id", "currency")
            .agg(pl.col("date").min(), (-pl.col("amount").sum()).cast(DECIMAL).alias("amount"))
            .select("entry_id", "date", "currency", "source_id", "amount")
            .sort("date", "entry_id", "source_id", nulls_last=True).collect())


def void_dates(ds: Dataset) -> pl.DataFrame:
    """invoice_id, void_date: for each ``void`` invoice whose postings the ledger reverses, the day it does (the
    first credit to 1100 under the invoice's own id)."""
    void = ds.frame("invoices").filter(pl.col("status") == "void").select("invoice_id").unique()
    reversed_ = (ledger_lines(ds).filter((pl.col("source_type") == INVOICE) & (pl.col("account") == RECEIVABLES)
                                         & (pl.col("amount") < 0))
                 .group_by("source_id").agg(pl.col("date").min().alias("void_date"))
                 .rename({"source_id": "invoice_id"}))
    return void.join(reversed_, on="invoice_id", how="inner").sort("invoice_id").collect()


def expected_postings(invoices: pl.LazyFrame, lines: pl.LazyFrame, plans: pl.LazyFrame, payments: pl.LazyFrame,
                      credit_notes: pl.LazyFrame, voided: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """What the billing records post by the contract's rules, on their own dates: every non-void invoice, every
    payment and every credit note (of the given frames); columns LINE_COLUMNS.

    ``voided`` (invoice_id, void_date, as :func:`void_dates` gives) adds the void invoices posted on their issue
    date and reversed on their void date. Revenue releases and write-offs are the ledger's own schedule and
    are not included."""
    # read three times below (live, reversed, the credit notes' invoice): computed once. Polars does not share
    # it by itself where the readers filter it differently (3.3M postings on the 1M-line benchmark: 1.2 s -> 0.5 s)
    inv = invoice_amounts(invoices.with_row_index("_order"), lines, plans).cache()
    if voided is not None:
        inv = inv.join(voided.select("invoice_id", "void_date"), on="invoice_id", how="left")
    else:
        inv = inv.with_columns(void_date=pl.lit(None, pl.Date))
    counted = inv.filter((pl.col("status") != "void") | pl.col("void_date").is_not_null())
    figures = dict(source_id=pl.col("invoice_id"), currency=pl.col("currency"), total=pl.col("total"),
                   tax=pl.col("tax"), year_net=pl.col("year_net"))
    live = counted.select(date=pl.col("issue_date"), **figures)
    reversed_ = counted.filter(pl.col("void_date").is_not_null()).select(date=pl.col("void_date"), **figures)
    pays = payments.select(source_id=pl.col("payment_id"), currency=pl.col("currency"),
                           date=pl.col("received_date"), amount=pl.col("amount"))
    # a credit note names only a number: where two customers carry it, it credits the number's first invoice
    # (not void, then in the order given)
    # (only the numbers credit notes name are ranked: a few, not every invoice)
    credited = credit_notes.select("invoice_id").unique()
    first = (inv.join(credited, on="invoice_id", how="semi").sort(pl.col("status") == "void", "_order")
             .unique("invoice_id", keep="first", maintain_order=True))
    notes = (credit_notes.join(first.select("invoice_id", pl.col("currency").alias("_cur"), "year_net", "lines_net"),
                               on="invoice_id", how="left")
             .select(source_id=pl.col("credit_note_id"), currency=pl.col("_cur"), date=pl.col("issue_date"),
                     amount=pl.col("amount"), tax=pl.col("tax").fill_null(ZERO),
                     deferred=credit_note_deferred(pl.col("amount"), pl.col("year_net").fill_null(ZERO),
                                                   pl.col("lines_net").fill_null(ZERO), pl.col("_cur"))))
    return pl.concat([post(live, INVOICE, invoice_rule, "total", "tax", "year_net"),
                      post(reversed_, INVOICE, lambda *f: reversal(invoice_rule(*f)), "total", "tax", "year_net"),
                      post(pays, PAYMENT, payment_rule, "amount"),
                      post(notes, CREDIT_NOTE, credit_note_rule, "amount", "tax", "deferred")])
