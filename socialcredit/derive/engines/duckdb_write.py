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

import datetime as dt
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import duckdb
from sqlalchemy import MetaData, Table
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from socialcredit.store.tables import metadata

Progress = Callable[[str], None]
SQLITE_CACHE_KIB = 1_048_576  # page cache (and sorter memory) for the copy and index builds
SQLITE_BUSY_SECONDS = 60.0
SQLITE_SORT_THREADS = 4
SHADOW_SUFFIX = "__derive_new"


@dataclass(frozen=True)
class TableWrite:
    """Replace ``target`` in the store by ``source`` (a DuckDB table) plus constant columns."""

    target: str
    source: str
    columns: Sequence[str]
    constants: Mapping[str, Any] = field(default_factory=dict)
    order_by: Sequence[str] = ()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT"
    if isinstance(value, dt.date):
        return "DATE"
    return "VARCHAR"


def _select(write: TableWrite, where: str = "") -> tuple[str, list[Any]]:
    """``SELECT columns, CAST(? AS type)... FROM source [WHERE ...] ORDER BY key`` and the
    constants' parameters (a WHERE's own parameters follow them)."""
    parts = [quote_ident(c) for c in write.columns]
    parts += [f"CAST(? AS {_sql_type(v)}) AS {quote_ident(k)}" for k, v in write.constants.items()]
    order = ", ".join(quote_ident(c) for c in write.order_by)
    sql = f"SELECT {', '.join(parts)} FROM {quote_ident(write.source)}"
    sql += f" WHERE {where}" if where else ""
    return (f"{sql} ORDER BY {order}" if order else sql), list(write.constants.values())


def _names(write: TableWrite) -> str:
    return ", ".join(quote_ident(c) for c in (*write.columns, *write.constants))


def _pg_swap_sql(writes: Sequence[TableWrite], suffix: str) -> tuple[list[str], str]:
    """DDL to index the shadow tables, and the one transaction that swaps them in."""
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
    return build, "BEGIN; " + "; ".join(swap) + "; COMMIT"


def _pg_execute(con: duckdb.DuckDBPyConnection, catalog: str, sql: str) -> None:
    con.execute(f"CALL postgres_execute('{catalog}', ?)", [sql])


def replace_by_swap(
    con: duckdb.DuckDBPyConnection, catalog: str, writes: Sequence[TableWrite], progress: Progress
) -> None:
    """PostgreSQL: load shadow tables, index them, swap them in with one short transaction."""
    suffix = SHADOW_SUFFIX
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
        select, params = _select(write)
        con.execute(
            f"INSERT INTO {catalog}.{quote_ident(write.target + suffix)} "
            f"({_names(write)}) {select}",
            params,
        )
    build, swap = _pg_swap_sql(writes, suffix)
    progress("index")
    for statement in build:
        _pg_execute(con, catalog, statement)
    progress("swap")
    _pg_execute(con, catalog, swap)
    con.execute("CALL pg_clear_cache()")


# --- SQLite: shadow tables made by SQLite, filled by DuckDB, swapped in by SQLite -----------


def _shadow_tables(writes: Sequence[TableWrite]) -> list[Table]:
    """Each target's definition under its shadow name (keys, types, NOT NULLs included)."""
    copy = MetaData()
    for table in metadata.sorted_tables:  # referenced tables too, so foreign keys resolve
        table.to_metadata(copy)
    return [
        metadata.tables[w.target].to_metadata(copy, name=w.target + SHADOW_SUFFIX) for w in writes
    ]


def _sqlite(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=SQLITE_BUSY_SECONDS, isolation_level=None)
    db.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    db.execute("PRAGMA temp_store=MEMORY")
    db.execute(f"PRAGMA threads={SQLITE_SORT_THREADS}")  # helper threads for index sorts
    db.execute("PRAGMA synchronous=NORMAL")  # as every store connection (WAL: no loss)
    return db


def create_sqlite_shadows(path: str, writes: Sequence[TableWrite]) -> None:
    """Empty shadow tables with the targets' own DDL and no secondary index (a crashed run's
    leftovers are replaced)."""
    dialect = sqlite_dialect.dialect()
    with closing(_sqlite(path)) as db:
        db.execute("BEGIN IMMEDIATE")
        for shadow in _shadow_tables(writes):
            db.execute(f"DROP TABLE IF EXISTS {quote_ident(shadow.name)}")
            db.execute(str(CreateTable(shadow).compile(dialect=dialect)))
        db.execute("COMMIT")


def drop_sqlite_shadows(path: str, writes: Sequence[TableWrite]) -> None:
    with closing(_sqlite(path)) as db:
        for write in writes:
            db.execute(f"DROP TABLE IF EXISTS {quote_ident(write.target + SHADOW_SUFFIX)}")


def fill_shadows(
    con: duckdb.DuckDBPyConnection, catalog: str, writes: Sequence[TableWrite], progress: Progress
) -> None:
    """DuckDB appends each result to its shadow in key order, all in one transaction: SQLite
    then only ever appends to the primary key's B-tree."""
    con.execute("BEGIN TRANSACTION")
    try:
        for write in writes:
            progress(f"load {write.target}")
            select, params = _select(write)
            shadow = quote_ident(write.target + SHADOW_SUFFIX)
            con.execute(f"INSERT INTO {catalog}.{shadow} ({_names(write)}) {select}", params)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def swap_sqlite_shadows(path: str, writes: Sequence[TableWrite], progress: Progress) -> None:
    """One ``BEGIN IMMEDIATE`` transaction: drop each target, rename its shadow to it, build the
    secondary indexes by sorting. Readers keep seeing the previous tables until the commit."""
    dialect = sqlite_dialect.dialect()
    with closing(_sqlite(path)) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            for write in writes:
                progress(f"swap {write.target}")
                target = quote_ident(write.target)
                db.execute(f"DROP TABLE {target}")
                db.execute(
                    f"ALTER TABLE {quote_ident(write.target + SHADOW_SUFFIX)} RENAME TO {target}"
                )
                for index in metadata.tables[write.target].indexes:
                    db.execute(str(CreateIndex(index).compile(dialect=dialect)))
            progress("commit")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        # Move the committed pages into the database file now and truncate the WAL, rather
        # than leave a large log for the next connection to scan and checkpoint.
        progress("checkpoint")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
