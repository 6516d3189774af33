"""The append-only ledger: events in, never updated or deleted; re-sending an event is a no-op.

An event's identity is the sha256 of its content (``event_key``), so the same row furnished twice
(the same file ingested again, a retried API call) is recognised and counted as a duplicate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite

from socialcredit.store.tables import events

# The fields that make an event what it is; recorded_at and batch_id are not part of it.
EVENT_FIELDS = (
    "furnisher",
    "record_id",
    "action",
    "subject_id",
    "subject_name",
    "category",
    "decided_on",
    "document_no",
    "amount_fen",
    "ground",
    "extension_months",
    "legal_rep_id",
    "note",
)


def event_key(row: Mapping[str, Any]) -> str:
    parts = []
    for name in EVENT_FIELDS:
        value = row.get(name)
        parts.append(
            "" if value is None else value.isoformat() if isinstance(value, dt.date) else str(value)
        )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class AppendResult:
    inserted: int
    duplicates: int


def append_events(
    conn: Connection,
    rows: Sequence[Mapping[str, Any]],
    *,
    batch_id: int,
    recorded_at: dt.datetime | None = None,
) -> AppendResult:
    """Insert events, skipping those whose event_key is already in the ledger."""
    if not rows:
        return AppendResult(0, 0)
    when = recorded_at or dt.datetime.now(dt.UTC)
    values = [
        {
            **{f: r.get(f) for f in EVENT_FIELDS},
            "event_key": r.get("event_key") or event_key(r),
            "batch_id": batch_id,
            "recorded_at": when,
        }
        for r in rows
    ]
    dialect = conn.dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(events).on_conflict_do_nothing(index_elements=["event_key"])
    else:
        stmt = sqlite.insert(events).on_conflict_do_nothing(index_elements=["event_key"])
    before = conn.execute(select(func.count()).select_from(events)).scalar_one()
    conn.execute(stmt, values)
    after = conn.execute(select(func.count()).select_from(events)).scalar_one()
    inserted = after - before
    return AppendResult(inserted, len(values) - inserted)
