"""`billing send` when things go wrong, against the real loopback SMTP server with injected failures:
permanent (5xx) and temporary (4xx) refusals told apart, retries with a doubling wait in a run and across
runs, an unreachable server, and runs killed mid-batch (SIGKILL) that neither lose nor double-send."""
from __future__ import annotations

import email.policy
import os
import signal
import sqlite3
import subprocess
import sys
from email.parser import BytesParser
from pathlib import Path

import polars as pl
import pytest
from send_month import SENDER, billing, billing_env, emails, fresh, invoices, log_rows, make_month, send_smtp
from smtp_server import Inbox, free_port, smtp_server

from billing_lib.invoicing.delivery import (
    Outbox,
    RetryPolicy,
    SmtpSettings,
    SmtpTransport,
    load_batch,
    open_log,
    send_invoices,
)
from billing_lib.invoicing.delivery.addresses import sender_from_env
from billing_lib.invoicing.delivery.compose import compose


@pytest.fixture(scope="module")
def month(tmp_path_factory) -> tuple[Path, Path]:
    """One generated month, shared: tests copy it first (``fresh``)."""
    return make_month(tmp_path_factory.mktemp("month"))


def outcomes(gen: Path, invoice_id: str) -> list[str]:
    return [r["outcome"] for r in log_rows(gen) if r["invoice_id"] == invoice_id]


def test_a_permanent_refusal_is_tried_once_and_a_temporary_one_again_after_doubling_waits(tmp_path, month):
    data, gen = fresh(month, tmp_path)
    rows, address = invoices(gen), emails(data)
    gone, busy, spam = (address[rows[i]["customer_id"]] for i in range(3))
    inbox = Inbox(refuse={gone: "550 5.1.1 mailbox unavailable"}, defer={busy: ("451 4.3.0 try again later", 2)},
                  refuse_data={spam: "554 5.7.1 message rejected"})
    with smtp_server(inbox) as port:
        first = send_smtp(data, gen, port, "--retry-delay", "0.2")
        again = send_smtp(data, gen, port, "--retry-delay", "0.2")
    assert first.returncode == 3 and "Traceback" not in first.stderr
    assert len(inbox.tries(gone)) == 1, "a 5xx reply is final: not tried again in the run"
    tries = inbox.tries(busy)
    assert len(tries) == 3, "a 4xx reply is tried again until accepted"
    assert tries[1] - tries[0] >= 0.2 and tries[2] - tries[1] >= 0.4, "the wait doubles"
    assert "trying again in 0.2 s (try 2 of 3)" in first.stderr and "trying again in 0.4 s (try 3 of 3)" in first.stderr
    assert sorted(r for got in inbox.received for r in got.rcpt_tos) == \
        sorted(a for c, a in address.items() if c in {r["customer_id"] for r in rows} and a not in (gone, spam))
    assert outcomes(gen, rows[0]["invoice_id"]) == ["refused"]
    assert outcomes(gen, rows[1]["invoice_id"]) == ["failed", "failed", "sent"]
    assert outcomes(gen, rows[2]["invoice_id"]) == ["refused"], "a 5xx reply to the content is a refusal, known"
    assert "2 NOT delivered, refused by the server for good" in first.stdout
    assert "550 5.1.1 mailbox unavailable" in first.stdout and "554 5.7.1 message rejected" in first.stdout
    # the next run does not knock again on a door that said no for good
    assert again.returncode == 3 and len(inbox.tries(gone)) == 1
    assert f"{len(rows) - 2} already sent before" in again.stdout and "refused by the server for good" in again.stdout
    with smtp_server(inbox) as port:
        forced = send_smtp(data, gen, port, "--retry-refused")
    assert forced.returncode == 3 and len(inbox.tries(gone)) == 2, "--retry-refused tries again"
    # the customer's address is corrected: the invoice goes out without being asked
    customers = pl.read_csv(data / "customers.csv", infer_schema=False)
    customers.with_columns(email=pl.when(pl.col("email").is_in([gone, spam])).then(pl.lit("fixed@example.com"))
                           .otherwise(pl.col("email"))).write_csv(data / "customers.csv")
    with smtp_server(inbox) as port:
        fixed = send_smtp(data, gen, port)
    assert fixed.returncode == 0, fixed.stdout
    assert [got.rcpt_tos for got in inbox.received[-2:]] == [["fixed@example.com"]] * 2


def test_a_deferred_invoice_is_not_tried_again_before_its_wait_has_passed(tmp_path, month):
    data, gen = fresh(month, tmp_path)
    rows, address = invoices(gen), emails(data)
    busy = address[rows[0]["customer_id"]]
    inbox = Inbox(defer={busy: ("452 4.2.2 mailbox full", 99)})
    with smtp_server(inbox) as port:
        first = send_smtp(data, gen, port, "--attempts", "1", "--retry-delay", "600")
        second = send_smtp(data, gen, port, "--attempts", "1", "--retry-delay", "600")
        tried = len(inbox.tries(busy))
        inbox.defer.clear()
        at_once = send_smtp(data, gen, port, "--retry-delay", "0")
    assert first.returncode == 3 and "failed for now" in first.stdout
    assert second.returncode == 3 and tried == 1, "the second run waits for the first's backoff"
    assert "deferred by the server and not due again yet" in second.stdout
    assert "452 4.2.2 mailbox full; not tried again before 20" in second.stdout
    assert at_once.returncode == 0 and len(inbox.tries(busy)) == 2
    retry_after = [r["retry_after"] for r in log_rows(gen) if r["invoice_id"] == rows[0]["invoice_id"]]
    assert retry_after[0] is not None and retry_after[1] is None  # the sent row waits for nothing


def test_an_unreachable_server_is_tried_again_then_the_rest_is_not_tried(tmp_path, month):
    data, gen = fresh(month, tmp_path)
    rows = invoices(gen)
    down = send_smtp(data, gen, free_port(), "--attempts", "3", "--retry-delay", "0.1")
    assert down.returncode == 3
    assert f"{len(rows)} NOT delivered, failed for now" in down.stdout and "cannot connect to 127.0.0.1" in down.stdout
    assert "NOT delivered" in down.stderr and "run the same command again" in down.stderr and "(exit 3)" in down.stderr
    log = log_rows(gen)
    assert len(log) == len(rows) + 2, "three tries for the first invoice, then none for the rest"
    assert all(r["outcome"] == "failed" and r["retry_after"] is None for r in log), "the server's fault, not theirs"
    assert sum("not tried: cannot connect" in r["detail"] for r in log) == len(rows) - 1
    inbox = Inbox()
    with smtp_server(inbox) as port:
        up = send_smtp(data, gen, port, "--retry-delay", "2")
    assert up.returncode == 0 and len(inbox.received) == len(rows), "an unreachable server defers nothing"


def test_waiting_in_a_run_is_bounded(tmp_path, month):
    data, gen = fresh(month, tmp_path)
    address = emails(data)
    batch = load_batch(gen, data, send_all=True)
    inbox = Inbox(defer={address[item.invoice["customer_id"]]: ("421 4.7.0 busy, come back later", 99)
                         for item in batch})
    policy = RetryPolicy(attempts=5, first_delay=0.1, run_budget=0.3)
    with smtp_server(inbox) as port, open_log(gen / "delivery_log.sqlite") as log:
        transport = SmtpTransport(SmtpSettings("127.0.0.1", port, starttls=False))
        try:
            report = send_invoices(batch, transport, log, sender_from_env({"BILLING_MAIL_FROM": SENDER}),
                                   policy=policy)
        finally:
            transport.close()
    tries = [len(inbox.tries(address[item.invoice["customer_id"]])) for item in batch]
    assert tries[0] == 3, "waits of 0.1 and 0.2 s spend the run's 0.3 s"
    assert tries[1:] == [1] * (len(batch) - 1), "then no more waiting in this run"
    assert report.exit_code == 3 and len(report.with_status("failed")) == len(batch)


def _kill_while_held(data: Path, gen: Path, inbox: Inbox, port: int, *extra: str) -> None:
    """Start billing send, wait until the server holds the first message, and kill the sender (SIGKILL)."""
    proc = subprocess.Popen([sys.executable, "-m", "billing_lib", "send", str(gen), "--data", str(data),
                             "--smtp-host", "127.0.0.1", "--smtp-port", str(port), "--all", *extra],
                            env=billing_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert inbox.arrived.wait(120), "the sender never reached the server"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(60)


def test_a_run_killed_while_the_server_takes_the_message_never_sends_it_twice(tmp_path, month):
    data, gen = fresh(month, tmp_path)
    rows = invoices(gen)
    first_id = rows[0]["invoice_id"]
    held = Inbox(hold_data=True)
    with smtp_server(held) as port:
        _kill_while_held(data, gen, held, port)
    # the server took the message; the sender died before it read the reply and could log it
    assert len(held.received) == 1 and outcomes(gen, first_id) == ["handed_over"]
    inbox = Inbox()
    with smtp_server(inbox) as port:
        after = send_smtp(data, gen, port)
    assert after.returncode == 3
    assert f"{first_id}: unconfirmed: the run stopped while the server" in after.stdout
    assert "look for Message-ID" in after.stdout and "--unconfirmed sent" in after.stdout
    assert len(inbox.received) == len(rows) - 1
    assert first_id not in {got.message["Subject"].split()[1] for got in inbox.received}, "not sent a second time"
    with smtp_server(inbox) as port:
        still = send_smtp(data, gen, port)
        assert still.returncode == 3 and len(inbox.received) == len(rows) - 1, "held until the user says"
        resent = send_smtp(data, gen, port, "--unconfirmed", "resend")
        assert resent.returncode == 0 and len(inbox.received) == len(rows)
        done = send_smtp(data, gen, port)
    assert inbox.received[-1].message["Message-ID"] == held.received[0].message["Message-ID"], \
        "the same Message-ID, so mail programs can drop the copy"
    assert done.returncode == 0 and len(inbox.received) == len(rows)
    assert outcomes(gen, first_id) == ["unconfirmed", "sent"]


def test_a_run_killed_before_the_message_was_handed_over_sends_it_once_later(tmp_path, month):
    data, gen = fresh(month, tmp_path)
    first_id = invoices(gen)[0]["invoice_id"]
    held = Inbox(hold_rcpt=True)
    with smtp_server(held) as port:
        _kill_while_held(data, gen, held, port)
    assert held.received == [] and outcomes(gen, first_id) == ["sending"]
    inbox = Inbox()
    with smtp_server(inbox) as port:
        after = send_smtp(data, gen, port)
    assert after.returncode == 0, after.stdout
    assert f"{first_id}: interrupted: the run stopped before the message was handed over" in after.stdout
    assert [got.message["Subject"].split()[1] for got in inbox.received].count(first_id) == 1
    assert outcomes(gen, first_id) == ["interrupted", "sent"]


def test_an_outbox_is_reconciled_with_the_log_after_a_crash(tmp_path, month):
    """The three states a run killed while moving messages into the outbox can leave, as it leaves them."""
    data, gen = fresh(month, tmp_path)
    outbox = tmp_path / "outbox"
    sender = sender_from_env({"BILLING_MAIL_FROM": SENDER})
    batch = load_batch(gen, data, send_all=True)
    box = Outbox(outbox)
    written, moving, taken = batch[0], batch[1], batch[2]
    with open_log(gen / "delivery_log.sqlite") as log:
        for item in (written, moving, taken):
            msg = compose(item, sender, emails(data)[item.invoice["customer_id"]])
            attempt = log.record(item.invoice_id, item.content_hash, item.invoice["customer_id"], msg["To"].addresses[0]
                                 .addr_spec, msg["Message-ID"], box.channel, "sending")
            log.handing_over(attempt)
            if item is written:    # killed after the rename, before the log said so
                box.deliver(msg, item.invoice_id)
            elif item is moving:   # killed before the rename: the temporary file is left
                (outbox / f".{item.invoice_id}.k1ll3d.tmp").write_bytes(b"half a messa")
            # taken: renamed, then a mail pickup took the file before anyone looked
    stamp = (outbox / f"{written.invoice_id}.eml").stat().st_mtime_ns
    after = billing("send", str(gen), "--data", str(data), "--outbox", str(outbox), "--all")
    assert after.returncode == 3, after.stdout + after.stderr
    assert f"{written.invoice_id}: sent: found in the outbox" in after.stdout
    assert f"{moving.invoice_id}: interrupted: the run stopped before the message was moved into the outbox" \
        in after.stdout
    assert f"{taken.invoice_id}: unconfirmed: the run stopped while moving the message into {outbox}" in after.stdout
    assert (outbox / f"{written.invoice_id}.eml").stat().st_mtime_ns == stamp, "not written again"
    assert not list(outbox.glob(".*.tmp")) and (outbox / f"{moving.invoice_id}.eml").is_file()
    assert not (outbox / f"{taken.invoice_id}.eml").exists(), "perhaps delivered: not written again on its own"
    assert f"{len(batch) - 2} of {len(batch)} approved invoices sent via {box.channel}; 1 already sent before" \
        in after.stdout
    confirmed = billing("send", str(gen), "--data", str(data), "--outbox", str(outbox), "--all",
                        "--unconfirmed", "sent")
    assert confirmed.returncode == 0, confirmed.stdout
    assert "1 recorded as delivered on your word (--unconfirmed sent)" in confirmed.stdout
    assert not (outbox / f"{taken.invoice_id}.eml").exists()
    assert outcomes(gen, taken.invoice_id) == ["unconfirmed", "sent"]
    assert outcomes(gen, written.invoice_id) == ["sent"] and outcomes(gen, moving.invoice_id) == ["interrupted", "sent"]
    parsed = BytesParser(policy=email.policy.default).parsebytes((outbox / f"{written.invoice_id}.eml").read_bytes())
    assert parsed["Message-ID"] == [r for r in log_rows(gen) if r["invoice_id"] == written.invoice_id][0]["message_id"]


def test_a_delivery_log_of_the_first_version_is_migrated_keeping_every_row(tmp_path, month):
    data, gen = fresh(month, tmp_path)
    rows = invoices(gen)
    batch = {item.invoice_id: item for item in load_batch(gen, data, send_all=True)}
    with sqlite3.connect(gen / "delivery_log.sqlite") as db:  # as billing send of the previous version left it
        db.executescript("""
            CREATE TABLE deliveries (attempt_id INTEGER PRIMARY KEY AUTOINCREMENT, invoice_id TEXT NOT NULL,
                content_hash TEXT NOT NULL, customer_id TEXT NOT NULL, recipient TEXT NOT NULL,
                message_id TEXT NOT NULL, channel TEXT NOT NULL, attempted_at TEXT NOT NULL, finished_at TEXT,
                outcome TEXT NOT NULL CHECK (outcome IN ('sending', 'sent', 'failed', 'invalid_address',
                'interrupted')), detail TEXT NOT NULL DEFAULT '');
            CREATE INDEX deliveries_by_invoice ON deliveries (invoice_id);
            CREATE UNIQUE INDEX one_sent_per_invoice ON deliveries (invoice_id) WHERE outcome = 'sent';""")
        for outcome, row in (("failed", rows[0]), ("sent", rows[0]), ("failed", rows[1])):
            db.execute("INSERT INTO deliveries (invoice_id, content_hash, customer_id, recipient, message_id, "
                       "channel, attempted_at, finished_at, outcome, detail) VALUES (?, ?, ?, 'a@b.example', "
                       "'<m@b>', 'smtp:x:25', '2024-04-01T00:00:00+00:00', '2024-04-01T00:00:01+00:00', ?, 'old')",
                       (row["invoice_id"], batch[row["invoice_id"]].content_hash, row["customer_id"], outcome))
    outbox = tmp_path / "outbox"
    done = billing("send", str(gen), "--data", str(data), "--outbox", str(outbox), "--all")
    assert done.returncode == 0, done.stderr
    assert "1 already sent before" in done.stdout and not (outbox / f"{rows[0]['invoice_id']}.eml").exists()
    log = log_rows(gen)
    assert [(r["invoice_id"], r["outcome"], r["detail"]) for r in log[:3]] == [
        (rows[0]["invoice_id"], "failed", "old"), (rows[0]["invoice_id"], "sent", "old"),
        (rows[1]["invoice_id"], "failed", "old")]
    assert len(log) == 3 + len(rows) - 1
    with sqlite3.connect(gen / "delivery_log.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO deliveries (invoice_id, content_hash, customer_id, recipient, message_id, "
                       "channel, attempted_at, outcome) VALUES (?, 'h', 'c', 'r', 'm', 'x', 'now', 'sent')",
                       (rows[0]["invoice_id"],))
