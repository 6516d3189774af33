"""The registered subjects' derivation attributes, copied beside a SQLite store with its ledger.

Every full run rates every registered subject, so it reads the whole ``subjects`` table: at
10M subjects DuckDB's SQLite scanner took 2-4 s for it, on one thread. Subjects are only ever
added (ingestion and the review queue register new identifiers; nothing updates or deletes
one, and a subject's kind and birth date follow from its identifier), and SQLite numbers new
rows after the largest rowid. So the ledger copy (``ledger_mirror``) keeps ``subject_id``,
``kind`` and ``birth_date`` with each row's rowid, and each run appends the rows after the
last one copied.

Before use the copy is checked against the store: the row at the copy's last rowid must still
hold the same subject, and so must seven more rows spread over the copy; and no subject
appended may be one copied before. Renumbered rows (SQLite documents that ``VACUUM`` may
renumber the rowids of a table without an integer key), a restored backup, or a subject
deleted by hand and registered again fail the check, and the subjects are copied whole again.
A run that copies the ledger afresh copies the subjects afresh too. Deleting subjects by hand
is not supported (the ledger's events name them): one deleted from the middle may stay in the
copy.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from socialcredit.derive import mirror_sample

CATALOG = mirror_sample.CATALOG
TABLE = "subjects"
STATE = "subjects_state"
COLUMN_TYPES = {
    "row_no": "BIGINT",
    "subject_id": "VARCHAR",
    "kind": "VARCHAR",
    "birth_date": "DATE",
}
SAMPLES = 8

Progress = Callable[[str], None]


def create(con: duckdb.DuckDBPyConnection) -> None:
    """The copy's tables; a copy of another shape is started afresh."""
    found = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = ? AND table_name = ? ORDER BY column_index",
        [CATALOG, TABLE],
    ).fetchall()
    if found and [(name, kind) for name, kind in found] != list(COLUMN_TYPES.items()):
        forget(con)
    columns = ", ".join(f"{name} {kind}" for name, kind in COLUMN_TYPES.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {CATALOG}.{TABLE} ({columns})")
    con.execute(f"CREATE TABLE IF NOT EXISTS {CATALOG}.{STATE} (last_row BIGINT)")


def forget(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the copy of the subjects (the next refresh copies them whole)."""
    con.execute(f"DROP TABLE IF EXISTS {CATALOG}.{TABLE}")
    con.execute(f"DROP TABLE IF EXISTS {CATALOG}.{STATE}")


def _still_true(con: duckdb.DuckDBPyConnection, store: str, last_row: int) -> bool:
    """The store holds the copy's subjects at its last row and at seven more spread over it."""
    return mirror_sample.rows_agree(
        con,
        store,
        "subjects",
        ("rowid", "subject_id"),
        TABLE,
        ("row_no", "subject_id"),
        mirror_sample.spread(last_row, SAMPLES),
    )


def _appended_again(con: duckdb.DuckDBPyConnection, last_row: int) -> bool:
    """Does a row appended after ``last_row`` name a subject copied before (one deleted by
    hand and registered again, under a new rowid)?"""
    row = con.execute(
        f"SELECT count(*) FROM {CATALOG}.{TABLE} WHERE row_no <= ? AND subject_id IN "
        f"(SELECT subject_id FROM {CATALOG}.{TABLE} WHERE row_no > ?)",
        [last_row, last_row],
    ).fetchone()
    return bool(row and row[0])


def _copy_after(con: duckdb.DuckDBPyConnection, store: str, last_row: int) -> None:
    """Append the store's subjects after rowid ``last_row`` (0: the copy afresh)."""
    if last_row == 0:
        con.execute(f"DELETE FROM {CATALOG}.{TABLE}")
    casts = ", ".join(f"CAST({name} AS {kind})" for name, kind in COLUMN_TYPES.items())
    con.execute(
        f"INSERT INTO {CATALOG}.{TABLE} SELECT {casts} FROM sqlite_query('{store}', "
        "'SELECT rowid AS row_no, subject_id, kind, birth_date FROM subjects WHERE rowid > ?', "
        f"params=row({int(last_row)}::BIGINT))"
    )


def refresh(
    con: duckdb.DuckDBPyConnection, store: str, progress: Progress, *, afresh: bool
) -> None:
    """Bring the copy up to date with the attached SQLite catalog ``store``, within the
    caller's transaction; ``afresh``: copy every subject (the ledger copy was rebuilt)."""
    row = con.execute(f"SELECT last_row FROM {CATALOG}.{STATE}").fetchone()
    last_row = 0 if afresh or row is None else int(row[0])
    if last_row and not _still_true(con, store, last_row):
        progress("ledger copy: the store's subjects differ, copying them again")
        last_row = 0
    _copy_after(con, store, last_row)
    newest = _newest(con, last_row)
    if last_row and newest > last_row and _appended_again(con, last_row):
        progress("ledger copy: a subject was registered again, copying the subjects again")
        _copy_after(con, store, 0)
        newest = _newest(con, 0)
    con.execute(f"DELETE FROM {CATALOG}.{STATE}")
    if newest:
        con.execute(f"INSERT INTO {CATALOG}.{STATE} VALUES (?)", [newest])


def _newest(con: duckdb.DuckDBPyConnection, since: int) -> int:
    """The copy's last rowid (0 if empty); rows are appended in rowid order, so the scan from
    ``since`` skips the rest."""
    row = con.execute(
        f"SELECT max(row_no) FROM {CATALOG}.{TABLE} WHERE row_no >= ?", [since]
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0
