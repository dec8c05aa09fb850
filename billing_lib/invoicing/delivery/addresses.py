"""Email addresses: the sender from the environment, recipients checked for syntax, names safe in headers."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr

from email_validator import EmailNotValidError, validate_email

from billing_lib.errors import ParameterError

MAIL_FROM_VAR = "BILLING_MAIL_FROM"
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class RecipientCheck:
    """A customer's address after the syntax check: ``address`` when usable, else ``problem``."""

    address: str | None
    problem: str | None


def check_recipient(raw: str | None) -> RecipientCheck:
    """Check an address's syntax (no DNS look-up); return its normalized ASCII form or what is wrong."""
    text = (raw or "").strip()
    if not text:
        return RecipientCheck(None, "the customer has no email address")
    try:
        valid = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        return RecipientCheck(None, f"{text!r} is not a valid email address: {exc}")
    return RecipientCheck(valid.ascii_email or valid.normalized, None)


def header_name(name: str | None) -> str:
    """A display name safe in a header: line breaks, tabs and other control characters become one space."""
    return _CONTROL_OR_SPACE.sub(" ", name or "").strip()


def mailbox(name: str | None, address: str) -> Address:
    """The header value ``"Name" <address>``; quoting and non-ASCII encoding are left to the email package."""
    local, _, domain = address.rpartition("@")
    return Address(display_name=header_name(name), username=local, domain=domain)


def sender_from_env(env: Mapping[str, str] | None = None) -> Address:
    """The sender (``BILLING_MAIL_FROM``, e.g. ``Billing <billing@example.com>``).

    Raises ParameterError when it is unset or invalid."""
    env = os.environ if env is None else env
    raw = env.get(MAIL_FROM_VAR, "").strip()
    if not raw:
        raise ParameterError(f"set {MAIL_FROM_VAR} to the sender of the invoices, e.g. "
                             f"export {MAIL_FROM_VAR}='Billing <billing@example.com>'")
    name, addr = parseaddr(raw)
    checked = check_recipient(addr) if addr else RecipientCheck(None, "no address found")
    if checked.address is None:
        raise ParameterError(f"{MAIL_FROM_VAR}={raw!r} is not a sender address ({checked.problem}); "
                             "use 'Name <address@domain>' or a plain address")
    return mailbox(name, checked.address)

