"""The case history as a hash chain: `billing cases verify-log` names a row edited, deleted, inserted or
reordered by hand (exit 2); a log of the previous schema is migrated once and keeps its rows."""
from __future__ import annotations

import multiprocessing as mp
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from billing_lib.cases import CaseLogError, open_case_log
from billing_lib.cases.chain import GENESIS, row_hash
from billing_lib.cases.store import SCHEMA_VERSION, create_case_log
from billing_lib.cli import main

RAN = ["price_mismatch"]

# what `billing cases init` of the previous version (schema 1, no chain) created
SCHEMA_1 = """
PRAGMA application_id = 1112099916;
PRAGMA user_version = 1;
CREATE TABLE cases (
    exception_id TEXT PRIMARY KEY, check_name TEXT NOT NULL,
    severity TEXT, customer_id TEXT, invoice_id TEXT, line_no INTEGER, subscription_id TEXT, payment_id TEXT,
    period TEXT, currency TEXT, at_stake TEXT, message TEXT,
    status TEXT NOT NULL CHECK (status IN ('open', 'investigating', 'resolved', 'accepted')),
    resolution TEXT, amount TEXT, note TEXT,
    author TEXT NOT NULL, updated_at TEXT NOT NULL, first_recorded TEXT NOT NULL,
    cleared INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    exception_id TEXT NOT NULL REFERENCES cases(exception_id),
    at TEXT NOT NULL, author TEXT NOT NULL, event TEXT NOT NULL,
    previous_status TEXT, status TEXT NOT NULL, resolution TEXT, amount TEXT, note TEXT
);
CREATE INDEX history_by_case ON history(exception_id, seq);
CREATE TRIGGER history_is_append_only_update BEFORE UPDATE ON history
    BEGIN SELECT RAISE(ABORT, 'the case history is append-only'); END;
CREATE TRIGGER history_is_append_only_delete BEFORE DELETE ON history
    BEGIN SELECT RAISE(ABORT, 'the case history is append-only'); END;
CREATE TRIGGER cases_are_kept BEFORE DELETE ON cases
    BEGIN SELECT RAISE(ABORT, 'cases are never deleted; set their status instead'); END;
"""


def _finding(eid: str) -> dict:
    return {"exception_id": eid, "check": "price_mismatch", "severity": "error", "customer_id": "C1",
            "invoice_id": "INV-1", "line_no": 1, "period": "2024-05", "currency": "EUR", "at_stake": "3.00",
            "message": "m"}


@pytest.fixture
def log(tmp_path):
    """A log with 6 history rows: A, B, C recorded (1-3), A investigating (4), A resolved (5), B accepted (6)."""
    log = create_case_log(tmp_path / "cases.sqlite")[0]
    log.record_run([_finding("EX-A"), _finding("EX-B"), _finding("EX-C")], ["2024-05"], checks=RAN, author="ana",
                   at="2024-06-01T09:00:00+00:00")
    log.update("EX-A", status="investigating", note="asked sales", author="ana", at="2024-06-02T09:00:00+00:00")
    log.update("EX-A", status="resolved", resolution="CN-9", amount="-3.00", author="bo", at="2024-06-03T09:00:00+00:00")
    log.update("EX-B", status="accepted", note="as agreed", author="bo", at="2024-06-04T09:00:00+00:00")
    return log


def tamper(path: Path, *sql: str) -> None:
    """What someone with the file and the sqlite3 shell can do: lift the append-only triggers and edit."""
    with sqlite3.connect(path) as con:
        con.execute("DROP TRIGGER history_is_append_only_update")
        con.execute("DROP TRIGGER history_is_append_only_delete")
        for statement in sql:
            con.execute(statement)
        con.execute("CREATE TRIGGER history_is_append_only_update BEFORE UPDATE ON history "
                    "BEGIN SELECT RAISE(ABORT, 'the case history is append-only'); END")
        con.execute("CREATE TRIGGER history_is_append_only_delete BEFORE DELETE ON history "
                    "BEGIN SELECT RAISE(ABORT, 'the case history is append-only'); END")


def verify_log(path: Path, capsys, *extra: str) -> tuple[int, str]:
    code = main(["cases", "verify-log", "--cases", str(path), *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


def rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as con:
        return con.execute("SELECT seq, exception_id, event, status, note, prev_hash, hash FROM history "
                           "ORDER BY seq").fetchall()


def test_every_row_carries_the_hash_of_the_one_before(log, capsys):
    chain = rows(log.path)
    assert [r[0] for r in chain] == [1, 2, 3, 4, 5, 6]
    assert chain[0][5] == GENESIS
    assert all(later[5] == earlier[6] for earlier, later in zip(chain, chain[1:], strict=False))
    assert len({r[6] for r in chain}) == 6 and all(len(r[6]) == 64 for r in chain)
    code, out = verify_log(log.path, capsys)
    assert code == 0 and "6 history rows, hash chain intact" in out and f"head: {chain[-1][6]}" in out
    log.update("EX-C", note="later", author="cy")
    code, out = verify_log(log.path, capsys, "--head", chain[-1][6])  # the head noted then is still in the chain
    assert code == 0 and "7 history rows" in out and f"the head {chain[-1][6]} is in it" in out


def test_an_edited_row_is_named(log, capsys):
    tamper(log.path, "UPDATE history SET note = 'nothing to see' WHERE seq = 4")
    code, out = verify_log(log.path, capsys)
    assert code == 2 and "Traceback" not in out
    assert "history row 4 (case EX-A, update at 2024-06-02T09:00:00+00:00) was changed after it was written" in out
    assert "row 5" not in out and "row 3" not in out, "only the edited row is named"


def test_an_edited_row_whose_hash_was_recomputed_breaks_the_link_to_the_next(log, capsys):
    (_, eid, _, _, _, prev, _), = [r for r in rows(log.path) if r[0] == 4]
    forged = {"seq": 4, "exception_id": eid, "at": "2024-06-02T09:00:00+00:00", "author": "ana", "event": "update",
              "previous_status": "open", "status": "investigating", "resolution": None, "amount": None,
              "note": "nothing to see"}
    tamper(log.path, f"UPDATE history SET note = 'nothing to see', hash = '{row_hash(prev, forged)}' WHERE seq = 4")
    code, out = verify_log(log.path, capsys)
    assert code == 2 and "history row 5 (case EX-A, update at 2024-06-03T09:00:00+00:00) does not follow row 4" in out


@pytest.mark.parametrize(("seq", "expected"), [
    (3, "history row 3 is missing: deleted from the log (the chain goes from row 2 to row 4)"),
    (6, "history row 6 is missing at the end: the log wrote 6 rows and holds 5"),
])
def test_a_deleted_row_is_named(log, capsys, seq, expected):
    tamper(log.path, f"DELETE FROM history WHERE seq = {seq}")
    code, out = verify_log(log.path, capsys)
    assert code == 2 and expected in out


def test_reordered_rows_are_named(log, capsys):
    tamper(log.path, "UPDATE history SET seq = 100 WHERE seq = 4", "UPDATE history SET seq = 4 WHERE seq = 5",
           "UPDATE history SET seq = 5 WHERE seq = 100")
    code, out = verify_log(log.path, capsys)
    assert code == 2
    assert "history row 4 (case EX-A, update at 2024-06-03T09:00:00+00:00) is out of order: it was written after " \
           "row 5, not after row 3 (rows reordered)" in out
    assert "history row 5 (case EX-A, update at 2024-06-02T09:00:00+00:00) is out of order" in out


def test_a_case_changed_around_the_log_and_removed_triggers_are_found(log, capsys):
    with sqlite3.connect(log.path) as con:
        con.execute("UPDATE cases SET status = 'accepted' WHERE exception_id = 'EX-C'")
        con.execute("DROP TRIGGER history_is_append_only_delete")
    code, out = verify_log(log.path, capsys)
    assert code == 2
    assert "case EX-C has status 'accepted' but its last history row (3) says 'open'" in out
    assert "append-only triggers were removed (history_is_append_only_delete)" in out


def test_a_rewrite_of_the_whole_chain_is_found_against_a_head_noted_earlier(log, capsys):
    noted = rows(log.path)[-1][6]
    # rewrite row 2 and every hash from there on, as someone knowing the scheme could
    with sqlite3.connect(log.path) as con:
        con.execute("DROP TRIGGER history_is_append_only_update")
        con.execute("UPDATE history SET note = 'rewritten' WHERE seq = 2")
        from billing_lib.cases.chain import rechain
        rechain(con)
        con.execute("CREATE TRIGGER history_is_append_only_update BEFORE UPDATE ON history "
                    "BEGIN SELECT RAISE(ABORT, 'the case history is append-only'); END")
    assert verify_log(log.path, capsys)[0] == 0, "a consistent rewrite cannot be told from the log alone"
    code, out = verify_log(log.path, capsys, "--head", noted)
    assert code == 2 and f"the head noted earlier ({noted}) is not a row of this chain" in out


def test_verify_log_from_the_command_line_exits_2_without_a_traceback(log):
    tamper(log.path, "DELETE FROM history WHERE seq = 2")
    proc = subprocess.run([sys.executable, "-m", "billing_lib", "cases", "verify-log", "--cases", str(log.path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "history row 2 is missing" in proc.stderr and "tampered with" in proc.stderr


def make_schema_1_log(path: Path) -> list[tuple]:
    """A log as the previous version left it: cases and history without the chain."""
    with sqlite3.connect(path) as con:
        con.executescript(SCHEMA_1)
        for eid, status in (("EX-A", "resolved"), ("EX-B", "open")):
            con.execute("INSERT INTO cases (exception_id, check_name, status, author, updated_at, first_recorded) "
                        "VALUES (?, 'price_mismatch', ?, 'ana', '2024-06-01', '2024-06-01')", (eid, status))
        con.executemany("INSERT INTO history (exception_id, at, author, event, previous_status, status, note) "
                        "VALUES (?, ?, 'ana', ?, ?, ?, ?)",
                        [("EX-A", "2024-06-01", "recorded", None, "open", None),
                         ("EX-B", "2024-06-01", "recorded", None, "open", None),
                         ("EX-A", "2024-06-02", "update", "open", "resolved", "credit note")])
        con.execute("PRAGMA journal_mode = WAL")
        return con.execute("SELECT * FROM history ORDER BY seq").fetchall()


def test_a_log_without_the_chain_is_migrated_once_and_says_so(tmp_path, capsys):
    path = tmp_path / "cases.sqlite"
    before = make_schema_1_log(path)
    said: list[str] = []
    log = open_case_log(path, say=said.append)
    assert len(said) == 1 and "migrated to schema 2: hash chain added over the 3 history rows" in said[0]
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        after = con.execute("SELECT seq, exception_id, at, author, event, previous_status, status, resolution, "
                            "amount, note FROM history ORDER BY seq").fetchall()
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("UPDATE history SET note = 'x'")
    assert after == before, "the migration keeps every row as it was"
    assert log.verify_log().rows == 3
    again: list[str] = []
    open_case_log(path, say=again.append)
    assert again == [], "a migrated log is not migrated again"
    log.update("EX-B", status="accepted", author="bo")
    code, out = verify_log(path, capsys)
    assert code == 0 and "4 history rows, hash chain intact" in out
    assert "migrated by" in out and "hash chain added over the 3 history rows" in out
    assert [e["event"] for e in log.log_events()] == ["migrated"]


def test_the_command_line_says_when_it_migrates(tmp_path):
    path = tmp_path / "cases.sqlite"
    make_schema_1_log(path)
    first = subprocess.run([sys.executable, "-m", "billing_lib", "cases", "list", "--cases", str(path)],
                           capture_output=True, text=True)
    second = subprocess.run([sys.executable, "-m", "billing_lib", "cases", "list", "--cases", str(path)],
                            capture_output=True, text=True)
    assert first.returncode == 0 and "migrated to schema 2" in first.stderr and "EX-A" in first.stdout
    assert second.returncode == 0 and "migrated" not in second.stderr


def _open(path: str, barrier, results) -> None:
    barrier.wait(60)
    said: list[str] = []
    open_case_log(path, say=said.append)
    results.put(len(said))


def test_processes_opening_an_old_log_at_once_migrate_it_once(tmp_path):
    path = tmp_path / "cases.sqlite"
    make_schema_1_log(path)
    ctx = mp.get_context("spawn")
    n = 4
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_open, args=(str(path), barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    said = sorted(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * n
    assert said == [0] * (n - 1) + [1]
    log = open_case_log(path)
    assert len(log.log_events()) == 1 and log.verify_log().rows == 3


def test_a_log_of_a_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "cases.sqlite"
    create_case_log(path)
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA user_version = 9")
    before = path.read_bytes()
    with pytest.raises(CaseLogError, match="schema version 9"):
        open_case_log(path)
    assert path.read_bytes() == before
