"""Delivering approved invoices by email: composing the messages, an outbox or SMTP, and the delivery log.

``send_generated`` is what ``billing send`` runs; the parts are usable on their own (``load_batch``,
``compose``, ``Outbox``, ``SmtpTransport``, ``open_log``, ``reconcile``, ``send_invoices`` with a
``RetryPolicy``).
"""
from billing_lib.invoicing.delivery.batch import APPROVED_FILE, InvoiceToSend, load_batch
from billing_lib.invoicing.delivery.command import send_generated
from billing_lib.invoicing.delivery.compose import compose, message_bytes
from billing_lib.invoicing.delivery.log import DEFAULT_LOG_NAME, DeliveryLog, open_log
from billing_lib.invoicing.delivery.reconcile import reconcile
from billing_lib.invoicing.delivery.send import NOT_ALL_DELIVERED_EXIT, RetryPolicy, SendReport, send_invoices
from billing_lib.invoicing.delivery.transports import (
    DeliveryFailed,
    Outbox,
    OutcomeUnknown,
    PermanentFailure,
    SmtpSettings,
    SmtpTransport,
    TemporaryFailure,
    TransportUnavailable,
)

__all__ = ["APPROVED_FILE", "DEFAULT_LOG_NAME", "NOT_ALL_DELIVERED_EXIT", "DeliveryFailed", "DeliveryLog",
           "InvoiceToSend", "Outbox", "OutcomeUnknown", "PermanentFailure", "RetryPolicy", "SendReport",
           "SmtpSettings", "SmtpTransport", "TemporaryFailure", "TransportUnavailable", "compose", "load_batch",
           "message_bytes", "open_log", "reconcile", "send_generated", "send_invoices"]
