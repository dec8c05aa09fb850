"""A second opinion on the checks: hand-written mutations of the bundled sample, each with the findings it must
raise, written from the data contract (shared/contract/DATA_CONTRACT.md) alone and not by ``billing synth``.

The sample already holds planted mistakes (its ``ground_truth.csv``); a case changes a few rows of customers,
invoices and payments that those mistakes do not touch, as a billing system or a bank would write them (a
payment is posted Dr 1000 / Cr 1100, a credit note Dr 4000 + Dr 2200 / Cr 1100, an invoice Dr 1100 /
Cr 4000 + Cr 2200), and says which findings the change must add to those of the unchanged sample: none
for a legitimate hard case, exactly the planted one for a mistake.

Cases are data: ``Case(name, edits, expected, xfail)``. ``expected`` holds ``(check, {key: value})``; a
finding matches when its check and those keys agree. ``xfail`` maps a family (``PAYMENTS``, ``LEDGER`` or
``INVOICES``) to the reason a current check gets it wrong, when the fault lies in check logic rather than
in the cash application.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
PAYMENT_CHECKS = ("unapplied_payment", "payment_mismatch", "status_mismatch", "orphan_reference",
                  "credit_note_excess")
PAYMENTS = "payments"        # the settlement checks and orphan_reference
LEDGER = "ledger"            # gl_mismatch
INVOICES = "invoices"        # every other check
FAMILIES = (PAYMENTS, LEDGER, INVOICES)
FORMATS = ("csv", "parquet-text", "parquet-typed")

Tables = dict[str, pl.DataFrame]
Edit = Callable[[Tables], None]


@dataclass(frozen=True)
class Case:
    name: str
    edits: tuple[Edit, ...]
    expected: tuple[tuple[str, dict], ...] = ()
    xfail: dict[str, str] = field(default_factory=dict)


def family(check: str) -> str:
    if check == "gl_mismatch":
        return LEDGER
    return PAYMENTS if check in PAYMENT_CHECKS else INVOICES


# --- edits on the tables as text ---------------------------------------------------------------------------

def _where(frame: pl.DataFrame, where: dict) -> pl.Expr:
    mask = pl.lit(True)
    for column, value in where.items():
        mask = mask & (pl.col(column) == value)
    return mask


def update(table: str, where: dict, **values: str | None) -> Edit:
    """Set ``values`` on the one row of ``table`` that ``where`` picks."""
    def edit(t: Tables) -> None:
        mask = _where(t[table], where)
        assert t[table].filter(mask).height == 1, (table, where)
        t[table] = t[table].with_columns(pl.when(mask).then(pl.lit(v, pl.String)).otherwise(pl.col(c)).alias(c)
                                         for c, v in values.items())
    return edit


def insert(table: str, *rows: dict) -> Edit:
    def edit(t: Tables) -> None:
        new = pl.DataFrame([{c: r.get(c) for c in t[table].columns} for r in rows], schema=t[table].schema)
        t[table] = pl.concat([t[table], new])
    return edit


def delete(table: str, where: dict, rows: int = 1) -> Edit:
    def edit(t: Tables) -> None:
        mask = _where(t[table], where)
        assert t[table].filter(mask).height == rows, (table, where)
        t[table] = t[table].filter(~mask)
    return edit


def posting(entry: str, date: str, currency: str, source_type: str, source_id: str,
            *lines: tuple[str, str | None, str | None]) -> Edit:
    """A journal entry: lines of (account, debit, credit)."""
    return insert("gl_entries", *({"entry_id": entry, "line_no": str(i), "date": date, "account": account,
                                   "debit": debit, "credit": credit, "currency": currency,
                                   "source_type": source_type, "source_id": source_id}
                                  for i, (account, debit, credit) in enumerate(lines, 1)))


def new_payment(payment_id: str, customer_id: str, currency: str, amount: str, date: str,
                invoice_id: str | None, reference: str | None) -> tuple[Edit, ...]:
    """A payment and its posting (Dr 1000 cash, Cr 1100 receivables)."""
    return (insert("payments", {"payment_id": payment_id, "customer_id": customer_id, "currency": currency,
                                "amount": amount, "received_date": date, "invoice_id": invoice_id,
                                "reference": reference}),
            posting(f"JE-{payment_id}", date, currency, "payment", payment_id,
                    ("1000", amount, None), ("1100", None, amount)))


def payment_amount(payment_id: str, amount: str, date: str | None = None) -> tuple[Edit, ...]:
    """Another amount (and day) for a payment, in the payments table and in its posting."""
    day = {} if date is None else {"received_date": date}
    gl_day = {} if date is None else {"date": date}
    return (update("payments", {"payment_id": payment_id}, amount=amount, **day),
            update("gl_entries", {"source_id": payment_id, "account": "1000"}, debit=amount, **gl_day),
            update("gl_entries", {"source_id": payment_id, "account": "1100"}, credit=amount, **gl_day))


def drop_payment(payment_id: str) -> tuple[Edit, ...]:
    return (delete("payments", {"payment_id": payment_id}),
            delete("gl_entries", {"source_id": payment_id, "source_type": "payment"}, rows=2))


def reference_only(payment_id: str, reference: str) -> Edit:
    """The payer named no invoice; the bank passed on ``reference``."""
    return update("payments", {"payment_id": payment_id}, invoice_id=None, reference=reference)


def new_customer_invoice(customer_id: str, subscription_id: str, invoice_id: str, seats: str, discount_pct: str,
                         amount: str, discount: str, tax: str, total: str, status: str) -> tuple[Edit, ...]:
    """A German EUR customer buying SEAT-M (12.00 a seat) from 2024-06-01, its June invoice (issued
    2024-07-01, 30 days) and the invoice's posting."""
    net = f"{float(amount) - float(discount):.2f}"
    lines = [("1100", total, None), ("4000", None, net), ("2200", None, tax)]
    return (insert("customers", {"customer_id": customer_id, "name": f"Second Opinion {customer_id} Ltd",
                                 "email": None, "country": "DE", "currency": "EUR", "payment_terms_days": "30",
                                 "tax_exempt": "false"}),
            insert("subscriptions", {"subscription_id": subscription_id, "customer_id": customer_id,
                                     "plan_id": "SEAT-M", "quantity": seats, "start_date": "2024-06-01",
                                     "end_date": None, "discount_pct": discount_pct, "unit_price_override": None}),
            insert("invoices", {"invoice_id": invoice_id, "customer_id": customer_id, "currency": "EUR",
                                "issue_date": "2024-07-01", "due_date": "2024-07-31", "period_start": "2024-06-01",
                                "period_end": "2024-06-30", "subtotal": amount, "discount": discount, "tax": tax,
                                "total": total, "status": status}),
            insert("invoice_lines", {"invoice_id": invoice_id, "line_no": "1", "subscription_id": subscription_id,
                                     "plan_id": "SEAT-M", "description": "Team seats, June 2024",
                                     "period_start": "2024-06-01", "period_end": "2024-06-30", "quantity": seats,
                                     "unit_price": "12.00", "amount": amount, "discount": discount,
                                     "tax_rate_pct": "20", "tax_amount": tax}),
            posting(f"JE-{invoice_id}-{customer_id}", "2024-07-01", "EUR", "invoice", invoice_id,
                    *[line for line in lines if float(line[1] or line[2]) != 0]))


# --- the cases ----------------------------------------------------------------------------------------------

CASES = [
    # legitimate hard cases: no finding
    Case("instalments_that_add_up", (
        *payment_amount("PAY-0000014", "20.00"),
        *new_payment("PAY-9000001", "C-00001", "EUR", "11.49", "2024-02-25", None, "Rest INV-0000001, thanks"),
        *payment_amount("PAY-0000066", "600.00"),
        *new_payment("PAY-9000002", "C-00001", "EUR", "500.00", "2024-04-20", "INV-0000027", "2nd instalment"),
        *new_payment("PAY-9000003", "C-00001", "EUR", "98.33", "2024-04-27", "INV-0000027", "3rd instalment"))),
    Case("references_only_in_text", (
        reference_only("PAY-0000125", "inv. 91, part payment"),
        reference_only("PAY-0000102", "Rechnung Nr. 92 (1/2)"),
        reference_only("PAY-0000112", "INV-0000092/C-00002 2nd instalment"),
        reference_only("PAY-0000053", "invoice no 0000062"),
        reference_only("PAY-0000081", "rest of INV 62 paid 2024-05-07"),
        reference_only("PAY-0000076", "Zahlung INV-78"),
        reference_only("PAY-0000120", "Payment 0000146"),
        reference_only("PAY-0000139", "inv#146 EUR 39.09"))),
    Case("reference_with_dates_and_customer_number_paid_by_amount", (
        reference_only("PAY-0000106", "Monthly payment C-00026 2024-05"),
        reference_only("PAY-0000110", "C-00002 / 03.06.2024"))),
    Case("one_payment_for_two_invoices_named_in_text", (
        *payment_amount("PAY-0000066", "1251.95", "2024-05-19"),
        reference_only("PAY-0000066", "INV-0000027, INV-0000058"),
        *drop_payment("PAY-0000097"))),
    Case("one_payment_for_two_invoices_by_their_sum", (
        *payment_amount("PAY-0000123", "179.91"),
        reference_only("PAY-0000123", "Bank transfer"),
        *drop_payment("PAY-0000038"))),
    Case("partial_payment_on_an_open_invoice", (
        *payment_amount("PAY-0000121", "50.00"),
        update("invoices", {"invoice_id": "INV-0000127"}, status="open"))),
    Case("zero_total_invoice", new_customer_invoice("C-00041", "S-9000041", "INV-0000193", "1", "100", "12.00",
                                                    "12.00", "0.00", "0.00", "paid")),
    Case("repeated_number_paid_by_each_customer", (
        *new_customer_invoice("C-00042", "S-9000042", "INV-0000160", "2", "", "24.00", "0.00", "4.80", "28.80",
                              "paid"),
        *new_payment("PAY-9000042", "C-00042", "EUR", "28.80", "2024-07-10", None, "INV-0000160")),
         expected=(("invoice_number_gap", {"invoice_id": "INV-0000160"}),)),

    # planted mistakes: exactly the finding named
    Case("payment_matching_no_invoice", new_payment("PAY-9000020", "C-00026", "JPY", "1234", "2024-05-10", None,
                                                    "Bank transfer"),
         expected=(("unapplied_payment", {"payment_id": "PAY-9000020"}),)),
    Case("payment_naming_another_customers_invoice", new_payment("PAY-9000021", "C-00026", "JPY", "7650",
                                                                 "2024-05-12", None, "INV-0000002"),
         expected=(("unapplied_payment", {"payment_id": "PAY-9000021"}),)),
    Case("payment_recorded_twice", new_payment("PAY-9000022", "C-00026", "JPY", "8242", "2024-05-28",
                                               "INV-0000114", "INV-0000114"),
         expected=(("payment_mismatch", {"payment_id": "PAY-9000022"}),)),
    Case("invoice_overpaid", payment_amount("PAY-0000110", "17000"),
         expected=(("payment_mismatch", {"invoice_id": "INV-0000128"}),)),
    Case("paid_invoice_left_open", (update("invoices", {"invoice_id": "INV-0000058"}, status="open"),),
         expected=(("status_mismatch", {"invoice_id": "INV-0000058", "expected": "paid"}),)),
    Case("open_invoice_marked_paid", (update("invoices", {"invoice_id": "INV-0000091"}, status="paid"),),
         expected=(("status_mismatch", {"invoice_id": "INV-0000091", "expected": "open"}),)),
    Case("zero_total_invoice_left_open", new_customer_invoice("C-00041", "S-9000041", "INV-0000193", "1", "100",
                                                              "12.00", "12.00", "0.00", "0.00", "open"),
         expected=(("status_mismatch", {"invoice_id": "INV-0000193", "expected": "paid"}),)),
    Case("payment_from_a_retyped_customer_id", (update("payments", {"payment_id": "PAY-0000123"},
                                                       customer_id="C-000005"),),
         expected=(("orphan_reference", {"payment_id": "PAY-0000123", "invoice_id": "INV-0000131"}),)),
    Case("payment_from_an_unknown_customer_naming_its_invoice", (
        update("payments", {"payment_id": "PAY-0000066"}, customer_id="CUS-740", invoice_id=None,
               reference="INV-0000027/CUS-000740"),),
         expected=(("orphan_reference", {"payment_id": "PAY-0000066", "invoice_id": "INV-0000027"}),)),
    Case("payment_naming_an_invoice_that_does_not_exist", (
        update("payments", {"payment_id": "PAY-0000097"}, invoice_id="INV-0009999"),),
         expected=(("orphan_reference", {"payment_id": "PAY-0000097"}),)),
    Case("payment_from_an_unknown_customer_naming_nothing", (
        update("payments", {"payment_id": "PAY-0000097"}, customer_id="CUS-999", invoice_id=None,
               reference="Bank transfer"),),
         expected=(("orphan_reference", {"payment_id": "PAY-0000097"}),)),
    Case("payment_from_an_unknown_customer_after_the_verified_months", (
        update("payments", {"payment_id": "PAY-0000177"}, customer_id="CUS-741"),),
         expected=(("orphan_reference", {"payment_id": "PAY-0000177"}),)),
    Case("credit_note_above_the_invoice_net", (
        insert("credit_notes", {"credit_note_id": "CN-900001", "invoice_id": "INV-0000030",
                                "issue_date": "2024-03-20", "amount": "110.00", "tax": "0.00",
                                "reason": "Goodwill"}),
        posting("JE-CN-900001", "2024-03-20", "GBP", "credit_note", "CN-900001",
                ("4000", "110.00", None), ("1100", None, "110.00"))),
         expected=(("credit_note_excess", {"invoice_id": "INV-0000030"}),)),
    Case("credit_note_above_the_invoice_total", (
        insert("credit_notes", {"credit_note_id": "CN-900002", "invoice_id": "INV-0000046",
                                "issue_date": "2024-03-20", "amount": "8000", "tax": "0", "reason": "Goodwill"}),
        posting("JE-CN-900002", "2024-03-20", "JPY", "credit_note", "CN-900002",
                ("4000", "8000", None), ("1100", None, "8000"))),
         expected=(("credit_note_excess", {"invoice_id": "INV-0000046"}),)),
    Case("payment_not_posted", (delete("gl_entries", {"source_id": "PAY-0000050"}, rows=2),),
         expected=(("gl_mismatch", {"payment_id": "PAY-0000050"}),)),
    Case("invoice_posted_with_other_amounts", (
        update("gl_entries", {"source_id": "INV-0000058", "account": "1100"}, debit="63.62"),
        update("gl_entries", {"source_id": "INV-0000058", "account": "4000"}, credit="54.68")),
         expected=(("gl_mismatch", {"invoice_id": "INV-0000058"}),)),
]


# --- datasets and findings ----------------------------------------------------------------------------------

def sample_tables() -> Tables:
    return {p.stem: pl.read_csv(p, infer_schema=False) for p in sorted(SAMPLE.glob("*.csv"))
            if p.stem != "ground_truth"}


def write(tables: Tables, folder: Path, fmt: str) -> Path:
    """The tables as CSV, as Parquet with text columns, or as Parquet with the contract's types."""
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet-typed":
        from billing_lib.data.dataset import ROW
        from billing_lib.data.loading import load_dataset
        ds = load_dataset(write(tables, folder.with_name(folder.name + "-csv"), "csv"))
        for name, frame in ds.tables.items():
            frame.drop(ROW).write_parquet(folder / f"{name}.parquet")
        return folder
    for name, frame in tables.items():
        if fmt == "csv":
            frame.write_csv(folder / f"{name}.csv")
        else:
            frame.write_parquet(folder / f"{name}.parquet")
    return folder


def findings(case: Case | None, folder: Path, fmt: str) -> pl.DataFrame:
    """Exceptions of ``billing verify`` on the sample changed by ``case`` (None: unchanged)."""
    from billing_lib.data.loading import load_dataset
    from billing_lib.verification import verify
    tables = sample_tables()
    for edit in case.edits if case else ():
        edit(tables)
    return verify(load_dataset(write(tables, folder, fmt))).exceptions


def matches(row: dict, expected: tuple[str, dict]) -> bool:
    check, keys = expected
    return row["check"] == check and all(row.get(k) == v for k, v in keys.items())


@dataclass(frozen=True)
class Outcome:
    """What a case changed in one family: findings added and gone, and the expectations not met."""

    unexpected: list[dict]     # new findings no expectation names (false alarms)
    missed: list[tuple]        # expectations no new finding meets
    gone: list[dict]           # findings of the unchanged sample that disappeared
    found: int                 # expectations met


def outcome(case: Case, baseline: pl.DataFrame, changed: pl.DataFrame, part: str) -> Outcome:
    cols = ["exception_id", "check", "customer_id", "invoice_id", "line_no", "payment_id", "expected", "message"]
    new = changed.join(baseline.select("exception_id"), on="exception_id", how="anti").select(cols)
    gone = baseline.join(changed.select("exception_id"), on="exception_id", how="anti").select(cols)
    new_rows = [r for r in new.to_dicts() if family(r["check"]) == part]
    wanted = [e for e in case.expected if family(e[0]) == part]
    return Outcome(unexpected=[r for r in new_rows if not any(matches(r, e) for e in wanted)],
                   missed=[e for e in wanted if not any(matches(r, e) for r in new_rows)],
                   gone=[r for r in gone.to_dicts() if family(r["check"]) == part],
                   found=sum(any(matches(r, e) for r in new_rows) for e in wanted))
