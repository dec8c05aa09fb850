"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives and refuses whom it is told to."""
from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    """One message as the server accepted it: envelope and parsed content."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.raw)


@dataclass
class Inbox:
    """The handler: ``refuse`` maps a recipient to the reply it gets at RCPT TO (e.g. ``550 ...``)."""

    refuse: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            self.refused.append(address)
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
                                       or envelope.content, session.ssl is not None, login))
        return "250 Message accepted for delivery"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def smtp_server(inbox: Inbox, port: int | None = None, tls_context: ssl.SSLContext | None = None,
                logins: dict[str, str] | None = None) -> Iterator[int]:
    """Run an SMTP server for ``inbox`` on 127.0.0.1 and yield its port; with ``tls_context`` it offers
    STARTTLS and requires it, with ``logins`` it requires AUTH with one of those user/password pairs."""
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and logins is not None and \
            logins.get(auth_data.login.decode()) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    port = port or free_port()
    options = {}
    if tls_context is not None:
        options.update(tls_context=tls_context, require_starttls=True)
    if logins is not None:
        options.update(authenticator=authenticate, auth_required=True, auth_require_tls=tls_context is not None)
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
