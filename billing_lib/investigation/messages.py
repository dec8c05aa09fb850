"""The message to the client about the corrections: what was wrong, what changes, the new balance.

:func:`client_message` gathers the facts (one item per corrected invoice or
payment, the balance before and after per currency); the templates
``client_message.html.j2`` (autoescaped: a customer called ``<script>`` stays
text) and ``client_message.txt.j2`` (plain text) word them. Findings that do
not concern the client (ledger postings, invoice numbering) are left out of
the message. :func:`write_resolution` writes the corrections, their ledger
effect and the messages for the billing team: CSV with no cell a spreadsheet
would run as a formula, an Excel workbook whose text cells are strings, and
one HTML message per customer.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

import polars as pl
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from billing_lib.core.currency import format_money
from billing_lib.core.output import atomic_outputs, neutralize_formulas
from billing_lib.investigation.resolution import by_invoice, money_by_currency
from billing_lib.investigation.story import balances
from billing_lib.investigation.subject import Investigation
from billing_lib.month_end.excel import write_schedules

INTERNAL_CHECKS = ("gl_mismatch", "invoice_number_gap")
SENDER = "Billing team"


@dataclass
class MessageItem:
    """One corrected document in the message."""

    document: str
    what_was_wrong: str
    what_changes: str


@dataclass
class Balance:
    currency: str
    before: str
    change: str
    after: str


@dataclass
class ClientMessage:
    """The facts of a client message, every text taken from data as it is (templates escape)."""

    customer_id: str
    name: str
    email: str
    subject: str
    opening: str
    items: list[MessageItem] = field(default_factory=list)
    balances: list[Balance] = field(default_factory=list)
    closing: str = ""
    sender: str = SENDER


def _env(html: bool) -> Environment:
    return Environment(loader=PackageLoader("billing_lib", "templates"), undefined=StrictUndefined,
                       autoescape=select_autoescape(default=html, default_for_string=html),
                       keep_trailing_newline=True)


def _amount(value: Decimal, currency: str) -> str:
    return f"{format_money(value, currency)} {currency}"


def _sentence(texts: list[str]) -> str:
    seen: list[str] = []
    for t in texts:
        if t not in seen:
            seen.append(t)
    return " ".join(seen)


def client_message(inv: Investigation, corrections: pl.DataFrame, explanations: pl.DataFrame) -> ClientMessage | None:
    """The message to the investigation's customer (None when the findings concern no customer)."""
    c = inv.customer
    if c is None:
        return None
    plain = {r["exception_id"]: r["in_plain_words"] for r in explanations.iter_rows(named=True)}
    client = corrections.filter(~pl.col("check").is_in(INTERNAL_CHECKS))
    items: list[MessageItem] = []
    for doc in by_invoice(client).iter_rows(named=True):
        ids = doc["findings"].split(", ")
        net, tax, total, cur = doc["net"], doc["tax"], doc["total"], doc["currency"]
        if doc["document"] == "credit note":
            change = (f"We will issue a credit note of {_amount(-total, cur)} (net {_amount(-net, cur)}, tax "
                      f"{_amount(-tax, cur)}).")
        elif doc["document"] == "additional invoice":
            change = (f"We will issue an additional invoice of {_amount(total, cur)} (net {_amount(net, cur)}, "
                      f"tax {_amount(tax, cur)}).")
        else:
            change = "The corrections on it cancel out: nothing changes in what you owe."
        where = doc["invoice_id"] if doc["invoice_id"].startswith("new invoice") else f"Invoice {doc['invoice_id']}"
        said = _sentence([plain[i] for i in ids if i in plain])
        items.append(MessageItem(where[0].upper() + where[1:], said, change))
    for r in client.filter(pl.col("document").is_in(["refund", "remove duplicate payment"])).iter_rows(named=True):
        total, cur = r["total"], r["currency"]
        change = (f"We have removed the second record; your account no longer counts {_amount(total, cur)} twice."
                  if r["document"] == "remove duplicate payment" else
                  f"We will refund {_amount(total, cur)} or, if you prefer, keep it as a credit on your account.")
        items.append(MessageItem(f"Payment {r['payment_id']}", plain.get(r["exception_id"], ""), change))
    for r in client.filter(pl.col("check").is_in(["date_inconsistency", "status_mismatch"])).iter_rows(named=True):
        what = ("We have corrected the due date to follow your payment terms."
                if r["check"] == "date_inconsistency" else "We have corrected the invoice's status.")
        items.append(MessageItem(f"Invoice {r['invoice_id']}", plain.get(r["exception_id"], ""), what))
    before = balances(inv)
    change = money_by_currency(client.filter(pl.col("document") != "ledger adjustment"))
    rows = []
    for cur in sorted(set(before) | set(change)):
        b, d = before.get(cur, Decimal(0)), change.get(cur, Decimal(0))
        rows.append(Balance(cur, _amount(b, cur), _amount(d, cur), _amount(b + d, cur)))
    name = c["name"] or c["customer_id"]
    opening = ("Reviewing your account we found the following and are correcting it:" if items else
               "Reviewing your account we found nothing that changes what you owe.")
    return ClientMessage(c["customer_id"], name, c.get("email") or "",
                         f"Corrections to your account {c['customer_id']}", opening, items, rows,
                         "Please contact us if anything here does not match your records. "
                         "A positive balance is owed to us; a negative balance is a credit in your favour.")


def render_html(message: ClientMessage) -> str:
    """The message as an HTML fragment; every value from data is escaped."""
    return _env(True).get_template("client_message.html.j2").render(m=message)


def render_text(message: ClientMessage) -> str:
    """The message as plain text for an e-mail body."""
    return _env(False).get_template("client_message.txt.j2").render(m=message)


def show_message(message: ClientMessage | None) -> None:
    """Display the drafted message in a workbook (escaped HTML), or say there is none."""
    from IPython.display import HTML, display

    from billing_lib.workbook.display import show_note
    if message is None:
        show_note("This finding concerns no single customer: there is no client to write to.")
    else:
        display(HTML(render_html(message)))


def messages_frame(messages: list[ClientMessage]) -> pl.DataFrame:
    """One row per message: customer, e-mail, subject and the text body (for CSV or Excel)."""
    rows = [{"customer_id": m.customer_id, "name": m.name, "email": m.email, "subject": m.subject,
             "body": render_text(m)} for m in messages]
    return pl.DataFrame(rows, schema={"customer_id": pl.String, "name": pl.String, "email": pl.String,
                                      "subject": pl.String, "body": pl.String})


def _money_text(frame: pl.DataFrame) -> pl.DataFrame:
    from billing_lib.core.money import money_text_where_currency
    money = [c for c in ("net", "tax", "total", "deferred", "debit", "credit") if c in frame.columns]
    return frame.with_columns(money_text_where_currency(pl.col(c)).alias(c) for c in money)


def safe_name(text: str) -> str:
    """A file-name-safe form of an id (letters, digits, - and _ only)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "customer"


def write_resolution(out_dir: str | Path, corrections: pl.DataFrame, ledger: pl.DataFrame,
                     messages: list[ClientMessage]) -> list[Path]:
    """Write corrections.csv, ledger_effect.csv, client_messages.csv, resolution.xlsx and one
    client_message-<customer>.html per message into ``out_dir`` atomically; return the paths."""
    out = Path(out_dir)
    texts = messages_frame(messages)
    names = ["corrections.csv", "ledger_effect.csv", "client_messages.csv", "resolution.xlsx"]
    with atomic_outputs(out) as stage:
        neutralize_formulas(_money_text(corrections)).write_csv(stage / names[0], line_terminator="\n")
        neutralize_formulas(_money_text(ledger)).write_csv(stage / names[1], line_terminator="\n")
        neutralize_formulas(texts).write_csv(stage / names[2], line_terminator="\n")
        write_schedules(stage / names[3], {"corrections": corrections, "ledger effect": ledger,
                                           "client messages": texts})
        for m in messages:
            name = f"client_message-{safe_name(m.customer_id)}.html"
            body = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Message</title></head>"
                    f"<body>\n{render_html(m)}</body></html>\n")
            (stage / name).write_text(body, encoding="utf-8")
            names.append(name)
    return [out / n for n in names]


def as_dict(message: ClientMessage) -> dict:
    """The message's facts as plain data."""
    return asdict(message)
