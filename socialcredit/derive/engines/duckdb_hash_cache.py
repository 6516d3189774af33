"""The derived tables' keys and row hashes, kept in the ledger copy beside a SQLite store.

A full run writes only the rows that changed (``duckdb_delta``), for which it needs the key and
a hash of every stored row. DuckDB reads a SQLite table on one thread, row by row: at 10M
ratings that read alone took 12 s, a tenth of the run. Yet the run that last wrote the derived
tables computed exactly those keys and hashes, for its own comparison. So it keeps them, after
its results are committed, in the ledger copy's file (``ledger_mirror``), stamped with its run
id and start time; the next full run reads them from there instead of from the store.

They are used only when the store's last finished run is the one they are stamped with. Any
other run since (an incremental one, which rewrites rows through the store's driver), a run
that committed but died before it saved them, or a store restored from a backup, leaves them
stale, and the run reads the stored rows instead (and saves fresh ones when it is done). The
file is a cache: deleting it costs one read of the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb

from socialcredit.derive.engines.duckdb_write import quote_ident

STATE = "derived_hash_state"


def cache_table(target: str) -> str:
    return f"derived_hash_{target}"


@dataclass(frozen=True)
class RunStamp:
    """A run as ``derive_runs`` knows it (its start time as text, as the store returns it),
    and the store's schema revision then: a migration may rewrite derived rows."""

    run_id: int
    started_at: str
    revision: str


def store_run(
    con: duckdb.DuckDBPyConnection, store: str, schema: str, run_id: int | None = None
) -> RunStamp | None:
    """The run ``run_id`` of the attached store, or (None) its last finished one."""
    runs = f"{store}.{quote_ident(schema)}.derive_runs"
    # An integer inlined (safe): a bound one is not pushed down to SQLite, which then scans.
    where = "finished_at IS NOT NULL" if run_id is None else f"run_id = {int(run_id)}"
    row = con.execute(
        f"SELECT run_id, CAST(started_at AS VARCHAR) FROM {runs} WHERE {where} "
        "ORDER BY run_id DESC LIMIT 1"
    ).fetchone()
    version = con.execute(
        "SELECT string_agg(version_num, ',' ORDER BY version_num) "
        f"FROM {store}.{quote_ident(schema)}.alembic_version"
    ).fetchone()
    revision = str(version[0]) if version else ""
    return None if row is None else RunStamp(int(row[0]), str(row[1]), revision)


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
        row = con.execute(f"SELECT run_id, started_at, revision FROM {catalog}.{STATE}").fetchone()
    except duckdb.Error:  # of another shape (another release's): not usable
        return None
    return None if row is None else RunStamp(int(row[0]), str(row[1]), str(row[2]))


def usable(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    store: str,
    schema: str,
    targets: Sequence[str],
) -> bool:
    """Are the hashes in ``catalog`` those of the attached store's derived tables: stamped with
    its last finished run, and there for every target?"""
    stamp = _stamp(con, catalog)
    if stamp is None or stamp != store_run(con, store, schema):
        return False
    present = _tables(con, catalog)
    return all(cache_table(target) in present for target in targets)


def save(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    stamp: RunStamp,
    hashes: Mapping[str, str],
) -> None:
    """Keep ``hashes`` (target -> a table of its keys and ``row_hash``), stamped with the run
    whose results the store now holds; one DuckDB transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {catalog}.{STATE} "
            "(run_id BIGINT, started_at VARCHAR, revision VARCHAR)"
        )
        for target, table in sorted(hashes.items()):
            con.execute(
                f"CREATE OR REPLACE TABLE {catalog}.{cache_table(target)} AS "
                f"SELECT * FROM {quote_ident(table)}"
            )
        con.execute(
            f"INSERT INTO {catalog}.{STATE} VALUES (?, ?, ?)",
            [stamp.run_id, stamp.started_at, stamp.revision],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def forget(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Unstamp the hashes (a run that wrote without comparing): none is usable until saved."""
    con.execute(f"DROP TABLE IF EXISTS {catalog}.{STATE}")
