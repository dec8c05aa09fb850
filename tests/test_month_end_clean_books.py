"""Every close control passes, every month, on books without mistakes, and receivables and deferred revenue equal
the ledger's 1100 and 2100 balances in every currency.

Two sources of clean books: a small generator written here from the data contract alone (it shares no code
with ``billing_lib``: its own rounding, rating, posting rules and revenue releases, with year terms starting
mid-month, a renewal, a void and re-issue across a month end, uncollectible invoices of which one is written
off, instalments and credit notes, in four currencies), and ``billing synth`` at anomaly rate 0.
"""
from __future__ import annotations

import csv
import datetime as dt
import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
import pytest

from billing_lib.data.loading import load_dataset
from billing_lib.month_end import close_checklist, receivables, revenue
from billing_lib.synth import synthesize

D = Decimal
DIGITS = {"EUR": 2, "USD": 2, "JPY": 0, "KWD": 3}
COUNTRY = {"EUR": ("DE", "19"), "USD": ("US", "0"), "JPY": ("JP", "10"), "KWD": ("KW", "0")}
MONTH_PRICE = {"EUR": "10.00", "USD": "12.00", "JPY": "1500", "KWD": "3.250"}
YEAR_PRICE = {"EUR": "1000.00", "USD": "1190.00", "JPY": "150000", "KWD": "330.500"}
FX = {"USD": "0.92", "JPY": "0.0062", "KWD": "3.01"}
FIRST, MONTHS = dt.date(2028, 1, 1), 14   # January 2028 to February 2029: a year term starting in January renews


def _q(amount: Decimal, currency: str) -> Decimal:
    """Rounded half away from zero to the currency's minor unit (amounts here are never negative)."""
    return amount.quantize(D(1).scaleb(-DIGITS[currency]), rounding=ROUND_HALF_UP)


def _text(amount: Decimal, currency: str) -> str:
    return f"{_q(amount, currency):f}"


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _month_end(day: dt.date) -> dt.date:
    return _next_month(day) - dt.timedelta(days=1)


def _year_later(day: dt.date) -> dt.date:
    """The anniversary of ``day`` a year on (29 February goes to 1 March)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return dt.date(day.year + 1, 3, 1)


MONTH_STARTS = [FIRST]
for _ in range(MONTHS - 1):
    MONTH_STARTS.append(_next_month(MONTH_STARTS[-1]))
LAST_DAY = _month_end(MONTH_STARTS[-1])


class Books:
    """The tables of one dataset as rows, and the journal posted as the contract's Accounts paragraph says."""

    def __init__(self):
        self.tables: dict[str, list[dict]] = {name: [] for name in (
            "customers", "plans", "subscriptions", "tax_rates", "fx_rates", "invoices", "invoice_lines",
            "payments", "credit_notes", "gl_entries")}
        self.entries = 0

    def post(self, day: dt.date, currency: str, source_type: str, source_id: str,
             lines: list[tuple[str, Decimal]]) -> None:
        """One journal entry; ``lines`` are (account, debit - credit), zero lines left out."""
        self.entries += 1
        kept = [(a, v) for a, v in lines if v != 0]
        assert sum(v for _, v in kept) == 0, (source_type, source_id, kept)
        for no, (account, value) in enumerate(kept, start=1):
            self.tables["gl_entries"].append({
                "entry_id": f"GL{self.entries:05d}", "line_no": no, "date": day.isoformat(), "account": account,
                "debit": _text(value, currency) if value > 0 else "",
                "credit": _text(-value, currency) if value < 0 else "", "currency": currency,
                "source_type": source_type, "source_id": source_id})

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name, rows in self.tables.items():
            with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        return folder


def _reference_tables(books: Books, rnd: random.Random) -> list[dict]:
    """Customers, plans, tax and exchange rates; returns the subscriptions as dicts with their terms."""
    t = books.tables
    for currency, (country, rate) in COUNTRY.items():
        t["plans"].append({"plan_id": "SEAT", "currency": currency, "product": "Seats", "billing": "recurring",
                           "interval": "month", "charge_model": "per_unit", "unit_price": MONTH_PRICE[currency],
                           "package_size": "", "free_units": "", "rate_pct": "", "fixed_fee": ""})
        t["plans"].append({"plan_id": "ANNUAL", "currency": currency, "product": "Annual seats",
                           "billing": "recurring", "interval": "year", "charge_model": "per_unit",
                           "unit_price": YEAR_PRICE[currency], "package_size": "", "free_units": "", "rate_pct": "",
                           "fixed_fee": ""})
        t["tax_rates"].append({"country": country, "valid_from": "2000-01-01", "valid_to": "", "rate_pct": rate})
    for currency, rate in FX.items():
        t["fx_rates"].append({"date": "2027-12-01", "currency": currency, "rate_to_base": rate})
    subs = []
    for n in range(16):
        currency = list(COUNTRY)[n % 4]
        customer = f"K{n + 1:03d}"
        t["customers"].append({"customer_id": customer, "name": f"Kunde {n + 1}", "email": f"k{n + 1}@example.org",
                               "country": COUNTRY[currency][0], "currency": currency,
                               "payment_terms_days": rnd.choice([14, 30]), "tax_exempt": "false"})
        # a month subscription from the first of a month, some ending at a month end
        start = MONTH_STARTS[rnd.randrange(3)]
        end = _month_end(MONTH_STARTS[rnd.randrange(6, MONTHS)]) if rnd.random() < 0.3 else None
        subs.append({"id": f"{customer}-M", "customer": customer, "plan": "SEAT", "currency": currency,
                     "quantity": rnd.randint(1, 9), "start": start, "end": end,
                     "discount": rnd.choice(["", "", "10", "12.5"])})
        if n % 2 == 0:  # a year term starting mid-month: open-ended (it renews) or one term only
            start = MONTH_STARTS[rnd.randrange(3)].replace(day=rnd.randint(2, 28))
            end = None if n % 4 == 0 else _year_later(start) - dt.timedelta(days=1)
            subs.append({"id": f"{customer}-Y", "customer": customer, "plan": "ANNUAL", "currency": currency,
                         "quantity": rnd.randint(1, 3), "start": start, "end": end, "discount": rnd.choice(["", "5"])})
    for s in subs:
        t["subscriptions"].append({
            "subscription_id": s["id"], "customer_id": s["customer"], "plan_id": s["plan"],
            "quantity": s["quantity"], "start_date": s["start"].isoformat(),
            "end_date": s["end"].isoformat() if s["end"] else "", "discount_pct": s["discount"],
            "unit_price_override": ""})
    return subs


def _charges(sub: dict, month: dt.date) -> list[tuple[dt.date, dt.date, Decimal]]:
    """(service start, service end, amount before discount) of a subscription billed for ``month``."""
    currency = sub["currency"]
    if sub["plan"] == "SEAT":
        active = sub["start"] <= month and (sub["end"] is None or sub["end"] >= _month_end(month))
        return [(month, _month_end(month), sub["quantity"] * D(MONTH_PRICE[currency]))] if active else []
    term_start = sub["start"]
    while term_start < month:
        term_start = _year_later(term_start)
    if term_start > _month_end(month) or (sub["end"] is not None and term_start > sub["end"]):
        return []
    return [(term_start, _year_later(term_start) - dt.timedelta(days=1), sub["quantity"] * D(YEAR_PRICE[currency]))]


def generate(seed: int, folder: Path) -> Path:
    """A clean dataset following DATA_CONTRACT.md, written to ``folder``."""
    rnd = random.Random(seed)
    books = Books()
    subs = _reference_tables(books, rnd)
    terms = {c["customer_id"]: c["payment_terms_days"] for c in books.tables["customers"]}
    currency_of = {c["customer_id"]: c["currency"] for c in books.tables["customers"]}
    drafts = []  # one per customer and month with charges: the lines and their figures
    for month in MONTH_STARTS:
        for customer in sorted(terms):
            lines = []
            for sub in (s for s in subs if s["customer"] == customer):
                currency = sub["currency"]
                rate = D(COUNTRY[currency][1])
                for start, end, amount in _charges(sub, month):
                    amount = _q(amount, currency)
                    discount = _q(amount * D(sub["discount"] or "0") / 100, currency)
                    tax = _q((amount - discount) * rate / 100, currency)
                    lines.append({"subscription_id": sub["id"], "plan_id": sub["plan"], "start": start, "end": end,
                                  "quantity": sub["quantity"], "unit_price": YEAR_PRICE[currency]
                                  if sub["plan"] == "ANNUAL" else MONTH_PRICE[currency], "amount": amount,
                                  "discount": discount, "rate": COUNTRY[currency][1], "tax": tax,
                                  "year": sub["plan"] == "ANNUAL"})
            if lines:
                drafts.append({"customer": customer, "currency": currency_of[customer], "month": month,
                               "lines": lines, "issue": _next_month(month), "void_on": None})
    # the void and re-issue: a March invoice (issued 1 April) is voided on 9 May and issued again that day
    victim = next(d for d in drafts if d["month"] == MONTH_STARTS[2] and not any(x["year"] for x in d["lines"]))
    victim["void_on"] = dt.date(2028, 5, 9)
    drafts.append({**victim, "issue": victim["void_on"], "void_on": None})
    drafts.sort(key=lambda d: (d["issue"], d["customer"], d["void_on"] is None))
    for number, d in enumerate(drafts, start=1):
        d["id"] = f"INV-{number:05d}"
        d["due"] = d["issue"] + dt.timedelta(days=terms[d["customer"]])
        d["subtotal"] = sum(x["amount"] for x in d["lines"])
        d["discount"] = sum(x["discount"] for x in d["lines"])
        d["tax"] = sum(x["tax"] for x in d["lines"])
        d["total"] = d["subtotal"] - d["discount"] + d["tax"]
        d["year_net"] = sum(x["amount"] - x["discount"] for x in d["lines"] if x["year"])
    _settle(books, drafts, rnd)
    return books.write(folder)


def _settle(books: Books, drafts: list[dict], rnd: random.Random) -> None:
    """Invoices, lines, payments, credit notes, statuses and the whole journal."""
    t = books.tables
    live = [d for d in drafts if d["void_on"] is None]
    unpaid = [d for d in live if d["due"] <= dt.date(2028, 9, 1) and not d["year_net"]]
    doubtful = rnd.sample(unpaid, 3)          # given up; the first is written off 40 days after it was due
    credited = [d for d in rnd.sample([d for d in live if not d["year_net"] and d not in doubtful], 3)]
    owed = {d["id"]: d["total"] for d in drafts}
    payments = []
    for d in credited:
        amount, tax = _q((d["subtotal"] - d["discount"]) * D("0.2"), d["currency"]), _q(d["tax"] * D("0.2"),
                                                                                       d["currency"])
        note = {"credit_note_id": f"CN-{len(t['credit_notes']) + 1:03d}", "invoice_id": d["id"],
                "issue_date": (d["issue"] + dt.timedelta(days=5)).isoformat(), "amount": _text(amount, d["currency"]),
                "tax": _text(tax, d["currency"]), "reason": "Goodwill, 20 %"}
        t["credit_notes"].append(note)
        owed[d["id"]] -= amount + tax
        books.post(d["issue"] + dt.timedelta(days=5), d["currency"], "credit_note", note["credit_note_id"],
                   [("4000", amount), ("2200", tax), ("1100", -(amount + tax))])
    for d in live:
        if d in doubtful or owed[d["id"]] <= 0:
            continue
        way = rnd.random()
        first = d["issue"] + dt.timedelta(days=rnd.randint(0, 40))
        if way < 0.1:
            continue                                                   # not paid yet
        parts = [owed[d["id"]]] if way < 0.85 else [_q(owed[d["id"]] / 2, d["currency"])]
        if way >= 0.85:
            parts.append(owed[d["id"]] - parts[0])                     # two instalments that add up
        for i, amount in enumerate(parts):
            received = first + dt.timedelta(days=20 * i)
            if received <= LAST_DAY + dt.timedelta(days=20):
                named = rnd.random() < 0.8
                payments.append({"payment_id": "", "customer_id": d["customer"], "currency": d["currency"],
                                 "amount": _text(amount, d["currency"]), "received_date": received,
                                 "invoice_id": d["id"] if named else "",
                                 "reference": d["id"] if named else f"Zahlung {d['id']} danke"})
    payments.sort(key=lambda p: (p["received_date"], p["customer_id"], p["amount"]))
    paid: dict[str, Decimal] = {}
    for n, p in enumerate(payments, start=1):
        p["payment_id"] = f"PAY-{n:05d}"
        invoice = p["invoice_id"] or p["reference"].split()[1]
        paid[invoice] = paid.get(invoice, D(0)) + D(p["amount"])
        books.post(p["received_date"], p["currency"], "payment", p["payment_id"],
                   [("1000", D(p["amount"])), ("1100", -D(p["amount"]))])
        t["payments"].append({**p, "received_date": p["received_date"].isoformat()})
    for d in drafts:
        status = ("void" if d["void_on"] else "uncollectible" if d in doubtful
                  else "paid" if owed[d["id"]] - paid.get(d["id"], D(0)) <= 0 else "open")
        cur = d["currency"]
        t["invoices"].append({
            "invoice_id": d["id"], "customer_id": d["customer"], "currency": cur,
            "issue_date": d["issue"].isoformat(), "due_date": d["due"].isoformat(),
            "period_start": d["month"].isoformat(), "period_end": _month_end(d["month"]).isoformat(),
            "subtotal": _text(d["subtotal"], cur), "discount": _text(d["discount"], cur), "tax": _text(d["tax"], cur),
            "total": _text(d["total"], cur), "status": status})
        for no, x in enumerate(d["lines"], start=1):
            t["invoice_lines"].append({
                "invoice_id": d["id"], "line_no": no, "subscription_id": x["subscription_id"], "plan_id": x["plan_id"],
                "description": "Annual seats" if x["year"] else "Seats", "period_start": x["start"].isoformat(),
                "period_end": x["end"].isoformat(), "quantity": x["quantity"], "unit_price": x["unit_price"],
                "amount": _text(x["amount"], cur), "discount": _text(x["discount"], cur), "tax_rate_pct": x["rate"],
                "tax_amount": _text(x["tax"], cur)})
        posting = [("1100", d["total"]), ("4000", -(d["total"] - d["tax"] - d["year_net"])),
                   ("2100", -d["year_net"]), ("2200", -d["tax"])]
        books.post(d["issue"], cur, "invoice", d["id"], posting)
        if d["void_on"]:
            books.post(d["void_on"], cur, "invoice", d["id"], [(a, -v) for a, v in posting])
        else:
            _releases(books, d)
    written = doubtful[0]
    books.post(written["due"] + dt.timedelta(days=40), written["currency"], "manual", written["id"],
               [("6100", written["total"]), ("1100", -written["total"])])


def _releases(books: Books, d: dict) -> None:
    """Dr 2100 / Cr 4000 at each month end from the one the invoice is issued in: the days served so far of each
    year term, cumulatively rounded, less what was released before."""
    cur = d["currency"]
    for x in (x for x in d["lines"] if x["year"]):
        net, days = x["amount"] - x["discount"], (x["end"] - x["start"]).days + 1
        released = D(0)
        month_end = _month_end(d["issue"])
        while month_end <= LAST_DAY and released < net:
            served = min(max((month_end - x["start"]).days + 1, 0), days)
            amount = _q(net * served / days, cur) - released
            if amount:
                books.post(month_end, cur, "revenue_release", d["id"], [("2100", amount), ("4000", -amount)])
            released += amount
            month_end = _month_end(_next_month(month_end))


def _balances(folder: Path, account: str, as_of: dt.date) -> dict[str, Decimal]:
    """Debit - credit of ``account`` per currency up to ``as_of``, read straight from gl_entries.csv."""
    out: dict[str, Decimal] = {}
    with open(folder / "gl_entries.csv", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["account"] == account and dt.date.fromisoformat(r["date"]) <= as_of:
                out[r["currency"]] = out.get(r["currency"], D(0)) + D(r["debit"] or "0") - D(r["credit"] or "0")
    return {k: v for k, v in out.items() if v != 0}


def _assert_close_passes(folder: Path, months: list[dt.date]) -> None:
    ds = load_dataset(folder)
    for month in months:
        checklist = close_checklist.close_checklist(ds, month)   # billing verify included
        failed = checklist.filter(pl.col("status") != "pass").select("control", "evidence").rows()
        assert failed == [], (month, failed)
        end = _month_end(month)
        rf = receivables.roll_forward(ds, month)
        schedule = {r["currency"]: r["closing"] - r["unapplied_cash"] for r in rf.iter_rows(named=True)}
        assert {k: v for k, v in schedule.items() if v != 0} == _balances(folder, "1100", end), month
        deferred = {r["currency"]: r["closing"] for r in revenue.deferred_revenue(ds, month).iter_rows(named=True)}
        assert {k: v for k, v in deferred.items() if v != 0} == {
            k: -v for k, v in _balances(folder, "2100", end).items()}, month
        aging = receivables.aging(ds, end)
        assert (aging["over_90"] <= aging["total"]).all()
        assert (aging["total"] >= 0).all() and (aging["credit_balance"] >= 0).all()


@pytest.fixture(scope="module")
def independent(tmp_path_factory):
    return generate(11, tmp_path_factory.mktemp("independent") / "data")


def test_the_independent_books_hold_the_hard_cases(independent):
    invoices = pl.read_csv(independent / "invoices.csv", infer_schema=False)
    lines = pl.read_csv(independent / "invoice_lines.csv", infer_schema=False)
    gl = pl.read_csv(independent / "gl_entries.csv", infer_schema=False)
    assert set(invoices["status"]) == {"paid", "open", "void", "uncollectible"}
    assert set(invoices["currency"]) == set(COUNTRY)
    year = lines.filter(pl.col("plan_id") == "ANNUAL")
    assert (year["period_start"].str.slice(8, 2) != "01").all()          # every term starts mid-month
    assert year.group_by("subscription_id").len()["len"].max() == 2      # a renewal
    assert gl.filter(pl.col("account") == "6100").height == 1            # one write-off
    assert pl.read_csv(independent / "credit_notes.csv").height == 3


def test_every_close_control_passes_on_independent_books(independent):
    _assert_close_passes(independent, MONTH_STARTS)


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_every_close_control_passes_on_clean_synth_books(tmp_path, seed):
    synthesize(tmp_path, seed=seed, customers=30, months=6, anomaly_rate=0)
    _assert_close_passes(tmp_path, [dt.date(2024, m, 1) for m in range(1, 7)])
