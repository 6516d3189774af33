"""Marking a derivation run finished, in the same store transaction that writes its results.

Readers take the last *finished* run in ``derive_runs`` as the as-of date and policy version of
the derived tables (the rows carry no run of their own). Writing the results and finishing the
run in one transaction means a reader never sees one without the other, even if the process
dies between the two.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, update
from sqlalchemy.dialects import sqlite as sqlite_dialect

from socialcredit.store.ledger import timestamp_for
from socialcredit.store.tables import derive_runs


@dataclass(frozen=True)
class RunFinish:
    """What a run records when it finishes; ``started`` is ``time.time()`` at its start."""

    run_id: int
    subjects: int
    started: float

    def _values(self) -> dict[str, Any]:
        return {
            "finished_at": dt.datetime.now(dt.UTC),
            "subjects": self.subjects,
            "seconds": round(time.time() - self.started, 3),
        }

    def execute(self, conn: Connection) -> None:
        """On a SQLAlchemy connection, inside the caller's transaction."""
        conn.execute(
            update(derive_runs).where(derive_runs.c.run_id == self.run_id).values(self._values())
        )

    def execute_sqlite3(self, db: sqlite3.Connection) -> None:
        """On a plain ``sqlite3`` connection, inside the caller's transaction; the timestamp is
        stored in the text form SQLAlchemy reads back."""
        values = self._values()
        finished = timestamp_for(sqlite_dialect.dialect(), values["finished_at"])
        db.execute(
            "UPDATE derive_runs SET finished_at = ?, subjects = ?, seconds = ? WHERE run_id = ?",
            (finished, values["subjects"], values["seconds"], self.run_id),
        )
