"""Delivering approved invoices by email: composing the messages, an outbox or SMTP, and the delivery log.

``send_generated`` is what ``billing send`` runs; the parts are usable on their own (``load_batch``,
``compose``, ``Outbox``, ``SmtpTransport``, ``open_log``).
"""
from .batch import APPROVED_FILE, InvoiceToSend, load_batch
from .command import send_generated
from .compose import compose, message_bytes
from .log import DEFAULT_LOG_NAME, DeliveryLog, open_log
from .send import SendReport, send_invoices
from .transports import DeliveryFailed, Outbox, SmtpSettings, SmtpTransport

__all__ = ["APPROVED_FILE", "DEFAULT_LOG_NAME", "DeliveryFailed", "DeliveryLog", "InvoiceToSend", "Outbox",
           "SendReport", "SmtpSettings", "SmtpTransport", "compose", "load_batch", "message_bytes", "open_log",
           "send_generated", "send_invoices"]
