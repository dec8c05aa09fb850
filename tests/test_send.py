"""`billing send`: a month's invoices delivered to a real SMTP server on loopback, or to an outbox folder,
each invoice once, failures kept in the delivery log and delivered on a later run."""
from __future__ import annotations

import io
import os
import shutil
import ssl
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import trustme
from pypdf import PdfReader
from send_month import HOSTILE_NAME, SENDER, billing, emails, fresh, invoices, log_rows, make_month, send_smtp
from smtp_server import Inbox, smtp_server

from billing_lib.core.currency import customer_locale, format_money_local
from billing_lib.data.loading import load_dataset


@pytest.fixture(scope="module")
def month(tmp_path_factory) -> tuple[Path, Path]:
    """One generated month, shared: tests that send copy it first (see ``fresh``)."""
    return make_month(tmp_path_factory.mktemp("month"))


def test_a_month_is_delivered_over_smtp_once(tmp_path, month):
    data, gen = fresh(month, tmp_path)
    expected = {row["invoice_id"]: row for row in invoices(gen)}
    address = emails(data)
    customers = pl.read_csv(data / "customers.csv", infer_schema=False)
    locale = {c: customer_locale(country) for c, country in zip(customers["customer_id"], customers["country"], strict=True)}
    assert len(expected) >= 5
    inbox = Inbox()
    with smtp_server(inbox) as port:
        first = send_smtp(data, gen, port)
        second = send_smtp(data, gen, port)
    assert first.returncode == 0, first.stderr
    assert f"{len(expected)} of {len(expected)} approved invoices sent" in first.stdout
    assert len(inbox.received) == len(expected), "the second run sent something again"
    assert second.returncode == 0 and f"0 of {len(expected)} approved invoices sent" in second.stdout
    assert f"{len(expected)} already sent before" in second.stdout
    for got in inbox.received:
        msg = got.message
        invoice_id = msg["Subject"].split()[1]
        invoice = expected.pop(invoice_id)
        assert got.rcpt_tos == [address[invoice["customer_id"]]]
        assert got.mail_from == "billing@vendor.example"
        assert msg["To"].addresses[0].addr_spec == address[invoice["customer_id"]]
        assert msg["From"].addresses[0].display_name == "Billing Team"
        assert msg["Subject"] == f"Invoice {invoice_id} for March 2024"
        assert msg["Message-ID"].startswith(f"<{invoice_id}.") and msg["Message-ID"].endswith("@vendor.example>")
        assert msg["Date"].datetime.isoformat() == f"{invoice['issue_date']}T00:00:00+00:00"
        assert msg.get_content_type() == "multipart/mixed"
        text, html = msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()
        total = format_money_local(Decimal(invoice["total"]), invoice["currency"], locale[invoice["customer_id"]])
        for body in (text, html):
            assert invoice_id in body and "Total due" in body and total in body
        attachments = list(msg.iter_attachments())
        assert [(a.get_content_type(), a.get_filename()) for a in attachments] == \
            [("application/pdf", f"{invoice_id}.pdf")]
        pdf_text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(attachments[0].get_content())).pages)
        assert invoice_id in pdf_text and total in pdf_text, "the email and the PDF show the total alike"
    assert expected == {}, "invoices not received"
    rows = log_rows(gen)
    assert [r["outcome"] for r in rows] == ["sent"] * len(inbox.received)
    assert all(r["message_id"].startswith(f"<{r['invoice_id']}.") and r["finished_at"] for r in rows)


def test_starttls_with_login_from_the_environment(tmp_path, month):
    data, gen = fresh(month, tmp_path)
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    login = {"BILLING_SMTP_USER": "billing", "BILLING_SMTP_PASSWORD": "s3cret"}
    inbox = Inbox()
    with smtp_server(inbox, tls_context=server_ctx, logins={"billing": "s3cret"}) as port:
        untrusted = send_smtp(data, gen, port, "--starttls", **login)
        plain = send_smtp(data, gen, port, **login)  # no --starttls: a loopback login is allowed, the server refuses
        sent = send_smtp(data, gen, port, "--starttls", SSL_CERT_FILE=str(ca_file), **login)
    assert untrusted.returncode == 3 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stdout
    assert plain.returncode == 3
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert len(inbox.received) == len(invoices(gen))
    assert all(got.tls and got.login == "billing" for got in inbox.received)


def test_a_login_without_tls_to_another_host_is_refused_before_sending(month):
    data, gen = month
    done = billing("send", str(gen), "--data", str(data), "--smtp-host", "mail.vendor.example", "--all",
                   BILLING_SMTP_USER="billing", BILLING_SMTP_PASSWORD="x")
    assert done.returncode == 2 and "add --starttls" in done.stderr
    half = billing("send", str(gen), "--data", str(data), "--smtp-host", "127.0.0.1", "--all",
                   BILLING_SMTP_USER="billing")
    assert half.returncode == 2 and "BILLING_SMTP_PASSWORD is not" in half.stderr
    assert not (gen / "delivery_log.sqlite").exists()


def test_hostile_names_are_escaped_and_cannot_add_headers(tmp_path, month):
    victim = invoices(month[1])[0]["customer_id"]  # the same seed invoices the same customers
    data, gen = make_month(tmp_path, edit={victim: {"name": HOSTILE_NAME}})
    inbox = Inbox()
    with smtp_server(inbox) as port:
        done = send_smtp(data, gen, port)
    assert done.returncode == 0, done.stderr
    assert all(r != "victim@attacker.example" for got in inbox.received for r in got.rcpt_tos)
    mine = [got.message for got in inbox.received if got.rcpt_tos == [emails(data)[victim]]]
    assert len(mine) == 1
    msg = mine[0]
    assert msg["Bcc"] is None and len(msg["To"].addresses) == 1
    assert msg["To"].addresses[0].display_name == 'Evil "Corp", <b>bold</b> Bcc: victim@attacker.example'
    html = msg.get_body(("html",)).get_content()
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "&#34;Corp&#34;" in html or "&quot;Corp&quot;" in html
    showcase = {got.message.get_body(("html",)).get_content() for got in inbox.received}
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in h for h in showcase)
    assert not any("<script>" in h for h in showcase)


def test_invalid_addresses_are_reported_and_sent_once_fixed(tmp_path, month):
    first, second = invoices(month[1])[0]["customer_id"], invoices(month[1])[1]["customer_id"]
    data, gen = make_month(tmp_path, edit={first: {"email": "billing at example.com"}, second: {"email": ""}})
    inbox = Inbox()
    with smtp_server(inbox) as port:
        done = send_smtp(data, gen, port)
        assert done.returncode == 3
        assert "2 NOT delivered, without a valid address" in done.stdout
        assert "'billing at example.com' is not a valid email address" in done.stdout
        assert "the customer has no email address" in done.stdout
        assert len(inbox.received) == len(invoices(gen)) - 2
        customers = pl.read_csv(data / "customers.csv", infer_schema=False).with_columns(
            email=pl.when(pl.col("customer_id").is_in([first, second]))
            .then(pl.format("fixed+{}@example.com", pl.col("customer_id"))).otherwise(pl.col("email")))
        customers.write_csv(data / "customers.csv")
        fixed = send_smtp(data, gen, port)
    assert fixed.returncode == 0, fixed.stdout
    assert sorted(got.rcpt_tos[0] for got in inbox.received[-2:]) == sorted(
        f"fixed+{c}@example.com" for c in (first, second))
    assert [r["outcome"] for r in log_rows(gen)].count("invalid_address") == 2


def test_outbox_holds_one_identical_eml_per_invoice(tmp_path, month):
    data_a, gen_a = fresh(month, tmp_path / "a")
    data_b, gen_b = make_month(tmp_path / "b")
    for data, gen in ((data_a, gen_a), (data_b, gen_b)):
        done = billing("send", str(gen), "--data", str(data), "--outbox", str(gen / "outbox"), "--all")
        assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in (gen_a / "outbox").iterdir())
    assert files == sorted(f"{row['invoice_id']}.eml" for row in invoices(gen_a))
    for name in files:
        assert (gen_a / "outbox" / name).read_bytes() == (gen_b / "outbox" / name).read_bytes(), name
    from email import policy
    from email.parser import BytesParser
    raw = (gen_a / "outbox" / files[0]).read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert msg["Subject"].startswith(f"Invoice {files[0].removesuffix('.eml')}")
    stamp = {p.name: p.stat().st_mtime_ns for p in (gen_a / "outbox").iterdir()}
    again = billing("send", str(gen_a), "--data", str(data_a), "--outbox", str(gen_a / "outbox"), "--all")
    assert again.returncode == 0 and "0 of" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in (gen_a / "outbox").iterdir()} == stamp


def test_only_approved_invoices_are_sent(month, tmp_path):
    data, gen = month
    ids = [row["invoice_id"] for row in invoices(gen)]
    approved = tmp_path / "approved.csv"
    approved.write_text(f"invoice_id,approved_by\n{ids[2]},ana\n{ids[0]},ana\n", encoding="utf-8")
    log = tmp_path / "log.sqlite"
    done = billing("send", str(gen), "--data", str(data), "--outbox", str(tmp_path / "out"), "--approved",
                   str(approved), "--log", str(log))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{ids[0]}.eml", f"{ids[2]}.eml"]
    assert "2 of 2 approved invoices sent" in done.stdout
    assert "[1/2]" in done.stderr and "[2/2]" in done.stderr


def test_wrong_calls_stop_with_exit_2_before_anything_is_sent(month, tmp_path):
    data, gen = month
    out = tmp_path / "out"
    no_list = billing("send", str(gen), "--data", str(data), "--outbox", str(out))
    assert no_list.returncode == 2 and "approved_invoices.csv does not exist" in no_list.stderr
    assert "--all" in no_list.stderr and "Traceback" not in no_list.stderr
    bad = tmp_path / "approved.csv"
    bad.write_text("invoice_id\nINV-9999999\n", encoding="utf-8")
    unknown = billing("send", str(gen), "--data", str(data), "--outbox", str(out), "--approved", str(bad))
    assert unknown.returncode == 2
    assert f"{bad}, row 2, column 'invoice_id': 'INV-9999999' is not among the generated invoices" in unknown.stderr
    no_column = tmp_path / "ids.csv"
    no_column.write_text("id\nINV-1\n", encoding="utf-8")
    column = billing("send", str(gen), "--data", str(data), "--outbox", str(out), "--approved", str(no_column))
    assert column.returncode == 2 and "no column 'invoice_id'" in column.stderr
    no_sender = subprocess.run([sys.executable, "-m", "billing_lib", "send", str(gen), "--data", str(data),
                                "--outbox", str(out), "--all"], capture_output=True, text=True,
                               env={k: v for k, v in os.environ.items() if not k.startswith("BILLING_")})
    assert no_sender.returncode == 2 and "BILLING_MAIL_FROM" in no_sender.stderr
    no_target = billing("send", str(gen), "--data", str(data), "--all")
    assert no_target.returncode == 2 and "--outbox" in no_target.stderr
    not_generated = billing("send", str(data), "--data", str(data), "--outbox", str(out), "--all")
    assert not_generated.returncode == 2 and "not a folder written by billing generate" in not_generated.stderr
    assert not out.exists()
    assert not (gen / "delivery_log.sqlite").exists()


def test_an_invoice_changed_after_sending_is_not_sent_again(tmp_path, month):
    data, gen = fresh(month, tmp_path)
    outbox = tmp_path / "out"
    assert billing("send", str(gen), "--data", str(data), "--outbox", str(outbox), "--all").returncode == 0
    table = pl.read_csv(gen / "invoices.csv", infer_schema=False)
    first = table["invoice_id"][0]
    before = (outbox / f"{first}.eml").read_bytes()
    table.with_columns(total=pl.when(pl.col("invoice_id") == first).then(pl.lit("1.00"))
                       .otherwise(pl.col("total"))).write_csv(gen / "invoices.csv")
    again = billing("send", str(gen), "--data", str(data), "--outbox", str(outbox), "--all")
    assert again.returncode == 0
    assert "1 changed after they were sent and were NOT sent again" in again.stdout and first in again.stdout
    assert (outbox / f"{first}.eml").read_bytes() == before


def test_an_interrupted_attempt_is_tried_again(tmp_path, month):
    from billing_lib.invoicing.delivery import Outbox, load_batch, open_log, send_invoices
    from billing_lib.invoicing.delivery.addresses import sender_from_env
    data, gen = fresh(month, tmp_path)
    batch = load_batch(gen, data, send_all=True)
    with open_log(gen / "delivery_log.sqlite") as log:  # a run that stopped while handing over the first one
        log.record(batch[0].invoice_id, batch[0].content_hash, "C", "x@example.com", "<m@x>", "smtp", "sending")
    sender = sender_from_env({"BILLING_MAIL_FROM": SENDER})
    with open_log(gen / "delivery_log.sqlite") as log:
        report = send_invoices(batch, Outbox(tmp_path / "out"), log, sender)
        history = log.history()
    assert report.interrupted == [batch[0].invoice_id]
    assert report.exit_code == 0 and len(report.with_status("sent")) == len(batch)
    assert history["outcome"].to_list() == ["interrupted"] + ["sent"] * len(batch)
    assert report.to_frame().to_pandas().shape == (len(batch), 5)


def test_a_pdf_removed_after_loading_is_a_failed_delivery_retried_next_run(tmp_path, month):
    from billing_lib.invoicing.delivery import Outbox, load_batch, open_log, send_invoices
    from billing_lib.invoicing.delivery.addresses import sender_from_env
    data, gen = fresh(month, tmp_path)
    batch = load_batch(gen, data, send_all=True)
    gone = batch[1].pdf
    kept = gone.read_bytes()
    gone.unlink()  # removed between load_batch and sending
    sender = sender_from_env({"BILLING_MAIL_FROM": SENDER})
    with open_log(gen / "delivery_log.sqlite") as log:
        report = send_invoices(batch, Outbox(tmp_path / "out"), log, sender)
    (failed,) = report.with_status("failed")
    assert failed.invoice_id == batch[1].invoice_id and f"the PDF {gone} cannot be read" in failed.detail
    assert report.exit_code == 3 and len(report.with_status("sent")) == len(batch) - 1
    assert f"{batch[1].invoice_id} " in report.summary() and "tried again by the next run" in report.summary()
    gone.write_bytes(kept)
    with open_log(gen / "delivery_log.sqlite") as log:
        again = send_invoices(load_batch(gen, data, send_all=True), Outbox(tmp_path / "out"), log, sender)
        history = log.history()
    assert again.exit_code == 0 and [o.invoice_id for o in again.with_status("sent")] == [batch[1].invoice_id]
    assert history.filter(pl.col("invoice_id") == batch[1].invoice_id)["outcome"].to_list() == ["failed", "sent"]


def test_a_second_run_on_the_same_log_is_refused_while_one_is_running(month, tmp_path):
    from billing_lib.errors import ParameterError
    from billing_lib.invoicing.delivery import open_log
    with open_log(tmp_path / "log.sqlite"):
        with pytest.raises(ParameterError, match="another billing send is using"):
            with open_log(tmp_path / "log.sqlite"):
                pass


def test_the_drafts_of_a_pre_billing_review_are_sent_from_its_approved_list(month, tmp_path):
    from billing_lib.invoicing.prebilling import decide, prepare_run, write_review
    data = month[0]
    review = tmp_path / "invoice_run"
    run = prepare_run(load_dataset(data), "2024-03", review)
    write_review(run, decide(run), review)
    approved = pl.read_csv(review / "approved_invoices.csv", infer_schema=False)["invoice_id"].to_list()
    assert approved, "a clean month has drafts to approve"
    assert not (review / "review_in_progress.json").exists(), "the review finished: its marker is gone"
    done = billing("send", str(review / "drafts"), "--data", str(data), "--outbox", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.stem for p in (tmp_path / "out").iterdir()) == sorted(approved)
    assert (review / "drafts" / "delivery_log.sqlite").is_file()
    assert f"pre-billing review ({review / 'review.json'}): GO for 2024-03, {len(approved)} draft(s) approved" \
        in done.stderr


def _review(data: Path, period: str, out: Path, write: bool = True):
    from billing_lib.invoicing.prebilling import decide, prepare_run, write_review
    run = prepare_run(load_dataset(data), period, out)
    if write:
        write_review(run, decide(run), out)
    return run


def test_an_approval_of_other_drafts_is_refused(month, tmp_path):
    # March reviewed and approved; then the review is run for April into the same folder and a cell fails
    # before write_review. April's drafts carry March's numbers (March is not invoiced in the data).
    data = month[0]
    review, saved, out = tmp_path / "invoice_run", tmp_path / "saved", tmp_path / "out"
    march = _review(data, "2024-03", review)
    saved.mkdir()
    for name in ("approved_invoices.csv", "review.json"):
        shutil.copy(review / name, saved / name)
    april = _review(data, "2024-04", review, write=False)
    assert set(april.drafts.headers["invoice_id"]) & set(march.drafts.headers["invoice_id"])
    assert not (review / "approved_invoices.csv").exists() and not (review / "review.json").exists()
    drafts = str(review / "drafts")
    refused = billing("send", drafts, "--data", str(data), "--outbox", str(out))
    assert refused.returncode == 2 and f"the pre-billing review of {drafts} never finished" in refused.stderr
    refused_all = billing("send", drafts, "--data", str(data), "--outbox", str(out), "--all")
    assert refused_all.returncode == 2 and "never finished" in refused_all.stderr, "--all does not skip the review"
    # March's list given explicitly: its period is not the drafts'
    explicit = billing("send", drafts, "--data", str(data), "--outbox", str(out), "--approved",
                       str(saved / "approved_invoices.csv"))
    assert explicit.returncode == 2 and "Traceback" not in explicit.stderr
    assert (f"{saved / 'approved_invoices.csv'}, row 2, column 'period': {march.drafts.headers.sort('number')[0, 'invoice_id']}"
            " was approved for 2024-03 but the draft bills 2024-04") in explicit.stderr
    # March's list and review put back beside April's drafts (e.g. by an older version of the workbook, which
    # left no review_in_progress.json either)
    for name in ("approved_invoices.csv", "review.json"):
        shutil.copy(saved / name, review / name)
    (review / "review_in_progress.json").unlink()
    stale = billing("send", drafts, "--data", str(data), "--outbox", str(out))
    assert stale.returncode == 2 and "the review is of 2024-03, but the approved drafts bill 2024-04" in stale.stderr
    # a list of ids only, as a review's own list: it cannot be checked against the drafts
    ids_only = pl.read_csv(saved / "approved_invoices.csv", infer_schema=False).select("invoice_id")
    ids_only.write_csv(review / "approved_invoices.csv")
    (review / "review.json").write_text((saved / "review.json").read_text().replace("2024-03", "2024-04"))
    old_format = billing("send", drafts, "--data", str(data), "--outbox", str(out))
    assert old_format.returncode == 2 and "needs the columns period and content_hash" in old_format.stderr
    assert not out.exists() and not (review / "drafts" / "delivery_log.sqlite").exists()


def test_an_approved_draft_whose_figures_changed_is_refused(month, tmp_path):
    data = month[0]
    review = tmp_path / "invoice_run"
    _review(data, "2024-03", review)
    invoices_csv = review / "drafts" / "invoices.csv"
    rows = pl.read_csv(invoices_csv, infer_schema=False)
    first = rows[0, "invoice_id"]
    rows.with_columns(pl.when(pl.col("invoice_id") == first).then(pl.lit("1.00")).otherwise(pl.col("total"))
                      .alias("total")).write_csv(invoices_csv)
    done = billing("send", str(review / "drafts"), "--data", str(data), "--outbox", str(tmp_path / "out"))
    assert done.returncode == 2
    assert f"column 'content_hash': the figures of {first} changed since it was approved" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_no_go_review_is_sent_only_from_a_list_given_explicitly(month, tmp_path):
    data = month[0]
    review, out = tmp_path / "invoice_run", tmp_path / "out"
    _review(data, "2024-02", review)  # February is invoiced already: no-go, nothing approved
    refused = billing("send", str(review / "drafts"), "--data", str(data), "--outbox", str(out))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "NO-GO for 2024-02" in refused.stderr and "already has" in refused.stderr
    assert f"--approved {review / 'approved_invoices.csv'}" in refused.stderr
    refused_all = billing("send", str(review / "drafts"), "--data", str(data), "--outbox", str(out), "--all")
    assert refused_all.returncode == 2 and "NO-GO for 2024-02" in refused_all.stderr
    assert not out.exists()
    explicit = billing("send", str(review / "drafts"), "--data", str(data), "--outbox", str(out), "--approved",
                       str(review / "approved_invoices.csv"))
    assert explicit.returncode == 0, explicit.stderr
    assert "nothing to send: no invoice is approved" in explicit.stdout


def test_an_empty_approved_list_sends_nothing(month, tmp_path):
    data, gen = month
    approved = tmp_path / "approved.csv"
    approved.write_text("invoice_id\n", encoding="utf-8")
    done = billing("send", str(gen), "--data", str(data), "--outbox", str(tmp_path / "out"), "--approved",
                   str(approved), "--log", str(tmp_path / "log.sqlite"))
    assert done.returncode == 0 and "nothing to send: no invoice is approved" in done.stdout
    assert not any((tmp_path / "out").iterdir())
