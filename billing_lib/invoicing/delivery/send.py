"""Sending a batch of approved invoices: each at most once, every attempt logged, failures kept for a retry."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from email.headerregistry import Address
from pathlib import Path

import polars as pl

from billing_lib.invoicing.delivery.addresses import check_recipient
from billing_lib.invoicing.delivery.batch import InvoiceToSend
from billing_lib.invoicing.delivery.compose import AttachmentUnreadable, compose, message_id
from billing_lib.invoicing.delivery.log import DeliveryLog
from billing_lib.invoicing.delivery.transports import DeliveryFailed, Transport

# what became of each approved invoice in a run
SENT, ALREADY_SENT, CHANGED = "sent", "already sent", "changed since sent"
FAILED, INVALID_ADDRESS = "failed", "invalid address"
NOT_DELIVERED = (FAILED, INVALID_ADDRESS)


@dataclass(frozen=True)
class Outcome:
    """What one run did with one invoice."""

    invoice_id: str
    customer_id: str
    recipient: str
    status: str
    detail: str


@dataclass
class SendReport:
    """The outcome of every approved invoice in a run, the channel used and the log written."""

    channel: str
    log_path: Path
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)

    def with_status(self, *statuses: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in statuses]

    @property
    def exit_code(self) -> int:
        """0 when every approved invoice has been delivered (now or before), 1 when some were not."""
        return 1 if self.with_status(*NOT_DELIVERED) else 0

    def to_frame(self) -> pl.DataFrame:
        """One row per approved invoice (``.to_pandas()`` for pandas)."""
        return pl.DataFrame([o.__dict__ for o in self.outcomes],
                            schema={k: pl.String for k in Outcome.__dataclass_fields__})

    def summary(self) -> str:
        """The lines printed at the end of ``billing send``."""
        n = len(self.outcomes)
        if n == 0:
            return f"nothing to send: no invoice is approved\ndelivery log: {self.log_path}"
        lines = [f"{len(self.with_status(SENT))} of {n} approved invoice{'s' * (n != 1)} sent via {self.channel}; "
                 f"{len(self.with_status(ALREADY_SENT))} already sent before"]
        changed = self.with_status(CHANGED)
        if changed:
            lines.append(f"{len(changed)} changed after they were sent and were NOT sent again (an invoice is "
                         "sent once; correct it with a credit note):")
            lines += [f"  {o.invoice_id} {o.customer_id}: {o.detail}" for o in changed]
        missed = self.with_status(*NOT_DELIVERED)
        if missed:
            lines.append(f"{len(missed)} NOT delivered; they stay in the log and are tried again on the next run:")
            lines += [f"  {o.invoice_id} {o.customer_id} {o.recipient}: {o.status}: {o.detail}" for o in missed]
        lines.append(f"delivery log: {self.log_path}")
        return "\n".join(lines)


def send_invoices(batch: list[InvoiceToSend], transport: Transport, log: DeliveryLog, sender: Address,
                  progress: Callable[[str], None] | None = None) -> SendReport:
    """Send every invoice of ``batch`` not yet delivered according to ``log``, recording each attempt.

    An invoice already sent is skipped (and reported when its figures changed since); an invalid address
    or a refused or failed delivery is recorded and reported, and the invoice is tried on the next run.
    """
    report = SendReport(transport.channel, log.path, interrupted=log.mark_interrupted())
    if report.interrupted and progress:
        progress(f"{len(report.interrupted)} deliveries of an earlier run stopped midway; tried again: "
                 f"{', '.join(report.interrupted)}")
    width = len(str(len(batch)))
    for n, item in enumerate(batch, start=1):
        outcome = _send_one(item, transport, log, sender)
        report.outcomes.append(outcome)
        if progress:
            progress(f"[{n:>{width}}/{len(batch)}] {item.invoice_id} -> {outcome.recipient}: {outcome.status}"
                     + (f" ({outcome.detail})" if outcome.status in NOT_DELIVERED else ""))
    return report


def _send_one(item: InvoiceToSend, transport: Transport, log: DeliveryLog, sender: Address) -> Outcome:
    customer = item.invoice["customer_id"]
    before = log.delivered(item.invoice_id)
    if before is not None:
        if before.content_hash == item.content_hash:
            return Outcome(item.invoice_id, customer, before.recipient, ALREADY_SENT,
                           f"{before.finished_at} via {before.channel}")
        return Outcome(item.invoice_id, customer, before.recipient, CHANGED,
                       f"sent {before.finished_at} via {before.channel} with other figures")
    mid = message_id(item, sender)
    checked = check_recipient(item.customer_email)
    if checked.address is None:
        log.record(item.invoice_id, item.content_hash, customer, item.customer_email, mid, transport.channel,
                   "invalid_address", checked.problem or "")
        return Outcome(item.invoice_id, customer, item.customer_email, INVALID_ADDRESS, checked.problem or "")
    try:
        msg = compose(item, sender, checked.address)
    except AttachmentUnreadable as exc:  # e.g. the PDF was removed after the batch was loaded: retried next run
        log.record(item.invoice_id, item.content_hash, customer, checked.address, mid, transport.channel, "failed",
                   str(exc))
        return Outcome(item.invoice_id, customer, checked.address, FAILED, str(exc))
    attempt = log.record(item.invoice_id, item.content_hash, customer, checked.address, mid, transport.channel,
                         "sending")
    try:
        note = transport.deliver(msg, item.invoice_id)
    except DeliveryFailed as exc:
        log.finish(attempt, "failed", str(exc))
        return Outcome(item.invoice_id, customer, checked.address, FAILED, str(exc))
    log.finish(attempt, "sent", note)
    return Outcome(item.invoice_id, customer, checked.address, SENT, note)
