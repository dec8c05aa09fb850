"""An invoice is its number and its customer, and one root cause gives one finding: hand-written datasets
(not made by `billing synth`), under both polars engines, read from CSV and from Parquet.

Two customers, each billed for January; both invoices carry the number INV-0000001 (a mistake of its own,
`invoice_number_gap`). Each is paid, one payment naming the invoice in its `invoice_id` column, the other
only in its bank reference; the ledger posts both invoices under the one number, as it must. The invoices
are issued on the last day of the month, so the ledger's balances at its end hold them.
"""
from __future__ import annotations

import polars as pl
import pytest
from helpers import edited, engine_dataset, write_dataset

from billing_lib.data.loading import load_dataset
from billing_lib.verification import verify

pytestmark = pytest.mark.usefixtures("each_engine")

CUSTOMERS = """
    customer_id,name,email,country,currency,payment_terms_days,tax_exempt
    C1,Acme GmbH,a@acme.example,DE,EUR,30,false
    C2,"Bäckerei ""Zur Post"" GmbH",b@post.example,DE,EUR,30,false
"""
SUBS = """
    subscription_id,customer_id,plan_id,quantity,start_date,end_date,discount_pct,unit_price_override
    S1,C1,SEAT,3,2024-01-01,,,
    S2,C2,SEAT,2,2024-01-01,,,
"""
INVOICES = """
    invoice_id,customer_id,currency,issue_date,due_date,period_start,period_end,subtotal,discount,tax,total,status
    INV-0000001,C1,EUR,2024-01-31,2024-03-01,2024-01-01,2024-01-31,30.00,0.00,5.70,35.70,paid
    INV-0000001,C2,EUR,2024-01-31,2024-03-01,2024-01-01,2024-01-31,20.00,0.00,3.80,23.80,paid
"""
# both invoices number their line 1
LINES = """
    invoice_id,line_no,subscription_id,plan_id,description,period_start,period_end,quantity,unit_price,amount,discount,tax_rate_pct,tax_amount
    INV-0000001,1,S1,SEAT,Seats,2024-01-01,2024-01-31,3,10.00,30.00,0.00,19,5.70
    INV-0000001,1,S2,SEAT,Seats,2024-01-01,2024-01-31,2,10.00,20.00,0.00,19,3.80
"""
PAYMENTS = """
    payment_id,customer_id,currency,amount,received_date,invoice_id,reference
    PAY-1,C1,EUR,35.70,2024-02-10,INV-0000001,
    PAY-2,C2,EUR,23.80,2024-02-12,,"Rechnung INV-0000001, danke"
"""
GL = """
    entry_id,line_no,date,account,debit,credit,currency,source_type,source_id
    JE-1,1,2024-01-31,1100,35.70,,EUR,invoice,INV-0000001
    JE-1,2,2024-01-31,4000,,30.00,EUR,invoice,INV-0000001
    JE-1,3,2024-01-31,2200,,5.70,EUR,invoice,INV-0000001
    JE-2,1,2024-01-31,1100,23.80,,EUR,invoice,INV-0000001
    JE-2,2,2024-01-31,4000,,20.00,EUR,invoice,INV-0000001
    JE-2,3,2024-01-31,2200,,3.80,EUR,invoice,INV-0000001
    JE-3,1,2024-02-10,1000,35.70,,EUR,payment,PAY-1
    JE-3,2,2024-02-10,1100,,35.70,EUR,payment,PAY-1
    JE-4,1,2024-02-12,1000,23.80,,EUR,payment,PAY-2
    JE-4,2,2024-02-12,1100,,23.80,EUR,payment,PAY-2
"""
FORMATS = ["csv", "text parquet", "typed parquet"]


@pytest.fixture(params=FORMATS)
def fmt(request):
    return request.param


def _as(folder, fmt: str):
    """The dataset in ``folder`` (CSV) as ``fmt``: CSV, Parquet of text columns, or Parquet of typed columns."""
    if fmt == "csv":
        return folder
    out = folder.parent / fmt.replace(" ", "-")
    out.mkdir()
    if fmt == "text parquet":
        for csv in folder.glob("*.csv"):
            pl.read_csv(csv, infer_schema=False).write_parquet(out / f"{csv.stem}.parquet")
    else:
        for name, table in load_dataset(folder).tables.items():
            table.drop("_row").write_parquet(out / f"{name}.parquet")
    return out


def _findings(tmp_path, fmt="csv", replace=(), add=None) -> pl.DataFrame:
    tables = edited(dict(customers=CUSTOMERS, subscriptions=SUBS, invoices=INVOICES, invoice_lines=LINES,
                         payments=PAYMENTS, gl_entries=GL), replace, add)
    folder = _as(write_dataset(tmp_path / "data", **tables), fmt)
    return verify(engine_dataset(load_dataset(folder))).exceptions


def _checks(found: pl.DataFrame) -> list[tuple]:
    return found.select("check", "customer_id", "invoice_id", "payment_id").rows()


def test_a_number_two_customers_carry_is_one_finding_and_two_whole_invoices(tmp_path, fmt):
    found = _findings(tmp_path, fmt)
    assert _checks(found) == [("invoice_number_gap", None, "INV-0000001", None)], \
        found.select("check", "message").to_dicts()
    assert found["message"][0] == "Invoice number INV-0000001 is used 2 times (customers C1, C2); each number " \
                                  "must be used once."


def test_each_invoice_of_a_repeated_number_is_checked_against_its_own_lines(tmp_path):
    # C2's header is wrong; C1's lines must not make it look right or wrong
    found = _findings(tmp_path, replace=[("invoices", "20.00,0.00,3.80,23.80", "20.00,0.00,3.80,25.80")],
                      add={"payments": "PAY-3,C2,EUR,2.00,2024-02-13,INV-0000001,"})
    totals = found.filter(pl.col("check") == "invoice_totals")
    assert totals.select("customer_id", "invoice_id", "expected", "actual").rows() == [
        ("C2", "INV-0000001", "23.80", "25.80")]


def test_a_line_without_a_subscription_goes_to_the_numbers_first_invoice(tmp_path):
    line = "INV-0000001,2,,,Setup fee,2024-01-01,2024-01-31,1,5.00,5.00,0.00,19,0.95"
    found = _findings(tmp_path, add={"invoice_lines": line})
    totals = found.filter(pl.col("check") == "invoice_totals")
    assert set(totals["customer_id"]) == {"C1"}, totals.select("customer_id", "message").to_dicts()


def test_a_line_billed_twice_on_a_repeated_number_is_one_duplicate_of_its_customer(tmp_path):
    line = "INV-0000001,2,S2,SEAT,Seats,2024-01-01,2024-01-31,2,10.00,20.00,0.00,19,3.80"
    found = _findings(tmp_path, replace=[("invoices", "20.00,0.00,3.80,23.80", "40.00,0.00,7.60,47.60")],
                      add={"invoice_lines": line, "payments": "PAY-3,C2,EUR,23.80,2024-02-13,INV-0000001,"})
    dup = found.filter(pl.col("check") == "duplicate_charge")
    assert dup.select("customer_id", "invoice_id", "line_no").rows() == [("C2", "INV-0000001", 2)]
    assert "invoice_totals" not in found["check"].to_list()


# C2's invoice gets its own number; JE-2 posts it
OWN_NUMBER = [("invoices", "INV-0000001,C2,EUR", "INV-0000002,C2,EUR"),
              ("invoice_lines", "INV-0000001,1,S2", "INV-0000002,1,S2"),
              ("payments", "Rechnung INV-0000001", "Rechnung INV-0000002")]


def _je2(currency: str) -> list[tuple[str, str, str]]:
    return [("gl_entries", f"JE-2,{n},2024-01-31,{acct},{dr},{cr},EUR,invoice,INV-0000001",
             f"JE-2,{n},2024-01-31,{acct},{dr},{cr},{currency},invoice,INV-0000002")
            for n, acct, dr, cr in ((1, "1100", "23.80", ""), (2, "4000", "", "20.00"), (3, "2200", "", "3.80"))]


def test_distinct_numbers_are_clean(tmp_path):
    found = _findings(tmp_path, replace=OWN_NUMBER + _je2("EUR"))
    assert found.height == 0, found.select("check", "message").to_dicts()


def test_an_invoice_in_another_currency_posted_in_the_customers_is_one_finding(tmp_path, fmt):
    # the invoice says USD, the customer is billed in EUR, and the ledger posted it in EUR: the currency is the
    # one mistake; the ledger's documents and balances are not reported a second time
    found = _findings(tmp_path, fmt, replace=OWN_NUMBER + _je2("EUR")
                      + [("invoices", "INV-0000002,C2,EUR", "INV-0000002,C2,USD")])
    assert _checks(found) == [("currency_mismatch", "C2", "INV-0000002", None)], \
        found.select("check", "message").to_dicts()


def test_an_invoice_posted_in_a_third_currency_is_a_ledger_finding_on_the_document_only(tmp_path):
    found = _findings(tmp_path, replace=OWN_NUMBER + _je2("GBP")
                      + [("invoices", "INV-0000002,C2,EUR", "INV-0000002,C2,USD")])
    assert _checks(found) == [("currency_mismatch", "C2", "INV-0000002", None),
                              ("gl_mismatch", "C2", "INV-0000002", None)], found.select("check", "message").to_dicts()
    row = found.filter(pl.col("check") == "gl_mismatch").row(0, named=True)
    assert row["currency"] == "USD"
    assert row["expected"] == "1100 Dr 23.80; 2200 Cr 3.80; 4000 Cr 20.00"
    assert row["actual"] == "1100 Dr 0.00; 1100 Dr 23.80 GBP; 2200 Dr 0.00; 2200 Cr 3.80 GBP; 4000 Dr 0.00; " \
                            "4000 Cr 20.00 GBP"


def test_an_invoice_posted_in_another_currency_than_its_own_and_its_customers_is_a_ledger_finding(tmp_path):
    found = _findings(tmp_path, replace=OWN_NUMBER + _je2("USD"))
    assert _checks(found) == [("gl_mismatch", "C2", "INV-0000002", None)], found.select("check", "message").to_dicts()
    assert found["message"][0] == (
        "Invoice INV-0000002 (total 23.80 EUR) is posted as 1100 Dr 0.00; 1100 Dr 23.80 USD; 2200 Dr 0.00; "
        "2200 Cr 3.80 USD; 4000 Dr 0.00; 4000 Cr 20.00 USD, but its figures give 1100 Dr 23.80; 2200 Cr 3.80; "
        "4000 Cr 20.00.")


def test_ledger_entries_of_an_unknown_document_are_one_finding_not_also_a_balance(tmp_path):
    ghost = """
        JE-9,1,2024-01-20,1100,50.00,,EUR,invoice,INV-0009999
        JE-9,2,2024-01-20,4000,,50.00,EUR,invoice,INV-0009999
    """
    found = _findings(tmp_path, replace=OWN_NUMBER + _je2("EUR"), add={"gl_entries": ghost})
    assert found.select("check", "actual").rows() == [("gl_mismatch", "INV-0009999")], \
        found.select("check", "message").to_dicts()


def test_a_manual_entry_is_the_one_balance_finding(tmp_path):
    manual = """
        JE-9,1,2024-01-20,1000,50.00,,EUR,manual,ADJ-1
        JE-9,2,2024-01-20,4000,,50.00,EUR,manual,ADJ-1
    """
    found = _findings(tmp_path, replace=OWN_NUMBER + _je2("EUR"), add={"gl_entries": manual})
    assert found.filter(pl.col("check") == "gl_mismatch")["message"].str.starts_with("On 2024-01-31").all()
    assert found.height == 2, found.select("check", "message").to_dicts()  # cash and revenue


def test_each_ledger_finding_is_explained_for_what_it_is(tmp_path):
    from billing_lib.checks import REGISTRY
    from billing_lib.checks.context import CheckContext
    from billing_lib.checks.evidence import Evidence

    rows = """
        JE-9,1,2024-01-20,1100,50.00,,EUR,invoice,INV-0009999
        JE-9,2,2024-01-20,4000,,50.00,EUR,invoice,INV-0009999
        JE-10,1,2024-01-20,1000,7.00,,EUR,manual,ADJ-1
        JE-10,2,2024-01-20,4000,,7.00,EUR,manual,ADJ-1
    """
    found = _findings(tmp_path, replace=OWN_NUMBER + _je2("USD"), add={"gl_entries": rows})
    evidence = Evidence(CheckContext(load_dataset(tmp_path / "data")))
    plain = sorted(REGISTRY["gl_mismatch"].explanation(f, evidence).plain for f in found.iter_rows(named=True))
    assert plain == ["A ledger balance at the end of the period does not tie to the billing records."] * 2 + [
        "The general ledger does not show this document as the billing records do.",
        "The general ledger posts a document the billing records do not hold."]


# C2 pays on the day of issue, so the payment is in the verified month
PAID_IN_JANUARY = [("payments", "PAY-2,C2,EUR,23.80,2024-02-12", "PAY-2,C2,EUR,23.80,2024-01-31"),
                   ("gl_entries", "JE-4,1,2024-02-12", "JE-4,1,2024-01-31"),
                   ("gl_entries", "JE-4,2,2024-02-12", "JE-4,2,2024-01-31")]
UNKNOWN_PAYER = [("payments", '2024-01-31,,"Rechnung INV-0000002, danke"', "2024-01-31,,Bank transfer"),
                 ("payments", "PAY-2,C2,", "PAY-2,C-GONE,")]


def test_a_payment_of_an_unknown_customer_is_its_orphan_reference_only(tmp_path):
    # the cash application cannot place it (no customer, no invoice named): it is not also unapplied, and the
    # invoice it paid is not also a status_mismatch
    found = _findings(tmp_path, replace=OWN_NUMBER + _je2("EUR") + PAID_IN_JANUARY + UNKNOWN_PAYER)
    assert found.select("check", "customer_id", "payment_id", "detail" if "detail" in found.columns else "expected"
                        ).rows() == [("orphan_reference", "C-GONE", "PAY-2", "an existing customer_id")], \
        found.select("check", "message").to_dicts()


def test_the_invoice_an_unknown_customers_payment_does_not_match_stays_a_status_mismatch(tmp_path):
    found = _findings(tmp_path, replace=OWN_NUMBER + _je2("EUR") + PAID_IN_JANUARY + UNKNOWN_PAYER
                      + [("payments", "PAY-2,C-GONE,EUR,23.80", "PAY-2,C-GONE,EUR,20.00"),
                         ("gl_entries", "JE-4,1,2024-01-31,1000,23.80", "JE-4,1,2024-01-31,1000,20.00"),
                         ("gl_entries", "JE-4,2,2024-01-31,1100,,23.80", "JE-4,2,2024-01-31,1100,,20.00")])
    assert sorted(found["check"].to_list()) == ["orphan_reference", "status_mismatch"], \
        found.select("check", "message").to_dicts()


def test_a_sharded_run_hands_the_whole_cash_application_to_each_shard(tmp_path):
    from billing_lib.verification import verify_sharded
    tables = edited(dict(customers=CUSTOMERS, subscriptions=SUBS, invoices=INVOICES, invoice_lines=LINES,
                         payments=PAYMENTS, gl_entries=GL), OWN_NUMBER + _je2("EUR") + PAID_IN_JANUARY
                    + [("payments", "PAY-2,C2,", "PAY-2,C-GONE,")])  # an unknown payer naming its invoice
    ds = load_dataset(write_dataset(tmp_path / "data", **tables))
    whole = verify(ds).exceptions
    assert verify_sharded(ds, 3).exceptions.equals(whole)


def test_credit_notes_above_an_open_invoice_are_one_finding(tmp_path):
    # C2 has not paid; a credit note of 25.00 on its 20.00 (net) invoice leaves it owing nothing while it is open:
    # the excess is the finding, the open status its consequence
    note = "CN-1,INV-0000002,2024-01-31,25.00,0.00,Goodwill"
    gl = """
        JE-5,1,2024-01-31,4000,25.00,,EUR,credit_note,CN-1
        JE-5,2,2024-01-31,1100,,25.00,EUR,credit_note,CN-1
    """
    found = _findings(tmp_path, replace=OWN_NUMBER + _je2("EUR") + [
        ("invoices", "20.00,0.00,3.80,23.80,paid", "20.00,0.00,3.80,23.80,open"),
        ("payments", 'PAY-2,C2,EUR,23.80,2024-02-12,,"Rechnung INV-0000002, danke"\n', ""),
        ("gl_entries", "JE-4,1,2024-02-12,1000,23.80,,EUR,payment,PAY-2\n", ""),
        ("gl_entries", "JE-4,2,2024-02-12,1100,,23.80,EUR,payment,PAY-2\n", "")],
        add={"credit_notes": "credit_note_id,invoice_id,issue_date,amount,tax,reason\n" + note, "gl_entries": gl})
    assert _checks(found) == [("credit_note_excess", "C2", "INV-0000002", None)], \
        found.select("check", "message").to_dicts()
