"""The identity review queue: list, resolve (the held row becomes an event), reject.

Resolving re-validates the held row with the chosen identifier exactly as ingestion would (same
checks, same ledger rules) and appends it in a batch of its own (``source = review N: ...``), so
the original batch's counts stay as they were reported.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, select, update

from socialcredit import ids
from socialcredit.errors import Conflict, NotFound, ValidationFailed
from socialcredit.ingest import subjects
from socialcredit.ingest.ledger_rules import judge
from socialcredit.ingest.pipeline import new_batch, rows_table
from socialcredit.ingest.quarantine import candidates as same_name_candidates
from socialcredit.ingest.records import candidates
from socialcredit.ingest.rules import Rules
from socialcredit.ingest.validate import validate
from socialcredit.store.ledger import insert_events
from socialcredit.store.policies import policy_in_force
from socialcredit.store.tables import ingest_batches, quarantine, review_queue
from socialcredit.store.tables import subjects as subject_table

STATUSES = ("open", "resolved", "rejected")


def _query() -> Any:
    q, r, b = quarantine, review_queue, ingest_batches
    return (
        select(
            r.c.review_id,
            r.c.status,
            r.c.subject_name,
            r.c.candidates,
            r.c.resolved_subject_id,
            r.c.resolved_by,
            r.c.resolved_at,
            r.c.note,
            q.c.quarantine_id,
            q.c.batch_id,
            q.c.source,
            q.c.row_no,
            q.c.value,
            q.c.reason_code,
            q.c.reason,
            q.c.raw,
            b.c.furnisher,
        )
        .join(q, q.c.quarantine_id == r.c.quarantine_id)
        .join(b, b.c.batch_id == q.c.batch_id)
    )


def list_reviews(engine: Engine, status: str | None = "open") -> list[dict[str, Any]]:
    query = _query().order_by(review_queue.c.review_id)
    if status:
        if status not in STATUSES:
            raise ValidationFailed(f"unknown status {status!r}: use {', '.join(STATUSES)}")
        query = query.where(review_queue.c.status == status)
    with engine.connect() as conn:
        rows = [_public(dict(row)) for row in conn.execute(query).mappings()]
        # An open review's candidates as the store knows them now: subjects registered since
        # the row was held (by a later file, say) are candidates too. A closed review keeps
        # those its reviewer saw.
        waiting = [r for r in rows if r["status"] == "open"]
        now = same_name_candidates(conn, [r["subject_name"] for r in waiting])
    for row in waiting:
        row["candidates"] = now.get(row["subject_name"], [])
    return rows


def _public(row: dict[str, Any]) -> dict[str, Any]:
    raw = row.pop("raw") or {}
    row["record_id"] = raw.get("record_id")
    row["category"] = raw.get("category")
    row["subject_id_given"] = row.pop("value")
    return row


def _open_review(conn: Connection, review_id: int) -> dict[str, Any]:
    row = conn.execute(_query().where(review_queue.c.review_id == review_id)).mappings().first()
    if row is None:
        raise NotFound(f"no review {review_id}")
    if row["status"] != "open":
        raise Conflict(
            f"review {review_id} is already {row['status']} "
            f"(by {row['resolved_by']} at {row['resolved_at']})"
        )
    return dict(row)


def resolve(
    engine: Engine, review_id: int, subject_id: str, *, by: str, today: dt.date | None = None
) -> dict[str, Any]:
    """Append the held row as an event about ``subject_id``; refuse if it would not validate."""
    day = today or dt.date.today()
    chosen = ids.require_valid(subject_id)
    rules = Rules.for_furnisher(policy_in_force(engine, day).policy, _furnisher(engine, review_id))
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        held = _open_review(conn, review_id)
        row = {**(held["raw"] or {}), "subject_id": chosen.normalised}
        table = rows_table([row])
        checked = validate(table, rules, day)
        if not checked.ok[0]:
            raise ValidationFailed(
                f"review {review_id}: with subject {chosen.normalised} the row fails "
                f"{checked.reasons.code[0]}: {checked.reasons.message[0]}"
            )
        cand = candidates(checked, np.array([held["row_no"]], dtype=np.int64), rules.furnisher)
        judged = judge(conn, rules.furnisher, cand)
        if judged.duplicate[0]:
            raise Conflict(f"review {review_id}: this event is already in the ledger")
        if not judged.accepted[0]:
            raise ValidationFailed(
                f"review {review_id}: the row fails {judged.code[0]}: {judged.message[0]}"
            )
        batch_id = _review_batch(conn, rules.furnisher, held, now)
        insert_events(conn, cand.take(judged.accepted), batch_id=batch_id, recorded_at=now)
        subjects.register(conn, cand, judged.accepted, now)
        conn.execute(
            update(review_queue)
            .where(review_queue.c.review_id == review_id)
            .values(
                status="resolved",
                resolved_subject_id=chosen.normalised,
                resolved_by=by,
                resolved_at=now,
            )
        )
        registered = conn.execute(
            select(subject_table.c.name).where(subject_table.c.subject_id == chosen.normalised)
        ).scalar_one()
    warnings = []
    if registered != checked.subject_name[0]:
        warnings.append(
            f"the row names {checked.subject_name[0]!r}; subject "
            f"{chosen.normalised} is registered as {registered!r}"
        )
    return {
        "review_id": review_id,
        "status": "resolved",
        "subject_id": chosen.normalised,
        "batch_id": batch_id,
        "record_id": checked.record_id[0],
        "resolved_by": by,
        "warnings": warnings,
    }


def _furnisher(engine: Engine, review_id: int) -> str:
    with engine.connect() as conn:
        return str(_open_review(conn, review_id)["furnisher"])


def _review_batch(conn: Connection, furnisher: str, held: dict[str, Any], now: dt.datetime) -> int:
    source = f"review {held['review_id']}: {held['source']} row {held['row_no']}"
    return new_batch(conn, furnisher, source, now, "done", accepted=1)


def reject(engine: Engine, review_id: int, *, by: str, reason: str) -> dict[str, Any]:
    """Close a review without an event (the row stays in the quarantine)."""
    if not reason.strip():
        raise ValidationFailed("a rejection needs a reason")
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        _open_review(conn, review_id)
        conn.execute(
            update(review_queue)
            .where(review_queue.c.review_id == review_id)
            .values(status="rejected", resolved_by=by, resolved_at=now, note=reason.strip())
        )
    return {"review_id": review_id, "status": "rejected", "resolved_by": by, "reason": reason}
