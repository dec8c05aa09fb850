"""``billing send``: the approved invoices of a generated folder, by outbox or SMTP, with a delivery log."""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from billing_lib.errors import ParameterError
from billing_lib.invoicing.delivery.addresses import sender_from_env
from billing_lib.invoicing.delivery.approval import review_of
from billing_lib.invoicing.delivery.batch import load_batch
from billing_lib.invoicing.delivery.log import DEFAULT_LOG_NAME, open_log
from billing_lib.invoicing.delivery.send import (
    NOT_DELIVERED,
    UNCONFIRMED_CHOICES,
    RetryPolicy,
    SendReport,
    send_invoices,
)
from billing_lib.invoicing.delivery.transports import Outbox, SmtpSettings, SmtpTransport, Transport


def send_generated(generated: str | Path, data: str | Path, *, outbox: str | Path | None = None,
                   smtp_host: str | None = None, smtp_port: int | None = None, starttls: bool = False,
                   approved: str | Path | None = None, send_all: bool = False, log: str | Path | None = None,
                   progress: Callable[[str], None] | None = None, policy: RetryPolicy | None = None,
                   retry_refused: bool = False, unconfirmed: str = "hold") -> SendReport:
    """Send the approved invoices of ``generated`` to the customers of ``data`` (outbox folder or SMTP).

    Everything that can be checked before sending is (sender, SMTP settings, retry settings, approved list,
    customers, documents, and for a pre-billing review's drafts its decision): a problem there raises
    ParameterError and nothing is sent or logged. ``policy``, ``retry_refused`` and ``unconfirmed``: see
    :func:`.send.send_invoices`.
    """
    policy = policy or RetryPolicy()
    if policy.attempts < 1:
        raise ParameterError(f"--attempts must be 1 or more, not {policy.attempts}")
    if not 0 <= policy.first_delay <= policy.max_delay:
        raise ParameterError(f"--retry-delay must be between 0 and {policy.max_delay:g} seconds, not "
                             f"{policy.first_delay:g}")
    if unconfirmed not in UNCONFIRMED_CHOICES:
        raise ParameterError(f"--unconfirmed must be one of {', '.join(UNCONFIRMED_CHOICES)}, not {unconfirmed!r}")
    sender = sender_from_env()
    if (outbox is None) == (smtp_host is None):
        raise ParameterError("give exactly one destination: --outbox DIR or --smtp-host HOST")
    if outbox is not None and (smtp_port is not None or starttls):
        raise ParameterError("--smtp-port and --starttls go with --smtp-host, not with --outbox")
    smtp = SmtpSettings.from_env(str(smtp_host), smtp_port, starttls) if smtp_host is not None else None
    review = review_of(Path(generated))
    if review is not None and progress:
        progress(review.describe())
    batch = load_batch(generated, data, approved, send_all)
    log_path = Path(log) if log else Path(generated) / DEFAULT_LOG_NAME
    with open_log(log_path) as delivery_log:
        transport: Transport = SmtpTransport(smtp) if smtp is not None else Outbox(outbox)
        if progress:
            progress(f"sending {len(batch)} approved invoices via {transport.channel}")
        try:
            return send_invoices(batch, transport, delivery_log, sender, progress, policy=policy,
                                 retry_refused=retry_refused, unconfirmed=unconfirmed)
        finally:
            transport.close()


def run_send(args) -> int:
    """The ``billing send`` command: progress on stderr, the summary on stdout; exit 0 all delivered, 3 some
    not (2 wrong call or input, 1 unexpected fault)."""
    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    policy = RetryPolicy(attempts=args.attempts, first_delay=args.retry_delay)
    report = send_generated(args.generated, args.data, outbox=args.outbox, smtp_host=args.smtp_host,
                            smtp_port=args.smtp_port, starttls=args.starttls, approved=args.approved,
                            send_all=args.send_all, log=args.log, progress=progress, policy=policy,
                            retry_refused=args.retry_refused, unconfirmed=args.unconfirmed)
    print(report.summary())
    if report.exit_code:
        missed = len(report.with_status(*NOT_DELIVERED))
        progress(f"billing send: {missed} invoice{'s' * (missed != 1)} NOT delivered (listed above); fix what is "
                 f"named and run the same command again to send them (exit {report.exit_code})")
    return report.exit_code
