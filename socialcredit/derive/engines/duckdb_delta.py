"""Writing only what changed: a full run's results against the derived tables in the store.

A full run recomputes every subject, but from one day to the next, or after a batch of new
events, few rows change: most ratings, list entries and decisions come out exactly as stored.
DuckDB reads the stored tables from the attached store, compares them with the new results row
by row (by key and a hash of the values), and, when the difference is small, the store applies
it in one transaction (delete the rows that changed or went, insert the new versions) that also
marks the run finished. Above ``max_share`` of the rows, rewriting whole tables (the shadow
swap of ``duckdb_write``) is cheaper, and the caller does that instead.

The comparison is of whole rows, by value; a row whose JSON was written with other spacing (an
incremental run writes through the store's driver) counts as changed and is rewritten, which
is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
from sqlalchemy import and_, bindparam, delete

from socialcredit.derive.engines.duckdb_write import TableWrite, quote_ident
from socialcredit.derive.run_finish import RunFinish
from socialcredit.store.engine import transaction
from socialcredit.store.ledger import bulk_insert
from socialcredit.store.tables import metadata

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TableDelta:
    """One table's difference: keys of stored rows to delete, rows to insert (store values:
    dates as YYYY-MM-DD text, JSON as text)."""

    target: str
    columns: tuple[str, ...]
    keys: tuple[str, ...]
    deletes: list[tuple[Any, ...]]
    inserts: list[tuple[Any, ...]]


def result_types(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, str]:
    """The DuckDB types of a result table's columns."""
    rows = con.execute(f"DESCRIBE {quote_ident(source)}").fetchall()
    return {str(row[0]): str(row[1]) for row in rows}


def _store_rows(
    con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], types: dict[str, str]
) -> list[tuple[Any, ...]]:
    """The rows of ``table`` as the store's driver takes them (dates as text), in key order."""
    values = ", ".join(
        f"CAST({quote_ident(c)} AS VARCHAR)" if types[c] == "DATE" else quote_ident(c)
        for c in columns
    )
    return con.execute(f"SELECT {values} FROM {table} ORDER BY ALL").fetchall()


def primary_key(target: str) -> tuple[str, ...]:
    """The key columns of a derived table."""
    return tuple(c.name for c in metadata.tables[target].primary_key.columns)


def stored_hash(columns: Sequence[str], types: Mapping[str, str]) -> str:
    """The SQL hash of stored values, each cast to the new results' type (the store's own
    types differ: SQLite has no DATE, PostgreSQL's integers are narrower), so that equal rows
    hash alike."""
    return "hash(" + ", ".join(f"CAST({quote_ident(c)} AS {types[c]})" for c in columns) + ")"


def hashed_rows(write: TableWrite, keys: Sequence[str], table: str) -> str:
    """SQL: the keys and row hash of each row of ``table`` (with the write's columns)."""
    key_list = ", ".join(quote_ident(k) for k in keys)
    values = ", ".join(quote_ident(c) for c in write.columns)
    return f"SELECT {key_list}, hash({values}) AS row_hash FROM {table}"


@dataclass(frozen=True)
class Compared:
    """One table compared in DuckDB: the temp tables of rows to insert (``put``) and keys to
    delete (``gone``: keys whose stored row went or changed), their counts, and the new
    results' row count and column types."""

    write: TableWrite
    keys: tuple[str, ...]
    types: dict[str, str]
    put: str
    gone: str
    inserts: int
    deletes: int
    rows: int

    def hashed(self, table: str) -> str:
        """SQL: keys and row hashes of ``table`` (the results, or ``put``), as kept."""
        return hashed_rows(self.write, self.keys, table)


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    (count,) = con.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
    return int(count)


def _compare(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    schema: str,
    write: TableWrite,
    cached: str | None,
) -> Compared:
    """Materialise (in DuckDB) the rows to insert and the keys to delete for one table.

    Rows are compared by key and a 64-bit hash of all their values, computed as the stored
    rows are scanned (or read from ``cached``, a table of the stored rows' keys and hashes:
    ``duckdb_hash_cache``): the stored tables are read once and never held in memory. A changed
    row whose hash equals its old version's by chance (about 1 in 2^64) would be left as it was
    until it changes again."""
    types = result_types(con, write.source)
    keys = primary_key(write.target)
    key_list = ", ".join(quote_ident(k) for k in keys)
    stored = f"{catalog}.{quote_ident(schema)}.{quote_ident(write.target)}"
    old, diff, put, gone = (
        f"sc_delta_{kind}_{write.target}" for kind in ("old", "diff", "put", "gone")
    )
    if cached is None:  # the store's rows, scanned once
        stored_hashes = stored_hash(write.columns, types)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {old} AS "
            f"SELECT {key_list}, {stored_hashes} AS row_hash FROM {stored}"
        )
    else:  # read where they are kept: copying 10M keys first cost more than reading them
        old = f"(SELECT {key_list}, row_hash FROM {cached})"
    source = quote_ident(write.source)
    # One join by key finds both sides' differences (new or changed rows to put, gone or
    # changed keys to delete), where two set differences each hashed every row of both. The
    # new rows are hashed as the join reads them: kept hashes need only those of ``put``.
    new = f"({hashed_rows(write, keys, source)})"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {diff} AS "
        f"SELECT {key_list}, n.row_hash AS new_hash, o.row_hash AS old_hash "
        f"FROM {new} AS n FULL JOIN {old} AS o USING ({key_list}) "
        "WHERE n.row_hash IS DISTINCT FROM o.row_hash"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {put} AS SELECT s.* FROM {source} AS s "
        f"SEMI JOIN (SELECT {key_list} FROM {diff} WHERE new_hash IS NOT NULL) AS d "
        f"USING ({key_list})"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {gone} AS "
        f"SELECT {key_list} FROM {diff} WHERE old_hash IS NOT NULL"
    )
    return Compared(
        write, keys, types, put, gone, _count(con, put), _count(con, gone), _count(con, source)
    )


@dataclass(frozen=True)
class DeltaPlan:
    """The differences to apply (None when they exceed the share: write whole tables), and
    each table's comparison (what ``duckdb_hash_cache`` keeps for the next run)."""

    deltas: list[TableDelta] | None
    tables: dict[str, Compared]


def plan_delta(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    schema: str,
    writes: Sequence[TableWrite],
    max_share: float,
    progress: Progress,
    cached: Mapping[str, str] | None = None,
) -> DeltaPlan:
    """Compare the new results with the stored rows (their keys and hashes from ``cached``,
    target -> table, when given); the differences are None when they exceed ``max_share`` of
    the new rows (a first run, into empty tables, changes all of them)."""
    compared = []
    for write in writes:
        source = "" if cached is None else " (stored hashes from the ledger copy)"
        progress(f"compare {write.target}{source}")
        table = None if cached is None else cached[write.target]
        compared.append(_compare(con, catalog, schema, write, table))
    tables = {c.write.target: c for c in compared}
    changed = sum(c.inserts + c.deletes for c in compared)
    total = sum(c.rows for c in compared)
    if total == 0 or changed > max_share * total:
        return DeltaPlan(None, tables)
    return DeltaPlan(_deltas(con, compared), tables)


def _deltas(con: duckdb.DuckDBPyConnection, compared: Sequence[Compared]) -> list[TableDelta]:
    """Each compared table's rows to delete and insert, as the store's driver takes them."""
    return [
        TableDelta(
            target=c.write.target,
            columns=tuple(c.write.columns),
            keys=c.keys,
            deletes=_store_rows(con, c.gone, c.keys, c.types),
            inserts=_store_rows(con, c.put, c.write.columns, c.types),
        )
        for c in compared
    ]


def apply_delta(
    url: str, deltas: Sequence[TableDelta], finish: RunFinish | None, progress: Progress
) -> int | None:
    """One store transaction: every table's deletes and inserts, and the run marked finished.
    Returns SQLite's schema version as the transaction saw it (None on PostgreSQL)."""
    with transaction(url) as conn:
        for delta in deltas:
            progress(
                f"write {delta.target}: {len(delta.deletes)} rows out, {len(delta.inserts)} rows in"
            )
            table = metadata.tables[delta.target]
            if delta.deletes:
                match = and_(*(table.c[k] == bindparam(f"key_{k}") for k in delta.keys))
                conn.execute(
                    delete(table).where(match),
                    [
                        {f"key_{k}": v for k, v in zip(delta.keys, row, strict=True)}
                        for row in delta.deletes
                    ],
                )
            if delta.inserts:
                bulk_insert(conn, table, delta.columns, delta.inserts)
        if finish is not None:
            finish.execute(conn)
        if conn.dialect.name != "sqlite":
            return None
        return int(conn.exec_driver_sql("PRAGMA schema_version").scalar_one())
