"""The delivery log: a SQLite file recording every attempt to send an invoice, what became of it and when.

An invoice counts as delivered once it has a ``sent`` row; a partial unique index makes a second ``sent``
row for the same invoice impossible. An attempt is written as ``sending`` before the message leaves, moved
to ``handed_over`` just before the point of no return (the SMTP ``DATA`` exchange, the rename into the
outbox) and updated with its outcome afterwards, so a run stopped in between leaves a trace that the next
run reconciles (:mod:`.reconcile`): ``sending`` was certainly not delivered (``interrupted``, tried again);
``handed_over`` is looked up in the outbox, else ``unconfirmed`` and not sent again without the user's word.

Outcomes: ``sent``; ``failed`` (temporary: a ``4xx`` reply, a lost connection, an unreachable server;
tried again, after ``retry_after`` when the server deferred the message); ``refused`` (permanent: a ``5xx``
reply; not tried again unless the address changes or the user asks); ``invalid_address``; ``interrupted``;
``unconfirmed`` (may have been delivered).
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
OUTCOMES = ("sending", "handed_over", "sent", "failed", "refused", "invalid_address", "interrupted", "unconfirmed")
IN_FLIGHT = ("sending", "handed_over")
SCHEMA_VERSION = 1  # 0: the first log (no version, outcomes sending/sent/failed/invalid_address/interrupted)
COLUMNS = ("attempt_id", "invoice_id", "content_hash", "customer_id", "recipient", "message_id", "channel",
           "attempted_at", "finished_at", "outcome", "detail", "retry_after")
_TABLE = f"""
CREATE TABLE deliveries (
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
    detail       TEXT NOT NULL DEFAULT '',
    retry_after  TEXT             -- a deferred message (temporary failure): not tried again before this time
);"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS deliveries_by_invoice ON deliveries (invoice_id);
CREATE UNIQUE INDEX IF NOT EXISTS one_sent_per_invoice ON deliveries (invoice_id) WHERE outcome = 'sent';
"""


@dataclass(frozen=True)
class Attempt:
    """One row of the log."""

    attempt_id: int
    invoice_id: str
    content_hash: str
    customer_id: str
    recipient: str
    message_id: str
    channel: str
    attempted_at: str
    finished_at: str | None
    outcome: str
    detail: str
    retry_after: str | None


def now_utc() -> dt.datetime:
    """The current time in UTC (the log's clock)."""
    return dt.datetime.now(dt.UTC)


def stamp(when: dt.datetime) -> str:
    """A time as the log writes it: ISO 8601 in UTC, to the millisecond."""
    return when.astimezone(dt.UTC).isoformat(timespec="milliseconds")


class DeliveryLog:
    """An open delivery log; use :func:`open_log` so that one run at a time holds it."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self._db = connection
        self.path = path

    def _one(self, where: str, args: tuple) -> Attempt | None:
        row = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM deliveries WHERE {where} "
                               "ORDER BY attempt_id DESC LIMIT 1", args).fetchone()
        return Attempt(*row) if row else None

    def delivered(self, invoice_id: str) -> Attempt | None:
        """The recorded delivery of ``invoice_id``, or None when it was never sent."""
        return self._one("invoice_id = ? AND outcome = 'sent'", (invoice_id,))

    def last_attempt(self, invoice_id: str) -> Attempt | None:
        """The latest attempt for ``invoice_id``, or None when it was never tried."""
        return self._one("invoice_id = ?", (invoice_id,))

    def deferrals(self, invoice_id: str) -> int:
        """How many times the server deferred ``invoice_id`` (temporary failures of the message itself)."""
        return self._db.execute("SELECT COUNT(*) FROM deliveries WHERE invoice_id = ? AND outcome = 'failed' "
                                "AND retry_after IS NOT NULL", (invoice_id,)).fetchone()[0]

    def in_flight(self) -> list[Attempt]:
        """Attempts a stopped run left ``sending`` or ``handed_over``, oldest first."""
        rows = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM deliveries WHERE outcome IN "
                                f"({', '.join('?' * len(IN_FLIGHT))}) ORDER BY attempt_id", IN_FLIGHT)
        return [Attempt(*r) for r in rows]

    def record(self, invoice_id: str, content_hash: str, customer_id: str, recipient: str, message_id: str,
               channel: str, outcome: str, detail: str = "", retry_after: str | None = None) -> int:
        """Write one attempt (committed at once) and return its id; ``sending`` attempts are finished later."""
        now = stamp(now_utc())
        with self._db:
            cur = self._db.execute(
                "INSERT INTO deliveries (invoice_id, content_hash, customer_id, recipient, message_id, channel, "
                "attempted_at, finished_at, outcome, detail, retry_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (invoice_id, content_hash, customer_id, recipient, message_id, channel, now,
                 None if outcome == "sending" else now, outcome, detail, retry_after))
        return int(cur.lastrowid)

    def handing_over(self, attempt_id: int) -> None:
        """Record that the message of a ``sending`` attempt is about to pass the point of no return."""
        with self._db:
            self._db.execute("UPDATE deliveries SET outcome = 'handed_over' WHERE attempt_id = ? AND "
                             "outcome = 'sending'", (attempt_id,))

    def finish(self, attempt_id: int, outcome: str, detail: str = "", retry_after: str | None = None) -> None:
        """Record the outcome of an attempt still in flight (committed at once)."""
        with self._db:
            self._db.execute("UPDATE deliveries SET outcome = ?, detail = ?, finished_at = ?, retry_after = ? "
                             f"WHERE attempt_id = ? AND outcome IN ({', '.join('?' * len(IN_FLIGHT))})",
                             (outcome, detail, stamp(now_utc()), retry_after, attempt_id, *IN_FLIGHT))

    def mark_interrupted(self) -> list[str]:
        """Turn attempts left ``sending`` by a stopped run into ``interrupted``; return their invoice ids.
        (``handed_over`` attempts need :func:`.reconcile.reconcile`.)"""
        ids = [a.invoice_id for a in self.in_flight() if a.outcome == "sending"]
        with self._db:
            self._db.execute("UPDATE deliveries SET outcome = 'interrupted', finished_at = ?, detail = "
                             "'the run stopped before the message was handed over; tried again' "
                             "WHERE outcome = 'sending'", (stamp(now_utc()),))
        return ids

    def history(self) -> pl.DataFrame:
        """Every attempt in the order they were made (``.to_pandas()`` for pandas)."""
        cur = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM deliveries ORDER BY attempt_id")
        return pl.DataFrame(cur.fetchall(), schema={n: pl.Int64 if n == "attempt_id" else pl.String for n in COLUMNS},
                            orient="row")


def _migrate(db: sqlite3.Connection) -> None:
    """Create the table, or bring a log of an earlier version to :data:`SCHEMA_VERSION` keeping every row."""
    with db:
        db.execute("BEGIN IMMEDIATE")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'deliveries'").fetchone()
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"schema version {version} is newer than this version of "
                                        f"billing-workbooks reads ({SCHEMA_VERSION})")
        if not exists:
            db.execute(_TABLE)
        elif version == 0:  # version 0 has a CHECK on fewer outcomes and no retry_after: rebuild the table
            db.execute("ALTER TABLE deliveries RENAME TO deliveries_v0")
            db.execute("DROP INDEX IF EXISTS deliveries_by_invoice")
            db.execute("DROP INDEX IF EXISTS one_sent_per_invoice")
            db.execute(_TABLE)
            kept = ", ".join(COLUMNS[:-1])
            db.execute(f"INSERT INTO deliveries ({kept}) SELECT {kept} FROM deliveries_v0 ORDER BY attempt_id")
            db.execute("DROP TABLE deliveries_v0")
        for statement in filter(str.strip, _INDEXES.split(";")):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@contextlib.contextmanager
def open_log(path: str | Path) -> Iterator[DeliveryLog]:
    """Open (or create) the log at ``path`` for this run alone: a second ``billing send`` on it is refused.
    A log written by an earlier version is brought to this one's schema, every row kept."""
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
        db = sqlite3.connect(path, isolation_level=None)
        try:
            _migrate(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise ParameterError(f"{path} is not a usable delivery log ({exc}); pass another file with --log "
                                 "or move it away") from None
        try:
            yield DeliveryLog(db, path)
        finally:
            db.close()
