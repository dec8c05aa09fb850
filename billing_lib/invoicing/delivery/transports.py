"""Where the emails go: an outbox folder of ``.eml`` files, or an SMTP server (STARTTLS, login).

A transport's ``deliver`` either hands the message over or raises :class:`DeliveryFailed` with the reason
(the server's reply, a connection error); it never raises for one message's refusal otherwise.
"""
from __future__ import annotations

import ipaddress
import os
import smtplib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from billing_lib.core.output import write_bytes_atomic
from billing_lib.errors import ParameterError
from billing_lib.invoicing.delivery.compose import message_bytes

SMTP_USER_VAR, SMTP_PASSWORD_VAR = "BILLING_SMTP_USER", "BILLING_SMTP_PASSWORD"
SMTP_TIMEOUT_SECONDS = 60


class DeliveryFailed(Exception):
    """Raised by a transport when one message could not be handed over; the message says why."""


class Transport(Protocol):
    """What :func:`billing_lib.invoicing.delivery.send.send_invoices` needs from a destination."""

    channel: str

    def deliver(self, msg: EmailMessage, name: str) -> str:
        """Hand ``msg`` over (``name`` is its file stem); return a short note on where it went."""

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
        self.channel = f"outbox:{self.folder.resolve()}"

    def deliver(self, msg: EmailMessage, name: str) -> str:
        target = self.folder / f"{name}.eml"
        try:
            write_bytes_atomic(target, message_bytes(msg), durable=True)  # on disk before it counts as sent
        except OSError as exc:
            raise DeliveryFailed(f"cannot write {target}: {exc.strerror or exc}") from None
        return f"written to {target}"

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
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"cannot connect to {where}: {_reason(exc)}") from None
        try:
            smtp.ehlo()
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.user:
                smtp.login(s.user, s.password or "")
        except smtplib.SMTPNotSupportedError as exc:
            smtp.close()
            raise DeliveryFailed(f"{where} does not offer {'STARTTLS' if s.starttls else 'a login'}: "
                                 f"{_reason(exc)}") from None
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise DeliveryFailed(f"{where} refused the login of {s.user} ({SMTP_USER_VAR}/{SMTP_PASSWORD_VAR}): "
                                 f"{_reason(exc)}") from None
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            smtp.close()
            raise DeliveryFailed(f"cannot open a session with {where}: {_reason(exc)}") from None
        return smtp

    def deliver(self, msg: EmailMessage, name: str) -> str:
        if self._unreachable:
            raise DeliveryFailed(f"not tried: {self._unreachable}")
        for attempt in (1, 2):
            reused = self._smtp is not None
            try:
                self._send(msg)
                return f"accepted by {self.settings.host}:{self.settings.port}"
            except smtplib.SMTPServerDisconnected as exc:
                if not (reused and attempt == 1):
                    raise DeliveryFailed(f"connection to {self.settings.host}:{self.settings.port} lost: "
                                         f"{_reason(exc)}") from None
                # the server closed an idle connection between two messages: once more on a new one
        raise AssertionError("unreachable")

    def _send(self, msg: EmailMessage) -> None:
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except DeliveryFailed as exc:
                self._unreachable = str(exc)
                raise
        try:
            self._smtp.send_message(msg)
        except smtplib.SMTPServerDisconnected:
            self._drop()
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            refusals = "; ".join(f"{rcpt}: {_code_text(code, text)}" for rcpt, (code, text) in exc.recipients.items())
            raise DeliveryFailed(f"recipient refused: {refusals}") from None
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused (4xx / 5xx)
            raise DeliveryFailed(f"refused by the server: {_code_text(exc.smtp_code, exc.smtp_error)}") from None
        except (OSError, smtplib.SMTPException) as exc:  # dropped connection, timeout
            self._drop()
            raise DeliveryFailed(f"connection to {self.settings.host}:{self.settings.port} lost: "
                                 f"{_reason(exc)}") from None

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
