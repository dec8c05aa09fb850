"""The general ledger against the billing records (the contract's Accounts paragraph).

Every invoice, payment and credit note of the verified months is compared with
its postings in ``gl_entries`` (net debit - credit per account, whatever the
dates, so a void invoice and its reversal net to nothing), as the posting rules of
:mod:`billing_lib.engine.ledger` give them:

* invoice: Dr 1100 total, Cr 4000 total - tax - year-term net, Cr 2100 year-term net, Cr 2200 tax
  (a void invoice: the same until the ledger reverses it, nothing after);
* payment: Dr 1000, Cr 1100 its amount;
* credit note: Dr 4000 or 2100 (taken together: how a year-term invoice's share splits is the
  ledger's choice) its amount, Dr 2200 its tax, Cr 1100 both.

A document whose postings differ is one finding naming the accounts that differ. Then the balances of
1000 cash, 1100 receivables, 2200 tax and revenue with deferred revenue (4000 and 2100 together) at the end of
the last verified month are tied to the same documents and to the ledger's write-offs of invoices marked
``uncollectible`` (manual entries Dr 6100, Cr 1100 naming the invoice); what the reported documents do not
explain (other manual entries, entries naming no document) is a finding of its own. Revenue releases (2100 to
4000) are the ledger's schedule and are not judged here.

A dataset without a ``gl_entries`` table keeps no ledger and is not judged. Global: ``gl_entries`` carry no
customer, so the check needs the whole dataset.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from billing_lib.checks.base import check, findings
from billing_lib.checks.context import PERIOD_FMT, CheckContext
from billing_lib.core.money import DECIMAL, ZERO, to_text
from billing_lib.core.periods import next_month
from billing_lib.engine import ledger as gl
from billing_lib.engine.ledger import CASH, CREDIT_NOTE, DEFERRED_REVENUE, INVOICE, PAYMENT, RECEIVABLES, SALES_TAX

CUR = pl.col("currency")
REVENUE = f"{gl.REVENUE}/{DEFERRED_REVENUE}"
# revenue and deferred revenue are tied together: releases move money between them, the sum is billed net
TIED_ACCOUNTS = (CASH, RECEIVABLES, SALES_TAX, REVENUE)
ACCOUNT_NAMES = {**gl.ACCOUNT_NAMES, REVENUE: "revenue and deferred revenue"}
KEY = ["source_type", "source_id", "account"]


def _signed(value: pl.Expr) -> pl.Expr:
    """'Dr 12.00' or 'Cr 12.00' for a net debit - credit amount."""
    return pl.when(value >= 0).then(pl.format("Dr {}", to_text(value, CUR))) \
        .otherwise(pl.format("Cr {}", to_text(-value, CUR)))


def document_postings(ctx: CheckContext) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(documents, expected postings). Documents: source_type, source_id, customer_id, invoice_id,
    payment_id, currency, date, period, verified, label."""
    ds = ctx.ds
    periods = ctx.period_names.implode()
    invoices = ds.frame("invoices").unique("invoice_id", keep="first", maintain_order=True)
    inv = invoices.with_columns(period=pl.col("period_start").dt.strftime(PERIOD_FMT))
    # collected once: the check reads the postings several times (per document and for the balances)
    expected = _revenue_together(gl.expected_postings(invoices, ds.frame("invoice_lines"), ds.frame("plans"),
                                                      ds.frame("payments"), ds.frame("credit_notes"),
                                                      gl.void_dates(ds).lazy())).collect(engine=ctx.engine).lazy()
    notes = ds.frame("credit_notes").join(inv.select("invoice_id", "customer_id", "currency"), on="invoice_id",
                                          how="left").with_columns(tax=pl.col("tax").fill_null(ZERO))
    null = pl.lit(None, pl.String)
    docs = pl.concat([
        inv.select(source_type=pl.lit("invoice"), source_id=pl.col("invoice_id"), customer_id=pl.col("customer_id"),
                   invoice_id=pl.col("invoice_id"), payment_id=null, currency=CUR, date=pl.col("issue_date"),
                   period=pl.col("period"),
                   label=pl.format("Invoice {} (total {} {})", pl.col("invoice_id"), to_text(pl.col("total"), CUR),
                                   CUR)),
        ds.frame("payments").select(
            source_type=pl.lit("payment"), source_id=pl.col("payment_id"), customer_id=pl.col("customer_id"),
            invoice_id=null, payment_id=pl.col("payment_id"), currency=CUR, date=pl.col("received_date"),
            period=pl.col("received_date").dt.strftime(PERIOD_FMT),
            label=pl.format("Payment {} ({} {})", pl.col("payment_id"), to_text(pl.col("amount"), CUR), CUR)),
        notes.select(
            source_type=pl.lit("credit_note"), source_id=pl.col("credit_note_id"), customer_id=pl.col("customer_id"),
            invoice_id=pl.col("invoice_id"), payment_id=null, currency=CUR, date=pl.col("issue_date"),
            period=pl.col("issue_date").dt.strftime(PERIOD_FMT),
            label=pl.format("Credit note {} of invoice {} ({} {} + tax {})", pl.col("credit_note_id"),
                            pl.col("invoice_id"), to_text(pl.col("amount"), CUR), CUR, to_text(pl.col("tax"), CUR))),
    ]).unique(["source_type", "source_id"], keep="first", maintain_order=True).with_columns(
        verified=pl.col("period").is_in(periods))
    return docs, expected


def _revenue_together(lines: pl.LazyFrame) -> pl.LazyFrame:
    """Credit notes' 4000 and 2100 lines taken together: how a year-term invoice's share splits is the
    ledger's choice."""
    account = (pl.when((pl.col("source_type") == CREDIT_NOTE)
                       & pl.col("account").is_in([gl.REVENUE, DEFERRED_REVENUE]))
               .then(pl.lit(REVENUE)).otherwise(pl.col("account")))
    return lines.with_columns(account.alias("account"))


def ledger_lines(ctx: CheckContext) -> pl.LazyFrame:
    """Ledger lines as signed amounts (debit - credit); credit notes' 4000 and 2100 taken together."""
    return _revenue_together(gl.ledger_lines(ctx.ds).select(gl.LINE_COLUMNS))


def _write_offs(ctx: CheckContext) -> pl.LazyFrame:
    """The ledger's write-offs of invoices the records mark ``uncollectible`` (manual entries Dr 6100, Cr 1100
    naming the invoice), posted by the write-off rule: the records explain them."""
    bad = (ctx.ds.frame("invoices").filter(pl.col("status") == "uncollectible")
           .select(pl.col("invoice_id").alias("source_id")).unique())
    entries = gl.write_off_entries(ctx.ds).lazy().join(bad, on="source_id", how="semi")
    return gl.post(entries, gl.MANUAL, gl.write_off_rule, "amount")


@check("gl_mismatch", scope="global")
def gl_mismatch(ctx: CheckContext) -> pl.LazyFrame:
    """A document not posted to the ledger, posted with other amounts or accounts, or ledger balances of cash,
    receivables, tax and revenue (with deferred revenue) that do not tie to the billing records at period end."""
    if not ctx.months or "gl_entries" not in ctx.ds.tables:  # a dataset without a ledger has nothing to tie
        from billing_lib.checks.base import empty_findings
        return empty_findings()
    docs, expected = document_postings(ctx)
    ledger = ledger_lines(ctx)
    sources = (INVOICE, PAYMENT, CREDIT_NOTE)
    e = expected.group_by(KEY).agg(pl.col("amount").sum().cast(DECIMAL).alias("want"))
    g = (ledger.filter(pl.col("source_type").is_in(sources)).group_by(KEY)
         .agg(pl.col("amount").sum().cast(DECIMAL).alias("got")))
    both = (e.join(g, on=KEY, how="full", coalesce=True)
            .with_columns(want=pl.col("want").fill_null(ZERO), got=pl.col("got").fill_null(ZERO))
            .with_columns(diff=(pl.col("got") - pl.col("want")).cast(DECIMAL)))
    known = both.join(docs.select("source_type", "source_id", "currency", "customer_id", "invoice_id", "payment_id",
                                  "period", "date", "verified", "label"), on=["source_type", "source_id"])
    wrong = known.filter(pl.col("diff") != 0)
    posted = known.group_by("source_type", "source_id").agg((pl.col("got") != 0).any().alias("posted"))
    per_doc = (wrong.filter(pl.col("verified")).sort("source_type", "source_id", "account")
               .group_by("source_type", "source_id", maintain_order=True)
               .agg(pl.col("customer_id", "invoice_id", "payment_id", "period", "label", "currency").first(),
                    expected=pl.format("{} {}", pl.col("account"), _signed(pl.col("want"))).str.join("; "),
                    actual=pl.format("{} {}", pl.col("account"), _signed(pl.col("got"))).str.join("; "),
                    stake=pl.when(pl.col("diff") < 0).then(-pl.col("diff")).otherwise(pl.col("diff")).max())
               .join(posted, on=["source_type", "source_id"], how="left"))
    out = [findings(
        per_doc, customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"),
        payment_id=pl.col("payment_id"), period=pl.col("period"),
        detail=pl.format("{} {}", pl.col("source_type"), pl.col("source_id")), expected=pl.col("expected"),
        actual=pl.col("actual"), currency=CUR, at_stake=pl.col("stake"),
        message=pl.when(~pl.col("posted").fill_null(False))
        .then(pl.format("{} is not posted to the general ledger (expected {}).", pl.col("label"),
                        pl.col("expected")))
        .otherwise(pl.format("{} is posted as {}, but its figures give {}.", pl.col("label"), pl.col("actual"),
                             pl.col("expected"))))]

    # entries that name a document the billing records do not hold
    unknown = (ledger.filter(pl.col("source_type").is_in(sources)
                             & pl.col("date").dt.strftime(PERIOD_FMT).is_in(ctx.period_names.implode()))
               .join(docs.select("source_type", "source_id"), on=["source_type", "source_id"], how="anti")
               .group_by("source_type", "source_id", "currency")
               .agg(pl.col("amount").filter(pl.col("amount") > 0).sum().cast(DECIMAL).alias("debits"),
                    pl.col("date").min().dt.strftime(PERIOD_FMT).alias("period")))
    out.append(findings(
        unknown, period=pl.col("period"), detail=pl.format("unknown {} {}", pl.col("source_type"),
                                                           pl.col("source_id")),
        expected=pl.lit("an existing document"), actual=pl.col("source_id"), currency=CUR,
        at_stake=pl.col("debits"),
        message=pl.format("Ledger entries post {} {} ({} {} of debits), which is not in the billing records.",
                          pl.col("source_type"), pl.col("source_id"), to_text(pl.col("debits"), CUR), CUR)))

    # balances at period end: ledger against billing records, less what the reported documents explain
    cutoff = ctx.months[-1].replace(day=1)
    end = pl.lit(cutoff).dt.month_end()
    expected = pl.concat([expected, _write_offs(ctx)])
    as_tied = (pl.when(pl.col("account").is_in([gl.REVENUE, DEFERRED_REVENUE])).then(pl.lit(REVENUE))
               .otherwise(pl.col("account")))
    ledger, expected, wrong = (f.with_columns(account=as_tied) for f in (ledger, expected, wrong))
    tied = pl.col("account").is_in(list(TIED_ACCOUNTS))
    in_books = (ledger.filter(tied & (pl.col("date") <= end)).group_by("account", "currency")
                .agg(pl.col("amount").sum().cast(DECIMAL).alias("ledger")))
    in_records = (expected.filter(tied & (pl.col("date") <= end)).group_by("account", "currency")
                  .agg(pl.col("amount").sum().cast(DECIMAL).alias("records")))
    explained = (wrong.filter(pl.col("verified") & tied & (pl.col("date") <= end)).group_by("account", "currency")
                 .agg(pl.col("diff").sum().cast(DECIMAL).alias("explained")))
    period = ctx.months[-1].strftime(PERIOD_FMT)
    end_text = (next_month(ctx.months[-1]) - dt.timedelta(days=1)).isoformat()
    tie = (in_books.join(in_records, on=["account", "currency"], how="full", coalesce=True)
           .join(explained, on=["account", "currency"], how="left")
           .with_columns(pl.col("ledger", "records", "explained").fill_null(ZERO))
           .with_columns(rest=(pl.col("ledger") - pl.col("records") - pl.col("explained")).cast(DECIMAL))
           .filter(pl.col("rest") != 0))
    name = pl.col("account").replace_strict(ACCOUNT_NAMES, default="")
    out.append(findings(
        tie, period=pl.lit(period), detail=pl.format("balance {} {}", pl.col("account"), CUR),
        expected=_signed(pl.col("records") + pl.col("explained")), actual=_signed(pl.col("ledger")),
        difference=to_text(pl.col("rest"), CUR), currency=CUR,
        at_stake=pl.when(pl.col("rest") < 0).then(-pl.col("rest")).otherwise(pl.col("rest")),
        message=pl.format("On {} account {} ({}) stands at {} {} in the ledger, but the billing records give {}: "
                          "{} is not explained by any document.", pl.lit(end_text), pl.col("account"), name,
                          _signed(pl.col("ledger")), CUR, _signed(pl.col("records") + pl.col("explained")),
                          to_text(pl.col("rest"), CUR))))
    return pl.concat(out)
