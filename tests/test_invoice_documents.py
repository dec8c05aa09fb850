"""Amounts for people (Babel), the arithmetic under each line, and the PDF of an invoice."""
from __future__ import annotations

from decimal import Decimal
from io import BytesIO

import pytest
from pypdf import PdfReader

from billing_lib.core.currency import customer_locale, format_money_local, format_number_local
from billing_lib.invoicing.documents import DocumentLine, InvoiceDocument, render_html
from billing_lib.invoicing.pdf import invoice_pdf, needs_fallback_font

NBSP = "\u00a0"


@pytest.mark.parametrize("amount,code,locale,text", [
    ("1234.5", "EUR", "de_DE", f"1.234,50{NBSP}€"),       # German separators, symbol after
    ("1234.5", "EUR", "fr_FR", f"1\u202f234,50{NBSP}€"),  # narrow no-break space groups
    ("1234.5", "USD", "en_US", "$1,234.50"),
    ("1199.5", "JPY", "ja_JP", "￥1,200"),                 # no minor unit, half away from zero
    ("-0.5", "JPY", "ja_JP", "-￥1"),
    ("12.3455", "KWD", "en", f"KWD{NBSP}12.346"),         # three digits
    ("13.58", "BHD", "en", f"BHD{NBSP}13.580"),
    ("1000", "IQD", "en", f"IQD{NBSP}1,000.000"),         # ISO 4217 says 3 digits (CLDR says 0): ISO wins
])
def test_format_money_local(amount, code, locale, text):
    assert format_money_local(Decimal(amount), code, locale) == text


def test_an_amount_that_rounds_to_zero_is_a_positive_zero():
    import polars as pl

    from billing_lib.core.currency import format_money
    from billing_lib.core.money import DECIMAL, money_text_where_currency, number_text, to_text
    assert format_money_local(Decimal("-0.004"), "USD", "en_US") == "$0.00"
    assert format_money_local(Decimal("-0.4"), "JPY", "ja_JP") == "￥0"
    assert format_money_local(Decimal("-0.000"), "EUR", "en", exact=True) == "€0.00"
    assert format_money(Decimal("-0.004"), "USD") == "0.00"
    assert format_money_local(Decimal("-0.005"), "USD", "en_US") == "-$0.01"  # not zero: keeps its sign
    frame = pl.DataFrame({"amount": [Decimal("-0.004"), Decimal("-0.4"), Decimal("-0.00000000001")],
                          "currency": ["USD", "JPY", None]}, schema={"amount": DECIMAL, "currency": pl.String})
    out = frame.select(text=to_text(pl.col("amount"), pl.col("currency")),
                       where=money_text_where_currency(pl.col("amount")), number=number_text(pl.col("amount")))
    assert out.rows() == [("0.00", "0.00", "-0.004"), ("0", "0", "-0.4"), ("0.00", None, "0")]


def test_unit_prices_keep_their_digits_and_numbers_have_no_trailing_zeros():
    assert format_money_local(Decimal("0.0125"), "EUR", "de_DE", exact=True) == f"0,0125{NBSP}€"
    assert format_money_local(Decimal("0.05"), "EUR", "en", exact=True) == "€0.05"
    assert format_money_local(None, "EUR", "en") == ""
    assert format_number_local(Decimal("1500.0000000000"), "de_DE") == "1.500"
    assert format_number_local(Decimal("2.50"), "fr_FR") == "2,5"


@pytest.mark.parametrize("country,preferred,locale", [
    ("DE", None, "de_DE"), ("JP", None, "ja_JP"), ("US", None, "en_US"), ("NL", None, "nl_NL"),
    ("KW", None, "en"),        # Arabic is written right to left: amounts in English text use English
    ("AE", None, "en_AE"),
    ("DE", "en_GB", "en_GB"),  # a customer's own locale wins
    ("DE", "xx_YY", "de_DE"),  # an unknown one is ignored
    (None, None, "en"),
])
def test_customer_locale(country, preferred, locale):
    assert customer_locale(country, preferred) == locale


def _doc(name: str) -> InvoiceDocument:
    line = DocumentLine(1, "Seats (SEAT) subscription 2024-06-01 to 2024-06-30", "3 units × 10,00 €", "3", "10,00 €", "30,00 €", "0,00 €", "19%", "5,70 €")
    return InvoiceDocument("INV-0000042", "C1", name, "a@b.example", "DE", "de_DE", "EUR", "2024-07-01",
                           "2024-07-31", "2024-06-01", "2024-06-30", (line,), "30,00 €", "0,00 €", "5,70 €",
                           "35,70 €", Decimal("35.70"))


@pytest.mark.parametrize("name", ['<script>alert(1)</script>', 'The "Quoted" Company', "Müller & Söhne",
                                  "株式会社テスト", "대한 주식회사", "الكويت للتقنية", "Ωmega Λtd"])
def test_pdf_opens_with_number_total_and_name(name):
    data = invoice_pdf(_doc(name))
    assert data.startswith(b"%PDF-")
    text = PdfReader(BytesIO(data)).pages[0].extract_text()
    assert "INV-0000042" in text and "Total due 35,70 €" in text
    if name != "الكويت للتقنية":  # right-to-left text comes out in visual order
        assert name in text, text


def test_pdf_is_the_same_bytes_for_the_same_document():
    assert invoice_pdf(_doc("株式会社テスト")) == invoice_pdf(_doc("株式会社テスト"))
    assert invoice_pdf(_doc("A")) != invoice_pdf(_doc("B"))


def test_cjk_font_is_embedded_only_when_the_text_needs_it():
    assert needs_fallback_font("株式会社") and not needs_fallback_font("Müller & Søn, Ωmega, Łódź")
    assert len(invoice_pdf(_doc("Acme"))) < len(invoice_pdf(_doc("株式会社テスト")))


def test_html_escapes_every_value():
    page = render_html(_doc('<img src=x onerror="alert(1)">'))
    assert "<img" not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page


def test_an_invoice_without_lines_is_named_in_a_parameter_error():
    from pathlib import Path

    import polars as pl

    from billing_lib.core.periods import parse_period
    from billing_lib.data.loading import load_dataset
    from billing_lib.errors import ParameterError
    from billing_lib.invoicing.documents import invoice_documents
    from billing_lib.invoicing.generate import generate_period
    ds = load_dataset(Path(__file__).resolve().parents[1] / "data" / "sample")
    gen = generate_period(ds, parse_period("2024-07"))
    first = gen.headers.sort("number")[0, "invoice_id"]
    with pytest.raises(ParameterError, match=f"invoice {first} \\(customer [^)]+\\) has no invoice lines"):
        invoice_documents(gen.headers, gen.lines.filter(pl.col("invoice_id") != first), ds)
