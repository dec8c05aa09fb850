"""Reading what payers and banks write: invoice numbers in a remittance text, identifiers without their padding.

A bank reference is free text: ``Überweisung INV-0004611, Rechnung``, ``inv. 4611/4612``,
``Invoice no 0004611 CUS-000048``, ``INV-0004611/CUS-000048``. :func:`reference_numbers` finds what in it
can name an invoice, one row per finding, of one of these kinds:

* ``word``: a word of the text that holds letters and digits, or five digits or more, compared with
  invoice numbers by :func:`loose_key` (``inv-4611`` is ``INV-0004611``; any numbering scheme);
* ``named``: a number right after an invoice word (``Inv.``, ``Invoice no``, ``Invoice #``, ``Rechnung``,
  ``Facture`` ...) or after letters (the caller says which: the prefixes of the dataset's invoice numbers),
  as in ``Invoice no. 4611`` or ``INV 0004611``;
* ``listed``: a number that goes on a list right after a named one (``INV-4611/4612``,
  ``Invoices 4611, 4612 and 4613``);
* ``padded``: a number written with leading zeros, five digits or more (``Payment 0004611``), compared
  digit for digit with the number part of invoice numbers.

Numbers inside dates (``2024-03-05``, ``05.03.2024``) and decimal amounts (``561.60``, ``561,60``) name
nothing, and neither does a number glued to other letters (``CUS-000048``, ``C-00012``): that is another
kind of identifier. Everything is vectorised (polars string functions on eager frames).
"""
from __future__ import annotations

import polars as pl

# words that say "invoice" in the references banks pass on (upper case, without dots)
INVOICE_WORDS = ("INV", "INVS", "INVNO", "INVNR", "INVOICE", "INVOICES", "INVOICENO", "INVOICENR", "RECHNUNG",
                 "RECHNUNGS", "RECHNUNGEN", "RECHNUNGSNR", "RG", "RGNR", "RE", "FACTURE", "FACTURES", "FACTURA",
                 "FACTURAS", "FATTURA", "FATTURE", "FAKTURA", "FAKTUR", "BILL", "BILLS")
# words that join the numbers of a list
LIST_WORDS = ("and", "und", "et", "y", "e", "en", "og", "och", "plus")
PADDED_DIGITS = 5

# a number with what stands before it: letters (group 1), an optional "no"/"nr"/"#"/":" and a separator; then
# (group 3) the numbers that go on a list after it: "4611, 4612 and 4613", "4611/4612"
NUMBER_RE = (r"(?:([^\W\d_]+)[.\s]*(?:-?(?:(?:no|nr|num|number)\b|n°|nº)\.?\s*)?[:#]?\s*[-_/]?\s*)?(\d+)"
             r"((?:\s*(?:[,;/&+]|\b(?:" + "|".join(LIST_WORDS) + r")\b)\s*#?\s*\d+)*)")
NUMBER_IN_TEXT_RE = "(?i)" + NUMBER_RE
# dates and decimal amounts, blanked out before numbers are read
NOT_NUMBERS_RE = r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d+\.\d+|\d+,\d{2}\b"
# words: letters and digits that may hold - . / inside (and the same without /, so A/B is two words too)
WORD_RES = (r"\w(?:[\w\-./]*\w)?", r"\w(?:[\w\-.]*\w)?")
TOKEN_SCHEMA = {"payment_id": pl.String, "kind": pl.String, "label": pl.String, "key": pl.String,
                "number": pl.String, "digits": pl.String}


def loose_key(ident: pl.Expr) -> pl.Expr:
    """An identifier as payers retype it: upper case, runs of letters and of digits without separators
    or leading zeros (``CUS-0005320``, ``cus 5320`` and ``CUS-005320`` all give ``CUS|5320``)."""
    parts = ident.str.to_uppercase().str.extract_all(r"[^\W\d_]+|\d+")
    return parts.list.eval(_without_zeros(pl.element())).list.join("|").replace("", None)


def _without_zeros(digits: pl.Expr) -> pl.Expr:
    return digits.str.strip_chars_start("0").replace("", "0")


def invoice_number_parts(invoice_id: pl.Expr) -> dict[str, pl.Expr]:
    """``key`` (:func:`loose_key`), ``prefix`` (the letters just before the last digits, upper case),
    ``number`` (the last digits without leading zeros) and ``digits`` (as written) of invoice numbers."""
    tail = r"([^\W\d_]*)[^\w]*(\d+)\D*$"
    digits = invoice_id.str.extract(tail, 2)
    return {"key": loose_key(invoice_id), "prefix": invoice_id.str.extract(tail, 1).str.to_uppercase()
            .replace("", None), "number": _without_zeros(digits), "digits": digits}


def reference_numbers(payments: pl.DataFrame, prefixes: list[str]) -> pl.DataFrame:
    """What each payment's ``reference`` may name: payment_id, kind (``word``, ``named``, ``listed``,
    ``padded``), label (the word before a number, upper case), key (``word``), number (no leading zeros)
    and digits (as written). ``prefixes``: the letters invoice numbers begin with (upper case)."""
    text = payments.select("payment_id", "reference").filter(pl.col("reference").is_not_null())
    if text.height == 0:
        return pl.DataFrame(schema=TOKEN_SCHEMA)
    words = pl.concat([text.select("payment_id", word=pl.col("reference").str.extract_all(pattern))
                       for pattern in WORD_RES]).explode("word").drop_nulls("word")
    words = (words.select("payment_id", kind=pl.lit("word"), label=pl.lit(None, pl.String),
                          key=loose_key(pl.col("word")), number=pl.lit(None, pl.String),
                          digits=pl.lit(None, pl.String), chars=pl.col("word").str.len_chars())
             .filter(pl.col("key").str.contains(r"\d") & (pl.col("key").str.contains(r"[^\d|]")
                                                            | (pl.col("chars") >= PADDED_DIGITS)))
             .unique(["payment_id", "key"]))

    found = (text.select("payment_id", m=pl.col("reference").str.replace_all(NOT_NUMBERS_RE, " ")
                         .str.extract_all(NUMBER_IN_TEXT_RE))
             .explode("m").drop_nulls("m"))
    found = found.with_columns(
        label=pl.col("m").str.extract(NUMBER_IN_TEXT_RE, 1).str.to_uppercase(),
        digits=pl.col("m").str.extract(NUMBER_IN_TEXT_RE, 2),
        tail=pl.col("m").str.extract(NUMBER_IN_TEXT_RE, 3),
        glued=pl.col("m").str.contains(r"^[^\W\d_]+[-_/.#:]?\d"))
    label = pl.col("label")
    kind = (pl.when(label.is_in(list(INVOICE_WORDS) + prefixes)).then(pl.lit("named"))
            .when(label.is_null() | ~pl.col("glued")).then(pl.lit("bare"))
            .otherwise(pl.lit("glued")))
    found = found.with_columns(kind=kind, number=_without_zeros(pl.col("digits")), key=pl.lit(None, pl.String))
    listed = (found.filter(pl.col("kind") == "named")
              .select("payment_id", "label", digits=pl.col("tail").str.extract_all(r"\d+")).explode("digits")
              .drop_nulls("digits")
              .with_columns(kind=pl.lit("listed"), number=_without_zeros(pl.col("digits")),
                            key=pl.lit(None, pl.String)))
    padded = found.filter((pl.col("kind") == "bare") & pl.col("digits").str.starts_with("0")
                          & (pl.col("digits").str.len_chars() >= PADDED_DIGITS)).with_columns(kind=pl.lit("padded"))
    numbers = pl.concat([found.filter(pl.col("kind") == "named"), listed, padded], how="diagonal")
    cols = list(TOKEN_SCHEMA)
    return pl.concat([words.select(cols), numbers.select(cols)]).cast(TOKEN_SCHEMA).unique(maintain_order=True)
