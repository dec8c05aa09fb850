"""The case log file: a SQLite database in the user's workspace, safe for several analysts at once.

One row per finding (``cases``, keyed by the stable ``exception_id`` of
``billing verify``) holds its current status, resolution, amount, note, author
and time; ``history`` keeps every change as a new row and cannot be updated or
deleted (triggers refuse it), and each row carries the hash of the one before
(:mod:`billing_lib.cases.chain`), so an edit made around the triggers is found by
:meth:`CaseLog.verify_log`. A log of an older schema is migrated once when opened
(:data:`MIGRATIONS`), and says so. The file runs in WAL mode with a busy timeout,
and every change is one ``BEGIN IMMEDIATE`` transaction, so two processes
updating cases at the same time wait for each other instead of losing work.

The log lives outside the repository: ``--cases PATH`` on the command line,
else the ``BILLING_CASE_LOG`` environment variable, else ``cases.sqlite`` in the
user's data folder (see :func:`default_case_log_path`). A missing file is
never created behind the user's back (``billing cases init`` creates it), and a
file that is not a case log, or is damaged, is reported and left untouched.
"""
from __future__ import annotations

import datetime as dt
import getpass
import os
import re
import sqlite3
import sys
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
from platformdirs import user_data_path

from billing_lib.cases import chain
from billing_lib.core.currency import is_currency, minor_digits
from billing_lib.core.money import SCALE
from billing_lib.errors import BillingInputError

STATUSES = ("open", "investigating", "resolved", "accepted")
ENV_VAR = "BILLING_CASE_LOG"
APPLICATION_ID = 0x42494C4C  # "BILL": marks the file as a billing-workbooks case log
SCHEMA_VERSION = 2  # 2: the history is a hash chain (cases.chain); a version 1 log is migrated once
BUSY_TIMEOUT_MS = 60_000
CASE_COLUMNS = ["exception_id", "check_name", "severity", "customer_id", "invoice_id", "line_no", "subscription_id",
                "payment_id", "period", "currency", "at_stake", "message", "status", "resolution", "amount", "note",
                "author", "updated_at", "first_recorded", "cleared"]
HISTORY_COLUMNS = ["seq", "exception_id", "at", "author", "event", "previous_status", "status", "resolution",
                   "amount", "note"]
FINDING_FIELDS = ["check", "severity", "customer_id", "invoice_id", "line_no", "subscription_id", "payment_id",
                  "period", "currency", "at_stake", "message"]

_UPDATE_TRIGGER = """CREATE TRIGGER history_is_append_only_update BEFORE UPDATE ON history
    BEGIN SELECT RAISE(ABORT, 'the case history is append-only'); END;"""
_LOG_EVENTS = """CREATE TABLE log_events (          -- what happened to the log itself (migrations)
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, author TEXT NOT NULL, event TEXT NOT NULL,
    detail TEXT NOT NULL
);"""
_SCHEMA = f"""
PRAGMA application_id = {APPLICATION_ID};
PRAGMA user_version = {SCHEMA_VERSION};
CREATE TABLE cases (
    exception_id TEXT PRIMARY KEY,
    check_name TEXT NOT NULL,
    severity TEXT, customer_id TEXT, invoice_id TEXT, line_no INTEGER, subscription_id TEXT, payment_id TEXT,
    period TEXT, currency TEXT, at_stake TEXT, message TEXT,
    status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    resolution TEXT, amount TEXT, note TEXT,
    author TEXT NOT NULL, updated_at TEXT NOT NULL, first_recorded TEXT NOT NULL,
    cleared INTEGER NOT NULL DEFAULT 0   -- 1: absent from a verification run since it was resolved
);
CREATE TABLE history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    exception_id TEXT NOT NULL REFERENCES cases(exception_id),
    at TEXT NOT NULL, author TEXT NOT NULL,
    event TEXT NOT NULL,                 -- recorded, update, cleared, regression
    previous_status TEXT, status TEXT NOT NULL, resolution TEXT, amount TEXT, note TEXT,
    prev_hash TEXT NOT NULL DEFAULT '', hash TEXT NOT NULL DEFAULT ''   -- the chain (cases.chain)
);
CREATE INDEX history_by_case ON history(exception_id, seq);
{_LOG_EVENTS}
{_UPDATE_TRIGGER}
CREATE TRIGGER history_is_append_only_delete BEFORE DELETE ON history
    BEGIN SELECT RAISE(ABORT, 'the case history is append-only'); END;
CREATE TRIGGER cases_are_kept BEFORE DELETE ON cases
    BEGIN SELECT RAISE(ABORT, 'cases are never deleted; set their status instead'); END;
"""


class CaseLogError(BillingInputError):
    """Raised when the case log is missing, damaged, not a case log, or asked about an unknown case."""

    def _render_traceback_(self) -> list[str]:
        # in a workbook, IPython shows this instead of a traceback
        return [f"{type(self).__name__}: {self}"]


def default_case_log_path() -> Path:
    """``$BILLING_CASE_LOG`` when set, else ``cases.sqlite`` in the user's data folder (never the repository)."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return user_data_path("billing-workbooks", appauthor=False) / "cases.sqlite"


def default_author() -> str:
    """The login name of the user running the command."""
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): say so rather than invent one
        return "unknown"


def utc_now() -> str:
    """The current time in UTC, ISO 8601 to the second (the time of a change in the log)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)")
_MAX_INTEGER_DIGITS = 38 - SCALE  # what the money columns (Decimal(38, SCALE)) can hold


def _amount_value(amount: Decimal | str | None) -> Decimal | None:
    """The amount given for a case as a Decimal (None when not given); CaseLogError unless it is a plain,
    finite decimal number the money columns can hold (no exponent: '1e999999' is not an amount)."""
    if amount is None or amount == "":
        return None
    if isinstance(amount, Decimal):
        value = amount
    elif _PLAIN_DECIMAL.fullmatch(text := str(amount).strip()):
        value = Decimal(text)
    else:
        raise CaseLogError(f"amount {str(amount)!r} is not a plain decimal number: give digits with an optional "
                           f"sign and decimal point, for example 12.50 or -3")
    if not value.is_finite():
        raise CaseLogError(f"amount {str(amount)!r} is not a finite decimal number")
    if value and value.adjusted() >= _MAX_INTEGER_DIGITS:
        raise CaseLogError(f"amount {str(amount)!r} is too large: at most {_MAX_INTEGER_DIGITS} digits before the "
                           f"decimal point")
    return value


def _amount_text(value: Decimal, currency: str | None, exception_id: str, given: object) -> str:
    """``value`` written with the minor-unit digits of the case's currency; CaseLogError if it has more
    (12.505 EUR). A case without a known currency keeps the amount as given, up to the money columns' scale."""
    known = bool(currency) and is_currency(currency)
    digits = minor_digits(currency) if known else SCALE
    exact = value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    if exact != value:
        allows = f"{currency} has {digits}" if known else f"at most {digits} are kept"
        raise CaseLogError(f"amount {str(given)!r} of case {exception_id!r} has more decimals than its currency "
                           f"allows ({allows}); give the amount in whole minor units")
    return f"{exact:f}" if known else f"{value:f}"


def _status(status: str) -> str:
    if status not in STATUSES:
        raise CaseLogError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    return status


def _damaged(path: Path, exc: Exception) -> CaseLogError:
    return CaseLogError(
        f"case log {str(path)!r} cannot be read as a billing case log ({exc}); it was left untouched. "
        f"Restore it from a backup, or move it away and create a new one with `billing cases init --cases "
        f"{path}`.")


@dataclass(frozen=True)
class CaseLog:
    """An open case log file; each method opens its own short connection (safe across processes)."""

    path: Path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        uri = "file:" + urllib.parse.quote(str(self.path.resolve())) + "?mode=rw"
        try:
            con = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            raise _damaged(self.path, exc) from None
        try:
            con.row_factory = sqlite3.Row
            con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            con.execute("PRAGMA foreign_keys = ON")
            yield con
        finally:
            con.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction taken at once (BEGIN IMMEDIATE): concurrent writers queue, none is lost."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    # -- the log itself --------------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Bring a log of an older schema to :data:`SCHEMA_VERSION`, each step once (in one transaction,
        whatever other processes do meanwhile); return what was done, one sentence per step."""
        with self._connect() as con:
            if con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return []
        done = []
        while True:
            with self._transaction() as con:
                version = con.execute("PRAGMA user_version").fetchone()[0]
                if version == SCHEMA_VERSION:
                    return done
                step = MIGRATIONS.get(version)
                if step is None:
                    raise CaseLogError(f"case log {str(self.path)!r} has schema version {version}, which this "
                                       f"version of billing-workbooks cannot migrate to {SCHEMA_VERSION}")
                done.append(f"case log {self.path}: " + step(con))

    def verify_log(self, known_head: str | None = None) -> chain.ChainCheck:
        """Check the history's hash chain (see :mod:`billing_lib.cases.chain`); CaseLogError naming every
        broken row when it is not intact, else the rows checked and the chain's head. ``known_head``: a head
        printed by an earlier check, which must still be a row of the chain (else the chain was rewritten)."""
        with self._connect() as con:
            found = chain.chain_problems(con, known_head)
        if found.problems:
            lines = [f"  - {p}" for p in found.problems[:50]]
            if len(found.problems) > 50:
                lines.append(f"  ... and {len(found.problems) - 50} more")
            raise CaseLogError("\n".join([f"case log {self.path}: the history was tampered with "
                                           f"({len(found.problems)} problem{'s' * (len(found.problems) != 1)} in "
                                           f"{found.rows} rows):", *lines,
                                           "Restore the log from a backup and compare the rows named."]))
        return found

    def log_events(self) -> list[dict]:
        """What happened to the log itself (migrations), oldest first."""
        with self._connect() as con:
            return [dict(r) for r in con.execute("SELECT at, author, event, detail FROM log_events ORDER BY id")]

    # -- reading -----------------------------------------------------------------------------------------
    def cases(self, status: str | None = None, customer_id: str | None = None) -> pl.DataFrame:
        """Every case (optionally of one status or customer), ordered by exception_id."""
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(_status(status))
        if customer_id is not None:
            where.append("customer_id = ?")
            args.append(customer_id)
        sql = f"SELECT {', '.join(CASE_COLUMNS)} FROM cases"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._connect() as con:
            rows = [tuple(r) for r in con.execute(sql + " ORDER BY exception_id", args)]
        return _frame(rows, CASE_COLUMNS)

    def get(self, exception_id: str) -> dict:
        """One case as a dict; CaseLogError when the log does not hold it."""
        with self._connect() as con:
            row = con.execute(f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE exception_id = ?",
                              (exception_id,)).fetchone()
        if row is None:
            raise CaseLogError(f"no case {exception_id!r} in the case log {str(self.path)!r}; cases are recorded "
                               f"by `billing verify DATA --out DIR --cases {self.path}` (`billing cases list` "
                               f"shows them)")
        return dict(row)

    def history(self, exception_id: str) -> pl.DataFrame:
        """Every change of one case, oldest first."""
        with self._connect() as con:
            rows = [tuple(r) for r in con.execute(
                f"SELECT {', '.join(HISTORY_COLUMNS)} FROM history WHERE exception_id = ? ORDER BY seq",
                (exception_id,))]
        return _frame(rows, HISTORY_COLUMNS)

    # -- changing ----------------------------------------------------------------------------------------
    def update(self, exception_id: str, *, status: str | None = None, resolution: str | None = None,
               amount: Decimal | str | None = None, note: str | None = None, author: str | None = None,
               at: str | None = None, expect_status: str | None = None) -> dict:
        """Change a case's status, resolution, amount or note (only the ones given); one history row.

        ``expect_status``: change nothing (CaseLogError) unless the case still has this status, so an
        analyst's decision is not written over a change someone else made since they looked.
        """
        if status is None and resolution is None and amount is None and note is None:
            raise CaseLogError("nothing to update: give a status, a resolution, an amount or a note")
        if status is not None:
            _status(status)
        if expect_status is not None:
            _status(expect_status)
        amount_value = _amount_value(amount)
        author, at = author or default_author(), at or utc_now()
        with self._transaction() as con:
            row = con.execute("SELECT status, resolution, amount, note, currency, author, updated_at FROM cases "
                              "WHERE exception_id = ?", (exception_id,)).fetchone()
            if row is None:
                raise CaseLogError(f"no case {exception_id!r} in the case log {str(self.path)!r}; cases are "
                                   f"recorded by `billing verify DATA --out DIR --cases {self.path}`")
            if expect_status is not None and row["status"] != expect_status:
                raise CaseLogError(f"case {exception_id!r} is {row['status']!r}, not {expect_status!r} as expected "
                                   f"(last changed by {row['author']} at {row['updated_at']}); nothing was changed. "
                                   f"See `billing cases show {exception_id}` and update again.")
            amount_text = None if amount_value is None else \
                _amount_text(amount_value, row["currency"], exception_id, amount)
            new = {"status": status or row["status"],
                   "resolution": resolution if resolution is not None else row["resolution"],
                   "amount": amount_text if amount_text is not None else row["amount"],
                   "note": note if note is not None else row["note"]}
            cleared = "0" if status == "resolved" else "cleared"
            con.execute(f"UPDATE cases SET status = ?, resolution = ?, amount = ?, note = ?, author = ?, "
                        f"updated_at = ?, cleared = {cleared} WHERE exception_id = ?",
                        (new["status"], new["resolution"], new["amount"], new["note"], author, at, exception_id))
            _log(con, exception_id, at, author, "update", row["status"], new)
        return self.get(exception_id)

    def record_run(self, findings: Iterable[dict], periods: Iterable[str], *, checks: Iterable[str],
                   all_periods: bool = False, author: str | None = None, at: str | None = None) -> dict[str, str]:
        """Record a verification run's findings; return each finding's standing in the log.

        ``periods`` are the months the run verified and ``checks`` the names of the checks it ran (a run
        limited with ``--check`` says nothing about the others); ``all_periods`` is true when the run
        verified every month of the data (no ``--period``).

        Standing: ``new`` (first time seen; recorded as open), ``open``, ``investigating``, ``resolved`` or
        ``accepted`` (already decided: reports leave them out), or ``regression`` (resolved, then absent
        from a run, and now found again: reopened). A resolved case that the run would have found again
        (its check ran over its month, or, for a finding without a month, over every month) and did not
        is marked *cleared*: the correction took effect.
        """
        author, at = author or default_author(), at or utc_now()
        standing: dict[str, str] = {}
        seen: set[str] = set()
        with self._transaction() as con:
            for f in findings:
                eid = f["exception_id"]
                seen.add(eid)
                row = con.execute("SELECT status, resolution, amount, note, cleared FROM cases "
                                  "WHERE exception_id = ?", (eid,)).fetchone()
                if row is None:
                    con.execute(
                        f"INSERT INTO cases (exception_id, check_name, {', '.join(FINDING_FIELDS[1:])}, status, "
                        f"author, updated_at, first_recorded) VALUES ({', '.join('?' * (len(FINDING_FIELDS) + 5))})",
                        (eid, *[_cell(f.get(k)) for k in FINDING_FIELDS], "open", author, at, at))
                    _log(con, eid, at, author, "recorded", None, {"status": "open"})
                    standing[eid] = "new"
                elif row["status"] == "resolved" and row["cleared"]:
                    con.execute("UPDATE cases SET status = 'open', cleared = 0, author = ?, updated_at = ? "
                                "WHERE exception_id = ?", (author, at, eid))
                    _log(con, eid, at, author, "regression", "resolved",
                         {"status": "open", "resolution": row["resolution"], "amount": row["amount"],
                          "note": "found again after it was resolved and had disappeared"})
                    standing[eid] = "regression"
                else:
                    standing[eid] = row["status"]
            ran, wanted = sorted(set(checks)), sorted(set(periods))
            if ran and (wanted or all_periods):
                in_ran = f"check_name IN ({', '.join('?' * len(ran))})"
                covered = f"period IN ({', '.join('?' * len(wanted))})" if wanted else "0"
                if all_periods:  # a finding without a month can only be absent from a run of every month
                    covered = f"({covered} OR period IS NULL)"
                gone = [r["exception_id"] for r in con.execute(
                    f"SELECT exception_id FROM cases WHERE status = 'resolved' AND cleared = 0 AND {in_ran} "
                    f"AND {covered} ORDER BY exception_id", [*ran, *wanted]) if r["exception_id"] not in seen]
                for eid in gone:
                    con.execute("UPDATE cases SET cleared = 1 WHERE exception_id = ?", (eid,))
                    row = con.execute("SELECT resolution, amount FROM cases WHERE exception_id = ?",
                                      (eid,)).fetchone()
                    _log(con, eid, at, author, "cleared", "resolved",
                         {"status": "resolved", "resolution": row["resolution"], "amount": row["amount"],
                          "note": "no longer found by a verification run"})
        return standing


def _add_hash_chain(con: sqlite3.Connection) -> str:
    """Version 1 to 2: chain the existing history rows (cases.chain) and record that it was done."""
    con.execute("ALTER TABLE history ADD COLUMN prev_hash TEXT NOT NULL DEFAULT ''")
    con.execute("ALTER TABLE history ADD COLUMN hash TEXT NOT NULL DEFAULT ''")
    con.execute("DROP TRIGGER history_is_append_only_update")
    rows, head = chain.rechain(con)
    con.execute(_UPDATE_TRIGGER)
    con.execute(_LOG_EVENTS)
    detail = (f"hash chain added over the {rows} history rows written before (schema 1 to 2); rows 1 to {rows} "
              f"are vouched for from now on, not before; head {head}")
    con.execute("INSERT INTO log_events (at, author, event, detail) VALUES (?, ?, 'migrated', ?)",
                (utc_now(), default_author(), detail))
    con.execute("PRAGMA user_version = 2")
    return f"migrated to schema 2: {detail}"


# schema version -> the step that brings a log of that version to the next one
MIGRATIONS = {1: _add_hash_chain}


def _cell(value):
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def _log(con: sqlite3.Connection, eid: str, at: str, author: str, event: str, previous: str | None,
         new: dict) -> None:
    chain.append(con, {"exception_id": eid, "at": at, "author": author, "event": event, "previous_status": previous,
                       "status": new["status"], "resolution": new.get("resolution"), "amount": new.get("amount"),
                       "note": new.get("note")})


def _frame(rows: list[tuple], columns: list[str]) -> pl.DataFrame:
    ints = {"line_no", "cleared", "seq"}
    schema = {c: (pl.Int64 if c in ints else pl.String) for c in columns}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _check_file(path: Path) -> None:
    """CaseLogError unless ``path`` is a readable case log of this schema (nothing is written)."""
    log = CaseLog(path)
    try:
        with log._connect() as con:
            app = con.execute("PRAGMA application_id").fetchone()[0]
            version = con.execute("PRAGMA user_version").fetchone()[0]
            check = con.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise _damaged(path, exc) from None
    if app != APPLICATION_ID:
        raise CaseLogError(f"{str(path)!r} is an SQLite file but not a billing case log; it was left untouched. "
                           f"Pass the case log with --cases (or {ENV_VAR}), or create one with "
                           f"`billing cases init --cases NEW_PATH`.")
    if check != "ok":
        raise _damaged(path, Exception(f"integrity check: {check}"))
    if version not in MIGRATIONS and version != SCHEMA_VERSION:
        raise CaseLogError(f"case log {str(path)!r} has schema version {version}; this version of billing-workbooks "
                           f"reads versions {', '.join(map(str, [*MIGRATIONS, SCHEMA_VERSION]))}")


def open_case_log(path: str | Path | None = None, say: Callable[[str], None] | None = None) -> CaseLog:
    """The case log at ``path`` (default :func:`default_case_log_path`); CaseLogError if missing or damaged.

    A log of an older schema is migrated once, in one transaction, and ``say`` (default: stderr) is told so."""
    path = Path(path).expanduser() if path is not None else default_case_log_path()
    if not path.exists():
        raise CaseLogError(f"case log {str(path)!r} does not exist; create it with `billing cases init --cases "
                           f"{path}` (or point --cases / {ENV_VAR} at the existing one)")
    if not path.is_file():
        raise CaseLogError(f"case log {str(path)!r} is not a file")
    _check_file(path)
    log = CaseLog(path)
    for note in log.migrate():
        (say or _to_stderr)(note)
    return log


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def create_case_log(path: str | Path | None = None) -> tuple[CaseLog, bool]:
    """Create the case log at ``path`` (folders included); an existing valid log is kept as it is.

    Returns (log, created). A file that exists but is not a valid case log is refused, never overwritten.
    """
    path = Path(path).expanduser() if path is not None else default_case_log_path()
    if path.exists():
        return open_case_log(path), False
    return create_if_absent(path)


def create_if_absent(path: Path) -> tuple[CaseLog, bool]:
    """Build the log in a private file, then link it into place only if ``path`` is still free.

    ``os.link`` fails when the name exists, so of several ``billing cases init`` at once exactly one
    creates the log and the others open it: a log already in use is never replaced.
    """
    tmp = path.with_name(f".{path.name}.creating-{os.getpid()}-{uuid.uuid4().hex}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = sqlite3.connect(tmp, isolation_level=None)
            try:
                con.executescript(_SCHEMA)
                con.execute("PRAGMA journal_mode = WAL")
            finally:
                con.close()
            os.link(tmp, path)
            created = True
        except FileExistsError:  # another process created it since we looked: keep theirs
            created = False
        finally:
            for leftover in (tmp, *(tmp.with_name(tmp.name + end) for end in ("-wal", "-shm", "-journal"))):
                leftover.unlink(missing_ok=True)
    except (OSError, sqlite3.Error) as exc:
        raise CaseLogError(f"cannot create the case log {str(path)!r}: "
                           f"{getattr(exc, 'strerror', None) or exc}") from None
    return open_case_log(path), created
