"""DuckDB as the derivation engine: attach the store, run the Ibis expressions, write back.

The store is attached through DuckDB's own scanners (SQLite via ``sqlite_scanner``, PostgreSQL
via ``postgres_scanner``), which ship offline in the ``duckdb_ext`` package and are LOADed from
its path, never INSTALLed from the network. Nothing user-provided is pasted into SQL: paths and
connection strings are quoted as SQL string literals, values are bound as parameters.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

import duckdb
import ibis
import ibis.backends.duckdb  # imported up front: forked workers then start warm
import pyarrow as pa
from ibis.backends.sql.datatypes import DuckDBType
from sqlalchemy.engine import URL, make_url

from socialcredit.derive import ledger_mirror
from socialcredit.derive.engines.duckdb_write import (
    TableWrite,
    create_sqlite_shadows,
    drop_sqlite_shadows,
    fill_shadows,
    quote_ident,
    replace_by_swap,
    shadow_suffix,
    swap_sqlite_shadows,
)
from socialcredit.derive.policy_tables import PolicyRelations, PolicyTables
from socialcredit.errors import ConfigError, StoreError
from socialcredit.settings import Settings
from socialcredit.store.engine import normalise_url

Table = Any  # ibis.Table

STORE = "store"  # the attached catalog's name


def _extension_path(name: str) -> str:
    spec = importlib.util.find_spec("duckdb_ext")
    roots = list(spec.submodule_search_locations or []) if spec else []
    if not roots:
        raise ConfigError("the duckdb_ext package (duckdb-ext-sqlite / -postgres) is not installed")
    root = roots[0]
    pattern = os.path.join(root, "extensions", "*", "*", f"{name}.duckdb_extension")
    found = sorted(glob.glob(pattern))
    if not found:
        raise ConfigError(
            f"DuckDB extension {name} not found under {root}: "
            "install duckdb-ext-sqlite / duckdb-ext-postgres"
        )
    return found[-1]


def sql_string(value: str) -> str:
    """A SQL string literal (single quotes doubled): for the few statements without parameters."""
    return "'" + value.replace("'", "''") + "'"


def _libpq_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def libpq_dsn(url: URL) -> str:
    """A libpq keyword/value connection string from a SQLAlchemy URL (query options included)."""
    parts: dict[str, str] = {}
    if url.database:
        parts["dbname"] = url.database
    if url.host:
        parts["host"] = url.host
    if url.port:
        parts["port"] = str(url.port)
    if url.username:
        parts["user"] = url.username
    if url.password:
        parts["password"] = str(url.password)
    for key, value in url.query.items():
        parts[key] = value if isinstance(value, str) else value[-1]
    return " ".join(f"{key}={_libpq_value(value)}" for key, value in parts.items())


class DuckDBEngine:
    """One DuckDB connection; the Ibis backend over it runs every expression."""

    def __init__(self, settings: Settings) -> None:
        self._spill = tempfile.mkdtemp(prefix="socialcredit-duckdb-")
        config: dict[str, Any] = {"temp_directory": self._spill, "preserve_insertion_order": False}
        if settings.duckdb_threads:
            config["threads"] = settings.duckdb_threads
        if settings.duckdb_memory_limit:
            config["memory_limit"] = settings.duckdb_memory_limit
        try:
            self.con = duckdb.connect(config=config)
        except duckdb.Error as exc:
            raise ConfigError(f"DuckDB settings refused: {exc}") from exc
        self.backend = ibis.duckdb.from_connection(self.con)
        self._ledger_mirror = settings.ledger_mirror
        self._schema: str | None = None
        self._sqlite_path: str | None = None
        self._tables: set[str] = set()

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self._spill, ignore_errors=True)

    # --- the store -----------------------------------------------------------------------
    def attach(self, url: str) -> None:
        """Attach the store (SQLite file or PostgreSQL database) as catalog ``store``."""
        parsed = make_url(normalise_url(url))
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                raise ConfigError("derive needs a SQLite file, not an in-memory database")
            self.con.execute(f"LOAD {sql_string(_extension_path('sqlite_scanner'))}")
            target, kind, schema = parsed.database, "sqlite", "main"
            self._sqlite_path = parsed.database
        elif backend == "postgresql":
            self.con.execute(f"LOAD {sql_string(_extension_path('postgres_scanner'))}")
            target, kind, schema = libpq_dsn(parsed), "postgres", "public"
        else:
            raise ConfigError(f"DuckDB cannot attach a {backend!r} store")
        try:
            self.con.execute(f"ATTACH {sql_string(target)} AS {STORE} (TYPE {kind})")
        except duckdb.Error as exc:
            message = str(exc)
            if parsed.password:  # libpq errors echo the connection string
                secret = str(parsed.password)
                for form in (_libpq_value(secret)[1:-1], secret):
                    message = message.replace(form, "***")
            raise StoreError(f"DuckDB could not attach the store: {message}") from None
        self._schema = schema

    def store_table(self, name: str) -> Table:
        if self._schema is None:
            raise StoreError("no store attached")
        return self.backend.table(name, database=(STORE, self._schema))

    def ledger_events(self, progress: Callable[[str], None] = lambda _: None) -> Table:
        """The store's events: from the columnar copy beside a SQLite store (brought up to date
        first; see ``ledger_mirror``), else straight from the store."""
        if self._sqlite_path is None or not self._ledger_mirror:
            return self.store_table("events")
        name = ledger_mirror.refresh(
            self.con, STORE, ledger_mirror.mirror_path(self._sqlite_path), progress
        )
        catalog, table = name.split(".")
        return self.backend.table(table, database=(catalog, "main"))

    def replace_store_tables(
        self,
        writes: Sequence[TableWrite],
        progress: Callable[[str], None] = lambda _: None,
        *,
        tag: str,
    ) -> None:
        """Replace the given derived tables in one store transaction (readers never see gaps),
        through shadow tables named for ``tag`` (one per run: letters, digits, ``_``).

        On SQLite this detaches the store: call it last.
        """
        suffix = shadow_suffix(tag)
        if self._sqlite_path is None:
            replace_by_swap(self.con, STORE, writes, progress, suffix=suffix)
            return
        path = self._sqlite_path
        self.detach()  # SQLite itself makes the shadows: one SQLite library at a time
        progress("shadow tables")
        create_sqlite_shadows(path, writes, suffix)
        try:
            self.attach(f"sqlite:///{path}")
            fill_shadows(self.con, STORE, writes, suffix, progress)
            self.detach()
            swap_sqlite_shadows(path, writes, suffix, progress)
        except BaseException:
            self.detach()
            drop_sqlite_shadows(path, writes, suffix)
            raise

    def detach(self) -> None:
        if self._schema is not None:
            self.con.execute(f"DETACH {STORE}")
            self._schema = None

    # --- relations -------------------------------------------------------------------------
    # Results are plain tables of the engine's private in-memory database, not TEMP tables:
    # those are private to one connection, and the SQLite writer reads from several.
    def from_arrow(self, name: str, data: pa.Table) -> Table:
        """An Arrow table (a slice of the store, a policy table) as a relation of this engine."""
        if name in self._tables:
            self.con.execute(f"DROP TABLE {quote_ident(name)}")
        self.con.from_arrow(data).create(name)
        self._tables.add(name)
        return self.backend.table(name)

    def policy_relations(self, policy: PolicyTables) -> PolicyRelations:
        """The policy's tables loaded into the engine, as relations."""
        return PolicyRelations(
            **{
                f.name: self.from_arrow(f"sc_policy_{f.name}", getattr(policy, f.name))
                for f in fields(PolicyRelations)
            }
        )

    def compile(self, expr: Table) -> str:
        """The expression as one SELECT, each column pinned to the type Ibis gives it (DuckDB
        may compute wider ones: a sum of BIGINT is a HUGEINT, a date plus an interval a
        timestamp)."""
        columns = ", ".join(
            f"CAST({quote_ident(column)} AS {DuckDBType.to_string(dtype)}) AS {quote_ident(column)}"
            for column, dtype in expr.schema().items()
        )
        return f"SELECT {columns} FROM ({self.backend.compile(expr)})"

    def materialise_sql(self, name: str, sql: str) -> Table:
        """Compute a compiled SELECT once into a table, for the stages that reuse it."""
        self.con.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS {sql}")
        self._tables.add(name)
        return self.backend.table(name)

    def materialise(self, name: str, expr: Table) -> Table:
        return self.materialise_sql(name, self.compile(expr))

    def count(self, expr: Table) -> int:
        return int(self.backend.execute(expr.count()))

    def to_arrow(self, expr: Table) -> pa.Table:
        return self.backend.to_pyarrow(expr)
