"""The derived tables' keys and row hashes, kept in the ledger copy beside a SQLite store.

A full run writes only the rows that changed (``duckdb_delta``), for which it needs the key and
a hash of every stored row. DuckDB reads a SQLite table on one thread, row by row: at 10M
ratings that read alone took 15 s, a tenth of the run. Yet the run that last wrote the derived
tables computed exactly those keys and hashes, for its own comparison. So it keeps them, after
its results are committed, in the ledger copy's file (``ledger_mirror``), stamped with its run
id and start time and with SQLite's schema version as its committing transaction left it; the
next full run reads them from there instead of from the store.

They are used only when the stamp equals the store's last finished run and current schema
version, and when the store holds as many rows as they do and, for a few sampled keys, rows of
the same hashes. Any other run since (an incremental one, which rewrites rows through the
store's driver), a run that committed but died before it saved them, a migration (any schema
change), a store restored from a backup, or rows edited by hand leave them stale, and the run
reads the stored rows instead (and saves fresh ones when it is done). The file is a cache:
deleting it costs one read of the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb

from socialcredit.derive.engines.duckdb_delta import (
    Compared,
    primary_key,
    result_types,
    stored_hash,
)
from socialcredit.derive.engines.duckdb_write import TableWrite, quote_ident

STATE = "derived_hash_state"
SAMPLES = 8  # keys per table whose stored row is hashed again from the store


def cache_table(target: str) -> str:
    return f"derived_hash_{target}"


@dataclass(frozen=True)
class RunStamp:
    """A run as ``derive_runs`` knows it (its start time as text, as the store returns it),
    and the store's schema version and migration revision once its results were committed."""

    run_id: int
    started_at: str
    schema_version: int
    revision: str  # alembic's: a data-only migration leaves the schema version as it was


def _sqlite_value(con: duckdb.DuckDBPyConnection, store: str, sql: str) -> object:
    """One value of a statement SQLite runs itself (``sql`` comes from the code)."""
    row = con.execute(f"SELECT * FROM sqlite_query('{store}', $1)", [sql]).fetchone()
    return None if row is None else row[0]


def run_started(con: duckdb.DuckDBPyConnection, store: str, run_id: int) -> str | None:
    """When run ``run_id`` of the attached SQLite store started, as text."""
    value = _sqlite_value(
        con, store, f"SELECT started_at FROM derive_runs WHERE run_id = {int(run_id)}"
    )
    return None if value is None else str(value)


def last_finished(con: duckdb.DuckDBPyConnection, store: str) -> RunStamp | None:
    """The attached SQLite store's last finished run, with its current schema version."""
    row = con.execute(
        f"SELECT * FROM sqlite_query('{store}', 'SELECT run_id, started_at FROM derive_runs "
        "WHERE finished_at IS NOT NULL ORDER BY run_id DESC LIMIT 1')"
    ).fetchone()
    version = _sqlite_value(con, store, "PRAGMA schema_version")
    if row is None or version is None:
        return None
    return RunStamp(int(row[0]), str(row[1]), int(str(version)), revision(con, store))


def revision(con: duckdb.DuckDBPyConnection, store: str) -> str:
    """The attached SQLite store's migration revision."""
    value = _sqlite_value(
        con,
        store,
        "SELECT group_concat(version_num) FROM (SELECT version_num FROM "
        "alembic_version ORDER BY version_num)",
    )
    return "" if value is None else str(value)


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> set[str]:
    """The tables of ``catalog``. From ``duckdb_columns()``: ``duckdb_tables()`` estimates the
    size of every table of every attached catalog, which takes seconds on a large store."""
    rows = con.execute(
        "SELECT DISTINCT table_name FROM duckdb_columns() WHERE database_name = ?", [catalog]
    ).fetchall()
    return {str(name) for (name,) in rows}


def _stamp(con: duckdb.DuckDBPyConnection, catalog: str) -> RunStamp | None:
    if STATE not in _tables(con, catalog):
        return None
    try:
        row = con.execute(
            f"SELECT run_id, started_at, schema_version, revision FROM {catalog}.{STATE}"
        ).fetchone()
        if row is None:
            return None
        return RunStamp(int(row[0]), str(row[1]), int(row[2]), str(row[3]))
    except (duckdb.Error, TypeError, ValueError):  # another shape, or damaged: not usable
        return None


def _stored_rows(con: duckdb.DuckDBPyConnection, store: str, target: str) -> int | None:
    counted = _sqlite_value(con, store, f"SELECT count(*) FROM {quote_ident(target)}")
    return None if counted is None else int(str(counted))


class StoredRowCounts:
    """The store's row counts of the derived tables, counted by SQLite on a connection of its
    own while the run computes. SQLite counts a table by reading a whole index: on a store
    larger than memory those pages come from disk (7 s for 10M ratings after a cold start),
    time the run's stages would otherwise wait for at the end. The derive lock keeps other
    runs from writing the tables meanwhile. A row added by hand while the run computes (the
    derived tables are not meant to be edited) is not seen by the count, as one added after
    the check never was; the sampled rows are still read at the end."""

    def __init__(self, con: duckdb.DuckDBPyConnection, store: str, targets: Sequence[str]):
        self._cursor = con.cursor()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stored-row-counts")
        self._counts = self._pool.submit(self._count, store, tuple(targets))

    def _count(self, store: str, targets: tuple[str, ...]) -> dict[str, int | None]:
        return {target: _stored_rows(self._cursor, store, target) for target in targets}

    def result(self) -> dict[str, int | None] | None:
        """The counts, once counted (None when SQLite could not count them)."""
        try:
            return self._counts.result()
        except duckdb.Error:
            return None

    def close(self) -> None:
        """Stop counting (a run that failed first, or wrote without the kept hashes) and
        release the connection. SQLite counts a table in one step, which DuckDB cannot
        interrupt: closing waits for the count under way (seconds at most)."""
        if not self._counts.cancel() and not self._counts.done():
            self._cursor.interrupt()
        self._pool.shutdown(wait=True)
        self._cursor.close()


def _agrees(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    store: str,
    write: TableWrite,
    counted: int | None,
) -> bool:
    """Does the store hold as many rows as the kept hashes (``counted``, or counted now when
    None), and rows of the same hashes at a few sampled keys? Each sampled row is looked up by
    its primary key by SQLite itself, which returns every column as text here: cast back to
    the results' types they hash alike (a REAL column would not, as SQLite writes 15 digits;
    the derived tables have none)."""
    kept = f"{catalog}.{cache_table(write.target)}"
    keys = primary_key(write.target)
    table = quote_ident(write.target)
    if counted is None:
        counted = _stored_rows(con, store, write.target)
    (rows,) = con.execute(f"SELECT count(*) FROM {kept}").fetchone() or (0,)
    if counted is None or counted != int(rows):
        return False
    hashed = stored_hash(write.columns, result_types(con, write.source))
    where = " AND ".join(f"{quote_ident(k)} = ?" for k in keys)
    lookup = f"SELECT {', '.join(quote_ident(c) for c in write.columns)} FROM {table} WHERE {where}"
    params = ", ".join(f"${i + 2}" for i in range(len(keys)))  # $1 is the statement
    key_list = ", ".join(quote_ident(k) for k in keys)
    sampled = con.execute(
        f"SELECT {key_list}, row_hash FROM {kept} USING SAMPLE {SAMPLES} ROWS"
    ).fetchall()
    for *key, row_hash in sampled:
        found = con.execute(
            f"SELECT {hashed} FROM sqlite_query('{store}', $1, params=row({params}))",
            [lookup, *key],
        ).fetchall()
        if found != [(row_hash,)]:
            return False
    return True


def kept(con: duckdb.DuckDBPyConnection, catalog: str) -> bool:
    """Are there kept hashes in ``catalog`` (usable or not)?"""
    return _stamp(con, catalog) is not None


def usable(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    store: str,
    writes: Sequence[TableWrite],
    counted: Mapping[str, int | None] | None = None,
) -> bool:
    """Are the hashes in ``catalog`` those of the attached SQLite store's derived tables?
    ``counted``: the store's row counts per table, when counted already (``StoredRowCounts``)."""
    stamp = _stamp(con, catalog)
    if stamp is None or stamp != last_finished(con, store):
        return False
    if not all(cache_table(w.target) in _tables(con, catalog) for w in writes):
        return False
    counts = counted or {}
    try:
        return all(
            _agrees(con, catalog, store, write, counts.get(write.target)) for write in writes
        )
    except duckdb.Error:  # a kept table of another shape, or damaged
        return False


def save(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    stamp: RunStamp,
    compared: Mapping[str, Compared],
    in_place: bool = False,
) -> None:
    """Keep the new results' keys and hashes of each ``compared`` table, stamped with the run
    whose results the store now holds; one DuckDB transaction. ``in_place`` when they were
    compared with the kept hashes themselves: only the difference is applied to them (rows
    whose key went or changed out, new and changed rows in), where rewriting 10M rows whole
    took seconds."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {catalog}.{STATE} "
            "(run_id BIGINT, started_at VARCHAR, schema_version BIGINT, revision VARCHAR)"
        )
        for target, table in sorted(compared.items()):
            kept = f"{catalog}.{cache_table(target)}"
            if not in_place:
                results = quote_ident(table.write.source)
                con.execute(f"CREATE OR REPLACE TABLE {kept} AS {table.hashed(results)}")
                continue
            match = " AND ".join(f"k.{quote_ident(k)} = g.{quote_ident(k)}" for k in table.keys)
            con.execute(
                f"DELETE FROM {kept} AS k USING {quote_ident(table.gone)} AS g WHERE {match}"
            )
            con.execute(f"INSERT INTO {kept} {table.hashed(quote_ident(table.put))}")
        con.execute(
            f"INSERT INTO {catalog}.{STATE} VALUES (?, ?, ?, ?)",
            [stamp.run_id, stamp.started_at, stamp.schema_version, stamp.revision],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def forget(con: duckdb.DuckDBPyConnection, catalog: str, targets: Sequence[str]) -> None:
    """Drop the kept hashes (a run that wrote without comparing): none is usable until saved."""
    for name in (STATE, *(cache_table(t) for t in targets)):
        con.execute(f"DROP TABLE IF EXISTS {catalog}.{name}")
