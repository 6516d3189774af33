"""The derivation runs a reader needs: the last *finished* one.

The derived tables hold the state the last finished run computed (a run is finished in the
transaction that writes its results), so its as-of date, policy version and high-water event
are what every reader reports with them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, select

from socialcredit.store.tables import derive_runs


@dataclass(frozen=True)
class FinishedRun:
    run_id: int
    as_of: dt.date
    policy_version: str
    high_water_seq: int


def last_finished_run(conn: Connection) -> FinishedRun | None:
    row = conn.execute(
        select(
            derive_runs.c.run_id,
            derive_runs.c.as_of,
            derive_runs.c.policy_version,
            derive_runs.c.high_water_seq,
        )
        .where(derive_runs.c.finished_at.is_not(None))
        .order_by(derive_runs.c.run_id.desc())
        .limit(1)
    ).first()
    return None if row is None else FinishedRun(*row)
