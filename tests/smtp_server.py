"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives and refuses whom it is told to."""
from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
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
    """The handler, with failures to inject:

    - ``refuse`` maps a recipient to the reply it gets at RCPT TO every time (e.g. ``550 ...``);
    - ``defer`` maps a recipient to (reply, n): the reply at RCPT TO the first n times, then acceptance;
    - ``refuse_data`` maps a recipient to the reply its message gets at the end of DATA (after the content);
    - ``hold_rcpt`` / ``hold_data`` hold the reply at RCPT TO / at the end of DATA until ``release`` is set
      (``arrived`` is set once the server is holding), to stop a sender at a chosen moment; a message held
      at DATA is already received, as a real server queues a message before it replies.

    ``rcpt_log`` keeps (address, monotonic time) of every RCPT TO, answered or not.
    """

    refuse: dict[str, str] = field(default_factory=dict)
    defer: dict[str, tuple[str, int]] = field(default_factory=dict)
    refuse_data: dict[str, str] = field(default_factory=dict)
    hold_rcpt: bool = False
    hold_data: bool = False
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    rcpt_log: list[tuple[str, float]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def _hold(self) -> None:
        self.arrived.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_log.append((address, time.monotonic()))
        if self.hold_rcpt:
            await self._hold()
        if address in self.refuse:
            self.refused.append(address)
            return self.refuse[address]
        reply, times = self.defer.get(address, ("", 0))
        if times > 0:
            self.defer[address] = (reply, times - 1)
            self.refused.append(address)
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        refusal = next((self.refuse_data[r] for r in envelope.rcpt_tos if r in self.refuse_data), None)
        if refusal:
            self.refused.extend(envelope.rcpt_tos)
            return refusal
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
                                       or envelope.content, session.ssl is not None, login))
        if self.hold_data:  # the message is taken (queued, as a real server does first), the reply held
            await self._hold()
        return "250 Message accepted for delivery"

    def tries(self, address: str) -> list[float]:
        """When ``address`` was named at RCPT TO (monotonic seconds), in order."""
        return [at for rcpt, at in self.rcpt_log if rcpt == address]


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
        inbox.release.set()  # a held reply goes out, so the server can stop
        controller.stop()
