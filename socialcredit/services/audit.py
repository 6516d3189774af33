"""The audit log: every authenticated request (key, role, route, subject touched, outcome).

Requests are recorded in memory and written in bulk by a background thread (``AuditWriter``),
so that a check served in microseconds does not wait for a database commit; ``flush`` is also
called on shutdown, so nothing is lost on an orderly stop. The key itself is never recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import DataError, IntegrityError

from socialcredit.forksafe import sqlite_work
from socialcredit.store.tables import audit_log

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: dt.datetime
    key_id: int | None
    role: str | None
    method: str
    route: str
    subject_id: str | None
    status: int
    outcome: str


def outcome_of(status: int) -> str:
    """A stable word for the audit trail."""
    if status < 400:
        return "ok"
    return {
        401: "unauthenticated",
        403: "forbidden",
        404: "not_found",
        409: "conflict",
        413: "too_large",
        422: "invalid",
        429: "rate_limited",
    }.get(status, "rejected" if status < 500 else "error")


class AuditWriter:
    """Buffers audit records and writes them in one statement per flush."""

    def __init__(self, engine: Engine, *, flush_seconds: float = 0.5) -> None:
        self._engine = engine
        self._flush_seconds = flush_seconds
        self._pending: list[AuditRecord] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, entry: AuditRecord) -> None:
        with self._lock:  # list.append is atomic; the lock pairs it with the swap in flush
            self._pending.append(entry)

    def flush(self) -> int:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            try:
                self._write(batch)
            except (DataError, IntegrityError):
                # A row the store refuses must not hold back the others: one by one.
                for entry in batch:
                    try:
                        self._write([entry])
                    except (DataError, IntegrityError):
                        log.exception("audit row refused by the store: %r", entry)
            except BaseException:
                with self._lock:  # back in front of what came meanwhile: written next time
                    self._pending[:0] = batch
                raise
        return len(batch)

    def _write(self, batch: list[AuditRecord]) -> None:
        with self._engine.begin() as conn:
            # a shallow dict per record: dataclasses.asdict deep-copies (~30 µs a record)
            names = [f.name for f in fields(AuditRecord)]
            conn.execute(insert(audit_log), [{n: getattr(r, n) for n in names} for r in batch])

    def _run(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            try:
                with sqlite_work():  # see forksafe.py
                    self.flush()
            except Exception:  # keep auditing after a transient store error; retried next tick
                log.exception("audit flush failed")

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.flush()


def read_audit(
    engine: Engine,
    *,
    since: dt.datetime | None = None,
    key_id: int | None = None,
    subject_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest first."""
    query = select(audit_log).order_by(audit_log.c.audit_id.desc()).limit(limit)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if key_id is not None:
        query = query.where(audit_log.c.key_id == key_id)
    if subject_id is not None:
        query = query.where(audit_log.c.subject_id == subject_id)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
