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
SQLITE_CACHE_KIB = 262_144  # page cache for the copy and the index rebuilds
SQLITE_BUSY_SECONDS = 60.0


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


def _select(write: TableWrite) -> tuple[str, list[Any]]:
    """``SELECT columns, CAST(? AS type)... FROM source ORDER BY key`` and its parameters."""
    parts = [quote_ident(c) for c in write.columns]
    parts += [f"CAST(? AS {_sql_type(v)}) AS {quote_ident(k)}" for k, v in write.constants.items()]
    order = ", ".join(quote_ident(c) for c in write.order_by)
    sql = f"SELECT {', '.join(parts)} FROM {quote_ident(write.source)}"
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


def _write_one(con: duckdb.DuckDBPyConnection, path: str, write: TableWrite) -> None:
    cursor = con.cursor()  # its own connection to the same database: runs in parallel
    try:
        catalog = quote_ident(f"scratch_{write.target}")  # attachments are engine-wide
        cursor.execute(f"ATTACH '{path.replace(chr(39), chr(39) * 2)}' AS {catalog} (TYPE sqlite)")
        select, params = _select(write)
        cursor.execute(f"CREATE TABLE {catalog}.{quote_ident(write.target)} AS {select}", params)
        cursor.execute(f"DETACH {catalog}")
    finally:
        cursor.close()


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


def write_scratch(
    con: duckdb.DuckDBPyConnection,
    directory: str,
    writes: Sequence[TableWrite],
    progress: Progress,
    *,
    workers: int,
) -> dict[str, str]:
    """DuckDB writes each result, in key order, into its own scratch SQLite file.

    SQLite writing is single-threaded per file, so the tables are written in parallel.
    Returns the scratch file of each target table.
    """
    paths = {w.target: os.path.join(directory, f"scratch_{w.target}.sqlite") for w in writes}
    progress("scratch " + ", ".join(paths))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        # Largest first, so the long one starts at once.
        for future in [pool.submit(_write_one, con, paths[w.target], w) for w in writes]:
            future.result()
    return paths


def copy_from_scratch(
    store_path: str, scratch: Mapping[str, str], writes: Sequence[TableWrite], progress: Progress
) -> None:
    """SQLite copies the scratch tables over the store's, in one transaction."""
    dialect = sqlite_dialect.dialect()
    with closing(
        sqlite3.connect(store_path, timeout=SQLITE_BUSY_SECONDS, isolation_level=None)
    ) as db:
        db.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        db.execute("PRAGMA temp_store=MEMORY")
        db.execute("PRAGMA synchronous=NORMAL")  # as every store connection (WAL: no loss)
        # Attached before the transaction: SQLite cannot detach inside one.
        scratch_names = {target: f"scratch_{i}" for i, target in enumerate(scratch)}
        for target, name in scratch_names.items():
            db.execute(f"ATTACH ? AS {name}", (scratch[target],))
        db.execute("BEGIN IMMEDIATE")
        try:
            for write in writes:
                progress(f"copy {write.target}")
                table = metadata.tables[write.target]
                target = quote_ident(write.target)
                for index in table.indexes:
                    db.execute(f"DROP INDEX IF EXISTS {quote_ident(str(index.name))}")
                db.execute(f"DELETE FROM {target}")
                db.execute(
                    f"INSERT INTO {target} ({_names(write)}) "
                    f"SELECT {_names(write)} FROM {scratch_names[write.target]}.{target}"
                )
                for index in table.indexes:
                    db.execute(str(CreateIndex(index).compile(dialect=dialect)))
            progress("commit")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
