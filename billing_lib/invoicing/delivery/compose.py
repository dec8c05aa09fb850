"""An invoice as an email: HTML body, plain-text alternative, the PDF attached (``email.message.EmailMessage``).

The message is the same bytes for the same invoice and sender: Message-ID is made from the invoice number
and its content hash, Date is the invoice's issue date (midnight UTC) and the MIME boundaries are fixed.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from billing_lib.core.currency import format_money_local, format_number_local
from billing_lib.invoicing.delivery.addresses import mailbox
from billing_lib.invoicing.delivery.batch import InvoiceToSend

EML_POLICY = policy.SMTP  # the default policy with CRLF line ends, as on the wire


class AttachmentUnreadable(Exception):
    """The invoice's PDF cannot be read any more (removed or made unreadable after the batch was loaded)."""


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(loader=PackageLoader("billing_lib", "templates"), undefined=StrictUndefined,
                       autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
                       keep_trailing_newline=True)


def _nonzero(amount: str) -> bool:
    try:
        return Decimal(amount) != 0
    except (InvalidOperation, TypeError):
        return bool(amount)


def money_text(amount: str, item: InvoiceToSend) -> str:
    """An amount of the invoice as its customer reads it, the same way as on the PDF ("1.234,50 €")."""
    return format_money_local(Decimal(amount), item.invoice["currency"], item.locale)


def subject(item: InvoiceToSend) -> str:
    """``Invoice INV-0000123 for June 2024``."""
    return f"Invoice {item.invoice_id} for {_period_label(item)}"


def _period_label(item: InvoiceToSend) -> str:
    start = dt.date.fromisoformat(item.invoice["period_start"])
    return f"{_MONTHS[start.month - 1]} {start.year}"


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def message_id(item: InvoiceToSend, sender: Address) -> str:
    """``<INV-0000123.1a2b3c4d5e6f7a8b9c0d@sender.domain>``: stable for the same invoice content."""
    return f"<{item.invoice_id}.{item.content_hash[:20]}@{sender.domain}>"


def compose(item: InvoiceToSend, sender: Address, recipient: str) -> EmailMessage:
    """The invoice's email to ``recipient``: text and HTML alternatives, the PDF attached, headers set;
    AttachmentUnreadable when the PDF cannot be read."""
    context = {"invoice": item.invoice, "lines": item.lines, "name": item.customer_name,
               "period_label": _period_label(item), "attachment": item.pdf.name, "nonzero": _nonzero,
               "money": lambda amount: money_text(amount, item),
               "price": lambda amount: format_money_local(Decimal(amount), item.invoice["currency"], item.locale,
                                                          exact=True),
               "number": lambda value: format_number_local(Decimal(value), item.locale)}
    msg = EmailMessage(policy=policy.default)
    msg["From"] = sender
    msg["To"] = mailbox(item.customer_name, recipient)
    msg["Subject"] = subject(item)
    issued = dt.datetime.combine(dt.date.fromisoformat(item.invoice["issue_date"]), dt.time(), dt.UTC)
    msg["Date"] = format_datetime(issued)
    msg["Message-ID"] = message_id(item, sender)
    msg.set_content(_templates().get_template("invoice_email.txt.j2").render(context))
    msg.add_alternative(_templates().get_template("invoice_email.html.j2").render(context), subtype="html")
    try:
        pdf = item.pdf.read_bytes()
    except OSError as exc:
        raise AttachmentUnreadable(f"the PDF {item.pdf} cannot be read ({exc.strerror or exc}): write the "
                                   "invoice documents again (billing generate), then run again") from None
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=item.pdf.name)
    for n, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"=_{item.content_hash[:24]}_{n}")
    return msg


def message_bytes(msg: EmailMessage) -> bytes:
    """The message as an RFC 5322 file (CRLF line ends), e.g. for an ``.eml`` outbox."""
    return msg.as_bytes(policy=EML_POLICY)
