"""Small slices of the store, read by index through SQLAlchemy, for incremental runs and replays.

Reading a few subjects' events is OLTP work the store does well (``ix_events_subject``); the
engine then runs the same expressions over the slice as over the whole store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
from sqlalchemy import Connection, func, select

from socialcredit.derive.expressions import EVENT_COLUMNS, SUBJECT_COLUMNS
from socialcredit.store.tables import events, subjects

CHUNK = 900  # identifiers per IN (...) list: under every backend's bound-parameter limit

EVENT_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("furnisher", pa.string()),
        ("record_id", pa.string()),
        ("action", pa.string()),
        ("subject_id", pa.string()),
        ("category", pa.string()),
        ("decided_on", pa.date32()),
        ("document_no", pa.string()),
        ("amount_fen", pa.int64()),
        ("ground", pa.string()),
        ("extension_months", pa.int64()),
        ("legal_rep_id", pa.string()),
    ]
)
SUBJECT_SCHEMA = pa.schema(
    [
        ("subject_id", pa.string()),
        ("kind", pa.string()),
        ("birth_date", pa.date32()),
    ]
)
assert tuple(EVENT_SCHEMA.names) == EVENT_COLUMNS
assert tuple(SUBJECT_SCHEMA.names) == SUBJECT_COLUMNS


@dataclass(frozen=True)
class Slice:
    """The events and subject rows of a set of subjects."""

    subject_ids: frozenset[str]
    events: pa.Table
    subjects: pa.Table

    def legal_reps_named(self) -> frozenset[str]:
        """Everyone these subjects' records ever named as legal representative."""
        named = self.events.column("legal_rep_id").to_pylist()
        return frozenset(value for value in named if value)


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for value in sorted(values):
        batch.append(value)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def high_water_seq(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one())


def touched_subjects(conn: Connection, after_seq: int, *, limit: int) -> set[str] | None:
    """Subjects with events after ``after_seq``; None when there are more than ``limit``."""
    rows = (
        conn.execute(
            select(events.c.subject_id).where(events.c.seq > after_seq).distinct().limit(limit + 1)
        )
        .scalars()
        .all()
    )
    return None if len(rows) > limit else set(rows)


def represented_orgs(conn: Connection, person_ids: Sequence[str]) -> set[str]:
    """Organisations whose records ever named one of these persons as legal representative."""
    found: set[str] = set()
    for batch in _chunks(person_ids):
        found.update(
            conn.execute(
                select(events.c.subject_id).where(events.c.legal_rep_id.in_(batch)).distinct()
            ).scalars()
        )
    return found


def load_slice(
    conn: Connection, subject_ids: Iterable[str], *, through_seq: int | None = None
) -> Slice:
    """These subjects' events (those up to ``through_seq``, when given) and subject rows."""
    ids = frozenset(subject_ids)
    upto = [] if through_seq is None else [events.c.seq <= through_seq]
    event_rows: list[dict[str, object]] = []
    subject_rows: list[dict[str, object]] = []
    event_cols = [events.c[name] for name in EVENT_COLUMNS]
    subject_cols = [subjects.c[name] for name in SUBJECT_COLUMNS]
    for batch in _chunks(ids):
        event_rows.extend(
            dict(r)
            for r in conn.execute(
                select(*event_cols).where(events.c.subject_id.in_(batch), *upto)
            ).mappings()
        )
        subject_rows.extend(
            dict(r)
            for r in conn.execute(
                select(*subject_cols).where(subjects.c.subject_id.in_(batch))
            ).mappings()
        )
    return Slice(
        ids,
        pa.Table.from_pylist(event_rows, schema=EVENT_SCHEMA),
        pa.Table.from_pylist(subject_rows, schema=SUBJECT_SCHEMA),
    )
