"""The general ledger against the billing records (the contract's Accounts paragraph).

Every invoice, payment and credit note of the verified months is compared with its postings in
``gl_entries`` (net debit - credit per account and currency, whatever the dates, so a void invoice and its
reversal net to nothing), as the posting rules of :mod:`billing_lib.engine.ledger` give them:

* invoice: Dr 1100 total, Cr 4000 total - tax - year-term net, Cr 2100 year-term net, Cr 2200 tax
  (a void invoice: the same until the ledger reverses it, nothing after);
* payment: Dr 1000, Cr 1100 its amount;
* credit note: Dr 4000 or 2100 (taken together: how a year-term invoice's share splits is the
  ledger's choice) its amount, Dr 2200 its tax, Cr 1100 both.

A document whose postings differ is one finding naming the accounts that differ (and the currency of a
posting in another currency than the document's). Ledger entries name a document by its number only: where
two customers carry one invoice number, the ledger's entries under it are compared with both invoices
together. A document in another currency than its customer's (a ``currency_mismatch``) that the ledger posted
in the customer's currency with its own amounts is that finding's consequence, not a second one.

Then the balances of 1000 cash, 1100 receivables, 2200 tax and revenue with deferred revenue (4000 and 2100
together) at the end of the last verified month are tied to the same documents and to the ledger's
write-offs of invoices marked ``uncollectible`` (manual entries Dr 6100, Cr 1100 naming the invoice). What the
findings already explain (documents reported above, documents posted in their customer's currency, entries
naming a document the records do not hold) is taken out; what remains (other manual entries, entries naming no
document) is a finding of its own. Revenue releases (2100 to 4000) are the ledger's schedule and are not
judged here.

A dataset without a ``gl_entries`` table keeps no ledger and is not judged. Global: ``gl_entries`` carry no
customer, so the check needs the whole dataset.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from billing_lib.checks.base import Finding, check, finding
from billing_lib.checks.context import INVOICE_KEY, PERIOD_FMT, CheckContext, attributed_lines, invoice_heads
from billing_lib.checks.evidence import Evidence, Explanation
from billing_lib.checks.figures import CUR, Figure, choose, money, month, text
from billing_lib.core.money import DECIMAL, ZERO, to_text
from billing_lib.core.periods import next_month
from billing_lib.engine import ledger as gl
from billing_lib.engine.ledger import CASH, CREDIT_NOTE, DEFERRED_REVENUE, INVOICE, PAYMENT, RECEIVABLES, SALES_TAX

REVENUE = f"{gl.REVENUE}/{DEFERRED_REVENUE}"
# revenue and deferred revenue are tied together: releases move money between them, the sum is billed net
TIED_ACCOUNTS = (CASH, RECEIVABLES, SALES_TAX, REVENUE)
ACCOUNT_NAMES = {**gl.ACCOUNT_NAMES, REVENUE: "revenue and deferred revenue"}
KEY = ["source_type", "source_id", "account"]


def _signed_text(value: pl.Expr, currency: pl.Expr) -> pl.Expr:
    return pl.when(value >= 0).then(pl.format("Dr {}", to_text(value, currency))) \
        .otherwise(pl.format("Cr {}", to_text(-value, currency)))


def signed(value: pl.Expr) -> Figure:
    """'Dr 12.00' or 'Cr 12.00' for a net debit - credit amount."""
    return Figure((value, CUR), lambda c: _signed_text(c[0], c[1]))


def postings(entries: str) -> Figure:
    """'1100 Dr 35.70; 4000 Cr 30.00' from a list column of (account, amount, currency, other) structs; a
    posting in another currency than the document's (``other``) names its currency ('1100 Dr 35.70 EUR')."""
    def recipe(c):
        item = pl.element().struct
        named = pl.when(item.field("other")).then(pl.concat_str(pl.lit(" "), item.field("currency")))
        return c[0].list.eval(pl.concat_str(
            item.field("account"), pl.lit(" "), _signed_text(item.field("amount"), item.field("currency")),
            named.otherwise(pl.lit("")))).list.join("; ")
    return Figure((pl.col(entries),), recipe)


def _label() -> Figure:
    """How a document is named in a finding: 'Invoice INV-1 (total 35.70 EUR)'..."""
    return choose(
        (pl.col("source_type") == INVOICE, text("Invoice {id} (total {amount} {currency})", id=pl.col("source_id"),
                                                  amount=money(pl.col("amount")), currency=CUR)),
        (pl.col("source_type") == PAYMENT, text("Payment {id} ({amount} {currency})", id=pl.col("source_id"),
                                                  amount=money(pl.col("amount")), currency=CUR)),
        otherwise=text("Credit note {id} of invoice {invoice} ({amount} {currency} + tax {tax})",
                       id=pl.col("source_id"), invoice=pl.col("invoice_id"), amount=money(pl.col("amount")),
                       currency=CUR, tax=money(pl.col("tax"))))


def document_postings(ctx: CheckContext) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(documents, expected postings). Documents, one per source (an invoice number two customers carry is one
    source, as the ledger names it): source_type, source_id, customer_id, invoice_id, payment_id, currency,
    customer_currency, date, month (of the document's period), verified, and the figures that name it (amount,
    tax). Expected postings: source_type, source_id, currency, date, account, amount (debit - credit)."""
    ds = ctx.ds
    customers = ds.frame("customers").select("customer_id", pl.col("currency").alias("customer_currency"))
    # collected once: the expected postings and the documents both start from them
    invoices = invoice_heads(ds.frame("invoices")).collect(engine=ctx.engine).lazy()
    # an invoice is its number and its customer: its own lines make its figures
    lines = attributed_lines(ds.frame("invoice_lines"), invoices.select(*INVOICE_KEY, "copies", "first"),
                             ds.frame("subscriptions"))
    lines = lines.select(*ds.frame("invoice_lines").collect_schema().names(), "customer_id")
    # collected once: the check reads the postings several times (per document and for the balances)
    expected = _revenue_together(gl.expected_postings(ds.frame("invoices"), lines, ds.frame("plans"),
                                                      ds.frame("payments"), ds.frame("credit_notes"),
                                                      gl.void_dates(ds).lazy())).collect(engine=ctx.engine).lazy()
    # a credit note names only a number: where two customers carry it, it credits the number's first invoice
    first = invoices.filter(pl.col("first")).select("invoice_id", "customer_id", "currency")
    notes = ds.frame("credit_notes").join(first, on="invoice_id", how="left").with_columns(
        tax=pl.col("tax").fill_null(ZERO))
    null, no_tax = pl.lit(None, pl.String), pl.lit(None, DECIMAL)
    # the total a number's documents come to (in the first invoice's currency), to name it in a finding
    # (a number one customer carries, nearly all of them, is its invoice's total: no aggregation needed)
    alone = pl.when(pl.col("currency").is_not_null()).then(pl.col("total").fill_null(ZERO)).otherwise(ZERO)
    number_total = pl.concat([
        invoices.filter(pl.col("copies") == 1).select("invoice_id", number_total=alone.cast(DECIMAL)),
        invoices.filter(pl.col("copies") > 1).group_by("invoice_id")
        .agg(pl.col("total").filter(pl.col("currency") == pl.col("currency").sort_by(~pl.col("first")).first())
             .sum().cast(DECIMAL).alias("number_total"))])
    numbers = invoices.filter(pl.col("first")).join(number_total, on="invoice_id", how="left")
    docs = pl.concat([
        numbers.select(source_type=pl.lit(INVOICE), source_id=pl.col("invoice_id"),
                       customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"), payment_id=null,
                       currency=CUR, date=pl.col("issue_date"), month=pl.col("period_start").dt.month_start(),
                       amount=pl.col("number_total"), tax=no_tax),
        ds.frame("payments").select(
            source_type=pl.lit(PAYMENT), source_id=pl.col("payment_id"), customer_id=pl.col("customer_id"),
            invoice_id=null, payment_id=pl.col("payment_id"), currency=CUR, date=pl.col("received_date"),
            month=pl.col("received_date").dt.month_start(), amount=pl.col("amount").cast(DECIMAL), tax=no_tax),
        notes.select(
            source_type=pl.lit(CREDIT_NOTE), source_id=pl.col("credit_note_id"), customer_id=pl.col("customer_id"),
            invoice_id=pl.col("invoice_id"), payment_id=null, currency=CUR, date=pl.col("issue_date"),
            month=pl.col("issue_date").dt.month_start(), amount=pl.col("amount").cast(DECIMAL),
            tax=pl.col("tax").cast(DECIMAL)),
    ]).unique(["source_type", "source_id"], keep="first", maintain_order=True).with_columns(
        verified=ctx.in_months("month")).join(customers, on="customer_id", how="left")
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


def _explain_ledger(found: dict, evidence: Evidence) -> Explanation:
    """The ledger posting: a document missing from the ledger or posted with other amounts, accounts or
    currency; entries naming a document the records do not hold; or a period-end balance that no document
    explains (a manual entry, an entry naming no document)."""
    if found["expected"] == "an existing document":
        return Explanation("The general ledger posts a document the billing records do not hold.", "ledger posting",
                           f"{found['actual']} is in the ledger only")
    if found["invoice_id"] is None and found["payment_id"] is None:
        return Explanation("A ledger balance at the end of the period does not tie to the billing records.",
                           "ledger posting", "an entry that names no billing document (a manual entry) moved it")
    return Explanation("The general ledger does not show this document as the billing records do.",
                       "ledger posting", "the posting is missing, or was made with other amounts")


@check("gl_mismatch", title="General ledger", scope="global", explain=_explain_ledger, reads=("gl_entries",))
def gl_mismatch(ctx: CheckContext) -> list[Finding]:
    """A document not posted to the ledger, posted with other amounts or accounts, or ledger balances of cash,
    receivables, tax and revenue (with deferred revenue) that do not tie to the billing records at period end."""
    if not ctx.months or "gl_entries" not in ctx.ds.tables:  # a dataset without a ledger has nothing to tie
        return []
    docs, expected = document_postings(ctx)
    docs = docs.collect(engine=ctx.engine).lazy()  # read twice below: made once
    ledger = ledger_lines(ctx)
    sources = (INVOICE, PAYMENT, CREDIT_NOTE)
    key = [*KEY, "currency"]
    # what the records give and what the ledger posts per document, account and currency: one aggregation
    # over both (cheaper than aggregating each and joining the two on four text columns)
    nothing = pl.lit(0).cast(DECIMAL)
    both = (pl.concat([expected.select(*key, want=pl.col("amount").cast(DECIMAL), got=nothing),
                       ledger.filter(pl.col("source_type").is_in(sources))
                       .select(*key, want=nothing, got=pl.col("amount").cast(DECIMAL))])
            .group_by(key).agg(pl.col("want").sum().cast(DECIMAL), pl.col("got").sum().cast(DECIMAL))
            .with_columns(diff=(pl.col("got") - pl.col("want")).cast(DECIMAL)))
    doc = ["source_type", "source_id"]
    # the postings that differ (few), with whether their document is in the ledger at all, and the entries
    # naming a document the records do not hold (few): collected once, every kind of finding below reads them
    wrong = (both.filter(pl.col("diff") != 0).join(docs.rename({"currency": "doc_currency"}), on=doc)
             .collect(engine=ctx.engine))
    posted = (ledger.join(wrong.lazy().select(doc).unique(), on=doc, how="semi").group_by(key)
              .agg(pl.col("amount").sum().alias("got")).group_by(doc).agg((pl.col("got") != 0).any().alias("posted")))
    wrong = wrong.lazy().join(posted, on=doc, how="left").with_columns(pl.col("posted").fill_null(False))
    wrong = wrong.collect(engine=ctx.engine).lazy()
    unknown_entries = (ledger.filter(pl.col("source_type").is_in(sources) & ctx.in_months("date"))
                       .join(docs.select(doc), on=doc, how="anti").collect(engine=ctx.engine).lazy())
    # A document posted in its customer's currency, with its own amounts, although it is in another one: the
    # currency_mismatch finding of the document (or of its invoice) is the cause; the ledger is not reported.
    moved = pl.col("currency") != pl.col("doc_currency")
    by_account = pl.col("diff").sum().over(*doc, "account")
    currency_only = (wrong.filter(pl.col("verified"))
                     .with_columns(same_amounts=(by_account == 0),
                                   to_theirs=~moved | (pl.col("currency") == pl.col("customer_currency")),
                                   theirs_differ=pl.col("doc_currency") != pl.col("customer_currency"))
                     .group_by(doc).agg((pl.col("same_amounts") & pl.col("to_theirs")
                                         & pl.col("theirs_differ").fill_null(False)).all().alias("by_currency")))
    wrong = wrong.join(currency_only, on=doc, how="left").with_columns(
        reported=pl.col("verified") & ~pl.col("by_currency").fill_null(False))
    entry = {"account": pl.col("account"), "currency": pl.col("currency"), "other": moved}
    per_doc = (wrong.filter(pl.col("reported")).with_columns(_other=moved).sort(*doc, "account", "_other", "currency")
               .group_by(doc, maintain_order=True)
               .agg(pl.col("customer_id", "invoice_id", "payment_id", "month", "doc_currency", "amount", "tax")
                    .first(), pl.col("posted").any(),
                    want=pl.struct(**entry, amount=pl.col("want")).filter((pl.col("want") != 0) | ~moved),
                    got=pl.struct(**entry, amount=pl.col("got")).filter((pl.col("got") != 0) | ~moved),
                    stake=pl.when(pl.col("diff") < 0).then(-pl.col("diff")).otherwise(pl.col("diff")).max())
               .rename({"doc_currency": "currency"}))
    out = [finding(
        per_doc, customer_id=pl.col("customer_id"), invoice_id=pl.col("invoice_id"),
        payment_id=pl.col("payment_id"), period=month(pl.col("month")),
        detail=text("{type} {id}", type=pl.col("source_type"), id=pl.col("source_id")), expected=postings("want"),
        actual=postings("got"), currency=CUR, at_stake=pl.col("stake"),
        message=choose(
            (~pl.col("posted").fill_null(False),
             text("{label} is not posted to the general ledger (expected {want}).", label=_label(),
                  want=postings("want"))),
            otherwise=text("{label} is posted as {got}, but its figures give {want}.", label=_label(),
                           got=postings("got"), want=postings("want"))))]

    # entries that name a document the billing records do not hold
    unknown = (unknown_entries.group_by("source_type", "source_id", "currency")
               .agg(pl.col("amount").filter(pl.col("amount") > 0).sum().cast(DECIMAL).alias("debits"),
                    pl.col("date").min().alias("first")))
    out.append(finding(
        unknown, period=month(pl.col("first")),
        detail=text("unknown {type} {id}", type=pl.col("source_type"), id=pl.col("source_id")),
        expected="an existing document", actual=pl.col("source_id"), currency=CUR, at_stake=pl.col("debits"),
        message=text("Ledger entries post {type} {id} ({debits} {currency} of debits), which is not in the billing "
                     "records.", type=pl.col("source_type"), id=pl.col("source_id"), debits=money(pl.col("debits")),
                     currency=CUR)))

    # balances at period end: ledger against billing records, less what the reported documents explain
    cutoff = ctx.months[-1].replace(day=1)
    end = pl.lit(cutoff).dt.month_end()
    expected = pl.concat([expected, _write_offs(ctx)])
    as_tied = (pl.when(pl.col("account").is_in([gl.REVENUE, DEFERRED_REVENUE])).then(pl.lit(REVENUE))
               .otherwise(pl.col("account")))
    ledger, expected, wrong, unknown_entries = (f.with_columns(account=as_tied)
                                                for f in (ledger, expected, wrong, unknown_entries))
    tied = pl.col("account").is_in(list(TIED_ACCOUNTS))
    in_books = (ledger.filter(tied & (pl.col("date") <= end)).group_by("account", "currency")
                .agg(pl.col("amount").sum().cast(DECIMAL).alias("ledger")))
    in_records = (expected.filter(tied & (pl.col("date") <= end)).group_by("account", "currency")
                  .agg(pl.col("amount").sum().cast(DECIMAL).alias("records")))
    # what the findings explain: the documents reported, those posted in their customer's currency (their
    # currency_mismatch), and the entries naming documents the records do not hold (reported above)
    accounted = pl.concat([wrong.filter(pl.col("verified")).select("account", "currency", "date", "diff"),
                           unknown_entries.select("account", "currency", "date", diff=pl.col("amount"))])
    explained = (accounted.filter(tied & (pl.col("date") <= end)).group_by("account", "currency")
                 .agg(pl.col("diff").sum().cast(DECIMAL).alias("explained")))
    period = ctx.months[-1].strftime(PERIOD_FMT)
    end_text = (next_month(ctx.months[-1]) - dt.timedelta(days=1)).isoformat()
    tie = (in_books.join(in_records, on=["account", "currency"], how="full", coalesce=True)
           .join(explained, on=["account", "currency"], how="left")
           .with_columns(pl.col("ledger", "records", "explained").fill_null(ZERO))
           .with_columns(rest=(pl.col("ledger") - pl.col("records") - pl.col("explained")).cast(DECIMAL),
                         given=(pl.col("records") + pl.col("explained")).cast(DECIMAL))
           .filter(pl.col("rest") != 0))
    name = Figure((pl.col("account"),), lambda c: c[0].replace_strict(ACCOUNT_NAMES, default=""))
    out.append(finding(
        tie, period=period, detail=text("balance {account} {currency}", account=pl.col("account"), currency=CUR),
        expected=signed(pl.col("given")), actual=signed(pl.col("ledger")), difference=money(pl.col("rest")),
        currency=CUR, at_stake=pl.when(pl.col("rest") < 0).then(-pl.col("rest")).otherwise(pl.col("rest")),
        message=text("On {end} account {account} ({name}) stands at {ledger} {currency} in the ledger, but the billing "
                     "records give {given}: {rest} is not explained by any document.", end=end_text,
                     account=pl.col("account"), name=name, ledger=signed(pl.col("ledger")), currency=CUR,
                     given=signed(pl.col("given")), rest=money(pl.col("rest")))))
    return out
