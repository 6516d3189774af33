"""The append-only ledger: events in, never updated or deleted; re-sending an event is a no-op.

An event's identity (``event_key``) is the first 16 bytes of the sha256 of its content, so the
same row furnished twice (the same file ingested again, a retried API call) is recognised and
counted as a duplicate. The content includes the furnisher and the record, and the store keeps
``(furnisher, record_id, event_key)`` unique: duplicates are found through the record index that
the ledger rules read anyway, and no index of random keys slows the appends. 128 bits among the
events of one record leave no practical room for two contents to share a key.

Writes take a bulk path on the connection's own transaction: ``executemany`` of tuples on the
DB-API connection for SQLite, ``COPY ... FROM STDIN`` for PostgreSQL. Look-ups take all their
values in one parameter (a JSON array the store unpacks), never one query per row.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, text
from sqlalchemy.engine import Dialect

from socialcredit.errors import Conflict
from socialcredit.store.event_keys import EVENT_FIELDS, event_key
from socialcredit.store.tables import events


@dataclass(frozen=True)
class AppendResult:
    inserted: int
    duplicates: int


@dataclass(frozen=True)
class FiledRecord:
    """What the ledger holds about a record's filing (``action = file``)."""

    subject_id: str
    category: str
    decided_on: dt.date


# -- look-ups -----------------------------------------------------------------------------------


def rows_matching(
    conn: Connection,
    table: Table,
    key: str,
    values: Sequence[str],
    columns: Sequence[str],
    **equal: Any,
) -> Iterator[Any]:
    """Rows of ``table`` whose ``key`` is one of ``values`` (and ``column == value`` for each of
    ``equal``), in one statement whatever the number of values.

    The values travel as one parameter, a JSON array that the store unpacks (SQLite's
    ``json_each``, PostgreSQL's ``jsonb_array_elements_text``) and joins with the table, one
    index probe per value (SQLite's ``CROSS JOIN`` fixes that order). JSON rather than a
    PostgreSQL array: psycopg quotes an array's elements one by one in Python, 3.6 s of a
    million-row ingestion's writer. A value given twice finds its rows twice.
    """
    if not values:
        return
    if conn.dialect.name == "postgresql":
        unpacked = "jsonb_array_elements_text(CAST(:values AS jsonb)) AS j(value) JOIN"
    else:
        unpacked = "json_each(:values) AS j CROSS JOIN"
    # Identifiers come from the schema, values are bound.
    selected = ", ".join(f"t.{c}" for c in columns)
    condition = "".join(f" AND t.{name} = :eq_{name}" for name in equal)
    statement = text(
        f"SELECT {selected} FROM {unpacked} {table.name} AS t ON t.{key} = j.value{condition}"
    ).columns(*(table.c[c] for c in columns))
    params = {f"eq_{name}": value for name, value in equal.items()}
    yield from conn.execute(statement, {"values": json.dumps(list(values)), **params})


HISTORY_COLUMNS = (
    "seq",
    "event_key",
    "record_id",
    "action",
    "subject_id",
    "category",
    "decided_on",
)


def record_history(conn: Connection, furnisher: str, record_ids: Sequence[str]) -> list[Any]:
    """Every event of ``furnisher`` about these records, in ledger order (one look-up serves
    both the duplicate check, since a key includes furnisher and record, and the filings)."""
    found = rows_matching(
        conn, events, "record_id", record_ids, HISTORY_COLUMNS, furnisher=furnisher
    )
    return sorted(found, key=lambda row: row.seq)


def existing_keys(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> set[bytes]:
    """The keys of the events already in the ledger for the records of ``rows``."""
    by_furnisher: dict[str, set[str]] = {}
    for row in rows:
        by_furnisher.setdefault(row["furnisher"], set()).add(row["record_id"])
    return {
        row.event_key
        for furnisher, record_ids in by_furnisher.items()
        for row in record_history(conn, furnisher, sorted(record_ids))
    }


def filings(history: Iterable[Any]) -> dict[str, FiledRecord]:
    """The first ``file`` event of each record in a ``record_history``."""
    found: dict[str, FiledRecord] = {}
    for row in history:
        if row.action == "file":
            found.setdefault(
                row.record_id, FiledRecord(row.subject_id, row.category, row.decided_on)
            )
    return found


# -- bulk writes --------------------------------------------------------------------------------


def bulk_insert(
    conn: Connection, table: Table, names: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert plain values (text dates, JSON as text) on the fastest path of the backend."""
    if conn.dialect.name == "postgresql":
        with copy_in(conn, table, names) as copy:
            for row in rows:
                copy.write_row(row)
        return
    driver, dbapi = conn.connection.driver_connection, conn.dialect.dbapi
    assert driver is not None and dbapi is not None
    marks = ", ".join("?" * len(names))
    try:
        driver.executemany(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})", rows)
    except dbapi.IntegrityError as exc:  # the driver's own error: SQLAlchemy is bypassed here
        raise stored_meanwhile(table.name, exc) from None


@contextmanager
def copy_in(
    conn: Connection, table: Table, names: Sequence[str], options: str = ""
) -> Iterator[Any]:
    """A PostgreSQL ``COPY table (names) FROM STDIN options`` on the connection's transaction
    (psycopg's copy object: ``write_row`` or ``write``); rows another run stored meanwhile are
    the run's ``Conflict``. Table, names and options come from the code, never from input."""
    driver, dbapi = conn.connection.driver_connection, conn.dialect.dbapi
    assert driver is not None and dbapi is not None
    statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN {options}".rstrip()
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            yield copy
    except dbapi.IntegrityError as exc:  # the driver's own error: SQLAlchemy is bypassed here
        raise stored_meanwhile(table.name, exc) from None


def stored_meanwhile(table: str, exc: Exception) -> Conflict:
    """The conflict for a driver's integrity error on a bulk append: rows set aside as new were
    stored meanwhile by another run (two ingestions of the same file at once). This run changes
    nothing; run again and they count as duplicates."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return Conflict(
        f"another run stored some of the same rows in {table} meanwhile ({first_line}); "
        "nothing from this run was kept: run it again and they will count as duplicates"
    )


BULK_CACHE_KIB = 256 * 1024  # SQLite page cache while a bulk transaction writes indexes


@contextmanager
def bulk_session(conn: Connection) -> Iterator[None]:
    """Settings for a large write on this connection, restored afterwards.

    SQLite's default 2 MiB page cache makes it spill and re-read index pages of a big
    transaction; a larger cache for the duration keeps them in memory.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    yield  # after a failure the connection is rolled back; its cache setting does not matter
    conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def stored_timestamp(conn: Connection, when: dt.datetime) -> Any:
    """A timestamp as the store keeps it (SQLite: SQLAlchemy's text form)."""
    return timestamp_for(conn.dialect, when)


def timestamp_for(dialect: Dialect, when: dt.datetime) -> Any:
    """``when`` as the driver of ``dialect`` takes it for a timestamp column, for statements
    that bypass SQLAlchemy (SQLite: SQLAlchemy's text form, which it reads back)."""
    if dialect.name == "postgresql":
        return when
    process = events.c.recorded_at.type.dialect_impl(dialect).bind_processor(dialect)
    return process(when) if process else when


INSERT_COLUMNS = ("event_key", "batch_id", *EVENT_FIELDS, "recorded_at")


def insert_events(
    conn: Connection,
    columns: Mapping[str, Sequence[Any]],
    *,
    batch_id: int,
    recorded_at: dt.datetime,
) -> int:
    """Append new events given column-wise (``event_key`` + EVENT_FIELDS; dates as YYYY-MM-DD).

    The caller has already set duplicates aside: a key that is in the ledger fails the insert.
    """
    count = len(columns["event_key"])
    if not count:
        return 0
    when = stored_timestamp(conn, recorded_at)
    batch = [batch_id] * count
    stamp = [when] * count
    ordered = [columns["event_key"], batch, *(columns[f] for f in EVENT_FIELDS), stamp]
    bulk_insert(conn, events, INSERT_COLUMNS, zip(*ordered, strict=True))
    return count


def append_events(
    conn: Connection,
    rows: Sequence[Mapping[str, Any]],
    *,
    batch_id: int,
    recorded_at: dt.datetime | None = None,
) -> AppendResult:
    """Insert events, skipping those whose event_key is already in the ledger (or repeated)."""
    if not rows:
        return AppendResult(0, 0)
    keys = [r.get("event_key") or event_key(r) for r in rows]
    skip = existing_keys(conn, rows)
    fresh: list[tuple[bytes, Mapping[str, Any]]] = []
    for key, row in zip(keys, rows, strict=True):
        if key not in skip:
            skip.add(key)
            fresh.append((key, row))
    columns: dict[str, list[Any]] = {"event_key": [k for k, _ in fresh]}
    for name in EVENT_FIELDS:
        values = [r.get(name) for _, r in fresh]
        columns[name] = [v.isoformat() if isinstance(v, dt.date) else v for v in values]
    inserted = insert_events(
        conn, columns, batch_id=batch_id, recorded_at=recorded_at or dt.datetime.now(dt.UTC)
    )
    return AppendResult(inserted, len(rows) - inserted)
