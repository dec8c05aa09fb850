"""The case log: statuses and append-only history, suppression and regressions across verification runs,
concurrent writers in real processes, and clear errors for a missing or damaged file (always tmp paths)."""
from __future__ import annotations

import multiprocessing as mp
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from billing_lib.cases import CaseLogError, open_case_log
from billing_lib.cases.store import create_case_log, default_case_log_path
from billing_lib.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
RAN = ["price_mismatch"]  # the check of every finding made by _finding


def _finding(eid: str, period: str = "2024-05", **extra) -> dict:
    return {"exception_id": eid, "check": "price_mismatch", "severity": "error", "customer_id": "C1",
            "invoice_id": "INV-1", "line_no": 1, "period": period, "currency": "EUR", "at_stake": "3.00",
            "message": "m", **extra}


@pytest.fixture
def log(tmp_path):
    return create_case_log(tmp_path / "ws" / "cases.sqlite")[0]


def test_status_changes_are_kept_in_an_append_only_history(log):
    assert log.record_run([_finding("EX-A")], ["2024-05"], checks=RAN, author="ana",
                          at="2024-06-01T09:00:00+00:00") == {"EX-A": "new"}
    log.update("EX-A", status="investigating", note="asked sales", author="ana", at="2024-06-02T09:00:00+00:00")
    case = log.update("EX-A", status="resolved", resolution="credit note CN-9", amount="-3.00", author="bo",
                      at="2024-06-03T09:00:00+00:00")
    assert (case["status"], case["resolution"], case["amount"], case["note"], case["author"]) == \
        ("resolved", "credit note CN-9", "-3.00", "asked sales", "bo")
    hist = log.history("EX-A")
    assert hist.select("event", "previous_status", "status", "author").rows() == [
        ("recorded", None, "open", "ana"), ("update", "open", "investigating", "ana"),
        ("update", "investigating", "resolved", "bo")]
    assert hist["at"].to_list() == ["2024-06-01T09:00:00+00:00", "2024-06-02T09:00:00+00:00",
                                    "2024-06-03T09:00:00+00:00"]
    with sqlite3.connect(log.path) as con, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE history SET status = 'open'")
    with sqlite3.connect(log.path) as con, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM history")
    assert log.history("EX-A").height == 3
    with sqlite3.connect(log.path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_wrong_updates_are_refused_with_a_clear_message(log):
    log.record_run([_finding("EX-A")], ["2024-05"], checks=RAN)
    with pytest.raises(CaseLogError, match="not one of open, investigating, resolved, accepted"):
        log.update("EX-A", status="done")
    with pytest.raises(CaseLogError, match="not a plain decimal number"):
        log.update("EX-A", amount="12,50")
    with pytest.raises(CaseLogError, match="no case 'EX-NOPE'"):
        log.update("EX-NOPE", status="resolved")
    assert log.history("EX-A").height == 1


@pytest.mark.parametrize("amount, why", [
    ("1e999999", "plain decimal number"), ("1E3", "plain decimal number"), ("Infinity", "plain decimal number"),
    ("NaN", "plain decimal number"), ("1_000", "plain decimal number"), ("12.505", "EUR has 2"),
    ("0.001", "EUR has 2"), ("1" + "0" * 40, "too large"),
])
def test_amounts_that_are_not_money_of_the_case_currency_are_refused(log, amount, why):
    log.record_run([_finding("EX-A")], ["2024-05"], checks=RAN)
    with pytest.raises(CaseLogError, match=why):
        log.update("EX-A", amount=amount)
    assert log.get("EX-A")["amount"] is None and log.history("EX-A").height == 1


def test_amounts_follow_the_minor_unit_of_the_case_currency(log):
    log.record_run([_finding("EX-EUR"), _finding("EX-JPY", currency="JPY"), _finding("EX-KWD", currency="KWD"),
                    _finding("EX-NONE", currency=None)], ["2024-05"], checks=RAN)
    assert log.update("EX-EUR", amount="-12.5")["amount"] == "-12.50"
    assert log.update("EX-EUR", amount="12.500")["amount"] == "12.50"  # the same money, written with a zero more
    assert log.update("EX-KWD", amount="1.125")["amount"] == "1.125"
    assert log.update("EX-JPY", amount="1200")["amount"] == "1200"
    with pytest.raises(CaseLogError, match="JPY has 0"):
        log.update("EX-JPY", amount="1200.5")
    assert log.update("EX-NONE", amount="3.25")["amount"] == "3.25"


def test_cli_refuses_an_exponent_amount_with_exit_2(log):
    log.record_run([_finding("EX-A")], ["2024-05"], checks=RAN)
    for amount in ("1e999999", "12.505"):
        proc = subprocess.run([sys.executable, "-m", "billing_lib", "cases", "update", "EX-A", "--amount", amount,
                               "--cases", str(log.path)], capture_output=True, text=True)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert f"amount {amount!r}" in proc.stderr
    assert log.history("EX-A").height == 1


def test_resolved_and_accepted_are_left_out_and_a_returning_finding_is_a_regression(log):
    log.record_run([_finding("EX-A"), _finding("EX-B"), _finding("EX-C")], ["2024-05"], checks=RAN)
    log.update("EX-A", status="resolved", resolution="credit note")
    log.update("EX-B", status="accepted", note="negotiated price")
    # the same findings again (the correction is not in the data yet): decided ones are not new
    again = log.record_run([_finding("EX-A"), _finding("EX-B"), _finding("EX-C")], ["2024-05"], checks=RAN)
    assert again == {"EX-A": "resolved", "EX-B": "accepted", "EX-C": "open"}
    # a run of another month does not clear the May case
    log.record_run([], ["2024-06"], checks=RAN)
    assert log.get("EX-A")["cleared"] == 0
    # the May run without it: the fix took effect
    log.record_run([_finding("EX-C")], ["2024-05"], checks=RAN)
    assert log.get("EX-A")["cleared"] == 1
    back = log.record_run([_finding("EX-A"), _finding("EX-C")], ["2024-05"], checks=RAN)
    assert back["EX-A"] == "regression"
    case = log.get("EX-A")
    assert (case["status"], case["cleared"]) == ("open", 0)
    assert log.history("EX-A")["event"].to_list() == ["recorded", "update", "cleared", "regression"]


def test_a_run_limited_to_other_checks_does_not_clear_a_resolved_case(log):
    tax = {"check": "tax_mismatch"}
    log.record_run([_finding("EX-A", **tax), _finding("EX-B")], ["2024-05"], checks=["tax_mismatch", "price_mismatch"])
    log.update("EX-A", status="resolved", resolution="tax corrected")
    # `billing verify --check price_mismatch`: the tax check did not run, so EX-A's absence proves nothing
    assert log.record_run([_finding("EX-B")], ["2024-05"], checks=["price_mismatch"]) == {"EX-B": "open"}
    assert log.get("EX-A")["cleared"] == 0
    # the full run still finds it: the fix never took effect, it is still resolved (not a regression)
    full = log.record_run([_finding("EX-A", **tax), _finding("EX-B")], ["2024-05"],
                          checks=["tax_mismatch", "price_mismatch"])
    assert full == {"EX-A": "resolved", "EX-B": "open"}
    assert log.get("EX-A")["status"] == "resolved"
    assert "regression" not in log.history("EX-A")["event"].to_list()
    # a run of the tax check without it clears it
    log.record_run([], ["2024-05"], checks=["tax_mismatch"])
    assert log.get("EX-A")["cleared"] == 1


def test_verify_with_check_does_not_turn_a_resolved_finding_of_another_check_into_a_regression(tmp_path):
    db = str(tmp_path / "cases.sqlite")
    assert main(["cases", "init", "--cases", db]) == 0
    assert main(["verify", str(SAMPLE), "--out", str(tmp_path / "r1"), "--cases", db]) == 0
    first = pl.read_csv(tmp_path / "r1" / "case_status.csv", infer_schema_length=0)
    tax = first.filter(pl.col("check") == "tax_mismatch")["exception_id"][0]
    assert main(["cases", "update", tax, "--status", "resolved", "--cases", db]) == 0
    assert main(["verify", str(SAMPLE), "--out", str(tmp_path / "r2"), "--check", "price_mismatch",
                 "--cases", db]) == 0
    assert open_case_log(db).get(tax)["cleared"] == 0
    assert main(["verify", str(SAMPLE), "--out", str(tmp_path / "r3"), "--cases", db]) == 0
    third = pl.read_csv(tmp_path / "r3" / "case_status.csv", infer_schema_length=0)
    assert third.filter(pl.col("exception_id") == tax)["case_status"].to_list() == ["resolved"]
    assert set(third["case_status"]) == {"open", "resolved"}

def test_a_finding_without_a_month_is_cleared_only_by_a_run_of_every_month(log):
    undated = _finding("EX-U", period=None, check="gl_mismatch")
    log.record_run([undated], ["2024-05"], checks=["gl_mismatch"])
    log.update("EX-U", status="resolved")
    log.record_run([], ["2024-05"], checks=["gl_mismatch"])  # one month verified: it may be elsewhere
    assert log.get("EX-U")["cleared"] == 0
    log.record_run([], ["2024-01", "2024-05"], checks=["price_mismatch"], all_periods=True)  # not its check
    assert log.get("EX-U")["cleared"] == 0
    log.record_run([], ["2024-01", "2024-05"], checks=["gl_mismatch"], all_periods=True)
    assert log.get("EX-U")["cleared"] == 1
    assert log.record_run([undated], ["2024-01", "2024-05"], checks=["gl_mismatch"], all_periods=True) == \
        {"EX-U": "regression"}
    assert (log.get("EX-U")["status"], log.get("EX-U")["period"]) == ("open", None)


def test_verify_with_a_case_log_keeps_exceptions_and_marks_decided_findings(tmp_path, capsys):
    db = tmp_path / "cases.sqlite"
    assert main(["cases", "init", "--cases", str(db)]) == 0
    assert main(["verify", str(SAMPLE), "--out", str(tmp_path / "plain")]) == 0
    assert main(["verify", str(SAMPLE), "--out", str(tmp_path / "r1"), "--cases", str(db)]) == 0
    plain = (tmp_path / "plain" / "exceptions.csv").read_bytes()
    assert (tmp_path / "r1" / "exceptions.csv").read_bytes() == plain
    first = pl.read_csv(tmp_path / "r1" / "case_status.csv", infer_schema_length=0)
    exceptions = pl.read_csv(tmp_path / "plain" / "exceptions.csv", infer_schema_length=0)
    assert first["exception_id"].to_list() == exceptions["exception_id"].to_list()
    assert set(first["case_status"]) == {"new"} and set(first["in_report"]) == {"yes"}
    resolved, accepted = first["exception_id"][0], first["exception_id"][1]
    assert main(["cases", "update", resolved, "--status", "resolved", "--resolution", "credit note",
                 "--amount", "-0.05", "--author", "ana", "--cases", str(db)]) == 0
    assert main(["cases", "update", accepted, "--status", "accepted", "--cases", str(db)]) == 0
    assert main(["verify", str(SAMPLE), "--out", str(tmp_path / "r2"), "--cases", str(db)]) == 0
    assert (tmp_path / "r2" / "exceptions.csv").read_bytes() == plain
    second = pl.read_csv(tmp_path / "r2" / "case_status.csv", infer_schema_length=0)
    shown = second.filter(pl.col("in_report") == "yes")["exception_id"].to_list()
    assert resolved not in shown and accepted not in shown and len(shown) == exceptions.height - 2
    row = second.filter(pl.col("exception_id") == resolved).row(0, named=True)
    assert (row["case_status"], row["resolution"], row["case_amount"], row["updated_by"]) == \
        ("resolved", "credit note", "-0.05", "ana")
    capsys.readouterr()
    assert main(["cases", "list", "--status", "resolved", "--cases", str(db)]) == 0
    listed = capsys.readouterr().out
    assert resolved in listed and accepted not in listed and "1 case(s): 0 open, 0 investigating, 1 resolved" \
        in listed
    assert main(["cases", "show", resolved, "--cases", str(db)]) == 0
    assert "credit note" in capsys.readouterr().out


def _hammer(path: str, who: str, n: int) -> None:
    log = open_case_log(path)
    for i in range(n):
        log.update("EX-SHARED", note=f"{who}-{i}", author=who)
        log.update(f"EX-{who}", status="investigating" if i % 2 else "open", note=f"{who}-{i}", author=who)


def test_two_processes_updating_at_once_lose_nothing(log):
    log.record_run([_finding("EX-SHARED"), _finding("EX-ana"), _finding("EX-bo")], ["2024-05"], checks=RAN)
    ctx = mp.get_context("spawn")
    n = 40
    procs = [ctx.Process(target=_hammer, args=(str(log.path), who, n)) for who in ("ana", "bo")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    shared = log.history("EX-SHARED")
    assert shared.height == 1 + 2 * n
    assert set(shared["note"].drop_nulls()) == {f"{w}-{i}" for w in ("ana", "bo") for i in range(n)}
    for who in ("ana", "bo"):
        assert log.history(f"EX-{who}").height == 1 + n
        assert log.get(f"EX-{who}")["note"] == f"{who}-{n - 1}"
    assert log.get("EX-SHARED")["note"] in {f"ana-{n - 1}", f"bo-{n - 1}"}
    assert log.verify_log().rows == 3 + 4 * n, "concurrent writers chain their rows one after another"


def _init_and_record(path: str, who: str, barrier, results) -> None:
    barrier.wait(60)
    log, created = create_case_log(path)
    log.record_run([_finding(f"EX-{who}")], ["2024-05"], checks=RAN)
    results.put((who, created))


def test_processes_creating_the_log_at_once_make_one_log_and_lose_nothing(tmp_path):
    path = tmp_path / "ws" / "cases.sqlite"
    ctx = mp.get_context("spawn")
    n = 6
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_init_and_record, args=(str(path), str(i), barrier, results)) for i in range(n)]
    for p in procs:
        p.start()
    outcome = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * n
    assert sorted(outcome.values()) == [False] * (n - 1) + [True]  # one process created it, the others kept it
    assert open_case_log(path).cases()["exception_id"].to_list() == [f"EX-{i}" for i in range(n)]
    assert sorted(f.name for f in path.parent.iterdir() if not f.name.startswith("cases.sqlite")) == []


def test_creating_over_a_log_that_appeared_meanwhile_keeps_it(log):
    from billing_lib.cases.store import create_if_absent
    log.record_run([_finding("EX-A")], ["2024-05"], checks=RAN)
    # what a second `billing cases init` does once it has seen no file, after the first one created it
    again, created = create_if_absent(log.path)
    assert not created and again.cases()["exception_id"].to_list() == ["EX-A"]
    assert [f.name for f in log.path.parent.iterdir() if ".creating" in f.name] == []


def test_update_with_an_expected_status_refuses_when_someone_changed_the_case(log, capsys):
    log.record_run([_finding("EX-A")], ["2024-05"], checks=RAN)
    log.update("EX-A", status="investigating", note="calling them", author="bo", at="2024-06-02T09:00:00+00:00")
    with pytest.raises(CaseLogError, match="is 'investigating', not 'open' as expected .last changed by bo at "
                                           "2024-06-02T09:00:00.00:00.; nothing was changed"):
        log.update("EX-A", status="accepted", expect_status="open", author="ana")
    assert main(["cases", "update", "EX-A", "--status", "accepted", "--expect-status", "open", "--cases",
                 str(log.path)]) == 2
    assert "nothing was changed" in capsys.readouterr().err
    assert (log.get("EX-A")["status"], log.history("EX-A").height) == ("investigating", 2)
    assert main(["cases", "update", "EX-A", "--status", "resolved", "--expect-status", "investigating",
                 "--author", "ana", "--cases", str(log.path)]) == 0
    assert (log.get("EX-A")["status"], log.get("EX-A")["author"]) == ("resolved", "ana")


def _decide(path: str, who: str, status: str, barrier, results) -> None:
    barrier.wait(60)
    try:
        open_case_log(path).update("EX-A", status=status, expect_status="open", author=who)
        results.put((who, "changed"))
    except CaseLogError as exc:
        results.put((who, str(exc)))


def test_two_analysts_deciding_on_the_same_open_case_at_once_one_is_refused(log):
    log.record_run([_finding("EX-A")], ["2024-05"], checks=RAN)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_decide, args=(str(log.path), who, status, barrier, results))
             for who, status in (("ana", "resolved"), ("bo", "accepted"))]
    for p in procs:
        p.start()
    outcome = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    winner = [who for who, what in outcome.items() if what == "changed"]
    assert len(winner) == 1
    loser = ({"ana", "bo"} - set(winner)).pop()
    assert f"last changed by {winner[0]}" in outcome[loser] and "nothing was changed" in outcome[loser]
    assert log.get("EX-A")["status"] == {"ana": "resolved", "bo": "accepted"}[winner[0]]
    assert log.history("EX-A")["author"].to_list()[1:] == winner


def test_missing_file_is_reported_not_created(tmp_path):
    path = tmp_path / "nowhere" / "cases.sqlite"
    with pytest.raises(CaseLogError, match="does not exist; create it with `billing cases init"):
        open_case_log(path)
    assert not path.exists() and not path.parent.exists()
    proc = subprocess.run([sys.executable, "-m", "billing_lib", "verify", str(SAMPLE), "--out",
                           str(tmp_path / "out"), "--cases", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists() and not path.exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign"])
def test_damaged_file_gives_a_clear_message_and_is_left_untouched(tmp_path, damage):
    path = tmp_path / "cases.sqlite"
    if damage == "garbage":
        path.write_bytes(b"these are not the cases you are looking for\n" * 100)
    elif damage == "truncated":
        log = create_case_log(path)[0]
        log.record_run([_finding(f"EX-{i}") for i in range(300)], ["2024-05"], checks=RAN)
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2] + b"\0" * 64)
    else:
        with sqlite3.connect(path) as con:
            con.execute("CREATE TABLE notes (x TEXT)")
    before = path.read_bytes()
    with pytest.raises(CaseLogError, match="left untouched") as err:
        open_case_log(path)
    assert str(path) in str(err.value)
    for argv in (["cases", "list"], ["cases", "init"], ["cases", "update", "EX-1", "--status", "open"]):
        proc = subprocess.run([sys.executable, "-m", "billing_lib", *argv, "--cases", str(path)],
                              capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert "left untouched" in proc.stderr and "Traceback" not in proc.stderr
    assert path.read_bytes() == before


def test_default_location_is_outside_the_repository(monkeypatch, tmp_path):
    monkeypatch.setenv("BILLING_CASE_LOG", str(tmp_path / "mine.sqlite"))
    assert default_case_log_path() == tmp_path / "mine.sqlite"
    monkeypatch.delenv("BILLING_CASE_LOG")
    default = default_case_log_path().resolve()
    assert default.name == "cases.sqlite" and not default.is_relative_to(ROOT)


def test_for_report_shows_everything_without_a_log_and_only_open_ones_with_it(tmp_path):
    from billing_lib.cases.marking import for_report
    exceptions = pl.DataFrame([_finding("EX-A"), _finding("EX-B")]).with_columns(
        pl.col("at_stake").cast(pl.Decimal(38, 10)))
    shown, counts = for_report(exceptions, exceptions, ["2024-05"], None, checks=RAN)
    assert shown.equals(exceptions) and counts.is_empty()
    log = create_case_log(tmp_path / "cases.sqlite")[0]
    log.record_run([_finding("EX-A")], ["2024-05"], checks=RAN)
    log.update("EX-A", status="accepted")
    shown, counts = for_report(exceptions, exceptions, ["2024-05"], log.path, checks=RAN)
    assert shown["exception_id"].to_list() == ["EX-B"]
    assert dict(counts.iter_rows()) == {"new": 1, "open": 0, "investigating": 0, "regression": 0, "resolved": 0,
                                        "accepted": 1}
