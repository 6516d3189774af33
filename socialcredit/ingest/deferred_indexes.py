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

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, func, select

from socialcredit.ingest.readers import Source
from socialcredit.ingest.summary import Progress
from socialcredit.store.engine import sqlite_driver
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


class DeferredIndexes:
    """A run's deferral, inside its transaction: ``drop`` at the start (when ``should_defer``),
    ``rebuild`` once every chunk is written (before the batch is marked done); a run that fails
    rebuilds nothing and its rollback restores what was dropped.

    The indexes are rebuilt from the store's own definitions (``sqlite_master``), so a store
    keeps the indexes it has, whatever this release's schema says."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dropped: list[str] = []  # their CREATE INDEX statements, as the store keeps them

    def drop(self) -> None:
        driver = sqlite_driver(self.conn)
        if not driver.in_transaction:  # the sqlite3 module begins one only before a write
            driver.execute("BEGIN")
        found = driver.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' "
            f"AND name IN ({', '.join('?' * len(DEFERRED))}) ORDER BY name",
            DEFERRED,
        ).fetchall()
        for name, sql in found:
            driver.execute(f'DROP INDEX "{name}"')  # a name from sqlite_master, one of DEFERRED
            self.dropped.append(sql)

    def rebuild(self, progress: Progress | None = None) -> None:
        """Build the dropped indexes (a step of its own on ``progress``: seconds per million
        events stored, after the last file's bar is full)."""
        if not self.dropped:
            return
        if progress:
            progress.start("building the events' indexes", 0, "indexes")
        driver = sqlite_driver(self.conn)
        for sql in self.dropped:
            driver.execute(sql)
        self.dropped = []
        if progress:
            progress.finish()
