"""A columnar copy of a SQLite store's ledger, kept beside it and brought up to date by appending.

DuckDB reads a SQLite table on one thread, row by row: at ten million events that read alone
cost more than all the derivation's joins. The ledger is append-only (events are never updated
or deleted, and SQLite commits one writer at a time, so sequence numbers arrive in order), so a
copy of the events up to a sequence number stays true. A full derive on a SQLite store keeps one
in ``FILE.ledger.duckdb``: it appends the events after the copy's last sequence number (SQLite
seeks to them by rowid) and reads the whole ledger from the copy, in parallel.

The copy checks itself against the store before each use: the event at its last sequence number
must still exist with the same key, and sixteen events spread over the copy must match the
store's. A store replaced by another (a restored backup, a different file at the same path)
fails the check, and the copy is rebuilt from the store; so is a copy DuckDB cannot open. The
file is a cache: deleting it only costs the next full derive one full read of the store.
PostgreSQL is read in parallel by DuckDB's own scanner and needs no copy. The registered
subjects' attributes are copied alongside (``subjects_mirror``).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import duckdb

from socialcredit.derive import mirror_sample, subjects_mirror
from socialcredit.derive.engines.duckdb_ratings_memo import MEMO
from socialcredit.derive.engines.duckdb_ratings_memo import STATE as MEMO_STATE
from socialcredit.derive.expressions import EVENT_COLUMNS, SUBJECT_ATTRIBUTES
from socialcredit.errors import Conflict

MIRROR_SUFFIX = ".ledger.duckdb"
CATALOG = mirror_sample.CATALOG
COLUMN_TYPES = {
    "seq": "BIGINT",
    "furnisher": "VARCHAR",
    "record_id": "VARCHAR",
    "action": "VARCHAR",
    "subject_id": "VARCHAR",
    "category": "VARCHAR",
    "decided_on": "DATE",
    "document_no": "VARCHAR",
    "amount_fen": "BIGINT",
    "ground": "VARCHAR",
    "extension_months": "BIGINT",
    "legal_rep_id": "VARCHAR",
    # The subject's, as registered (fixed by the identifier; registered with its first event).
    "kind": "VARCHAR",
    "birth_date": "DATE",
}
assert tuple(COLUMN_TYPES) == EVENT_COLUMNS + SUBJECT_ATTRIBUTES

Progress = Callable[[str], None]


def mirror_path(sqlite_path: str) -> str:
    return sqlite_path + MIRROR_SUFFIX


def _key_at(con: duckdb.DuckDBPyConnection, store: str, seq: int) -> str | None:
    """The store's event key at ``seq`` (hex), by rowid: SQLite runs the query itself."""
    # sqlite_query takes its parameters as constants, not placeholders: an integer is safe.
    row = con.execute(
        f"SELECT * FROM sqlite_query('{store}', 'SELECT hex(event_key) FROM events WHERE seq = ?', "
        f"params=row({int(seq)}::BIGINT))"
    ).fetchone()
    return None if row is None else str(row[0])


def _last_event(con: duckdb.DuckDBPyConnection) -> tuple[int, str | None]:
    row = con.execute(f"SELECT last_seq, last_key FROM {CATALOG}.mirror_state").fetchone()
    return (0, None) if row is None else (int(row[0]), row[1])


SAMPLES = 16  # events compared between the copy and the store, spread over the copy
IDENTITY = ("seq", "furnisher", "record_id", "action", "subject_id")


def _still_true(con: duckdb.DuckDBPyConnection, store: str, last_seq: int, key: str) -> bool:
    """The store still holds the copy's last event (same key) and, at evenly spread sequence
    numbers, the same events: a restored backup or another file at the path fails this."""
    if _key_at(con, store, last_seq) != key:
        return False
    seqs = mirror_sample.spread(last_seq, SAMPLES)
    return mirror_sample.rows_agree(con, store, "events", IDENTITY, "events", IDENTITY, seqs)


def _attach(con: duckdb.DuckDBPyConnection, path: str, progress: Progress) -> None:
    quoted = path.replace("'", "''")
    try:
        con.execute(f"ATTACH '{quoted}' AS {CATALOG}")
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():  # DuckDB locks its file: one writing process at a time
            raise Conflict(
                f"the ledger copy {path} is in use (is another full derive running on this "
                f"store?): {exc}"
            ) from None
        # Not a usable DuckDB file (damaged, truncated): it is only a cache, so start again.
        progress(f"ledger copy: unreadable ({exc}), rebuilding")
        remove(path)
        con.execute(f"ATTACH '{quoted}' AS {CATALOG}")


def remove(path: str) -> None:
    """Delete the copy at ``path`` (and its WAL): it is only a cache of the store's ledger."""
    for leftover in (path, path + ".wal"):
        if os.path.exists(leftover):
            os.remove(leftover)


def _create(con: duckdb.DuckDBPyConnection, progress: Progress) -> None:
    """The copy's tables; a copy of another shape (an older release's) is started afresh."""
    found = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = ? AND table_name = 'events' ORDER BY column_index",
        [CATALOG],
    ).fetchall()
    if found and [(name, kind) for name, kind in found] != list(COLUMN_TYPES.items()):
        progress("ledger copy: of an older shape, rebuilding")
        con.execute(f"DROP TABLE {CATALOG}.events")
        con.execute(f"DROP TABLE IF EXISTS {CATALOG}.mirror_state")
    columns = ", ".join(f"{name} {kind}" for name, kind in COLUMN_TYPES.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {CATALOG}.events ({columns})")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {CATALOG}.mirror_state (last_seq BIGINT, last_key VARCHAR)"
    )
    subjects_mirror.create(con)


def _append(con: duckdb.DuckDBPyConnection, store: str, last_seq: int, progress: Progress) -> None:
    """Copy the store's events after ``last_seq`` with their subjects' attributes."""
    event_names = ", ".join(f"e.{name}" for name in EVENT_COLUMNS)
    subject_names = ", ".join(f"s.{name}" for name in SUBJECT_ATTRIBUTES)
    joined = "{}events AS e LEFT JOIN {}subjects AS s ON s.subject_id = e.subject_id"
    if last_seq == 0:
        progress("ledger copy: reading the whole ledger")
        con.execute(
            f"INSERT INTO {CATALOG}.events SELECT {event_names}, {subject_names} "
            f"FROM {joined.format(f'{store}.', f'{store}.')}"
        )
        return
    progress(f"ledger copy: appending events after {last_seq}")
    casts = ", ".join(f"CAST({n} AS {t}) AS {n}" for n, t in COLUMN_TYPES.items())
    con.execute(
        f"INSERT INTO {CATALOG}.events SELECT {casts} FROM sqlite_query('{store}', "
        f"'SELECT {event_names}, {subject_names} FROM {joined.format('', '')} WHERE e.seq > ?', "
        f"params=row({int(last_seq)}::BIGINT))"
    )


def _complete_subjects(con: duckdb.DuckDBPyConnection, store: str) -> None:
    """Fill in the attributes of copied events whose subject was not registered when they were
    copied (every path registers a subject with its first event, so this is a safeguard)."""
    row = con.execute(f"SELECT count(*) FROM {CATALOG}.events WHERE kind IS NULL").fetchone()
    if not row or not row[0]:
        return
    assigned = ", ".join(f"{name} = s.{name}" for name in SUBJECT_ATTRIBUTES)
    con.execute(
        f"UPDATE {CATALOG}.events AS e SET {assigned} FROM {store}.subjects AS s "
        "WHERE e.kind IS NULL AND s.subject_id = e.subject_id"
    )


def _forget_derived(con: duckdb.DuckDBPyConnection) -> None:
    """Drop what the copy keeps of earlier runs' results (the ratings memo): it names records by
    their filing's sequence number, which another ledger gives to other records."""
    for table in (MEMO, MEMO_STATE):
        con.execute(f"DROP TABLE IF EXISTS {CATALOG}.{table}")


def refresh(con: duckdb.DuckDBPyConnection, store: str, path: str, progress: Progress) -> str:
    """Bring the copy at ``path`` up to date with the attached SQLite catalog ``store``; returns
    the qualified name of the copy's events table."""
    _attach(con, path, progress)
    _create(con, progress)
    con.execute("BEGIN TRANSACTION")
    try:
        last_seq, last_key = _last_event(con)
        if last_seq and (last_key is None or not _still_true(con, store, last_seq, last_key)):
            progress("ledger copy: the store's ledger differs, rebuilding")
            con.execute(f"DELETE FROM {CATALOG}.events")
            _forget_derived(con)
            last_seq = 0
        _append(con, store, last_seq, progress)
        _complete_subjects(con, store)
        subjects_mirror.refresh(con, store, progress, afresh=last_seq == 0)
        row = con.execute(f"SELECT max(seq) FROM {CATALOG}.events").fetchone()
        newest = int(row[0]) if row and row[0] is not None else 0
        con.execute(f"DELETE FROM {CATALOG}.mirror_state")
        if newest:
            con.execute(
                f"INSERT INTO {CATALOG}.mirror_state VALUES (?, ?)",
                [newest, _key_at(con, store, newest)],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return f"{CATALOG}.events"
