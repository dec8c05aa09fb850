"""Reading what payers and banks write: invoice numbers in a remittance text, identifiers without their padding.

A bank reference is free text: ``Überweisung INV-0004611, Rechnung``, ``inv. 4611/4612``,
``Invoice no 0004611 CUS-000048``, ``INV-0004611/CUS-000048``. :func:`reference_numbers` finds what in it
can name an invoice, one row per number, of one of these kinds:

* ``named``: a number right after an invoice word (``Inv.``, ``Invoice no``, ``Invoice #``, ``Rechnung``,
  ``Facture`` ...) or after letters (the caller says which: the prefixes of the dataset's invoice numbers),
  as in ``Invoice no. 4611`` or ``INV 0004611``;
* ``listed``: a number that goes on a list right after a named one (``INV-4611/4612``,
  ``Invoices 4611, 4612 and 4613``);
* ``padded``: a number written with leading zeros, five digits or more (``Payment 0004611``), compared
  digit for digit with the number part of invoice numbers.

Numbers inside dates (``2024-03-05``, ``05.03.2024``) and decimal amounts (``561.60``, ``561,60``) name
nothing, and neither does a number glued to other letters (``CUS-000048``, ``C-00012``): that is another
kind of identifier. :func:`reference_words` gives the words of the text that may be invoice numbers of any
numbering scheme, compared by :func:`loose_key` (``inv-4611`` is ``INV-0004611``). Everything is vectorised
(polars string functions on eager frames).
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

# Character classes are spelled out (Latin, Greek and Cyrillic letters; ASCII digits and blanks): the regex
# engine's Unicode classes (\w, \d, \s, \b) make these patterns several times slower on a million references.
LETTER = r"A-Za-z\u00C0-\u024F\u0370-\u052F"
BLANK = r"[ \t\r\n]"
END = r"(?-u:\b)"
# a number with what stands before it: letters (group 1), an optional "no"/"nr"/"#"/":" and a separator; then
# (group 3) the numbers that go on a list after it: "4611, 4612 and 4613", "4611/4612"
NUMBER_RE = (rf"(?:([{LETTER}]+)[.]?{BLANK}*(?:-?(?:(?:no|nr|num|number){END}|n°|nº)\.?{BLANK}*)?[:#]?{BLANK}*"
             rf"[-_/]?{BLANK}*)?([0-9]+)"
             rf"((?:{BLANK}*(?:[,;/&+]|{END}(?:" + "|".join(LIST_WORDS) + rf"){END}){BLANK}*#?{BLANK}*[0-9]+)*)")
NUMBER_IN_TEXT_RE = "(?i)" + NUMBER_RE
# dates and decimal amounts, blanked out before numbers are read
NOT_NUMBERS_RE = (r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}[./-][0-9]{1,2}[./-][0-9]{2,4}"
                  r"|[0-9]+\.[0-9]+|[0-9]+,[0-9]{2}" + END)
# words: letters and digits that may hold - . / inside (and the same without /, so A/B is two words too)
ALNUM = rf"[{LETTER}0-9]"
WORD_RES = (rf"{ALNUM}(?:[{LETTER}0-9_\-./]*{ALNUM})?", rf"{ALNUM}(?:[{LETTER}0-9_\-.]*{ALNUM})?")
NUMBER_SCHEMA = {"payment_id": pl.String, "kind": pl.String, "label": pl.String, "number": pl.String,
                 "digits": pl.String}


def loose_key(ident: pl.Expr) -> pl.Expr:
    """An identifier as payers retype it: upper case, runs of letters and of digits without separators
    or leading zeros (``CUS-0005320``, ``cus 5320`` and ``CUS-005320`` all give ``CUS|5320``)."""
    parts = ident.str.to_uppercase().str.extract_all(rf"[{LETTER}]+|[0-9]+")
    return parts.list.eval(_without_zeros(pl.element())).list.join("|").replace("", None)


def _without_zeros(digits: pl.Expr) -> pl.Expr:
    return digits.str.strip_chars_start("0").replace("", "0")


def invoice_number_parts(invoice_id: pl.Expr) -> dict[str, pl.Expr]:
    """``prefix`` (the letters just before the last digits, upper case), ``number`` (the last digits without
    leading zeros) and ``digits`` (as written) of invoice numbers."""
    parts = invoice_id.str.extract_groups(rf"([{LETTER}]*)[^{LETTER}0-9]*([0-9]+)[^0-9]*$")
    digits = parts.struct.field("2")
    return {"prefix": parts.struct.field("1").str.to_uppercase().replace("", None),
            "number": _without_zeros(digits), "digits": digits}


def reference_numbers(payments: pl.DataFrame, prefixes: list[str]) -> pl.DataFrame:
    """The numbers each payment's ``reference`` may name invoices by: payment_id, kind (``named``, ``listed``,
    ``padded``), label (the word before the number, upper case), number (no leading zeros) and digits (as
    written). ``prefixes``: the letters invoice numbers begin with (upper case)."""
    text = payments.select("payment_id", "reference").filter(pl.col("reference").str.contains("[0-9]"))
    found = (text.select("payment_id", m=pl.col("reference").str.replace_all(NOT_NUMBERS_RE, " ")
                         .str.extract_all(NUMBER_IN_TEXT_RE))
             .explode("m").drop_nulls("m"))
    found = found.with_columns(pl.col("m").str.extract_groups(NUMBER_IN_TEXT_RE).alias("g")).select(
        "payment_id", label=pl.col("g").struct.field("1").str.to_uppercase(),
        digits=pl.col("g").struct.field("2"), tail=pl.col("g").struct.field("3"),
        glued=pl.col("m").str.contains(rf"^[{LETTER}]+[-_/.#:]?[0-9]"))
    label = pl.col("label")
    kind = (pl.when(label.is_in(list(INVOICE_WORDS) + prefixes)).then(pl.lit("named"))
            .when(label.is_null() | ~pl.col("glued")).then(pl.lit("bare"))
            .otherwise(pl.lit("glued")))
    found = found.with_columns(kind=kind, number=_without_zeros(pl.col("digits")))
    listed = (found.filter(pl.col("kind") == "named")
              .select("payment_id", "label", digits=pl.col("tail").str.extract_all("[0-9]+")).explode("digits")
              .drop_nulls("digits")
              .with_columns(kind=pl.lit("listed"), number=_without_zeros(pl.col("digits"))))
    padded = found.filter((pl.col("kind") == "bare") & pl.col("digits").str.starts_with("0")
                          & (pl.col("digits").str.len_chars() >= PADDED_DIGITS)).with_columns(kind=pl.lit("padded"))
    numbers = pl.concat([found.filter(pl.col("kind") == "named"), listed, padded], how="diagonal")
    return numbers.select(list(NUMBER_SCHEMA)).cast(NUMBER_SCHEMA).unique(maintain_order=True)


def reference_words(payments: pl.DataFrame) -> pl.DataFrame:
    """The words of each payment's ``reference`` that may be invoice numbers as written (letters and digits,
    or five digits or more): payment_id and key (:func:`loose_key`)."""
    text = payments.select("payment_id", "reference").filter(pl.col("reference").str.contains("[0-9]"))
    words = pl.concat([text.select("payment_id", word=pl.col("reference").str.extract_all(pattern))
                       for pattern in WORD_RES]).explode("word").drop_nulls("word")
    words = words.filter(pl.col("word").str.contains("[0-9]")
                         & (pl.col("word").str.contains(f"[{LETTER}]")
                            | (pl.col("word").str.len_chars() >= PADDED_DIGITS)))
    return words.select("payment_id", key=loose_key(pl.col("word"))).unique(maintain_order=True)
