"""After a crash mid-batch: settle the attempts a stopped run left in flight, never sending anything twice.

An attempt left ``sending`` stopped before its message passed the point of no return: it was not delivered
and is tried again (``interrupted``). One left ``handed_over`` may have been delivered:

* to an outbox folder: the ``.eml`` file with the attempt's Message-ID is there, so it was (``sent``); a
  temporary file of it is still there instead, so the rename never happened (``interrupted``, the temporary
  file removed); neither, so a mail pickup may have taken it (``unconfirmed``);
* to an SMTP server: the server may have accepted it before the run stopped (``unconfirmed``); its own log
  knows, by the Message-ID.

An ``unconfirmed`` invoice is not sent again until the user says what happened (``billing send
--unconfirmed sent`` or ``--unconfirmed resend``).
"""
from __future__ import annotations

from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path

from billing_lib.invoicing.delivery.log import Attempt, DeliveryLog
from billing_lib.invoicing.delivery.transports import OUTBOX_CHANNEL, TEMP_SUFFIX

ASK_USER = ("check, then run again with --unconfirmed sent (it was delivered: record it) or --unconfirmed resend "
            "(it was not: send it again, with the same Message-ID)")


@dataclass(frozen=True)
class Settled:
    """What became of one attempt a stopped run left in flight."""

    invoice_id: str
    outcome: str   # sent, interrupted or unconfirmed
    detail: str


def reconcile(log: DeliveryLog) -> list[Settled]:
    """Settle every attempt left ``sending`` or ``handed_over`` (see the module's description)."""
    settled = []
    for attempt in log.in_flight():
        outcome, detail = _settle(attempt)
        log.finish(attempt.attempt_id, outcome, detail)
        settled.append(Settled(attempt.invoice_id, outcome, detail))
    return settled


def _settle(attempt: Attempt) -> tuple[str, str]:
    if attempt.outcome == "sending":
        return "interrupted", "the run stopped before the message was handed over; tried again"
    if attempt.channel.startswith(OUTBOX_CHANNEL):
        folder = Path(attempt.channel.removeprefix(OUTBOX_CHANNEL))
        target = folder / f"{attempt.invoice_id}.eml"
        if _message_id(target) == attempt.message_id:
            return "sent", f"found in the outbox ({target}) after the run that wrote it stopped"
        leftovers = sorted(folder.glob(f".{attempt.invoice_id}.*{TEMP_SUFFIX}")) if folder.is_dir() else []
        if leftovers:
            for path in leftovers:
                path.unlink(missing_ok=True)
            return "interrupted", "the run stopped before the message was moved into the outbox; tried again"
        return "unconfirmed", (f"the run stopped while moving the message into {folder}, and it is not there now "
                               f"(a mail pickup may have taken it, Message-ID {attempt.message_id}): {ASK_USER}")
    return "unconfirmed", (f"the run stopped while the server ({attempt.channel}) was receiving the message; "
                           f"whether it accepted it is unknown: look for Message-ID {attempt.message_id} in the "
                           f"server's log; {ASK_USER}")


def _message_id(path: Path) -> str | None:
    """The Message-ID of an ``.eml`` file, or None when there is no such readable file."""
    try:
        with path.open("rb") as fh:
            return BytesHeaderParser().parse(fh).get("Message-ID")
    except OSError:
        return None
