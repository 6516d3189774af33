"""The furnisher surface: submit records (validated exactly as file rows are), batch status.

A furnisher key is bound to one furnisher code: it submits only as that furnisher, so the
policy's category authorisations apply, and it can amend, revoke or fulfil only its own records
(another furnisher's record ID is unknown to it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from sqlalchemy import select

from socialcredit.api.auth import require_roles
from socialcredit.api.deps import State
from socialcredit.api.schemas import AUTH_ERRORS, BatchResult, BatchStatus, RecordBatch, errors
from socialcredit.errors import NotFound
from socialcredit.services import submissions
from socialcredit.services.keys import ApiKey, Role
from socialcredit.store.tables import ingest_batches, quarantine

router = APIRouter(prefix="/v1", tags=["furnishers"], responses=AUTH_ERRORS)

Furnisher = Annotated[ApiKey, Depends(require_roles(Role.furnisher))]


@router.get(
    "/batches/{batch_id}",
    response_model=BatchStatus,
    responses=errors(404),
    summary="Status and rejected rows of one of my batches",
)
def batch_status(
    batch_id: Annotated[int, Path(ge=1, le=2**62)], key: Furnisher, state: State
) -> dict[str, Any]:
    with state.engine.connect() as conn:
        batch = (
            conn.execute(
                select(ingest_batches).where(
                    ingest_batches.c.batch_id == batch_id,
                    ingest_batches.c.furnisher == key.furnisher,
                )
            )
            .mappings()
            .first()
        )
        if batch is None:  # another furnisher's batch is as unknown as a missing one
            raise NotFound(f"no batch {batch_id} of furnisher {key.furnisher!r}")
        rejected = conn.execute(
            select(
                quarantine.c.row_no,
                quarantine.c.field,
                quarantine.c.reason_code,
                quarantine.c.reason,
                quarantine.c.raw,
            )
            .where(quarantine.c.batch_id == batch_id)
            .order_by(quarantine.c.row_no)
            .limit(10_000)
        ).all()
    return {
        **dict(batch),
        "rejected": [
            {
                "row": r.row_no,
                "record_id": (r.raw or {}).get("record_id"),
                "field": r.field,
                "reason_code": r.reason_code,
                "reason": r.reason,
            }
            for r in rejected
        ],
    }


@router.post(
    "/records",
    response_model=BatchResult,
    responses=errors(404),
    summary="Submit up to 10,000 records; each row accepted, duplicate or rejected with reasons",
)
def submit_records(body: RecordBatch, key: Furnisher, state: State) -> dict[str, Any]:
    assert key.furnisher is not None  # furnisher keys are always bound (keys.create_key)
    rows = [record.model_dump(exclude_none=True) for record in body.records]
    return submissions.submit(state.engine, rows, furnisher=key.furnisher)
