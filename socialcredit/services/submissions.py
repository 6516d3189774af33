"""Records furnished over the API: one batch through ingestion (``ingest.pipeline.ingest_rows``),
exactly as a file's rows are validated, and an answer that names every row's outcome.

Rows are numbered from 1 in the order sent. A row is *rejected* when ingestion quarantined it
(with its reason code, field and message, and the review it opened for an identity problem),
*accepted* when its event was appended by this batch, and a *duplicate* otherwise (the same
record, with the same content, was furnished before: submitting again is harmless).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, select

from socialcredit.ingest.pipeline import ingest_rows
from socialcredit.ingest.rules import ACTION_ALIASES
from socialcredit.store.tables import events, quarantine, review_queue


def _action(raw: Any) -> str:
    word = unicodedata.normalize("NFKC", str(raw or "")).strip().lower()
    return ACTION_ALIASES.get(word, word) or "file"


def _record_id(raw: Any) -> str:
    return str(raw or "").strip()


def submit(engine: Engine, rows: Sequence[Mapping[str, Any]], *, furnisher: str) -> dict[str, Any]:
    """Ingest ``rows`` as one batch of ``furnisher``; per-row outcomes in the answer."""
    summary = ingest_rows(engine, rows, furnisher=furnisher, source="api")
    batch_id = summary.batch_id
    with engine.connect() as conn:
        rejected = conn.execute(
            select(
                quarantine.c.row_no,
                quarantine.c.field,
                quarantine.c.reason_code,
                quarantine.c.reason,
                review_queue.c.review_id,
            )
            .outerjoin(review_queue, review_queue.c.quarantine_id == quarantine.c.quarantine_id)
            .where(quarantine.c.batch_id == batch_id)
            .order_by(quarantine.c.row_no)
        ).all()
        appended = Counter(
            (row.record_id, row.action)
            for row in conn.execute(
                select(events.c.record_id, events.c.action).where(events.c.batch_id == batch_id)
            )
        )
    refused = {r.row_no: r for r in rejected}
    accepted: list[dict[str, Any]] = []
    duplicates: list[dict[str, Any]] = []
    for number, row in enumerate(rows, start=1):
        if number in refused:
            continue
        record_id = _record_id(row.get("record_id"))
        key = (record_id, _action(row.get("action")))
        outcome = {"row": number, "record_id": record_id}
        if appended[key] > 0:
            appended[key] -= 1
            accepted.append(outcome)
        else:
            duplicates.append(outcome)
    return {
        "batch_id": batch_id,
        "furnisher": furnisher,
        "status": "done",
        "read": summary.totals.read,
        "accepted": accepted,
        "duplicates": duplicates,
        "rejected": [
            {
                "row": r.row_no,
                "record_id": _record_id(rows[r.row_no - 1].get("record_id"))
                if 0 < r.row_no <= len(rows)
                else None,
                "field": r.field,
                "reason_code": r.reason_code,
                "reason": r.reason,
                "review_id": r.review_id,
            }
            for r in rejected
        ],
    }
