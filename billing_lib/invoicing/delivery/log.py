"""The delivery log: a SQLite file recording every attempt to send an invoice, what became of it and when.

An invoice counts as delivered once it has a ``sent`` row; a partial unique index makes a second ``sent``
row for the same invoice impossible. An attempt is written as ``sending`` before the message leaves and
updated afterwards, so a run stopped in between leaves a trace: the next run marks it ``interrupted`` and
tries the invoice again (with the same Message-ID, which lets mail programs drop a duplicate).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from billing_lib.errors import ParameterError

DEFAULT_LOG_NAME = "delivery_log.sqlite"
OUTCOMES = ("sending", "sent", "failed", "invalid_address", "interrupted")
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS deliveries (
    attempt_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id   TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    channel      TEXT NOT NULL,
    attempted_at TEXT NOT NULL,
    finished_at  TEXT,
    outcome      TEXT NOT NULL CHECK (outcome IN ({", ".join(f"'{o}'" for o in OUTCOMES)})),
    detail       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS deliveries_by_invoice ON deliveries (invoice_id);
CREATE UNIQUE INDEX IF NOT EXISTS one_sent_per_invoice ON deliveries (invoice_id) WHERE outcome = 'sent';
"""


@dataclass(frozen=True)
class Delivered:
    """The successful delivery of an invoice recorded in the log."""

    invoice_id: str
    content_hash: str
    recipient: str
    message_id: str
    channel: str
    finished_at: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class DeliveryLog:
    """An open delivery log; use :func:`open_log` so that one run at a time holds it."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self._db = connection
        self.path = path

    def delivered(self, invoice_id: str) -> Delivered | None:
        """The recorded delivery of ``invoice_id``, or None when it was never sent."""
        row = self._db.execute("SELECT invoice_id, content_hash, recipient, message_id, channel, finished_at "
                               "FROM deliveries WHERE invoice_id = ? AND outcome = 'sent'", (invoice_id,)).fetchone()
        return Delivered(*row) if row else None

    def record(self, invoice_id: str, content_hash: str, customer_id: str, recipient: str, message_id: str,
               channel: str, outcome: str, detail: str = "") -> int:
        """Write one attempt (committed at once) and return its id; ``sending`` attempts are finished later."""
        now = _now()
        with self._db:
            cur = self._db.execute(
                "INSERT INTO deliveries (invoice_id, content_hash, customer_id, recipient, message_id, channel, "
                "attempted_at, finished_at, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (invoice_id, content_hash, customer_id, recipient, message_id, channel, now,
                 None if outcome == "sending" else now, outcome, detail))
        return int(cur.lastrowid)

    def finish(self, attempt_id: int, outcome: str, detail: str = "") -> None:
        """Record the outcome of a ``sending`` attempt (committed at once)."""
        with self._db:
            self._db.execute("UPDATE deliveries SET outcome = ?, detail = ?, finished_at = ? "
                             "WHERE attempt_id = ? AND outcome = 'sending'", (outcome, detail, _now(), attempt_id))

    def mark_interrupted(self) -> list[str]:
        """Turn attempts left ``sending`` by a stopped run into ``interrupted``; return their invoice ids."""
        with self._db:
            ids = [r[0] for r in self._db.execute(
                "SELECT invoice_id FROM deliveries WHERE outcome = 'sending' ORDER BY attempt_id")]
            self._db.execute("UPDATE deliveries SET outcome = 'interrupted', finished_at = ?, detail = "
                             "'the run stopped before the outcome was known; tried again' "
                             "WHERE outcome = 'sending'", (_now(),))
        return ids

    def history(self) -> pl.DataFrame:
        """Every attempt in the order they were made (``.to_pandas()`` for pandas)."""
        cur = self._db.execute("SELECT * FROM deliveries ORDER BY attempt_id")
        names = [d[0] for d in cur.description]
        return pl.DataFrame(cur.fetchall(), schema={n: pl.Int64 if n == "attempt_id" else pl.String for n in names},
                            orient="row")


@contextlib.contextmanager
def open_log(path: str | Path) -> Iterator[DeliveryLog]:
    """Open (or create) the log at ``path`` for this run alone: a second ``billing send`` on it is refused."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path.with_name(path.name + ".lock"), "a")
    except OSError as exc:
        raise ParameterError(f"delivery log {path} cannot be created: {exc.strerror or exc}") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ParameterError(f"another billing send is using the delivery log {path}; "
                                 "wait for it to finish and run again") from None
        try:
            db = sqlite3.connect(path, isolation_level="DEFERRED")
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ParameterError(f"{path} is not a usable delivery log ({exc}); pass another file with --log "
                                 "or move it away") from None
        try:
            yield DeliveryLog(db, path)
        finally:
            db.close()
