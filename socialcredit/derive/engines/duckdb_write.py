"""Replacing the derived tables in the store with DuckDB results, fast and atomically.

PostgreSQL: DuckDB loads each result (binary COPY) into a fresh shadow table without indexes,
PostgreSQL builds its primary key and indexes by sorting, and one short transaction swaps the
shadow tables in (drop, rename, rename the constraint and indexes to their canonical names).
Readers see the previous tables until that commit, and nothing is left to vacuum. Loading into
the indexed tables instead costs several times more (random index inserts, dead tuples).

SQLite, the same idea with the two SQLite libraries taking turns (``derive/worker.py``: never
both with the file open): with DuckDB detached, SQLite creates the shadow tables from the
tables' own DDL (keys, types, NOT NULLs; no secondary index); DuckDB re-attaches and appends the
results in key order (SQLite's fastest write: the key's B-tree only grows at its end; DuckDB's
writer is slow into indexed tables and slower still at deleting, row by row); DuckDB detaches,
and SQLite swaps them in with one ``BEGIN IMMEDIATE`` transaction and builds the secondary
indexes by sorting. Readers keep seeing the previous tables (WAL) until the commit. Each row is
written once into the log and once into the file, where a scratch database copied in afterwards
wrote it three times.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass

import duckdb
from sqlalchemy import MetaData, Table
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from socialcredit.derive.run_finish import RunFinish
from socialcredit.store.engine import transaction
from socialcredit.store.tables import metadata

Progress = Callable[[str], None]
SQLITE_CACHE_KIB = 1_048_576  # page cache (and sorter memory) for the copy and index builds
SQLITE_BUSY_SECONDS = 60.0
SQLITE_SORT_THREADS = 4
SHADOW_MARK = "__derive_"  # shadow tables are named TARGET__derive_TAG, one TAG per run
BUSY_RETRY_FIRST_SECONDS = 0.05
BUSY_RETRY_MAX_SECONDS = 2.0


@dataclass(frozen=True)
class TableWrite:
    """Replace ``target`` in the store by ``source`` (a DuckDB table with its columns)."""

    target: str
    source: str
    columns: Sequence[str]
    order_by: Sequence[str] = ()


@dataclass(frozen=True)
class Written:
    """How a run's results reached the store: ``changed_rows`` (only the difference) or
    ``whole_tables`` (shadow tables swapped in), and how many rows were deleted and inserted
    (for whole tables, every row is inserted and the old tables dropped)."""

    method: str
    rows_deleted: int
    rows_inserted: int
    # Where a changed-rows comparison read the stored rows' hashes: the store itself, or the
    # copy the previous run kept beside it (``duckdb_hash_cache``); empty when none was made.
    compared_with: str = ""


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _select(write: TableWrite) -> str:
    """``SELECT columns FROM source ORDER BY key``."""
    sql = f"SELECT {_names(write)} FROM {quote_ident(write.source)}"
    order = ", ".join(quote_ident(c) for c in write.order_by)
    return f"{sql} ORDER BY {order}" if order else sql


def _names(write: TableWrite) -> str:
    return ", ".join(quote_ident(c) for c in write.columns)


def shadow_suffix(tag: str) -> str:
    """The suffix of one run's shadow tables (``tag`` is made of letters, digits, ``_``)."""
    if not tag.replace("_", "").isalnum():
        raise ValueError(f"not a shadow tag: {tag!r}")
    return SHADOW_MARK + tag


def _leftover_pattern(write: TableWrite) -> str:
    """A LIKE pattern (escape ``!``) for any run's shadow of ``write.target``."""
    literal = (write.target + SHADOW_MARK).replace("!", "!!").replace("_", "!_").replace("%", "!%")
    return literal + "%"


def _pg_swap_sql(writes: Sequence[TableWrite], suffix: str) -> tuple[list[str], list[str]]:
    """DDL to index the shadow tables, and the statements of the one transaction that swaps
    them in."""
    build: list[str] = []
    swap: list[str] = []
    for write in writes:
        table = metadata.tables[write.target]
        name, shadow = quote_ident(write.target), quote_ident(write.target + suffix)
        pk = str(table.primary_key.name)
        key = ", ".join(quote_ident(c.name) for c in table.primary_key.columns)
        build.append(
            f"ALTER TABLE {shadow} ADD CONSTRAINT {quote_ident(pk + suffix)} PRIMARY KEY ({key})"
        )
        swap += [
            f"DROP TABLE {name}",
            f"ALTER TABLE {shadow} RENAME TO {name}",
            f"ALTER TABLE {name} RENAME CONSTRAINT {quote_ident(pk + suffix)} TO {quote_ident(pk)}",
        ]
        for index in table.indexes:
            columns = ", ".join(quote_ident(c.name) for c in index.columns)
            unique = "UNIQUE " if index.unique else ""
            build.append(
                f"CREATE {unique}INDEX {quote_ident(str(index.name) + suffix)} "
                f"ON {shadow} ({columns})"
            )
            swap.append(
                f"ALTER INDEX {quote_ident(str(index.name) + suffix)} "
                f"RENAME TO {quote_ident(str(index.name))}"
            )
        build.append(f"ANALYZE {shadow}")
    return build, swap


def _pg_execute(con: duckdb.DuckDBPyConnection, catalog: str, sql: str) -> None:
    con.execute(f"CALL postgres_execute('{catalog}', ?)", [sql])


def load_pg_shadows(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    writes: Sequence[TableWrite],
    progress: Progress,
    *,
    suffix: str,
) -> list[str]:
    """PostgreSQL: load shadow tables and index them; returns the statements that swap them
    in, for one short transaction of the caller's (``swap_pg_shadows``).

    Shadows are named per run, so two overlapping runs never fill or swap each other's;
    leftovers of other runs are dropped first (a run still going then fails at its swap, which
    changes nothing)."""
    for write in writes:
        leftovers = con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = ? AND table_name LIKE ? ESCAPE '!'",
            [catalog, _leftover_pattern(write)],
        ).fetchall()
        for (name,) in leftovers:
            _pg_execute(con, catalog, f"DROP TABLE IF EXISTS {quote_ident(name)}")
    for write in writes:
        name, shadow = quote_ident(write.target), quote_ident(write.target + suffix)
        _pg_execute(
            con,
            catalog,
            f"DROP TABLE IF EXISTS {shadow}; "
            f"CREATE TABLE {shadow} (LIKE {name} INCLUDING DEFAULTS)",
        )
    con.execute("CALL pg_clear_cache()")  # DuckDB caches the catalog: let it see the shadows
    for write in writes:
        progress(f"load {write.target}")
        con.execute(
            f"INSERT INTO {catalog}.{quote_ident(write.target + suffix)} "
            f"({_names(write)}) {_select(write)}"
        )
    build, swap = _pg_swap_sql(writes, suffix)
    progress("index")
    for statement in build:
        _pg_execute(con, catalog, statement)
    return swap


def swap_pg_shadows(
    url: str, statements: Sequence[str], finish: RunFinish | None, progress: Progress
) -> None:
    """One transaction: the swap statements, and the run marked finished."""
    progress("swap")
    with transaction(url) as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
        if finish is not None:
            finish.execute(conn)


def drop_pg_shadows(url: str, writes: Sequence[TableWrite], suffix: str) -> None:
    """Best effort, on a failure path: the failure being reported matters more than this."""
    with suppress(Exception), transaction(url) as conn:
        for write in writes:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote_ident(write.target + suffix)}")


# --- SQLite: shadow tables made by SQLite, filled by DuckDB, swapped in by SQLite -----------


def _shadow_tables(writes: Sequence[TableWrite], suffix: str) -> list[Table]:
    """Each target's definition under its shadow name (keys, types, NOT NULLs included)."""
    copy = MetaData()
    for table in metadata.sorted_tables:  # referenced tables too, so foreign keys resolve
        table.to_metadata(copy)
    return [metadata.tables[w.target].to_metadata(copy, name=w.target + suffix) for w in writes]


def _sqlite(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=SQLITE_BUSY_SECONDS, isolation_level=None)
    db.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    db.execute("PRAGMA temp_store=MEMORY")
    db.execute(f"PRAGMA threads={SQLITE_SORT_THREADS}")  # helper threads for index sorts
    db.execute("PRAGMA synchronous=NORMAL")  # as every store connection (WAL: no loss)
    return db


def create_sqlite_shadows(path: str, writes: Sequence[TableWrite], suffix: str) -> None:
    """Empty shadow tables named for this run, with the targets' own DDL and no secondary
    index. Leftovers of other runs are dropped first (a run still going then fails at its swap,
    which changes nothing)."""
    dialect = sqlite_dialect.dialect()
    with closing(_sqlite(path)) as db:
        db.execute("BEGIN IMMEDIATE")
        for write in writes:
            leftovers = db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ? ESCAPE '!'",
                (_leftover_pattern(write),),
            ).fetchall()
            for (name,) in leftovers:
                db.execute(f"DROP TABLE {quote_ident(name)}")
        for shadow in _shadow_tables(writes, suffix):
            db.execute(str(CreateTable(shadow).compile(dialect=dialect)))
        db.execute("COMMIT")


def drop_sqlite_shadows(path: str, writes: Sequence[TableWrite], suffix: str) -> None:
    """Best effort, on a failure path: the failure being reported matters more than this."""
    with suppress(sqlite3.Error), closing(_sqlite(path)) as db:
        for write in writes:
            db.execute(f"DROP TABLE IF EXISTS {quote_ident(write.target + suffix)}")


def _fill_once(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    writes: Sequence[TableWrite],
    suffix: str,
    progress: Progress,
) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        for write in writes:
            progress(f"load {write.target}")
            shadow = quote_ident(write.target + suffix)
            con.execute(f"INSERT INTO {catalog}.{shadow} ({_names(write)}) {_select(write)}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def fill_shadows(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    writes: Sequence[TableWrite],
    suffix: str,
    progress: Progress,
) -> None:
    """DuckDB appends each result to its shadow in key order, all in one transaction: SQLite
    then only ever appends to the primary key's B-tree. DuckDB's SQLite writer does not wait
    for a busy store (an ingestion committing a chunk), so the whole transaction is retried,
    with backoff, for up to ``SQLITE_BUSY_SECONDS``."""
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    pause = BUSY_RETRY_FIRST_SECONDS
    while True:
        try:
            _fill_once(con, catalog, writes, suffix, progress)
            return
        except duckdb.Error as exc:
            if "database is locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
            progress("the store is busy with another writer: loading again")
            time.sleep(pause)
            pause = min(pause * 2, BUSY_RETRY_MAX_SECONDS)


def swap_sqlite_shadows(
    path: str,
    writes: Sequence[TableWrite],
    suffix: str,
    progress: Progress,
    finish: RunFinish | None = None,
) -> int:
    """One ``BEGIN IMMEDIATE`` transaction: drop each target, rename its shadow to it, build the
    secondary indexes by sorting, mark the run finished. Readers keep seeing the previous
    tables until the commit. Returns the schema version the transaction leaves."""
    dialect = sqlite_dialect.dialect()
    with closing(_sqlite(path)) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            for write in writes:
                progress(f"swap {write.target}")
                target = quote_ident(write.target)
                db.execute(f"DROP TABLE {target}")
                db.execute(f"ALTER TABLE {quote_ident(write.target + suffix)} RENAME TO {target}")
                for index in metadata.tables[write.target].indexes:
                    db.execute(str(CreateIndex(index).compile(dialect=dialect)))
            if finish is not None:
                finish.execute_sqlite3(db)
            (version,) = db.execute("PRAGMA schema_version").fetchone()
            progress("commit")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        # Move the committed pages into the database file now and truncate the WAL, rather
        # than leave a large log for the next connection to scan and checkpoint.
        progress("checkpoint")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return int(version)
