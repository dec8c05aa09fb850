"""Cash application: which invoice each payment pays, and how much of it.

An invoice is its number *and* its customer: where two customers carry one number (a finding of its own), a
payment goes to the invoice of its own customer.

Who paid: the payment's ``customer_id`` when the customers table or an invoice knows it; else the one known
customer whose id reads the same without case, separators and zero padding (``CUS-0005320`` or ``cus 5320``
for ``CUS-005320``; see :func:`~billing_lib.engine.remittance.loose_key`); else nobody known. A payment of a
customer the customers table lacks is still an ``orphan_reference`` finding; the cash application only
decides where its money goes.

A payment is applied, in this order of trust:

1. ``invoice_id``, else ``reference``: the invoice the payment names in its ``invoice_id`` column (written
   with or without zero padding), else the invoices its bank reference names as banks write them
   (:mod:`billing_lib.engine.remittance`: any separators and surrounding text, any case, with or without
   zero padding, several invoices in one text, a customer number beside): invoices of the payer that are
   not void. A payment whose payer is not known is placed on an invoice
   only where one live invoice carries the number it names (a number that two customers carry is not
   enough). Several named invoices are paid oldest first, each up to what it still owes, the rest on the
   last.
2. ``amount``: exactly one open invoice of the payer in the payment's currency, issued on or before the day
   the money came in, that still owes exactly the amount (several payments of one amount are paired with
   several such invoices in order of date);
3. ``sum``: two or three such open invoices that together owe exactly the amount (searched among the
   payer's oldest ``MAX_SUM_CANDIDATES`` open invoices, so the search stays bounded).

Steps 2 and 3 never place a payment that names an invoice of another customer: that payment is unapplied.
A payment that none of these place is unapplied. :func:`apply_payments` returns one row per (payment,
invoice) with the applied amount and the method; the checks and the month-end schedules share it.
Everything is vectorised over eager frames (no loop over payments).
"""
from __future__ import annotations

from functools import cached_property

import polars as pl

from billing_lib.core.money import DECIMAL, ZERO
from billing_lib.core.runs import run_last
from billing_lib.engine.remittance import (
    INVOICE_WORDS,
    invoice_number_parts,
    loose_key,
    reference_numbers,
    reference_words,
)

MAX_SUM_CANDIDATES = 24
INVOICE = ["invoice_id", "customer_id"]  # what identifies an invoice
APPLICATION_SCHEMA = {"payment_id": pl.String, "customer_id": pl.String, "invoice_id": pl.String,
                      "applied": DECIMAL, "method": pl.String}
# how a payment names an invoice, and whether that alone may place a payment whose payer is not known
_STRONG = ("column", "word", "named")


def _frame(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return frame.collect(engine="in-memory") if isinstance(frame, pl.LazyFrame) else frame


def _shaped(frame: pl.DataFrame) -> pl.DataFrame:
    """Application rows in the columns and order of ``APPLICATION_SCHEMA``."""
    return frame.select(list(APPLICATION_SCHEMA)).cast(APPLICATION_SCHEMA)


def owed_before_payments(invoices: pl.DataFrame, credit_notes: pl.DataFrame) -> pl.DataFrame:
    """Live invoices, one row per (invoice_id, customer_id), with ``credited`` (credit notes: amount + tax)
    and ``owed`` = total - credited. A credit note names only a number: where two customers carry it, it
    reduces the first of them in the invoices table."""
    live = (invoices.filter(pl.col("status") != "void").unique(INVOICE, keep="first", maintain_order=True)
            .select("invoice_id", "customer_id", "currency", "issue_date", pl.col("total").cast(DECIMAL))
            .with_columns(_first=pl.col("invoice_id").is_first_distinct()))
    credited = (credit_notes.group_by("invoice_id")
                .agg((pl.col("amount").cast(DECIMAL) + pl.col("tax").cast(DECIMAL).fill_null(ZERO)).sum()
                     .cast(DECIMAL).alias("credited")))
    return (live.join(credited, on="invoice_id", how="left")
            .with_columns(credited=pl.when(pl.col("_first")).then(pl.col("credited").fill_null(ZERO))
                          .otherwise(ZERO).cast(DECIMAL))
            .with_columns(owed=(pl.col("total") - pl.col("credited")).cast(DECIMAL)).drop("_first"))


def _owed_now(inv: pl.DataFrame, apps: list[pl.DataFrame], customers: pl.Series) -> pl.DataFrame:
    """The invoices of ``customers`` with ``open_amount``: what is still owed after the applications so far
    (only the customers asked about: the payments left at a step are a few of the many)."""
    of_them = pl.DataFrame({"customer_id": customers}).unique()
    inv = inv.join(of_them, on="customer_id", how="semi", maintain_order="left")
    if apps:
        paid = (pl.concat(apps).join(of_them, on="customer_id", how="semi").group_by(INVOICE)
                .agg(pl.col("applied").sum().cast(DECIMAL).alias("_paid")))
        inv = inv.join(paid, on=INVOICE, how="left")
    else:
        inv = inv.with_columns(_paid=pl.lit(None, DECIMAL))
    return inv.with_columns(open_amount=(pl.col("owed") - pl.col("_paid").fill_null(ZERO)).cast(DECIMAL)).drop(
        "_paid")


def _allocate(rows: pl.DataFrame) -> pl.DataFrame:
    """Spread each payment over its invoices, oldest first: each up to its open amount, the rest on the last."""
    open_ = pl.max_horizontal(pl.col("open_amount"), ZERO).cast(DECIMAL)
    rows = rows.sort("payment_id", "issue_date", "invoice_id", "customer_id").with_columns(
        _before=(open_.cum_sum().over("payment_id") - open_).cast(DECIMAL),
        _last=run_last("payment_id"))
    part = pl.min_horizontal(pl.max_horizontal(pl.col("amount") - pl.col("_before"), ZERO), open_).cast(DECIMAL)
    rows = rows.with_columns(_part=part)
    rows = rows.with_columns(
        applied=pl.when(pl.col("_last"))
        .then(pl.col("amount") - (pl.col("_part").sum().over("payment_id") - pl.col("_part")))
        .otherwise(pl.col("_part")).cast(DECIMAL))
    return rows.select("payment_id", "customer_id", "invoice_id", "applied", "method")


def payers(payments: pl.DataFrame, known_customers: pl.Series) -> pl.DataFrame:
    """payment_id and ``payer``: the known customer who paid (see the module docstring), null when none is."""
    known = pl.DataFrame({"payer": known_customers.unique().drop_nulls()})
    pays = payments.select("payment_id", "customer_id")
    exact = pays.join(known, left_on="customer_id", right_on="payer", how="semi")
    strangers = pays.join(exact, on="payment_id", how="anti")
    if strangers.height:
        known = known.with_columns(_key=loose_key(pl.col("payer")))
        loose = known.filter(pl.col("_key").is_not_null() & (pl.len().over("_key") == 1))
        guessed = strangers.with_columns(_key=loose_key(pl.col("customer_id"))).join(loose, on="_key", how="inner")
    else:
        guessed = strangers.with_columns(payer=pl.lit(None, pl.String))
    return pl.concat([exact.select("payment_id", payer=pl.col("customer_id")),
                      guessed.select("payment_id", "payer"),
                      strangers.join(guessed, on="payment_id", how="anti")
                      .select("payment_id", payer=pl.lit(None, pl.String))])


def named_invoices(pays: pl.DataFrame, inv: pl.DataFrame) -> pl.DataFrame:
    """The live invoices a payment names: payment_id, payer, invoice_id, customer_id (the invoice's), ``how``
    (``column``, ``named``, ``listed``, ``padded`` or ``word``) and ``token`` (what named it). The reference of
    a payment whose column names one of its payer's invoices is not read (the column outranks it)."""
    ids = inv.select(*INVOICE)
    loose = _Loose(ids)
    # the column: as written, else read loosely (INV-4611 for INV-0004611)
    column = pays.filter(pl.col("invoice_id").is_not_null()).select("payment_id", token=pl.col("invoice_id"))
    as_written = column.join(ids, left_on="token", right_on="invoice_id", how="inner").with_columns(
        invoice_id=pl.col("token"))
    retyped = column.join(ids, left_on="token", right_on="invoice_id", how="anti")
    found = [as_written.select("payment_id", *INVOICE, how=pl.lit("column"), token="token")]
    if retyped.height:
        found.append(retyped.with_columns(token=loose_key(pl.col("token"))).join(loose.keys, on="token")
                     .select("payment_id", *INVOICE, how=pl.lit("column"), token="token"))
    by_column = pl.concat(found).join(pays.select("payment_id", "payer"), on="payment_id")
    # the column outranks the reference: only payments whose column names none of the payer's invoices are read
    to_read = pays.join(by_column.filter(pl.col("customer_id") == pl.col("payer")), on="payment_id", how="anti")

    parts = inv.select(*INVOICE, **invoice_number_parts(pl.col("invoice_id")))
    prefixes = parts["prefix"].drop_nulls().unique().sort().to_list()
    numbers = reference_numbers(to_read, prefixes)
    by_number = numbers.filter(pl.col("kind") != "padded").join(parts.drop("digits"), on="number", how="inner")
    by_number = by_number.filter((pl.col("kind") == "listed") | pl.col("label").is_in(list(INVOICE_WORDS))
                                 | (pl.col("label") == pl.col("prefix")))
    by_digits = numbers.filter(pl.col("kind") == "padded").join(parts.select(*INVOICE, "digits"), on="digits")
    found += [by_number.select("payment_id", *INVOICE, how="kind", token="number"),
              by_digits.select("payment_id", *INVOICE, how="kind", token="digits")]
    found = pl.concat(found)

    # words as written, of any numbering scheme, where the numbers name nothing
    unread = to_read.filter(pl.col("reference").is_not_null()).join(found, on="payment_id", how="anti")
    if unread.height:
        words = reference_words(unread).rename({"key": "token"}).join(loose.keys, on="token")
        found = pl.concat([found, words.select("payment_id", *INVOICE, how=pl.lit("word"), token="token")])
    return found.join(pays.select("payment_id", "payer"), on="payment_id")


class _Loose:
    """Invoice numbers by :func:`loose_key`, worked out only when something must be read loosely."""

    def __init__(self, ids: pl.DataFrame):
        self._ids = ids

    @cached_property
    def keys(self) -> pl.DataFrame:
        return self._ids.with_columns(token=loose_key(pl.col("invoice_id"))).drop_nulls("token")


def _placed_by_name(named: pl.DataFrame) -> pl.DataFrame:
    """The named invoices a payment pays: its payer's; for a payer not known, what the column, a word or an
    invoice word names when exactly one live invoice answers it, all of one customer. Columns: payment_id,
    invoice_id, customer_id, method (``invoice_id`` when the column named it, else ``reference``) and
    ``one`` (the payment names this invoice alone)."""
    mine = pl.col("customer_id") == pl.col("payer")
    # the common case first: the column names one invoice of the payer, which settles it
    by_column = named.filter(mine & (pl.col("how") == "column")).filter(pl.col("payment_id").is_unique())
    rest = named.join(by_column, on="payment_id", how="anti")
    own = rest.filter(mine)
    stranger = rest.filter(pl.col("payer").is_null() & pl.col("how").is_in(_STRONG))
    single = stranger.filter(pl.struct(INVOICE).n_unique().over("payment_id", "how", "token") == 1)
    single = single.filter(pl.col("customer_id").n_unique().over("payment_id") == 1)
    placed = pl.concat([own, single]).with_columns(column=pl.col("how") == "column")
    # the invoice the payer named in the column outranks what the bank reference says
    placed = placed.filter(pl.col("column") | ~pl.col("column").any().over("payment_id"))
    placed = (placed.group_by("payment_id", *INVOICE, maintain_order=True).agg(pl.col("column").any())
              .with_columns(method=pl.when(pl.col("column")).then(pl.lit("invoice_id")).otherwise(pl.lit("reference")),
                            one=pl.len().over("payment_id") == 1))
    cols = ["payment_id", *INVOICE, "method", "one"]
    return pl.concat([by_column.select("payment_id", *INVOICE, method=pl.lit("invoice_id"), one=pl.lit(True)),
                      placed.select(cols)])


def apply_payments(invoices: pl.DataFrame | pl.LazyFrame, payments: pl.DataFrame | pl.LazyFrame,
                   credit_notes: pl.DataFrame | pl.LazyFrame,
                   customers: pl.DataFrame | pl.LazyFrame | None = None) -> pl.DataFrame:
    """Applications: payment_id, customer_id (the customer of the invoice paid), invoice_id, applied
    (Decimal), method (``invoice_id``, ``reference``, ``amount`` or ``sum``). ``customers`` (optional):
    the customers table; without it, the customers of the invoices are the known ones."""
    all_invoices = _frame(invoices)
    inv = owed_before_payments(all_invoices, _frame(credit_notes))
    pays = _frame(payments).select("payment_id", "customer_id", "currency", pl.col("amount").cast(DECIMAL),
                                   "received_date", "invoice_id", "reference")
    if pays.height == 0:
        return pl.DataFrame(schema=APPLICATION_SCHEMA)
    known = all_invoices["customer_id"]
    if customers is not None:
        known = pl.concat([known, _frame(customers)["customer_id"]])
    pays = pays.join(payers(pays, known), on="payment_id", how="left")
    # the common case first, on every payment: the column names, as written, an invoice of the payer
    as_named = pays.join(inv.select(*INVOICE), left_on=["invoice_id", "payer"], right_on=INVOICE, how="inner")
    apps = [_shaped(as_named.with_columns(customer_id=pl.col("payer"), applied=pl.col("amount"),
                                          method=pl.lit("invoice_id")))]
    others = pays.join(as_named.select("payment_id"), on="payment_id", how="anti")

    named = named_invoices(others, inv)
    placed = _placed_by_name(named).join(others.select("payment_id", "amount"), on="payment_id")
    # a payment naming one invoice pays it whole; one naming several is spread over what they still owe after
    apps.append(_shaped(placed.filter(pl.col("one")).rename({"amount": "applied"})))
    several = placed.filter(~pl.col("one"))
    if several.height:
        owed = _owed_now(inv, apps, several["customer_id"])
        apps.append(_shaped(_allocate(several.join(owed.select(*INVOICE, "issue_date", "open_amount"),
                                           on=INVOICE))))
    # never by amount against a text that names another customer's invoice, nor for a payer not known
    names_another = named.filter(pl.col("how").is_in(_STRONG) & (pl.col("customer_id") != pl.col("payer")))
    rest = (others.filter(pl.col("payer").is_not_null())
            .join(placed.select("payment_id"), on="payment_id", how="anti")
            .join(names_another.select("payment_id"), on="payment_id", how="anti"))

    if rest.height:
        open_now = _owed_now(inv, apps, rest["payer"]).filter(pl.col("open_amount") > 0)
        key = ["customer_id", "currency"]
        p = rest.drop("invoice_id", "customer_id").rename({"payer": "customer_id"}).sort(
            "received_date", "payment_id").with_columns(_n=pl.int_range(pl.len()).over(*key, "amount"))
        o = open_now.sort("issue_date", "invoice_id").with_columns(
            _n=pl.int_range(pl.len()).over(*key, "open_amount"))
        exact = (p.join(o.select(*key, "invoice_id", "issue_date", "open_amount", "_n"),
                        left_on=[*key, "amount", "_n"], right_on=[*key, "open_amount", "_n"], how="inner")
                 .filter(pl.col("issue_date") <= pl.col("received_date")))
        apps.append(_shaped(exact.with_columns(applied=pl.col("amount"), method=pl.lit("amount"))))
        rest = rest.join(exact.select("payment_id"), on="payment_id", how="anti")

    if rest.height:
        apps.append(_shaped(_apply_sums(rest.drop("customer_id").rename({"payer": "customer_id"}),
                                        _owed_now(inv, apps, rest["payer"]))))
    return pl.concat(apps).sort("payment_id", "invoice_id", "customer_id")


def _apply_sums(rest: pl.DataFrame, open_now: pl.DataFrame) -> pl.DataFrame:
    """Payments that two or three open invoices of the customer owe exactly, together."""
    key = ["customer_id", "currency"]
    cand = (open_now.filter(pl.col("open_amount") > 0).join(rest.select(key).unique(), on=key, how="semi")
            .sort("issue_date", "invoice_id")
            .with_columns(_r=pl.int_range(pl.len()).over(key)).filter(pl.col("_r") < MAX_SUM_CANDIDATES)
            .select(*key, "invoice_id", "issue_date", "open_amount", "_r"))
    if cand.height < 2:
        return pl.DataFrame(schema=APPLICATION_SCHEMA)
    a = cand.rename({c: f"{c}_a" for c in ("invoice_id", "issue_date", "open_amount", "_r")})
    b = cand.rename({c: f"{c}_b" for c in ("invoice_id", "issue_date", "open_amount", "_r")})
    c = cand.rename({c: f"{c}_c" for c in ("invoice_id", "issue_date", "open_amount", "_r")})
    pairs = a.join(b, on=key).filter(pl.col("_r_a") < pl.col("_r_b")).with_columns(
        _sum=(pl.col("open_amount_a") + pl.col("open_amount_b")).cast(DECIMAL), _last=pl.col("issue_date_b"),
        invoice_id_c=pl.lit(None, pl.String), _size=pl.lit(2))
    triples = (a.join(b, on=key).filter(pl.col("_r_a") < pl.col("_r_b")).join(c, on=key)
               .filter(pl.col("_r_b") < pl.col("_r_c"))
               .with_columns(_sum=(pl.col("open_amount_a") + pl.col("open_amount_b") + pl.col("open_amount_c"))
                             .cast(DECIMAL),
                             _last=pl.max_horizontal("issue_date_b", "issue_date_c"), _size=pl.lit(3)))
    cols = [*key, "invoice_id_a", "invoice_id_b", "invoice_id_c", "open_amount_a", "open_amount_b",
            "open_amount_c", "_sum", "_last", "_size", "issue_date_a"]
    combos = pl.concat([pairs.with_columns(open_amount_c=pl.lit(None, DECIMAL)).select(cols), triples.select(cols)])
    hit = (rest.join(combos, left_on=[*key, "amount"], right_on=[*key, "_sum"], how="inner")
           .filter(pl.max_horizontal("issue_date_a", "_last") <= pl.col("received_date"))
           .sort("payment_id", "_size", "invoice_id_a", "invoice_id_b", "invoice_id_c", nulls_last=True)
           .unique("payment_id", keep="first", maintain_order=True))
    parts = [hit.select("payment_id", "customer_id", invoice_id=pl.col(f"invoice_id_{s}"),
                        applied=pl.col(f"open_amount_{s}"), method=pl.lit("sum")) for s in "abc"]
    return pl.concat(parts).filter(pl.col("invoice_id").is_not_null())
