"""Ratings kept by signature in the ledger copy, so that a full run computes only new ones.

Most of a full run's ratings stage is spent naming records: the sorted list of record keys
behind each reason, and each rating's reasons as JSON text (at 100M events, 27M contributions
into 10M lists). Yet from one night to the next few ratings change. ``scoring.
rating_signatures`` computes, without any list or text, a 64-bit hash of everything a rating
row is made of; this memo keeps, in the ledger copy's file beside a SQLite store, every row of
the last run with its signature. A run then computes full rows (``scoring.ratings``) only for
the subjects whose signature is not in the memo, replaces theirs, and reads the rest as kept.

The memo is a cache of a function of the ledger: a row kept under a signature is the row
``ratings`` gives for it as long as the function is the same and the ledger is the one the
copy holds (a signature names records by their filing's sequence number, which another ledger
gives to other records). So the memo is stamped with ``salt``: the compiled SQL of ``ratings``
and of ``rating_signatures`` (for a fixed date), the policy's fingerprint and DuckDB's version;
and the ledger copy drops it when it finds the store's ledger is not the one it copied
(``ledger_mirror.refresh``). Another salt, a missing or damaged memo, or one of another shape:
every row is computed, and the memo is written afresh. Deleting the file only costs the next
run the whole stage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import duckdb

Table = Any  # ibis.Table
Progress = Callable[[str], None]

MEMO = "ratings_memo"
STATE = "ratings_memo_state"
KEY = ("subject_id", "rating")
ROW = ("subject_id", "rating", "score", "band", "reasons")
# The memo's columns and their DuckDB types: a memo of another shape is not used.
COLUMNS = {
    "subject_id": "VARCHAR",
    "rating": "VARCHAR",
    "score": "BIGINT",
    "band": "VARCHAR",
    "reasons": "VARCHAR",
    "signature": "UBIGINT",
}
CHANGED = "sc_rating_changes"  # keys whose signature is new, changed or gone
CHANGED_SUBJECTS = "sc_rating_changed_subjects"
FRESH = "sc_ratings_fresh"


class Materialiser(Protocol):
    con: duckdb.DuckDBPyConnection

    def materialise(self, name: str, expr: Table) -> Table: ...
    def table(self, name: str) -> Table: ...


def salt(parts: Sequence[str]) -> str:
    """The memo's stamp from what its rows depend on (SQL texts, fingerprints, versions)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return f"{digest.hexdigest()}-duckdb-{duckdb.__version__}"


class RatingsMemo:
    """The memo in ``catalog`` (the attached ledger copy) of one engine."""

    def __init__(self, engine: Materialiser, catalog: str, salt: str) -> None:
        self._engine = engine
        self._con = engine.con
        self._memo = f"{catalog}.{MEMO}"
        self._state = f"{catalog}.{STATE}"
        self._catalog = catalog
        self._salt = salt

    def _usable(self) -> bool:
        try:
            shape = self._con.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() "
                "WHERE database_name = ? AND table_name IN (?, ?) ORDER BY table_name, "
                "column_index",
                [self._catalog, MEMO, STATE],
            ).fetchall()
            if [(c, t) for name, c, t in shape if name == MEMO] != list(COLUMNS.items()):
                return False
            if [(c, t) for name, c, t in shape if name == STATE] != [("salt", "VARCHAR")]:
                return False
            stamps = self._con.execute(f"SELECT salt FROM {self._state}").fetchall()
        except duckdb.Error:  # damaged: not usable
            return False
        return stamps == [(self._salt,)]

    def ratings(
        self, signatures: Table, fresh: Callable[[Table | None], Table], progress: Progress
    ) -> Table:
        """Every pair's rating row: kept ones whose signature is in the memo, ``fresh(subjects)``
        for the subjects of the others (``fresh(None)``: every subject's). ``signatures`` is
        ``rating_signatures`` as a table or a view (read once). Leaves the memo holding
        exactly this run's rows and returns them (a view of the memo named ``sc_ratings``)."""
        con = self._con
        signed = signatures.get_name()
        if self._usable():
            con.execute(
                f"CREATE OR REPLACE TABLE {CHANGED} AS SELECT subject_id, rating, "
                "s.signature AS new_signature FROM "
                f"{signed} AS s FULL JOIN {self._memo} AS m USING (subject_id, rating) "
                "WHERE s.signature IS DISTINCT FROM m.signature"
            )
            con.execute(
                f"CREATE OR REPLACE TABLE {CHANGED_SUBJECTS} AS SELECT DISTINCT subject_id "
                f"FROM {CHANGED} WHERE new_signature IS NOT NULL"
            )
            (changed,) = con.execute(f"SELECT count(*) FROM {CHANGED}").fetchone() or (0,)
            progress(f"ratings: {changed} changed since the memo")
            self._engine.materialise(FRESH, fresh(self._engine.table(CHANGED_SUBJECTS)))
            self._replace_changed()
        else:
            progress("ratings: every row (no memo of earlier ones)")
            self._engine.materialise(FRESH, fresh(None))
            self._write_all(signed)
        rows = ", ".join(ROW)
        con.execute(f"CREATE OR REPLACE VIEW sc_ratings AS SELECT {rows} FROM {self._memo}")
        return self._engine.table("sc_ratings")

    def _replace_changed(self) -> None:
        """One transaction: the changed and gone keys out of the memo, the new rows in."""
        con = self._con
        match = " AND ".join(f"m.{k} = c.{k}" for k in KEY)
        rows = ", ".join(f"f.{c}" for c in ROW)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"DELETE FROM {self._memo} AS m USING {CHANGED} AS c WHERE {match}")
            con.execute(
                f"INSERT INTO {self._memo} SELECT {rows}, c.new_signature FROM {FRESH} AS f "
                f"JOIN {CHANGED} AS c USING (subject_id, rating) "
                "WHERE c.new_signature IS NOT NULL"
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _write_all(self, signed: str) -> None:
        """The memo afresh: every row with its signature, stamped with the salt."""
        con = self._con
        rows = ", ".join(f"f.{c}" for c in ROW)
        columns = ", ".join(f"{name} {kind}" for name, kind in COLUMNS.items())
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"DROP TABLE IF EXISTS {self._memo}")
            con.execute(f"DROP TABLE IF EXISTS {self._state}")
            con.execute(f"CREATE TABLE {self._memo} ({columns})")
            con.execute(
                f"INSERT INTO {self._memo} SELECT {rows}, s.signature FROM {FRESH} AS f "
                f"JOIN {signed} AS s USING (subject_id, rating)"
            )
            con.execute(f"CREATE TABLE {self._state} (salt VARCHAR)")
            con.execute(f"INSERT INTO {self._state} VALUES (?)", [self._salt])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
