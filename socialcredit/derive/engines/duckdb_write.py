"""Replacing the derived tables in the store with DuckDB results, fast and atomically.

PostgreSQL: DuckDB loads each result (binary COPY) into a fresh shadow table without indexes,
PostgreSQL builds its primary key and indexes by sorting, and one short transaction swaps the
shadow tables in (drop, rename, rename the constraint and indexes to their canonical names).
Readers see the previous tables until that commit, and nothing is left to vacuum. Loading into
the indexed tables instead costs several times more (random index inserts, dead tuples).

SQLite: DuckDB's SQLite writer is slow into indexed tables and slower still at deleting (row by
row), so the results are first written by DuckDB into a scratch SQLite file, sorted by primary
key. Then, with DuckDB detached (see ``derive/worker.py``: one SQLite library at a time), SQLite
itself copies them in one ``BEGIN IMMEDIATE`` transaction: drop the secondary indexes, empty the
table (SQLite's truncate optimisation), append in key order, rebuild the indexes by sorting.
Readers keep seeing the previous state (WAL) until the commit.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import duckdb
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex

from socialcredit.store.tables import metadata

Progress = Callable[[str], None]
SQLITE_CACHE_KIB = 1_048_576  # page cache (and sorter memory) for the copy and index builds
SQLITE_BUSY_SECONDS = 60.0
SQLITE_SORT_THREADS = 4
SPLIT_MIN_ROWS = 500_000  # results this large are written as several key ranges in parallel
MAX_SCRATCH_FILES = 8  # SQLite attaches at most 10 databases


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


def replace_in_transaction(
    con: duckdb.DuckDBPyConnection, catalog: str, writes: Sequence[TableWrite]
) -> None:
    """DELETE + INSERT through the attached catalog, all in one DuckDB transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        for write in writes:
            target = f"{catalog}.{quote_ident(write.target)}"
            select, params = _select(write)
            con.execute(f"DELETE FROM {target}")
            con.execute(f"INSERT INTO {target} ({_names(write)}) {select}", params)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


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
    suffix = "__derive_new"
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


@dataclass(frozen=True)
class _Piece:
    """One key range of one result, written into one scratch file."""

    write: TableWrite
    where: str = ""  # SQL on the key; empty: the whole result
    params: tuple[Any, ...] = ()


def _key(write: TableWrite) -> str:
    """The primary key as one string that sorts like the key (SQLite compares bytes too)."""
    return " || chr(1) || ".join(f"CAST({quote_ident(c)} AS VARCHAR)" for c in write.order_by)


def _pieces(con: duckdb.DuckDBPyConnection, write: TableWrite, parts: int) -> list[_Piece]:
    """Split a large result into ``parts`` key ranges of about equal size."""
    source = quote_ident(write.source)
    row = con.execute(f"SELECT count(*) FROM {source}").fetchone()
    if parts < 2 or not write.order_by or row is None or row[0] < SPLIT_MIN_ROWS:
        return [_Piece(write)]
    fractions = [i / parts for i in range(1, parts)]
    found = con.execute(
        f"SELECT quantile_disc({_key(write)}, ?) FROM {source}", [fractions]
    ).fetchone()
    bounds: list[str] = sorted(set(found[0])) if found and found[0] else []
    pieces, low = [], None
    for high in [*bounds, None]:
        terms = ([f"{_key(write)} > ?"] if low is not None else []) + (
            [f"{_key(write)} <= ?"] if high is not None else []
        )
        params = tuple(v for v in (low, high) if v is not None)
        pieces.append(_Piece(write, " AND ".join(terms), params))
        low = high
    return pieces


def _write_file(con: duckdb.DuckDBPyConnection, path: str, pieces: Sequence[_Piece]) -> None:
    cursor = con.cursor()  # its own connection to the same database: runs in parallel
    catalog = quote_ident(f"scratch_{os.path.basename(path).split('.')[0]}")
    try:
        cursor.execute(f"ATTACH '{path.replace(chr(39), chr(39) * 2)}' AS {catalog} (TYPE sqlite)")
        for piece in pieces:
            select, params = _select(piece.write, piece.where)
            cursor.execute(
                f"CREATE TABLE {catalog}.{quote_ident(piece.write.target)} AS {select}",
                [*params, *piece.params],  # the select list's placeholders come first
            )
        cursor.execute(f"DETACH {catalog}")
    finally:
        cursor.close()


def write_scratch(
    con: duckdb.DuckDBPyConnection,
    directory: str,
    writes: Sequence[TableWrite],
    progress: Progress,
    *,
    workers: int,
) -> list[str]:
    """DuckDB writes the results, each in key order, into scratch SQLite files in parallel.

    SQLite writes one file on one thread, so large results are split into key ranges, one per
    file, and the files are written at the same time. File *k* holds range *k* of each split
    result; the small results are spread over the files. Returns the files in order.
    """
    files = max(1, min(workers, MAX_SCRATCH_FILES))
    plan: list[list[_Piece]] = [[] for _ in range(files)]
    for write in writes:
        pieces = _pieces(con, write, files)
        if len(pieces) == 1:  # the least loaded file takes it
            min(plan, key=len).append(pieces[0])
        else:
            for k, piece in enumerate(pieces):
                plan[k].append(piece)
    paths = [os.path.join(directory, f"scratch{k}.sqlite") for k in range(files)]
    progress(f"scratch: {sum(map(len, plan))} pieces in {files} files")
    with ThreadPoolExecutor(max_workers=files) as pool:
        for future in [
            pool.submit(_write_file, con, path, pieces)
            for path, pieces in zip(paths, plan, strict=True)
            if pieces
        ]:
            future.result()
    return [path for path, pieces in zip(paths, plan, strict=True) if pieces]


def copy_from_scratch(
    store_path: str, files: Sequence[str], writes: Sequence[TableWrite], progress: Progress
) -> None:
    """SQLite copies the scratch tables over the store's, in key order, in one transaction."""
    dialect = sqlite_dialect.dialect()
    with closing(
        sqlite3.connect(store_path, timeout=SQLITE_BUSY_SECONDS, isolation_level=None)
    ) as db:
        db.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        db.execute("PRAGMA temp_store=MEMORY")
        db.execute(f"PRAGMA threads={SQLITE_SORT_THREADS}")  # helper threads for index sorts
        db.execute("PRAGMA synchronous=NORMAL")  # as every store connection (WAL: no loss)
        # Attached before the transaction: SQLite cannot detach inside one.
        holding: dict[str, list[str]] = {w.target: [] for w in writes}
        for k, path in enumerate(files):
            db.execute(f"ATTACH ? AS scratch{k}", (path,))
            for (name,) in db.execute(f"SELECT name FROM scratch{k}.sqlite_master"):
                holding.setdefault(name, []).append(f"scratch{k}")
        db.execute("BEGIN IMMEDIATE")
        try:
            for write in writes:
                progress(f"delete {write.target}")
                table = metadata.tables[write.target]
                target = quote_ident(write.target)
                for index in table.indexes:
                    db.execute(f"DROP INDEX IF EXISTS {quote_ident(str(index.name))}")
                db.execute(f"DELETE FROM {target}")
                progress(f"insert {write.target}")
                for schema in holding[write.target]:  # files in order: key ranges in order
                    db.execute(
                        f"INSERT INTO {target} ({_names(write)}) "
                        f"SELECT {_names(write)} FROM {schema}.{target}"
                    )
                if table.indexes:
                    progress(f"index {write.target}")
                for index in table.indexes:
                    db.execute(str(CreateIndex(index).compile(dialect=dialect)))
            progress("commit")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        # Move the committed pages into the database file now and truncate the WAL, rather
        # than leave gigabytes of log for the next connection to scan and checkpoint.
        progress("checkpoint")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
