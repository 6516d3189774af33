"""The audit writer keeps what it could not write: a store that refuses a flush (down, locked)
loses no audit row; the next flush writes them, in order, before the newer ones."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from socialcredit.services.audit import AuditRecord, AuditWriter
from socialcredit.store.engine import make_engine, upgrade
from socialcredit.store.tables import audit_log


def _record(n: int) -> AuditRecord:
    return AuditRecord(
        at=dt.datetime.now(dt.UTC),
        key_id=None,
        role="integrator",
        method="GET",
        route="/v1/checks/{measure}/{subject_id}",
        subject_id=f"S{n}",
        status=200,
        outcome="ok",
    )


def test_a_failed_flush_keeps_its_rows_for_the_next(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        writer = AuditWriter(engine)
        writer.record(_record(1))
        writer.record(_record(2))
        with pytest.raises(DBAPIError):  # no tables yet: the store refuses the insert
            writer.flush()
        writer.record(_record(3))
        upgrade(engine)
        assert writer.flush() == 3
        with engine.connect() as conn:
            written = conn.execute(select(audit_log.c.subject_id).order_by(audit_log.c.audit_id))
            assert [s for (s,) in written] == ["S1", "S2", "S3"]
        assert writer.flush() == 0
    finally:
        engine.dispose()


def test_a_row_the_store_refuses_does_not_hold_back_the_others(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        writer = AuditWriter(engine)
        poison = _record(2)
        object.__setattr__(poison, "subject_id", "S\x002")  # PostgreSQL text has no NUL
        for entry in (_record(1), poison, _record(3)):
            writer.record(entry)
        assert writer.flush() == 3
        with engine.connect() as conn:
            written = [s for (s,) in conn.execute(select(audit_log.c.subject_id))]
        assert {"S1", "S3"} <= set(written)
        assert writer.flush() == 0  # nothing left queued behind the refused row
    finally:
        engine.dispose()
