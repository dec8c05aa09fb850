"""The hash chain of the case history: every history row carries the hash of the row before it.

A row's ``hash`` is the SHA-256 of the previous row's hash and the row's own fields (``seq`` included), so
changing, deleting, inserting or reordering a row breaks the chain at that row: :func:`chain_problems`
names it. The first row follows :data:`GENESIS`. Rewriting the whole chain from some row on is only
detectable against a head noted down earlier; ``billing cases verify-log`` prints the head for that.

The hashed fields are fixed (:data:`HASHED_FIELDS`): a later schema that adds a history column leaves
it out of the hash, so rows written before and after a migration verify alike.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass

GENESIS = "0" * 64
HASHED_FIELDS = ("seq", "exception_id", "at", "author", "event", "previous_status", "status", "resolution",
                 "amount", "note")
APPEND_ONLY_TRIGGERS = ("history_is_append_only_update", "history_is_append_only_delete")


def row_hash(prev_hash: str, row: dict) -> str:
    """The hash of one history row: SHA-256 of the previous row's hash and the row's hashed fields."""
    canonical = json.dumps([prev_hash, *(row.get(f) for f in HASHED_FIELDS)], ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def append(con: sqlite3.Connection, row: dict) -> int:
    """Insert a history row (without ``seq``) chained to the last one; return its seq.

    Call inside the write transaction that makes the change, so concurrent writers chain one after another.
    """
    last = con.execute("SELECT seq, hash FROM history ORDER BY seq DESC LIMIT 1").fetchone()
    counter = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'history'").fetchone()
    seq = max(last[0] if last else 0, counter[0] if counter else 0) + 1
    prev = last[1] if last else GENESIS
    full = {**row, "seq": seq}
    names = [*HASHED_FIELDS, "prev_hash", "hash"]
    con.execute(f"INSERT INTO history ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                (*(full.get(f) for f in HASHED_FIELDS), prev, row_hash(prev, full)))
    return seq


def rechain(con: sqlite3.Connection) -> tuple[int, str]:
    """Compute ``prev_hash`` and ``hash`` of every history row in seq order (a migration adding the chain);
    return (rows, head hash). The caller lifts the append-only trigger for the update and restores it."""
    prev, n = GENESIS, 0
    rows = con.execute(f"SELECT {', '.join(HASHED_FIELDS)} FROM history ORDER BY seq").fetchall()
    for values in rows:
        row = dict(zip(HASHED_FIELDS, values, strict=True))
        digest = row_hash(prev, row)
        con.execute("UPDATE history SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, row["seq"]))
        prev, n = digest, n + 1
    return n, prev


@dataclass(frozen=True)
class ChainCheck:
    """What :func:`chain_problems` found: rows read, the head hash and every problem (empty when intact)."""

    rows: int
    head: str
    problems: tuple[str, ...]


def chain_problems(con: sqlite3.Connection, known_head: str | None = None) -> ChainCheck:
    """Walk the history in seq order and name every row where the chain is broken, plus the cross-checks:
    the append-only triggers present, no rows missing at the end, each case's status that of its last row,
    and ``known_head`` (a head noted down earlier) still a row of the chain."""
    cur = con.execute(f"SELECT {', '.join(HASHED_FIELDS)}, prev_hash, hash FROM history ORDER BY seq")
    rows = [dict(zip([*HASHED_FIELDS, "prev_hash", "hash"], r, strict=True)) for r in cur]
    by_hash = {r["hash"]: r["seq"] for r in rows if r["hash"]}
    problems: list[str] = []
    prev_seq, prev_hash = 0, GENESIS
    for row in rows:
        seq = row["seq"]
        where = f"history row {seq} (case {row['exception_id']}, {row['event']} at {row['at']})"
        if seq != prev_seq + 1:
            missing = f"{prev_seq + 1}" if seq == prev_seq + 2 else f"{prev_seq + 1} to {seq - 1}"
            problems.append(f"history row {missing} {'is' if seq == prev_seq + 2 else 'are'} missing: deleted "
                            f"from the log (the chain goes from row {prev_seq} to row {seq})")
        elif not row["hash"]:
            problems.append(f"{where} has no hash: it was written around the case log")
        elif row["prev_hash"] != prev_hash:
            earlier = by_hash.get(row["prev_hash"])
            if earlier is not None and earlier != prev_seq:
                problems.append(f"{where} is out of order: it was written after row {earlier}, not after row "
                                f"{prev_seq} (rows reordered)")
            else:
                problems.append(f"{where} does not follow row {prev_seq}: a row before it was changed and its "
                                "hash rewritten, or this row was inserted")
        if row["hash"] and row_hash(row["prev_hash"] or "", row) != row["hash"]:
            problems.append(f"{where} was changed after it was written: its content no longer matches its hash")
        prev_seq, prev_hash = seq, row["hash"] or ""
    counter = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'history'").fetchone()
    if counter and counter[0] > prev_seq:
        last = f"{prev_seq + 1}" if counter[0] == prev_seq + 1 else f"{prev_seq + 1} to {counter[0]}"
        problems.append(f"history row {last} {'is' if counter[0] == prev_seq + 1 else 'are'} missing at the end: "
                        f"the log wrote {counter[0]} rows and holds {prev_seq}")
    triggers = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    gone = [t for t in APPEND_ONLY_TRIGGERS if t not in triggers]
    if gone:
        problems.append(f"the history's append-only triggers were removed ({', '.join(gone)}): rows can be "
                        "changed without an error")
    for eid, status, last_seq, last_status in con.execute(
            "SELECT c.exception_id, c.status, h.seq, h.status FROM cases c JOIN history h ON h.seq = "
            "(SELECT MAX(seq) FROM history WHERE exception_id = c.exception_id) WHERE c.status != h.status "
            "ORDER BY c.exception_id"):
        problems.append(f"case {eid} has status {status!r} but its last history row ({last_seq}) says "
                        f"{last_status!r}: the case was changed around the log, or its later history deleted")
    for (eid,) in con.execute("SELECT exception_id FROM cases WHERE exception_id NOT IN "
                              "(SELECT exception_id FROM history) ORDER BY exception_id"):
        problems.append(f"case {eid} has no history row: its history was deleted")
    if known_head and known_head.strip().lower() not in by_hash:
        problems.append(f"the head noted earlier ({known_head.strip()}) is not a row of this chain: the history "
                        "was rewritten since it was noted, from that row on")
    return ChainCheck(len(rows), prev_hash, tuple(problems))
