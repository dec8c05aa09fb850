"""The parts of `billing send`: addresses, the sender, SMTP settings and the delivery log."""
from __future__ import annotations

import sqlite3

import pytest

from billing_lib.errors import ParameterError
from billing_lib.invoicing.delivery import open_log
from billing_lib.invoicing.delivery.addresses import check_recipient, header_name, mailbox, sender_from_env
from billing_lib.invoicing.delivery.transports import SmtpSettings


@pytest.mark.parametrize("raw, expected", [
    ("billing+c-00001@example.com", "billing+c-00001@example.com"),
    ("  Ops@Example.COM ", "Ops@example.com"),  # the domain is case-insensitive, the local part is kept
    ("rechnung@bücher.example", "rechnung@xn--bcher-kva.example"),  # IDN domain, sent as ASCII
])
def test_valid_addresses_are_normalized(raw, expected):
    assert check_recipient(raw).address == expected


@pytest.mark.parametrize("raw, problem", [
    (None, "the customer has no email address"),
    ("", "the customer has no email address"),
    ("billing at example.com", "is not a valid email address"),
    ("a@b.example\nBcc: victim@attacker.example", "is not a valid email address"),
    ("jörg@example.com", "is not a valid email address"),  # needs SMTPUTF8, which the messages do not use
    ("two@example.com, three@example.com", "is not a valid email address"),
])
def test_invalid_addresses_say_why(raw, problem):
    checked = check_recipient(raw)
    assert checked.address is None and problem in checked.problem


def test_names_cannot_break_a_header():
    assert header_name("Evil\r\nBcc: x@y.example\t Corp") == "Evil Bcc: x@y.example Corp"
    box = mailbox('Müller "& Söhne", GmbH\n', "a@b.example")
    assert box.display_name == 'Müller "& Söhne", GmbH' and box.addr_spec == "a@b.example"


def test_the_sender_comes_from_the_environment():
    assert str(sender_from_env({"BILLING_MAIL_FROM": "Billing <billing@vendor.example>"})) == \
        "Billing <billing@vendor.example>"
    assert sender_from_env({"BILLING_MAIL_FROM": "billing@vendor.example"}).domain == "vendor.example"
    with pytest.raises(ParameterError, match="set BILLING_MAIL_FROM"):
        sender_from_env({})
    with pytest.raises(ParameterError, match="is not a sender address"):
        sender_from_env({"BILLING_MAIL_FROM": "Billing <nobody>"})


def test_smtp_settings():
    assert SmtpSettings.from_env("mail.example", None, False, {}).port == 25
    assert SmtpSettings.from_env("mail.example", None, True, {}).port == 587
    login = {"BILLING_SMTP_USER": "u", "BILLING_SMTP_PASSWORD": "p"}
    settings = SmtpSettings.from_env("mail.example", 2525, True, login)
    assert (settings.port, settings.user, settings.password) == (2525, "u", "p")
    assert SmtpSettings.from_env("::1", 25, False, login).user == "u"  # loopback: no password on the wire
    with pytest.raises(ParameterError, match="add --starttls"):
        SmtpSettings.from_env("mail.example", 25, False, login)
    with pytest.raises(ParameterError, match="not a TCP port"):
        SmtpSettings.from_env("mail.example", 70000, True, {})
    with pytest.raises(ParameterError, match="BILLING_SMTP_USER is not"):
        SmtpSettings.from_env("mail.example", 25, True, {"BILLING_SMTP_PASSWORD": "p"})


def test_the_log_never_holds_two_deliveries_of_one_invoice(tmp_path):
    path = tmp_path / "log.sqlite"
    with open_log(path) as log:
        first = log.record("INV-1", "h1", "C1", "a@b.example", "<m1@x>", "outbox:/o", "sending")
        log.finish(first, "sent", "written")
        assert log.delivered("INV-1").content_hash == "h1"
        assert log.delivered("INV-2") is None
        second = log.record("INV-1", "h1", "C1", "a@b.example", "<m1@x>", "outbox:/o", "sending")
        with pytest.raises(sqlite3.IntegrityError):
            log.finish(second, "sent", "again")
    with open_log(path) as log:  # the log is a file: it survives the run
        assert log.mark_interrupted() == ["INV-1"]
        assert log.history()["outcome"].to_list() == ["sent", "interrupted"]


def test_a_file_that_is_no_log_is_refused(tmp_path):
    path = tmp_path / "log.sqlite"
    path.write_text("invoice_id\nINV-1\n")
    with pytest.raises(ParameterError, match="is not a usable delivery log"):
        with open_log(path):
            pass
