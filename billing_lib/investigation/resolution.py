"""The proposed correction of each finding, in money and in the ledger.

:func:`corrections` gives one row per document a finding calls for (a finding
may need two: an invoice in the wrong currency is credited in full and
re-issued in the customer's currency), signed as the change in what the
customer owes:

* a line billed otherwise than the contract says is re-billed as the rating
  engine rates it (the difference between the line and the expected charge,
  net and tax); a line billed twice or for an unknown subscription is credited
  in full; an unbilled charge gets an additional invoice;
* an invoice header that does not add up is corrected to the sum of its lines;
* credit notes beyond their invoice are reversed (the latest first, whole notes,
  until the invoice can bear the rest);
* a payment recorded twice is removed, an overpayment or a payment that
  matches nothing is refunded (or held on account);
* a ledger posting that differs from the document is corrected by an adjusting
  entry (no money towards the customer);
* status, due dates and number gaps are corrected without money.

Several findings on the same invoice line are corrected once: by a duplicate charge or an orphan
reference when there is one (the line is credited in full), else by the first.
Negative totals are credit notes (or money returned), positive ones additional
invoices (a ledger adjustment names its entry in ``ledger_adjustment``).
:func:`ledger_effect` posts the corrections table as the contract's Accounts
say, without computing it again; :func:`by_invoice` adds the corrections up to one document per
invoice and currency.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from billing_lib.checks.context import duplicate_copies
from billing_lib.checks.ledger_checks import ACCOUNT_NAMES, document_postings, ledger_lines
from billing_lib.core.currency import format_money, is_currency, quantize
from billing_lib.engine.ledger import invoice_rule, payment_rule
from billing_lib.engine.rating import charge_description
from billing_lib.investigation.subject import Investigation

ZERO = Decimal(0)
CORRECTION_COLUMNS = ["exception_id", "check", "customer_id", "invoice_id", "payment_id", "period", "currency",
                      "document", "net", "tax", "total", "deferred", "action", "ledger_adjustment"]
LEDGER_COLUMNS = ["exception_id", "document", "invoice_id", "payment_id", "currency", "account", "account_name",
                  "debit", "credit"]
CREDIT_IN_FULL = ("duplicate_charge", "orphan_reference")  # a line that should not exist: nothing to re-bill
LINE_CHECKS = ("line_arithmetic", "price_mismatch", "quantity_mismatch", "discount_mismatch", "tax_mismatch",
               "billed_outside_term")
NO_MONEY = {
    "status_mismatch": "set the invoice's status to match its balance",
    "date_inconsistency": "correct the due date to issue date + payment terms and tell the customer",
    "invoice_number_gap": "document the missing or repeated number (void record or explanation for the auditor)",
}


@dataclass
class _Row:
    exception_id: str
    check: str
    customer_id: str | None
    invoice_id: str | None
    payment_id: str | None
    period: str | None
    currency: str | None
    document: str
    net: Decimal = ZERO
    tax: Decimal = ZERO
    total: Decimal = ZERO
    deferred: Decimal = ZERO  # part of net on 2100 deferred revenue (year terms)
    action: str = ""
    ledger: tuple[tuple[str, Decimal], ...] = ()  # explicit (account, debit - credit) of ledger adjustments


def _d(value) -> Decimal:
    return ZERO if value is None else Decimal(value)


def _money(value: Decimal, currency: str | None) -> str:
    return f"{format_money(value, currency)} {currency}" if currency else f"{value:f}"


class _Books:
    """The investigation's documents indexed for one-by-one lookups."""

    def __init__(self, inv: Investigation):
        ds, ctx = inv.ds, inv.ctx
        self.lines = {(r["invoice_id"], r["line_no"]): r for r in ctx.lines.iter_rows(named=True)}
        charges = ctx.expected.with_columns(description=charge_description())
        self.expected = {(r["subscription_id"], r["period"]): r for r in charges.iter_rows(named=True)}
        invoices = ds.frame("invoices").unique("invoice_id", keep="first", maintain_order=True).collect()
        self.invoices = {r["invoice_id"]: r for r in invoices.iter_rows(named=True)}
        plans = ds.frame("plans").select("plan_id", "currency", "interval").collect()
        self.interval = {(r["plan_id"], r["currency"]): r["interval"] for r in plans.iter_rows(named=True)}
        all_lines = ds.frame("invoice_lines").collect()
        self.line_sums: dict[str, dict[str, Decimal]] = {}
        self.year_net: dict[str, Decimal] = {}
        for r in all_lines.iter_rows(named=True):
            s = self.line_sums.setdefault(r["invoice_id"], {"amount": ZERO, "discount": ZERO, "tax": ZERO})
            s["amount"] += _d(r["amount"])
            s["discount"] += _d(r["discount"])
            s["tax"] += _d(r["tax_amount"])
            head = self.invoices.get(r["invoice_id"])
            if head and self.interval.get((r["plan_id"], head["currency"])) == "year":
                self.year_net[r["invoice_id"]] = self.year_net.get(r["invoice_id"], ZERO) + \
                    _d(r["amount"]) - _d(r["discount"])
        payments = ds.frame("payments").collect()
        self.payments = {r["payment_id"]: r for r in payments.iter_rows(named=True)}
        self.copies = set(duplicate_copies(payments).select("payment_id").collect().to_series().to_list())
        self.notes: dict[str, list[dict]] = {}
        for r in ds.frame("credit_notes").sort("issue_date", "credit_note_id").collect().iter_rows(named=True):
            self.notes.setdefault(r["invoice_id"], []).append(r)
        self.applied: dict[str, Decimal] = {}  # paid per invoice, second records of a payment left out
        for r in ctx.applications.iter_rows(named=True):
            if r["payment_id"] not in self.copies:
                self.applied[r["invoice_id"]] = self.applied.get(r["invoice_id"], ZERO) + _d(r["applied"])
        self.ctx = ctx
        self._ledger_diff: dict | None = None

    def year_share(self, invoice_id: str, net: Decimal) -> Decimal:
        """The part of ``net`` (credited or re-billed on the whole invoice) that belongs on 2100 deferred
        revenue: the year-term lines' share of the invoice lines' net (the contract: a credit note posts
        Dr 2100 for a year-term invoice's share, Dr 4000 the rest)."""
        sums = self.line_sums.get(invoice_id)
        lines_net = sums["amount"] - sums["discount"] if sums else ZERO
        year = self.year_net.get(invoice_id, ZERO)
        if not lines_net or not year:
            return ZERO
        return net if year == lines_net else net * year / lines_net

    def is_year_term(self, line: dict) -> bool:
        return self.interval.get((line["plan_id"], line["currency"])) == "year"

    def ledger_diff(self) -> dict[tuple[str, str], dict[str, Decimal]]:
        """(source_type, source_id) -> account -> what the document should post minus what is posted."""
        if self._ledger_diff is None:
            key = ["source_type", "source_id", "account"]
            _, expected = document_postings(self.ctx)
            want = expected.group_by(key).agg(pl.col("amount").sum().alias("v"))
            got = ledger_lines(self.ctx).group_by(key).agg((-pl.col("amount")).sum().alias("v"))
            both = pl.concat([want, got]).group_by(key).agg(pl.col("v").sum()).filter(pl.col("v") != 0).collect()
            out: dict[tuple[str, str], dict[str, Decimal]] = {}
            for r in both.sort(key).iter_rows(named=True):
                out.setdefault((r["source_type"], r["source_id"]), {})[r["account"]] = r["v"]
            self._ledger_diff = out
        return self._ledger_diff


def _line_rebill(f: dict, b: _Books, line: dict) -> _Row:
    exp = b.expected.get((line["subscription_id"], line["period"]))
    cur = line["currency"]
    billed_net = _d(line["amount"]) - _d(line["discount"])
    billed_tax = _d(line["tax_amount"])
    if exp is None:
        net, tax = -billed_net, -billed_tax
        what = "no charge is due for these days: credit the line in full"
    else:
        net = _d(exp["amount"]) - _d(exp["discount"]) - billed_net
        tax = _d(exp["tax_amount"]) - billed_tax
        what = (f"re-bill line {line['line_no']} as the contract rates it: net "
                f"{_money(_d(exp['amount']) - _d(exp['discount']), cur)} and tax {_money(_d(exp['tax_amount']), cur)} "
                f"instead of {_money(billed_net, cur)} and {_money(billed_tax, cur)}")
    return _Row(f["exception_id"], f["check"], f["customer_id"], line["invoice_id"], None, f["period"], cur,
                "", net, tax, net + tax, net if b.is_year_term(line) else ZERO, what)


def _line_credit(f: dict, line: dict, b: _Books, why: str) -> _Row:
    net = -(_d(line["amount"]) - _d(line["discount"]))
    tax = -_d(line["tax_amount"])
    return _Row(f["exception_id"], f["check"], f["customer_id"], line["invoice_id"], None, f["period"],
                line["currency"], "", net, tax, net + tax, net if b.is_year_term(line) else ZERO,
                f"credit line {line['line_no']} in full ({why})")


def _unbilled(f: dict, b: _Books) -> _Row:
    exp = b.expected.get((f["subscription_id"], f["period"]))
    if exp is None:
        return _Row(f["exception_id"], f["check"], f["customer_id"], None, None, f["period"], f["currency"],
                    "no money", action="re-rate the month: the charge is no longer in the contract")
    net, tax = _d(exp["amount"]) - _d(exp["discount"]), _d(exp["tax_amount"])
    return _Row(f["exception_id"], f["check"], f["customer_id"], None, None, f["period"], exp["currency"], "",
                net, tax, net + tax, net if exp["kind"] == "year_term" else ZERO,
                f"invoice {exp['description']}")


def _header(f: dict, b: _Books, head: dict) -> _Row:
    sums = b.line_sums.get(head["invoice_id"], {"amount": ZERO, "discount": ZERO, "tax": ZERO})
    lines_total = sums["amount"] - sums["discount"] + sums["tax"]
    total = lines_total - _d(head["total"])
    tax = sums["tax"] - _d(head["tax"])
    cur = head["currency"]
    return _Row(f["exception_id"], f["check"], f["customer_id"], head["invoice_id"], None, f["period"], cur, "",
                total - tax, tax, total, ZERO,
                f"bring the invoice total {_money(_d(head['total']), cur)} to the sum of its lines "
                f"{_money(lines_total, cur)}")


def _wrong_currency(f: dict, b: _Books, head: dict, customer_currency: str | None) -> list[_Row]:
    net = _d(head["subtotal"]) - _d(head["discount"])
    tax, deferred = _d(head["tax"]), b.year_net.get(head["invoice_id"], ZERO)
    keys = (f["exception_id"], f["check"], f["customer_id"], head["invoice_id"], None, f["period"])
    rows = [_Row(*keys, head["currency"], "", -net, -tax, -(net + tax), -deferred,
                 f"credit invoice {head['invoice_id']} in full in {head['currency']}")]
    if customer_currency:
        rows.append(_Row(*keys, customer_currency, "", net, tax, net + tax, deferred,
                         f"re-issue it in {customer_currency}, the customer's currency, with the same figures"))
    return rows


def _excess_credit(f: dict, b: _Books, head: dict) -> _Row:
    notes = b.notes.get(head["invoice_id"], [])
    cap_amount = _d(head["subtotal"]) - _d(head["discount"])
    cap_total = _d(head["total"])
    amount = sum((_d(n["amount"]) for n in notes), ZERO)
    tax = sum((_d(n["tax"]) for n in notes), ZERO)
    reversed_: list[dict] = []
    for note in reversed(notes):
        if amount <= cap_amount and amount + tax <= cap_total:
            break
        reversed_.append(note)
        amount -= _d(note["amount"])
        tax -= _d(note["tax"])
    net = sum((_d(n["amount"]) for n in reversed_), ZERO)
    rtax = sum((_d(n["tax"]) for n in reversed_), ZERO)
    ids = ", ".join(n["credit_note_id"] for n in reversed(reversed_))
    deferred = b.year_share(head["invoice_id"], net)
    return _Row(f["exception_id"], f["check"], f["customer_id"], head["invoice_id"], None, f["period"],
                head["currency"], "", net, rtax, net + rtax, deferred,
                f"reverse credit note(s) {ids}: the invoice cannot be credited beyond its own amounts")


def _payment(f: dict, b: _Books) -> _Row:
    pay = b.payments.get(f["payment_id"]) or {}
    cur = pay.get("currency") or f["currency"]
    keys = (f["exception_id"], f["check"], f["customer_id"], f["invoice_id"], f["payment_id"], f["period"], cur)
    if f["check"] == "payment_mismatch" and f["payment_id"] in b.copies:
        amount = _d(pay.get("amount"))
        return _Row(*keys, "remove duplicate payment", total=amount,
                    action=f"delete the second record of payment {f['payment_id']} ({_money(amount, cur)}): the money "
                           f"arrived once")
    if f["check"] == "payment_mismatch":
        head = b.invoices.get(f["invoice_id"], {})
        notes = b.notes.get(f["invoice_id"], [])
        owed = _d(head.get("total")) - sum((_d(n["amount"]) + _d(n["tax"]) for n in notes), ZERO)
        over = b.applied.get(f["invoice_id"], ZERO) - owed
        return _Row(*keys, "refund", total=over,
                    action=f"refund the overpayment of {_money(over, cur)} on invoice {f['invoice_id']} (or hold it "
                           f"on account with the customer's agreement)")
    amount = _d(pay.get("amount"))
    return _Row(*keys, "refund", total=amount,
                action=f"identify payment {f['payment_id']} ({_money(amount, cur)}) with the customer: apply it to "
                       f"the invoice they meant, else refund it")


def _ledger_adjustment(f: dict, b: _Books) -> _Row:
    diff = b.ledger_diff()
    if f["payment_id"]:
        sources = [("payment", f["payment_id"])]
    elif f["invoice_id"]:
        sources = [("invoice", f["invoice_id"])] + [("credit_note", n["credit_note_id"])
                                                     for n in b.notes.get(f["invoice_id"], [])]
    else:
        sources = []
    lines: dict[str, Decimal] = {}
    for src in sources:
        for account, v in diff.get(src, {}).items():
            lines[account] = lines.get(account, ZERO) + v
    keys = (f["exception_id"], f["check"], f["customer_id"], f["invoice_id"], f["payment_id"], f["period"],
            f["currency"])
    if not lines:
        return _Row(*keys, "ledger review", action="find the manual or unexplained entries behind the difference "
                                                   "and reverse or document them")
    return _Row(*keys, "ledger adjustment", ledger=tuple(sorted(lines.items())),
                action="post an adjusting entry so the ledger shows what the document says (no change for the "
                       "customer)")


def _line_leaders(findings: pl.DataFrame, b: _Books) -> dict[tuple, str]:
    """(invoice_id, line_no) -> the finding whose correction covers the line: a line billed twice or for an
    unknown subscription is credited in full, whatever else is wrong with it; otherwise the first finding."""
    leaders: dict[tuple, tuple[str, str]] = {}
    for f in findings.iter_rows(named=True):
        key = (f["invoice_id"], f["line_no"])
        if f["line_no"] is None or key not in b.lines:
            continue
        if key not in leaders or (f["check"] in CREDIT_IN_FULL and leaders[key][1] not in CREDIT_IN_FULL):
            leaders[key] = (f["exception_id"], f["check"])
    return {key: eid for key, (eid, _) in leaders.items()}


def _correct(f: dict, b: _Books, customer_currency: str | None, leaders: dict[tuple, str]) -> list[_Row]:
    check, key = f["check"], (f["invoice_id"], f["line_no"])
    line = b.lines.get(key) if f["line_no"] is not None else None
    if line is not None and leaders.get(key, f["exception_id"]) != f["exception_id"]:
        return [_Row(f["exception_id"], check, f["customer_id"], f["invoice_id"], None, f["period"], f["currency"],
                     "no money", action=f"corrected with {leaders[key]} (same line)")]
    rows: list[_Row]
    if check == "tax_mismatch" and f["expected"] is None:  # tax_rate_missing: what is due is unknown
        rows = [_Row(f["exception_id"], check, f["customer_id"], f["invoice_id"], None, f["period"], f["currency"],
                     "no money", action="add the rate of the customer's country in force on the issue date to "
                                        "tax_rates and verify again: the correction follows from that rate")]
    elif check in LINE_CHECKS and line is not None:
        rows = [_line_rebill(f, b, line)]
    elif check == "duplicate_charge" and line is not None:
        rows = [_line_credit(f, line, b, "the same service days are already billed")]
    elif check == "orphan_reference" and line is not None:
        rows = [_line_credit(f, line, b, f"subscription {line['subscription_id']} does not exist")]
    elif check == "billed_outside_term" and line is not None:
        rows = [_line_rebill(f, b, line)]
    elif check == "unbilled_charge":
        rows = [_unbilled(f, b)]
    elif check == "invoice_totals" and f["invoice_id"] in b.invoices:
        rows = [_header(f, b, b.invoices[f["invoice_id"]])]
    elif check == "currency_mismatch" and f["payment_id"] is None and f["invoice_id"] in b.invoices:
        rows = _wrong_currency(f, b, b.invoices[f["invoice_id"]], customer_currency)
    elif check == "credit_note_excess" and f["invoice_id"] in b.invoices:
        rows = [_excess_credit(f, b, b.invoices[f["invoice_id"]])]
    elif check in ("payment_mismatch", "unapplied_payment") and f["payment_id"]:
        rows = [_payment(f, b)]
    elif check == "gl_mismatch":
        rows = [_ledger_adjustment(f, b)]
    else:
        action = NO_MONEY.get(check, "correct the record named in the finding; no money changes hands")
        if check == "currency_mismatch":
            action = "ask the customer to pay in the invoice currency, or convert and refund the difference"
        rows = [_Row(f["exception_id"], check, f["customer_id"], f["invoice_id"], f["payment_id"], f["period"],
                     f["currency"], "no money", action=action)]
    for r in rows:
        if not r.document:
            r.document = "credit note" if r.total < 0 else "additional invoice" if r.total > 0 else "no money"
        if r.currency:
            r.net, r.tax, r.total, r.deferred = (quantize(v, r.currency) for v in (r.net, r.tax, r.total, r.deferred))
    return rows


def _rows(inv: Investigation, findings: pl.DataFrame | None = None) -> list[_Row]:
    b = _Books(inv)
    customers = {r["customer_id"]: r["currency"] for r in inv.ds.frame("customers").select(
        "customer_id", "currency").collect().iter_rows(named=True)}
    out: list[_Row] = []
    frame = inv.findings if findings is None else findings
    leaders = _line_leaders(frame, b)
    for f in frame.iter_rows(named=True):
        out.extend(_correct(f, b, customers.get(f["customer_id"]), leaders))
    return out


def _adjustment_text(ledger: tuple[tuple[str, Decimal], ...], currency: str | None) -> str | None:
    """'Dr 1100 12.00; Cr 4000 12.00': an adjusting entry as an accountant reads it (and ledger_effect parses)."""
    if not ledger:
        return None
    def text(amount: Decimal) -> str:  # the currency's digits, unless the ledger holds finer amounts
        if currency and is_currency(currency) and quantize(amount, currency) == amount:
            return format_money(amount, currency)
        return f"{amount.normalize():f}"
    return "; ".join(f"{'Dr' if v > 0 else 'Cr'} {account} {text(abs(v))}" for account, v in ledger)


def _adjustment_lines(text: str | None) -> list[tuple[str, Decimal]]:
    """The (account, debit - credit) lines of an ``ledger_adjustment`` text."""
    lines = []
    for part in (text or "").split("; "):
        if part:
            side, account, amount = part.split(" ")
            lines.append((account, Decimal(amount) if side == "Dr" else -Decimal(amount)))
    return lines


def _corrections_frame(rows: list[_Row]) -> pl.DataFrame:
    from billing_lib.core.money import DECIMAL
    data = {c: [getattr(r, c) for r in rows] for c in CORRECTION_COLUMNS if c != "ledger_adjustment"}
    data["ledger_adjustment"] = [_adjustment_text(r.ledger, r.currency) for r in rows]
    schema = {c: (DECIMAL if c in ("net", "tax", "total", "deferred") else pl.String) for c in CORRECTION_COLUMNS}
    return pl.DataFrame(data, schema=schema)


def corrections(inv: Investigation, findings: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per correcting document of each finding (default: the investigation's findings)."""
    return _corrections_frame(_rows(inv, findings))


def _postings(r: dict) -> list[tuple[str, Decimal]]:
    if r["ledger_adjustment"]:
        return _adjustment_lines(r["ledger_adjustment"])
    if r["document"] in ("credit note", "additional invoice"):
        # a credit note posts as an invoice of the opposite sign (the contract's credit note rule): its figures
        # are the change in what the customer owes, negative
        return [(a, v) for a, v in invoice_rule(r["total"], r["tax"], r["deferred"]) if v != 0]
    if r["document"] in ("refund", "remove duplicate payment") and r["total"] != 0:
        return payment_rule(-r["total"])  # money going back: a payment with the opposite sign
    return []


def ledger_effect(corrections: pl.DataFrame) -> pl.DataFrame:
    """The journal lines the corrections (the table of :func:`corrections`) post, as the contract's Accounts
    say: one row per correction and account."""
    from billing_lib.core.money import DECIMAL
    rows = []
    for r in corrections.iter_rows(named=True):
        for account, v in _postings(r):
            rows.append({"exception_id": r["exception_id"], "document": r["document"], "invoice_id": r["invoice_id"],
                         "payment_id": r["payment_id"], "currency": r["currency"], "account": account,
                         "account_name": ACCOUNT_NAMES.get(account, ""),
                         "debit": v if v > 0 else None, "credit": -v if v < 0 else None})
    schema = {c: (DECIMAL if c in ("debit", "credit") else pl.String) for c in LEDGER_COLUMNS}
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def by_invoice(table: pl.DataFrame) -> pl.DataFrame:
    """The money corrections added up per invoice and currency: one credit note or additional invoice each
    (charges never billed go on a new invoice of their month)."""
    money = table.filter(pl.col("document").is_in(["credit note", "additional invoice"]))
    keyed = money.with_columns(invoice_id=pl.coalesce("invoice_id", pl.format("new invoice for {}", "period")))
    out = (keyed.group_by("customer_id", "invoice_id", "currency", maintain_order=True)
           .agg(pl.col("net", "tax", "total").sum(), pl.col("exception_id").str.join(", ").alias("findings"))
           .with_columns(document=pl.when(pl.col("total") < 0).then(pl.lit("credit note"))
                         .when(pl.col("total") > 0).then(pl.lit("additional invoice")).otherwise(pl.lit("none")))
           .sort("customer_id", "invoice_id", "currency"))
    return out.select("customer_id", "invoice_id", "currency", "document", "net", "tax", "total", "findings")


def money_by_currency(table: pl.DataFrame) -> dict[str, Decimal]:
    """What the customer owes changes by this much per currency once every correction is made."""
    sums = table.group_by("currency").agg(pl.col("total").sum()).drop_nulls("currency").sort("currency")
    return {r["currency"]: r["total"] for r in sums.iter_rows(named=True)}
