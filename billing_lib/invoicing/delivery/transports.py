"""Where the emails go: an outbox folder of ``.eml`` files, or an SMTP server (STARTTLS, login).

A transport's ``deliver`` either hands the message over or raises a :class:`DeliveryFailed` saying why and of
which kind: :class:`PermanentFailure` (a ``5xx`` reply to this message: sending it again as it is will not
help), :class:`TemporaryFailure` (a ``4xx`` reply or a connection lost while it was being sent: try again
later) or :class:`TransportUnavailable` (the server cannot be reached or refuses the session: nothing about
the message). Just before the point of no return (the SMTP ``DATA`` exchange, the rename into the outbox)
it calls ``handing_over()``, so that a run stopped after it is known to have perhaps delivered the message.
"""
from __future__ import annotations

import ipaddress
import os
import smtplib
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from billing_lib.core.output import fsync_path, replacing
from billing_lib.errors import ParameterError
from billing_lib.invoicing.delivery.compose import message_bytes

SMTP_USER_VAR, SMTP_PASSWORD_VAR = "BILLING_SMTP_USER", "BILLING_SMTP_PASSWORD"
SMTP_TIMEOUT_SECONDS = 60
TEMP_SUFFIX = ".tmp"  # an outbox message being written: .<invoice_id>.<random>.tmp
OUTBOX_CHANNEL = "outbox:"  # an outbox's channel is this and the folder's absolute path


class DeliveryFailed(Exception):
    """Raised by a transport when one message could not be handed over; the message says why."""

    permanent = False       # a reply that will not change when the same message is sent again
    about_message = True    # the failure concerns this message (not the server or the session)
    retry_in_run = True     # worth trying again after a short wait in the same run


class PermanentFailure(DeliveryFailed):
    """The server refused this message for good (a ``5xx`` reply to its sender, recipient or content)."""

    permanent = True
    retry_in_run = False


class TemporaryFailure(DeliveryFailed):
    """The server deferred this message (a ``4xx`` reply) or the connection broke while it was being sent."""


class OutcomeUnknown(DeliveryFailed):
    """The connection broke while the server was receiving the message (after ``handing_over``): it may
    have been delivered. It is not sent again without the user's word (``billing send --unconfirmed``)."""

    retry_in_run = False


class TransportUnavailable(DeliveryFailed):
    """The server cannot be reached, or refuses the session (TLS, login): nothing was sent. ``retry_in_run``
    is false when waiting will not help (a certificate or a login refused)."""

    about_message = False

    def __init__(self, reason: str, retry_in_run: bool = True):
        super().__init__(reason)
        self.retry_in_run = retry_in_run


def classify(code: int, text: str) -> DeliveryFailed:
    """The failure a reply code to one message stands for: 5xx permanent, anything else temporary."""
    return (PermanentFailure if 500 <= code < 600 else TemporaryFailure)(text)


def _no_op() -> None:
    pass


class Transport(Protocol):
    """What :func:`billing_lib.invoicing.delivery.send.send_invoices` needs from a destination."""

    channel: str

    def deliver(self, msg: EmailMessage, name: str, handing_over: Callable[[], None] = _no_op) -> str:
        """Hand ``msg`` over (``name`` is its file stem), calling ``handing_over()`` just before the point of
        no return; return a short note on where it went."""

    def give_up(self, reason: str) -> None:
        """Stop trying for this run: every later message fails at once with ``reason``."""

    def close(self) -> None:
        """Release connections."""


class Outbox:
    """Writes each message as ``DIR/<invoice_id>.eml``, atomically (a reader never sees half a file)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ParameterError(f"outbox folder {self.folder} cannot be created: {exc.strerror or exc}") from None
        self.channel = f"{OUTBOX_CHANNEL}{self.folder.resolve()}"

    def deliver(self, msg: EmailMessage, name: str, handing_over: Callable[[], None] = _no_op) -> str:
        target = self.folder / f"{name}.eml"
        try:
            with replacing(target) as tmp:  # the temporary file is .<name>.eml.<random>.tmp (TEMP_SUFFIX)
                with open(tmp, "wb") as fh:
                    fh.write(message_bytes(msg))
                    fh.flush()
                    os.fsync(fh.fileno())  # on disk before it counts as sent
                handing_over()
        except OSError as exc:
            raise TemporaryFailure(f"cannot write {target}: {exc.strerror or exc}") from None
        try:
            fsync_path(self.folder)  # the rename durable before the log says the message is there
        except OSError as exc:  # the file is in place; whether it survives a power cut is not known
            raise OutcomeUnknown(f"{target} was written but the folder could not be synced: "
                                 f"{exc.strerror or exc}") from None
        return f"written to {target}"

    def give_up(self, reason: str) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the SMTP server; the login comes from the environment, never from a file or argument."""

    host: str
    port: int
    starttls: bool
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_env(cls, host: str, port: int | None, starttls: bool,
                 env: Mapping[str, str] | None = None) -> SmtpSettings:
        """Settings for ``host``; port 587 with STARTTLS, else 25; login from BILLING_SMTP_USER/PASSWORD."""
        env = os.environ if env is None else env
        user = env.get(SMTP_USER_VAR) or None
        password = env.get(SMTP_PASSWORD_VAR) or None
        if port is not None and not 0 < port < 65536:
            raise ParameterError(f"--smtp-port {port} is not a TCP port (1 to 65535)")
        if user and not password:
            raise ParameterError(f"{SMTP_USER_VAR} is set but {SMTP_PASSWORD_VAR} is not: set both to log in, "
                                 "or neither to send without a login")
        if password and not user:
            raise ParameterError(f"{SMTP_PASSWORD_VAR} is set but {SMTP_USER_VAR} is not: set both to log in")
        if user and not starttls and not _is_loopback(host):
            raise ParameterError(f"a login to {host} without --starttls would send the password unencrypted; "
                                 "add --starttls")
        return cls(host, port or (587 if starttls else 25), starttls, user, password)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SmtpTransport:
    """Sends over one SMTP connection, opened on first use and opened again after the server drops it.

    When the server cannot be reached (or refuses STARTTLS or the login), every later message of the
    run fails at once with the same reason instead of waiting for a timeout each.
    """

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.channel = f"smtp:{settings.host}:{settings.port}{' starttls' if settings.starttls else ''}"
        self._smtp: smtplib.SMTP | None = None
        self._unreachable: str | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        where = f"{s.host}:{s.port}"
        try:
            smtp = smtplib.SMTP(s.host, s.port, timeout=SMTP_TIMEOUT_SECONDS)
        except smtplib.SMTPResponseException as exc:  # a greeting other than 220, e.g. 421 or 554
            raise TransportUnavailable(f"{where} refused the connection: {_reason(exc)}",
                                       retry_in_run=not 500 <= exc.smtp_code < 600) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportUnavailable(f"cannot connect to {where}: {_reason(exc)}") from None
        try:
            smtp.ehlo()
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.user:
                smtp.login(s.user, s.password or "")
        except smtplib.SMTPNotSupportedError as exc:
            smtp.close()
            raise TransportUnavailable(f"{where} does not offer {'STARTTLS' if s.starttls else 'a login'}: "
                                       f"{_reason(exc)}", retry_in_run=False) from None
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise TransportUnavailable(f"{where} refused the login of {s.user} ({SMTP_USER_VAR}/"
                                       f"{SMTP_PASSWORD_VAR}): {_reason(exc)}", retry_in_run=False) from None
        except ssl.SSLError as exc:  # a certificate not trusted: waiting will not change it
            smtp.close()
            raise TransportUnavailable(f"cannot open a session with {where}: {_reason(exc)}",
                                       retry_in_run=False) from None
        except (OSError, smtplib.SMTPException) as exc:
            smtp.close()
            raise TransportUnavailable(f"cannot open a session with {where}: {_reason(exc)}") from None
        return smtp

    def deliver(self, msg: EmailMessage, name: str, handing_over: Callable[[], None] = _no_op) -> str:
        if self._unreachable:
            raise TransportUnavailable(f"not tried: {self._unreachable}", retry_in_run=False)
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except TransportUnavailable as exc:
                if not exc.retry_in_run:
                    self._unreachable = str(exc)
                raise
        handed: list[bool] = []

        def hand_over() -> None:
            handing_over()
            handed.append(True)

        where = f"{self.settings.host}:{self.settings.port}"
        try:
            self._transact(self._smtp, msg, hand_over)
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0]
            refusals = "; ".join(f"{rcpt}: {_code_text(c, t)}" for rcpt, (c, t) in exc.recipients.items())
            if code == 421:
                self._drop()
            raise classify(code, f"recipient refused: {refusals}") from None
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused (4xx / 5xx)
            if exc.smtp_code == 421:
                self._drop()
            raise classify(exc.smtp_code, "refused by the server: "
                                          f"{_code_text(exc.smtp_code, exc.smtp_error)}") from None
        except OSError as exc:  # no reply (smtplib's errors are OSErrors): a dropped connection, a timeout
            self._drop()
            if handed:
                raise OutcomeUnknown(f"connection to {where} lost while the server was receiving the message "
                                     f"({_reason(exc)}): it may have been delivered") from None
            raise TemporaryFailure(f"connection to {where} lost: {_reason(exc)}") from None
        return f"accepted by {where}"

    @staticmethod
    def _transact(smtp: smtplib.SMTP, msg: EmailMessage, handing_over: Callable[[], None]) -> None:
        """``smtp.send_message`` split at its point of no return: MAIL and RCPT (a refusal there means
        nothing was delivered), then ``handing_over()``, then DATA (a stop during it leaves the outcome
        unknown). The addresses are ASCII (checked by :mod:`.addresses`), so no SMTPUTF8 is needed."""
        sender = msg["From"].addresses[0].addr_spec
        recipients = [a.addr_spec for a in msg["To"].addresses]
        data = message_bytes(msg)
        smtp.ehlo_or_helo_if_needed()
        options = [f"size={len(data)}"] if smtp.does_esmtp and smtp.has_extn("size") else []
        code, reply = smtp.mail(sender, options)
        if code != 250:
            _reset_or_close(smtp, code)
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        refused = {}
        for rcpt in recipients:
            code, reply = smtp.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, reply)
        if refused:  # one recipient per message: refused means not delivered
            _reset_or_close(smtp, next(iter(refused.values()))[0])
            raise smtplib.SMTPRecipientsRefused(refused)
        handing_over()
        code, reply = smtp.data(data)
        if code != 250:
            _reset_or_close(smtp, code)
            raise smtplib.SMTPDataError(code, reply)

    def give_up(self, reason: str) -> None:
        self._unreachable = reason

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            finally:
                self._drop()


def _reset_or_close(smtp: smtplib.SMTP, code: int) -> None:
    """After a refusal: RSET to reuse the connection, or close it when the server is closing it (421)."""
    if code == 421:
        smtp.close()
        return
    try:
        smtp.rset()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _code_text(code: int, text: bytes | str) -> str:
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(text.split())}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _code_text(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, socket.timeout):
        return f"no answer within {SMTP_TIMEOUT_SECONDS} s"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
