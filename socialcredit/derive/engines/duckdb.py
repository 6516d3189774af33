"""DuckDB as the derivation engine: attach the store, run the Ibis expressions, write back.

The store is attached through DuckDB's own scanners (SQLite via ``sqlite_scanner``, PostgreSQL
via ``postgres_scanner``), which ship offline in the ``duckdb_ext`` package and are LOADed from
its path, never INSTALLed from the network. Nothing user-provided is pasted into SQL: paths and
connection strings are quoted as SQL string literals, values are bound as parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import fields
from typing import Any

import duckdb
import ibis
import ibis.backends.duckdb  # imported up front: forked workers then start warm
import pyarrow as pa
from ibis.backends.sql.datatypes import DuckDBType
from sqlalchemy.engine import URL, make_url

from socialcredit.derive import ledger_mirror, subjects_mirror
from socialcredit.derive.engines import duckdb_hash_cache as hash_cache
from socialcredit.derive.engines.duckdb_delta import Compared, apply_delta, plan_delta
from socialcredit.derive.engines.duckdb_ratings_memo import RatingsMemo
from socialcredit.derive.engines.duckdb_spill import SpillDirectory
from socialcredit.derive.engines.duckdb_write import (
    TableWrite,
    Written,
    create_sqlite_shadows,
    drop_pg_shadows,
    drop_sqlite_shadows,
    fill_shadows,
    load_pg_shadows,
    quote_ident,
    shadow_suffix,
    swap_pg_shadows,
    swap_sqlite_shadows,
)
from socialcredit.derive.policy_tables import PolicyRelations, PolicyTables
from socialcredit.derive.run_finish import RunFinish
from socialcredit.duckdb_extensions import extension_path, sql_string
from socialcredit.errors import ConfigError, Conflict, StoreError
from socialcredit.settings import Settings
from socialcredit.store.engine import normalise_url, sqlite_file

Table = Any  # ibis.Table
Progress = Callable[[str], None]

STORE = "store"  # the attached catalog's name


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
        self._spill = SpillDirectory()
        config: dict[str, Any] = {
            "temp_directory": self._spill.path,
            "preserve_insertion_order": False,
        }
        if settings.duckdb_threads:
            config["threads"] = settings.duckdb_threads
        if settings.duckdb_memory_limit:
            config["memory_limit"] = settings.duckdb_memory_limit
        try:
            self.con = duckdb.connect(config=config)
        except duckdb.Error as exc:
            self._spill.close()
            raise ConfigError(f"DuckDB settings refused: {exc}") from exc
        try:
            self.backend = ibis.duckdb.from_connection(self.con)
        except BaseException:
            self.con.close()
            self._spill.close()
            raise
        self._ledger_mirror = settings.ledger_mirror
        self._schema: str | None = None
        self._sqlite_path: str | None = None
        self._url: str | None = None
        self._columnar_ledger = False  # the ledger is read from the local columnar copy
        self._tables: set[str] = set()
        self._stored_counts: hash_cache.StoredRowCounts | None = None

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop_counting()
        self.con.close()
        self._spill.close()

    # --- the store -----------------------------------------------------------------------
    def attach(self, url: str) -> None:
        """Attach the store (SQLite file or PostgreSQL database) as catalog ``store``."""
        parsed = make_url(normalise_url(url))
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            path = sqlite_file(url)
            if path is None:
                raise ConfigError("derive needs a SQLite file, not an in-memory database")
            self.con.execute(f"LOAD {sql_string(extension_path('sqlite_scanner'))}")
            target, kind, schema = str(path), "sqlite", "main"
            self._sqlite_path = str(path)
        elif backend == "postgresql":
            self.con.execute(f"LOAD {sql_string(extension_path('postgres_scanner'))}")
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
        self._url = url

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
        self._columnar_ledger = True
        catalog, table = name.split(".")
        return self.backend.table(table, database=(catalog, "main"))

    def ledger_subjects(self) -> Table:
        """The registered subjects: from the copy beside a SQLite store when ``ledger_events``
        read the ledger from its copy (``subjects_mirror``), else straight from the store."""
        if not self._columnar_ledger:
            return self.store_table("subjects")
        return self.backend.table(subjects_mirror.TABLE, database=(ledger_mirror.CATALOG, "main"))

    def replace_store_tables(
        self,
        writes: Sequence[TableWrite],
        progress: Callable[[str], None] = lambda _: None,
        *,
        tag: str,
        finish: RunFinish | None = None,
        delta_max_share: float = 0.0,
    ) -> Written:
        """Replace the given derived tables in one store transaction (readers never see gaps)
        that also marks the run ``finish`` finished. With ``delta_max_share`` > 0, only the rows
        that changed are written when they are at most that share (``duckdb_delta``); else
        whole tables are swapped in through shadow tables named for ``tag`` (letters, digits,
        ``_``).

        This detaches the store: call it last.
        """
        if self._schema is None or self._url is None:
            raise StoreError("no store attached")
        url = self._url
        # The stored rows' hashes kept by the last run (SQLite, with the ledger copy attached).
        begun = None  # the run's start time and the store's revision, to stamp kept hashes
        if self._columnar_ledger and finish is not None:
            started = hash_cache.run_started(self.con, STORE, finish.run_id)
            if started is not None:
                begun = (started, hash_cache.revision(self.con, STORE))
        compared: dict[str, Compared] = {}
        compared_with = ""
        if delta_max_share > 0:
            kept = self._usable_hashes(writes) if begun is not None else None
            # With kept hashes first; should the store refuse the difference (rows edited by
            # hand, which the checks missed), once more against the store's own rows.
            for stored in (kept, None) if kept else (None,):
                compared_with = "ledger_copy" if stored else "store"
                schema = self._schema or self._attach_again(url)
                plan = plan_delta(
                    self.con, STORE, schema, writes, delta_max_share, progress, stored
                )
                compared = plan.tables
                if plan.deltas is None:
                    break
                self.detach()  # the store's own driver writes: one SQLite library at a time
                try:
                    version = apply_delta(url, plan.deltas, finish, progress)
                except Conflict:
                    if stored is None:
                        raise
                    progress("the kept hashes disagree with the store: comparing with the store")
                    with suppress(duckdb.Error):
                        hash_cache.forget(self.con, ledger_mirror.CATALOG, list(stored))
                    continue
                self._keep_hashes(
                    writes, finish, begun, version, compared, progress, in_place=bool(stored)
                )
                return Written(
                    "changed_rows",
                    sum(len(d.deletes) for d in plan.deltas),
                    sum(len(d.inserts) for d in plan.deltas),
                    compared_with,
                )
        whole = Written("whole_tables", 0, self._rows(writes), compared_with)
        suffix = shadow_suffix(tag)
        if self._sqlite_path is None:
            try:
                swap = load_pg_shadows(self.con, STORE, writes, progress, suffix=suffix)
                self.detach()
                swap_pg_shadows(url, swap, finish, progress)
            except BaseException:
                self.detach()
                drop_pg_shadows(url, writes, suffix)
                raise
            return whole
        path = self._sqlite_path
        self.detach()  # SQLite itself makes the shadows: one SQLite library at a time
        progress("shadow tables")
        create_sqlite_shadows(path, writes, suffix)
        try:
            self.attach(url)
            fill_shadows(self.con, STORE, writes, suffix, progress)
            self.detach()
            version = swap_sqlite_shadows(path, writes, suffix, progress, finish)
        except BaseException:
            self.detach()
            drop_sqlite_shadows(path, writes, suffix)
            raise
        self._keep_hashes(writes, finish, begun, version, compared, progress)
        return whole

    def _attach_again(self, url: str) -> str:
        """Attach the store again (after a write it refused); returns its schema."""
        self.attach(url)
        if self._schema is None:
            raise StoreError("no store attached")
        return self._schema

    def count_stored_rows(self, targets: Sequence[str]) -> None:
        """Start counting the store's rows of the derived tables ``targets`` in the background,
        when the ledger copy keeps hashes of them that a later ``replace_store_tables`` checks
        (``hash_cache.StoredRowCounts``). Call it when the store is attached and the ledger
        read (``ledger_events``)."""
        if not self._columnar_ledger or self._stored_counts is not None:
            return
        if hash_cache.kept(self.con, ledger_mirror.CATALOG):
            self._stored_counts = hash_cache.StoredRowCounts(self.con, STORE, targets)

    def _usable_hashes(self, writes: Sequence[TableWrite]) -> dict[str, str] | None:
        """The kept hashes' tables per target, when they describe the store's rows."""
        counted = None if self._stored_counts is None else self._stored_counts.result()
        self._stop_counting()
        if not hash_cache.usable(self.con, ledger_mirror.CATALOG, STORE, writes, counted):
            return None
        return {
            w.target: f"{ledger_mirror.CATALOG}.{hash_cache.cache_table(w.target)}" for w in writes
        }

    def _keep_hashes(
        self,
        writes: Sequence[TableWrite],
        finish: RunFinish | None,
        begun: tuple[str, str] | None,
        version: int | None,
        compared: dict[str, Compared],
        progress: Progress,
        *,
        in_place: bool = False,
    ) -> None:
        """After the store committed a run's results (leaving schema ``version``): keep their
        hashes in the ledger copy for the next run, stamped with the run's start time and the
        store's revision (``begun``), or, when they were not computed, drop the old ones. A
        failure here is reported, never raised: the results are committed."""
        if not self._columnar_ledger:
            return
        targets = [w.target for w in writes]
        try:
            if finish is None or begun is None or version is None or not compared:
                # Tidiness only: an older run's stamp no longer matches the last finished run.
                hash_cache.forget(self.con, ledger_mirror.CATALOG, targets)
                return
            progress("keeping the results' hashes in the ledger copy")
            stamp = hash_cache.RunStamp(finish.run_id, begun[0], version, begun[1])
            hash_cache.save(self.con, ledger_mirror.CATALOG, stamp, compared, in_place)
        except duckdb.Error as exc:
            progress(f"could not keep the results' hashes ({exc}); the next run reads the store")
            with suppress(duckdb.Error):
                hash_cache.forget(self.con, ledger_mirror.CATALOG, targets)

    def _rows(self, writes: Sequence[TableWrite]) -> int:
        total = 0
        for write in writes:
            (count,) = self.con.execute(
                f"SELECT count(*) FROM {quote_ident(write.source)}"
            ).fetchone() or (0,)
            total += int(count)
        return total

    def _stop_counting(self) -> None:
        if self._stored_counts is not None:
            self._stored_counts.close()
            self._stored_counts = None

    def detach(self) -> None:
        # Never leave DuckDB's SQLite counting while the store's own driver writes the file:
        # one SQLite library at a time (see derive/worker.py).
        self._stop_counting()
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

    def view_sql(self, name: str, sql: str) -> Table:
        """A compiled SELECT as a view, computed wherever it is read."""
        self.con.execute(f"CREATE OR REPLACE VIEW {quote_ident(name)} AS {sql}")
        return self.backend.table(name)

    def materialise(self, name: str, expr: Table) -> Table:
        return self.materialise_sql(name, self.compile(expr))

    def stage_events(self, name: str, expr: Table) -> Table:
        """The events every stage reads: a view when they come from the columnar ledger copy
        (scanning it again costs less than copying 10M rows once), else computed once into a
        table (one scan of the store)."""
        if not self._columnar_ledger:
            return self.materialise(name, expr)
        self.con.execute(f"CREATE OR REPLACE VIEW {quote_ident(name)} AS {self.compile(expr)}")
        return self.backend.table(name)

    def table(self, name: str) -> Table:
        """A table of the engine's own database, as a relation."""
        return self.backend.table(name)

    def ratings_memo(self, salt: Callable[[], str]) -> RatingsMemo | None:
        """The ratings kept by signature in the columnar ledger copy (``duckdb_ratings_memo``),
        stamped with ``salt()``, when this run reads one; else None (every rating is
        computed)."""
        if not self._columnar_ledger:
            return None
        return RatingsMemo(self, ledger_mirror.CATALOG, salt())

    def count(self, expr: Table) -> int:
        return int(self.backend.execute(expr.count()))

    def to_arrow(self, expr: Table) -> pa.Table:
        return self.backend.to_pyarrow(expr)
