"""Cash application on references as banks send them: hand-written cases, then property-based tests
(hypothesis) that write one invoice number in many ways, among decoys, and assert the right invoice is paid."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_lib.core.money import DECIMAL
from billing_lib.engine.cash_application import apply_payments

DAY = dt.date(2024, 2, 1)
PAID_ON = dt.date(2024, 3, 10)


def invoices(*rows: tuple) -> pl.DataFrame:
    """Rows (invoice_id, customer_id, total[, status[, issue_date]]) in EUR."""
    full = [(r[0], r[1], Decimal(r[2]), r[3] if len(r) > 3 else "open", r[4] if len(r) > 4 else DAY) for r in rows]
    return pl.DataFrame(full, schema={"invoice_id": pl.String, "customer_id": pl.String, "total": DECIMAL,
                                      "status": pl.String, "issue_date": pl.Date}, orient="row").with_columns(
        currency=pl.lit("EUR"))


def payments(*rows: tuple) -> pl.DataFrame:
    """Rows (payment_id, customer_id, amount, invoice_id, reference) in EUR, received PAID_ON."""
    return pl.DataFrame([(r[0], r[1], Decimal(r[2]), r[3], r[4]) for r in rows],
                        schema={"payment_id": pl.String, "customer_id": pl.String, "amount": DECIMAL,
                                "invoice_id": pl.String, "reference": pl.String}, orient="row").with_columns(
        currency=pl.lit("EUR"), received_date=pl.lit(PAID_ON))


NO_NOTES = pl.DataFrame(schema={"invoice_id": pl.String, "amount": DECIMAL, "tax": DECIMAL})


def applied(inv: pl.DataFrame, pay: pl.DataFrame, customers: list[str] | None = None) -> list[tuple]:
    """(payment_id, customer_id, invoice_id, applied as text, method) rows."""
    cust = None if customers is None else pl.DataFrame({"customer_id": customers})
    apps = apply_payments(inv, pay, NO_NOTES, cust)
    return [(r["payment_id"], r["customer_id"], r["invoice_id"], f"{r['applied']:.2f}", r["method"])
            for r in apps.iter_rows(named=True)]


# the payer's invoices: the one paid, and decoys whose numbers stand elsewhere in the texts below
C48 = [("INV-0004611", "CUS-000048", "50.00"), ("INV-0000048", "CUS-000048", "7.00"),
       ("INV-0000012", "CUS-000048", "8.00"), ("INV-0000005", "CUS-000048", "9.00"),
       ("INV-0002024", "CUS-000048", "11.00"), ("INV-0000123", "CUS-000048", "12.00")]


@pytest.mark.parametrize("reference", [
    "INV-0004611", "INV-0004611/CUS-000048", "CUS-000048/INV-0004611", "inv-0004611", "INV-4611", "inv 4611",
    "Inv. 4611", "Invoice no 4611", "Invoice no. 0004611", "invoice No: 4611", "Invoice #4611", "INV#4611",
    "INV4611", "INV/4611", "Rechnung Nr. 4611", "Rechnungs-Nr. 4611", "Facture n° 4611",
    "Überweisung INV-0004611, Rechnung", "REF INV-0004611 / thank you", "Payment 0004611",
    "Payment of invoice 4611 on 2024-03-05, EUR 123.45", "C-00012; INV 0004611; 05.03.2024", "invoice 4611 (5 items)",
])
def test_one_invoice_named_in_any_way_is_found(reference):
    got = applied(invoices(*C48), payments(("P1", "CUS-000048", "30.00", None, reference)))
    assert got == [("P1", "CUS-000048", "INV-0004611", "30.00", "reference")]


@pytest.mark.parametrize("reference", [
    "INV-0004611, INV-0004612", "INV-0004611;INV-0004612", "inv 4611/4612", "Invoices 4611 and 4612",
    "INV-4612 & INV-4611", "Invoice no 4611, 4612", "INV-0004611 INV-0004612 CUS-000048",
])
def test_several_invoices_in_one_reference_are_paid_oldest_first(reference):
    inv = invoices(("INV-0004611", "C1", "50.00"), ("INV-0004612", "C1", "20.00", "open", dt.date(2024, 3, 1)),
                   ("INV-0000048", "C1", "70.00"))
    got = applied(inv, payments(("P1", "C1", "70.00", None, reference)))
    assert got == [("P1", "C1", "INV-0004611", "50.00", "reference"), ("P1", "C1", "INV-0004612", "20.00", "reference")]


def test_a_number_two_customers_carry_is_the_invoice_of_the_payer():
    inv = invoices(("INV-0000123", "C1", "10.00"), ("INV-0000123", "C2", "20.00"), ("INV-0000124", "C2", "5.00"))
    pay = payments(("P1", "C2", "20.00", "INV-0000123", None), ("P2", "C1", "10.00", None, "inv 123"),
                   ("P3", "C2", "25.00", None, "INV-0000123, INV-0000124"))
    assert applied(inv, pay) == [
        ("P1", "C2", "INV-0000123", "20.00", "invoice_id"), ("P2", "C1", "INV-0000123", "10.00", "reference"),
        ("P3", "C2", "INV-0000123", "0.00", "reference"), ("P3", "C2", "INV-0000124", "25.00", "reference")]


def test_the_invoice_named_in_the_column_outranks_the_reference():
    inv = invoices(("INV-0000001", "C1", "50.00"), ("INV-0000002", "C1", "20.00"))
    pay = payments(("P1", "C1", "70.00", "INV-1", "INV-0000001, INV-0000002"))
    assert applied(inv, pay) == [("P1", "C1", "INV-0000001", "70.00", "invoice_id")]


def test_never_by_amount_against_a_reference_that_names_another_invoice():
    inv = invoices(("INV-0000001", "C1", "100.00"), ("INV-0000002", "C2", "100.00"))
    pay = payments(("P1", "C1", "100.00", None, "INV-0000002"), ("P2", "C1", "100.00", "INV-0000002", None))
    assert applied(inv, pay) == []


def test_a_number_named_that_is_no_invoice_does_not_stop_the_amount():
    inv = invoices(("INV-0000001", "C1", "100.00"))
    got = applied(inv, payments(("P1", "C1", "100.00", None, "INV-0009999")))
    assert got == [("P1", "C1", "INV-0000001", "100.00", "amount")]


def test_a_void_invoice_named_lets_the_amount_find_its_reissue():
    inv = invoices(("INV-0000001", "C1", "100.00", "void"), ("INV-0000002", "C1", "100.00"))
    got = applied(inv, payments(("P1", "C1", "100.00", "INV-0000001", "INV-0000001")))
    assert got == [("P1", "C1", "INV-0000002", "100.00", "amount")]


def test_a_paid_invoice_named_again_gets_the_money_and_is_overpaid():
    inv = invoices(("INV-0000001", "C1", "100.00", "paid"), ("INV-0000002", "C1", "100.00"))
    pay = payments(("P1", "C1", "100.00", "INV-0000001", None), ("P2", "C1", "100.00", None, "INV-0000001"))
    assert [r[2] for r in applied(inv, pay)] == ["INV-0000001", "INV-0000001"]


def test_numbers_in_dates_amounts_and_other_identifiers_name_no_invoice():
    inv = invoices(("INV-0000003", "C-00003", "3.00"), ("INV-0000005", "C-00003", "5.00"),
                   ("INV-0000045", "C-00003", "45.00"), ("INV-0000010", "C-00003", "10.00"))
    pay = payments(("P1", "C-00003", "9.99", None, "C-00003 INV-0000010 2024-03-05 05/03/2024 EUR 12.45 12,45"))
    assert applied(inv, pay) == [("P1", "C-00003", "INV-0000010", "9.99", "reference")]


@pytest.mark.parametrize("payer", ["CUS-740", "cus 740", "CUS-0000740"])
def test_a_retyped_customer_id_is_its_customer(payer):
    inv = invoices(("INV-0000001", "CUS-000740", "40.00"), ("INV-0000002", "CUS-000740", "60.00"))
    pay = payments(("P1", payer, "60.00", None, "bank transfer"), ("P2", payer, "40.00", None, "INV-0000001"))
    assert applied(inv, pay, ["CUS-000740"]) == [("P1", "CUS-000740", "INV-0000002", "60.00", "amount"),
                                                 ("P2", "CUS-000740", "INV-0000001", "40.00", "reference")]


def test_an_unknown_payer_is_placed_only_where_the_number_is_unambiguous():
    inv = invoices(("INV-0000001", "C1", "40.00"), ("INV-0000123", "C1", "10.00"), ("INV-0000123", "C2", "20.00"))
    pay = payments(("P1", "X-9", "40.00", None, "INV-0000001"), ("P2", "X-9", "10.00", None, "INV-0000123"),
                   ("P3", "X-9", "40.00", None, "bank transfer"), ("P4", "X-9", "40.00", "INV-0000001", None))
    assert applied(inv, pay, ["C1", "C2"]) == [("P1", "C1", "INV-0000001", "40.00", "reference"),
                                               ("P4", "C1", "INV-0000001", "40.00", "invoice_id")]


def test_a_known_customer_with_a_retyped_twin_is_not_guessed():
    # CUS-5 and CUS-005 both exist: a payment from CUS-0005 cannot say whose it is
    inv = invoices(("INV-0000001", "CUS-5", "40.00"), ("INV-0000002", "CUS-005", "40.00"))
    assert applied(inv, payments(("P1", "CUS-0005", "40.00", None, None))) == []


# --- property-based: one number written in many ways, among decoys --------------------------------------------

PREFIXES = ["INV-", "INV", "inv-", "inv ", "Inv. ", "INV ", "INV/", "INV#", "Invoice ", "invoice no ",
            "Invoice no. ", "Invoice No: ", "Invoice #", "Invoice nr ", "Rechnung ", "Rechnung Nr. ",
            "Facture n° ", "Factura "]
BEFORE = ["", "Payment ", "REF ", "Überweisung ", "Zahlung für ", "thank you - ", "C-00012 ", "CUS-000048/",
          "Paid 2024-03-05: ", "EUR 123.45 for ", "05.03.2024 "]
AFTER = ["", ", thank you", "/CUS-000048", " C-00012", " on 2024-03-05", " EUR 123.45", "; 123,45 EUR", " (3)",
         ", Rechnung", " / thanks"]
DECOYS = [3, 5, 12, 45, 48, 123, 2024]   # numbers that also stand in the texts around the invoice number


def written(number: int, prefix: str, padded: bool, case: str) -> str:
    text = prefix + (f"{number:07d}" if padded else str(number))
    return {"as is": text, "upper": text.upper(), "lower": text.lower()}[case]


number_st = st.integers(1, 9_999_999).filter(lambda n: n not in DECOYS)
writing_st = st.tuples(st.sampled_from(PREFIXES), st.booleans(), st.sampled_from(["as is", "upper", "lower"]))


def _setting(numbers: list[int], other_customer_has_them: bool) -> pl.DataFrame:
    rows = [(f"INV-{n:07d}", "C-00048", f"{n % 900 + 10}.00") for n in numbers]
    rows += [(f"INV-{n:07d}", "C-00048", "1.00") for n in DECOYS]
    if other_customer_has_them:  # the same numbers repeated for another customer
        rows += [(f"INV-{n:07d}", "C-00049", f"{n % 900 + 10}.00") for n in numbers]
    return invoices(*rows)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(number=number_st, writing=writing_st, before=st.sampled_from(BEFORE), after=st.sampled_from(AFTER),
       repeated=st.booleans())
def test_any_writing_of_a_number_finds_its_invoice(number, writing, before, after, repeated):
    reference = before + written(number, *writing) + after
    pay = payments(("P1", "C-00048", "0.01", None, reference))  # an amount no invoice owes: the text decides
    got = applied(_setting([number], repeated), pay)
    assert got == [("P1", "C-00048", f"INV-{number:07d}", "0.01", "reference")], reference


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(numbers=st.lists(number_st, min_size=2, max_size=4, unique=True), writing=writing_st,
       separator=st.sampled_from([", ", ";", "/", " / ", " and ", " & ", " "]), before=st.sampled_from(BEFORE))
def test_several_numbers_in_one_text_find_each_invoice(numbers, writing, separator, before):
    reference = before + separator.join(written(n, *writing) for n in numbers)
    total = sum(n % 900 + 10 for n in numbers)
    got = applied(_setting(numbers, False), payments(("P1", "C-00048", f"{total}.00", None, reference)))
    assert sorted(r[2] for r in got) == sorted(f"INV-{n:07d}" for n in numbers), reference
    assert sum(Decimal(r[3]) for r in got) == total
    assert all(Decimal(r[3]) == n % 900 + 10 for r, n in zip(got, sorted(numbers), strict=True))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(number=number_st, writing=writing_st, before=st.sampled_from(BEFORE), after=st.sampled_from(AFTER),
       padding=st.integers(0, 4), case=st.sampled_from(["upper", "lower"]), separator=st.sampled_from(["-", " ", ""]))
def test_a_payer_retyping_its_customer_id_still_finds_its_invoice(number, writing, before, after, padding, case,
                                                                  separator):
    payer = "C" + separator + "0" * padding + "48"
    payer = payer.upper() if case == "upper" else payer.lower()
    reference = before + written(number, *writing) + after
    got = applied(_setting([number], True), payments(("P1", payer, "0.01", None, reference)), ["C-00048", "C-00049"])
    assert got == [("P1", "C-00048", f"INV-{number:07d}", "0.01", "reference")], (payer, reference)
