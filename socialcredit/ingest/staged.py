"""Appending staged candidates to a SQLite store: one ``INSERT ... SELECT`` per chunk.

The reading worker serialises each chunk's candidate events into a small SQLite database
(``records.stage_image``). The writer loads that image into an attached in-memory schema
(``sqlite3.Connection.deserialize``, allowed inside the run's transaction) and copies the
accepted rows into ``events`` in one statement: SQLite moves the values itself, so the writer
does no per-row Python work and holds no GIL while the rows and their indexes are written.

The rows stored are the ones ``store.ledger.insert_events`` would store (the same columns,
values and order); an event another run stored meanwhile is the same ``Conflict``.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection

from socialcredit.ingest.records import STAGE_COLUMNS, STAGE_TABLE
from socialcredit.store.engine import sqlite_driver
from socialcredit.store.ledger import INSERT_COLUMNS, stored_meanwhile, stored_timestamp

SCHEMA = "ingest_stage"


@contextmanager
def stage_schema(conn: Connection) -> Iterator[None]:
    """An in-memory schema for the staged chunks on this (SQLite) connection; attach it before
    the run's transaction, it is detached after it (SQLite refuses while one is open)."""
    driver = sqlite_driver(conn)
    driver.execute(f"ATTACH DATABASE ':memory:' AS {SCHEMA}")
    try:
        yield
    finally:
        driver.execute(f"DETACH DATABASE {SCHEMA}")


def insert_staged(
    conn: Connection,
    image: bytes,
    accepted: NDArray[np.bool_],
    *,
    furnisher: str,
    batch_id: int,
    recorded_at: dt.datetime,
) -> int:
    """Append the ``accepted`` candidates of a staged chunk as events, in candidate order."""
    count = int(accepted.sum())
    if not count:
        return 0
    driver = sqlite_driver(conn)
    driver.deserialize(image, name=SCHEMA)
    fixed = {"batch_id": ":batch_id", "furnisher": ":furnisher", "recorded_at": ":recorded_at"}
    selected = ", ".join(fixed.get(name, f"s.{name}") for name in INSERT_COLUMNS)
    assert set(INSERT_COLUMNS) == set(STAGE_COLUMNS) | set(fixed)
    skipped = np.flatnonzero(~accepted) + 1  # rowids of the candidates not appended
    where = " WHERE s.rowid NOT IN (SELECT value FROM json_each(:skipped))" if len(skipped) else ""
    statement = (
        f"INSERT INTO events ({', '.join(INSERT_COLUMNS)}) SELECT {selected} "
        f"FROM {SCHEMA}.{STAGE_TABLE} AS s{where} ORDER BY s.rowid"
    )
    params = {
        "batch_id": batch_id,
        "furnisher": furnisher,
        "recorded_at": stored_timestamp(conn, recorded_at),
        "skipped": json.dumps(skipped.tolist()),
    }
    try:
        cursor = driver.execute(statement, params)
    except sqlite3.IntegrityError as exc:  # as ledger.bulk_insert
        raise stored_meanwhile("events", exc) from None
    if cursor.rowcount != count:
        raise AssertionError(f"staged insert wrote {cursor.rowcount} events, not {count}")
    return count
