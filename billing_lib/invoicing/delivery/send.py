"""Sending a batch of approved invoices: each at most once, every attempt logged, none silently dropped.

Failures are told apart by what trying again can do (:mod:`.transports`):

* a *temporary* one (a ``4xx`` reply, a connection lost before the message was handed over, a server that
  cannot be reached) is tried again in the same run after a wait that doubles each time (at most
  ``RetryPolicy.attempts`` tries of a message, and ``RetryPolicy.run_budget`` seconds of waiting in all),
  then by a later run: a message the server deferred not before the next wait of that doubling schedule
  has passed (counted over every run, from the log; ``deferred`` until then);
* a *permanent* one (a ``5xx`` reply) is not retried: the invoice stays ``refused`` on later runs until the
  customer's address changes or the user asks (``retry_refused``);
* an *unknown* outcome (the run or the connection stopped while the message was being handed over) is never
  resent on its own: the invoice stays ``unconfirmed`` until the user says it was delivered or not.
"""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

import polars as pl

from billing_lib.invoicing.delivery.addresses import check_recipient
from billing_lib.invoicing.delivery.batch import InvoiceToSend
from billing_lib.invoicing.delivery.compose import AttachmentUnreadable, compose, message_id
from billing_lib.invoicing.delivery.log import Attempt, DeliveryLog, now_utc, stamp
from billing_lib.invoicing.delivery.reconcile import ASK_USER, Settled, reconcile
from billing_lib.invoicing.delivery.transports import (
    DeliveryFailed,
    OutcomeUnknown,
    PermanentFailure,
    Transport,
)

# what became of each approved invoice in a run
SENT, ALREADY_SENT, CHANGED, CONFIRMED = "sent", "already sent", "changed since sent", "confirmed sent"
FAILED, REFUSED, INVALID_ADDRESS = "failed", "refused", "invalid address"
DEFERRED, UNCONFIRMED = "deferred", "unconfirmed"
NOT_DELIVERED = (FAILED, REFUSED, INVALID_ADDRESS, DEFERRED, UNCONFIRMED)
# exit codes of billing send: 0 every approved invoice delivered (now or before), 2 wrong call or input (nothing
# sent), 1 an unexpected fault, 3 some approved invoices not delivered (each listed; running again retries them)
NOT_ALL_DELIVERED_EXIT = 3
UNCONFIRMED_CHOICES = ("hold", "resend", "sent")


@dataclass(frozen=True)
class RetryPolicy:
    """How temporary failures are tried again: ``attempts`` tries of a message in one run, waits of
    ``first_delay`` seconds doubled for each further deferral (in a run and across runs, up to ``max_delay``),
    and at most ``run_budget`` seconds of waiting in one run."""

    attempts: int = 3
    first_delay: float = 2.0
    max_delay: float = 3600.0
    run_budget: float = 60.0

    def delay(self, failures: int) -> float:
        """The wait after the ``failures``-th temporary failure (0 before any)."""
        return 0.0 if failures <= 0 else min(self.max_delay, self.first_delay * 2 ** (failures - 1))


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
    settled: list[Settled] = field(default_factory=list)

    @property
    def interrupted(self) -> list[str]:
        """Invoices whose attempt a stopped run left in flight (settled at the start of this run)."""
        return [s.invoice_id for s in self.settled]

    def with_status(self, *statuses: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in statuses]

    @property
    def exit_code(self) -> int:
        """0 when every approved invoice has been delivered (now or before), 3 when some were not."""
        return NOT_ALL_DELIVERED_EXIT if self.with_status(*NOT_DELIVERED) else 0

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
                 f"{len(self.with_status(ALREADY_SENT, CHANGED, CONFIRMED))} already sent before"]
        if self.settled:
            lines.append(f"{len(self.settled)} attempt(s) of a run that stopped midway, settled first:")
            lines += [f"  {s.invoice_id}: {s.outcome}: {s.detail}" for s in self.settled]
        confirmed = self.with_status(CONFIRMED)
        if confirmed:
            lines.append(f"{len(confirmed)} recorded as delivered on your word (--unconfirmed sent):")
            lines += [f"  {o.invoice_id} {o.customer_id} {o.recipient}" for o in confirmed]
        changed = self.with_status(CHANGED)
        if changed:
            lines.append(f"{len(changed)} changed after they were sent and were NOT sent again (an invoice is "
                         "sent once; correct it with a credit note):")
            lines += [f"  {o.invoice_id} {o.customer_id}: {o.detail}" for o in changed]
        for status, headline in _MISSED:
            missed = self.with_status(status)
            if missed:
                lines.append(f"{len(missed)} NOT delivered, {headline}:")
                lines += [f"  {o.invoice_id} {o.customer_id} {o.recipient}: {o.detail}" for o in missed]
        lines.append(f"delivery log: {self.log_path}")
        return "\n".join(lines)


_MISSED = (
    (FAILED, "failed for now (tried again by the next run)"),
    (DEFERRED, "deferred by the server and not due again yet (the next run after the time named tries them)"),
    (REFUSED, "refused by the server for good (not tried again until the address changes, or with "
              "--retry-refused)"),
    (INVALID_ADDRESS, "without a valid address (sent by a later run once the customer's email is fixed)"),
    (UNCONFIRMED, "perhaps delivered: a run stopped while handing them over (held until you say, with "
                  "--unconfirmed sent or --unconfirmed resend)"),
)


@dataclass
class _Budget:
    """Seconds of waiting left in this run."""

    seconds: float


def send_invoices(batch: list[InvoiceToSend], transport: Transport, log: DeliveryLog, sender: Address,
                  progress: Callable[[str], None] | None = None, *, policy: RetryPolicy | None = None,
                  retry_refused: bool = False, unconfirmed: str = "hold",
                  sleep: Callable[[float], None] = time.sleep) -> SendReport:
    """Send every invoice of ``batch`` not yet delivered according to ``log``, recording each attempt.

    Attempts a stopped run left in flight are settled first (:func:`.reconcile.reconcile`). An invoice already
    sent is skipped (and reported when its figures changed since); failures are retried or held as the
    module's description says. ``unconfirmed``: what to do with an invoice whose delivery is unknown:
    ``hold`` it (report it), ``resend`` it, or record it as ``sent``.
    """
    if unconfirmed not in UNCONFIRMED_CHOICES:
        raise ValueError(f"unconfirmed must be one of {UNCONFIRMED_CHOICES}, not {unconfirmed!r}")
    policy = policy or RetryPolicy()
    report = SendReport(transport.channel, log.path, settled=reconcile(log))
    say = progress or (lambda _text: None)
    if report.settled:
        say(f"{len(report.settled)} attempt(s) of an earlier run stopped midway: "
            + "; ".join(f"{s.invoice_id} {s.outcome}" for s in report.settled))
    run = _Run(transport, log, sender, policy, retry_refused, unconfirmed, sleep, say, _Budget(policy.run_budget))
    width = len(str(len(batch)))
    for n, item in enumerate(batch, start=1):
        outcome = run.send(item)
        report.outcomes.append(outcome)
        say(f"[{n:>{width}}/{len(batch)}] {item.invoice_id} -> {outcome.recipient}: {outcome.status}"
            + (f" ({outcome.detail})" if outcome.status in NOT_DELIVERED else ""))
    return report


@dataclass
class _Run:
    """One run of :func:`send_invoices`: what it sends with, how it retries, and the waiting it has left."""

    transport: Transport
    log: DeliveryLog
    sender: Address
    policy: RetryPolicy
    retry_refused: bool
    unconfirmed: str
    sleep: Callable[[float], None]
    say: Callable[[str], None]
    budget: _Budget

    def send(self, item: InvoiceToSend) -> Outcome:
        customer = item.invoice["customer_id"]
        before = self.log.delivered(item.invoice_id)
        if before is not None:
            if before.content_hash == item.content_hash:
                return Outcome(item.invoice_id, customer, before.recipient, ALREADY_SENT,
                               f"{before.finished_at} via {before.channel}")
            return Outcome(item.invoice_id, customer, before.recipient, CHANGED,
                           f"sent {before.finished_at} via {before.channel} with other figures")
        checked = check_recipient(item.customer_email)
        held = self._held(item, self.log.last_attempt(item.invoice_id), checked.address)
        if held is not None:
            return held
        mid = message_id(item, self.sender)
        channel = self.transport.channel
        if checked.address is None:
            self.log.record(item.invoice_id, item.content_hash, customer, item.customer_email, mid, channel,
                            "invalid_address", checked.problem or "")
            return Outcome(item.invoice_id, customer, item.customer_email, INVALID_ADDRESS, checked.problem or "")
        try:
            msg = compose(item, self.sender, checked.address)
        except AttachmentUnreadable as exc:  # e.g. the PDF was removed after the batch was loaded: next run
            self.log.record(item.invoice_id, item.content_hash, customer, checked.address, mid, channel, "failed",
                            str(exc))
            return Outcome(item.invoice_id, customer, checked.address, FAILED, str(exc))
        return self._deliver(item, msg, checked.address)

    def _held(self, item: InvoiceToSend, last: Attempt | None, address: str | None) -> Outcome | None:
        """The outcome of an invoice not to be tried in this run because of its last attempt, else None."""
        if last is None:
            return None
        customer = item.invoice["customer_id"]
        if last.outcome == "unconfirmed":
            if self.unconfirmed == "hold":
                return Outcome(item.invoice_id, customer, last.recipient, UNCONFIRMED, last.detail)
            if self.unconfirmed == "sent":
                self.log.record(item.invoice_id, last.content_hash, customer, last.recipient, last.message_id,
                                last.channel, "sent", f"recorded as delivered on the user's word (--unconfirmed "
                                                      f"sent) after attempt {last.attempt_id}")
                return Outcome(item.invoice_id, customer, last.recipient, CONFIRMED, last.detail)
            return None  # resend
        same_address = (address or item.customer_email) == last.recipient
        if last.outcome == "refused" and not self.retry_refused and same_address:
            return Outcome(item.invoice_id, customer, last.recipient, REFUSED,
                           f"refused {last.finished_at}: {last.detail}")
        if last.outcome == "failed" and last.retry_after is not None and same_address:
            due = dt.datetime.fromisoformat(last.finished_at or last.attempted_at) + dt.timedelta(
                seconds=self.policy.delay(self.log.deferrals(item.invoice_id)))
            if now_utc() < due:
                return Outcome(item.invoice_id, customer, last.recipient, DEFERRED,
                               f"{last.detail}; not tried again before {stamp(due)} (--retry-delay 0: at once)")
        return None

    def _deliver(self, item: InvoiceToSend, msg: EmailMessage, recipient: str) -> Outcome:
        customer, mid = item.invoice["customer_id"], msg["Message-ID"]
        channel = self.transport.channel
        for n in range(1, self.policy.attempts + 1):
            attempt = self.log.record(item.invoice_id, item.content_hash, customer, recipient, mid, channel,
                                      "sending")
            try:
                note = self.transport.deliver(msg, item.invoice_id, lambda a=attempt: self.log.handing_over(a))
            except OutcomeUnknown as exc:
                self.log.finish(attempt, "unconfirmed", f"{exc}; {ASK_USER}")
                return Outcome(item.invoice_id, customer, recipient, UNCONFIRMED, f"{exc}; {ASK_USER}")
            except PermanentFailure as exc:
                self.log.finish(attempt, "refused", str(exc))
                return Outcome(item.invoice_id, customer, recipient, REFUSED, str(exc))
            except DeliveryFailed as exc:  # temporary: the message deferred, or the server unavailable
                deferrals = self.log.deferrals(item.invoice_id) + exc.about_message
                wait = self.policy.delay(deferrals if exc.about_message else n)
                retry_after = stamp(now_utc() + dt.timedelta(seconds=wait)) if exc.about_message else None
                self.log.finish(attempt, "failed", str(exc), retry_after)
                if n == self.policy.attempts or not exc.retry_in_run or wait > self.budget.seconds + 1e-9:
                    if not exc.about_message:
                        self.transport.give_up(str(exc))  # the rest of this run fails at once, not one wait each
                    return Outcome(item.invoice_id, customer, recipient, FAILED, str(exc))
                self.say(f"  {item.invoice_id}: {exc}; trying again in {wait:g} s "
                         f"(try {n + 1} of {self.policy.attempts})")
                self.sleep(wait)
                self.budget.seconds -= wait
                continue
            self.log.finish(attempt, "sent", note)
            return Outcome(item.invoice_id, customer, recipient, SENT, note)
        raise AssertionError("the loop returns on the last attempt")

