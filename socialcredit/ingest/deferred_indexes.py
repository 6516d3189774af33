"""A large SQLite run builds the events' subject and legal-representative indexes once, at its end.

Appending a row puts an entry into each index of ``events``. The record index grows at its end
(a furnisher's record ids mostly rise), but the subject index takes its entries at random
places: for a million rows that is about half of the append's time. Building an index in one
pass sorts its entries instead, at a fraction of that cost per row, but over every row stored,
not just the run's. So a run drops these two indexes and builds them again before it commits
only when it brings at least ``DEFER_FROM`` times as many rows as the store already holds (a
first load, the demo, a backlog).

It is safe because it is all one transaction: readers in WAL mode keep reading the last
commit, indexes included; a run that fails rolls the drop back. Ingestion itself never reads
events by subject or representative (the ledger rules read the record index, which stays).
PostgreSQL is left alone: there, dropping an index locks the table against every reader.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, Index, func, select

from socialcredit.ingest.readers import Source
from socialcredit.store.tables import events

DEFERRED = ("ix_events_subject", "ix_events_legal_rep")
DEFER_FROM = 0.5  # the run's expected rows, as a share of the events stored
# Bytes per row of a text file, on the high side (short rows: more rows than this says), so that
# an estimate errs towards keeping the indexes.
TEXT_ROW_BYTES = 200


def expected_rows(sources: Sequence[Source]) -> int:
    """About how many rows the run's files hold (0 for formats with no cheap answer)."""
    rows = 0
    for source in sources:
        if source.format in ("csv", "jsonl"):
            rows += source.total // TEXT_ROW_BYTES
        elif source.format == "parquet":
            try:
                rows += pq.read_metadata(source.path).num_rows
            except (pa.ArrowException, OSError):  # the reader reports the file's fault
                continue
    return rows


def should_defer(conn: Connection, rows: int) -> bool:
    if conn.dialect.name != "sqlite" or rows <= 0:
        return False
    stored = conn.execute(select(func.max(events.c.seq))).scalar_one() or 0  # append-only
    return rows >= DEFER_FROM * stored


@contextmanager
def deferred_indexes(conn: Connection, defer: bool) -> Iterator[None]:
    """Inside the run's transaction: without ``defer`` nothing; with it, drop the indexes now
    and build them when the body has written every chunk (an error leaves the drop to the
    rollback)."""
    if not defer:
        yield
        return
    driver = conn.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    if not driver.in_transaction:  # the sqlite3 module begins one only before a write
        driver.execute("BEGIN")
    dropped = [index for index in events.indexes if index.name in DEFERRED]
    assert len(dropped) == len(DEFERRED), "an index to defer is not in the schema"
    for index in dropped:
        index.drop(conn)
    yield
    for index in sorted(dropped, key=_name):
        index.create(conn)


def _name(index: Index) -> str:
    return str(index.name)
