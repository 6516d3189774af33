"""The operator surface: API keys, the audit log, and the identity review queue."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette import status

from socialcredit import ids
from socialcredit.api.auth import require_roles, touch
from socialcredit.api.deps import State
from socialcredit.api.schemas import (
    AUTH_ERRORS,
    AuditEntry,
    IssuedKey,
    KeyInfo,
    KeyRequest,
    ReviewRejection,
    ReviewResolution,
    RevokedKey,
    errors,
)
from socialcredit.errors import ValidationFailed
from socialcredit.ingest import review
from socialcredit.services import audit
from socialcredit.services import keys as key_service
from socialcredit.services.keys import ApiKey, Role

operator_only = require_roles(Role.operator)
Operator = Annotated[ApiKey, Depends(operator_only)]

router = APIRouter(
    prefix="/v1",
    tags=["operators"],
    dependencies=[Depends(operator_only)],
    responses=AUTH_ERRORS,
)


@router.get("/keys", response_model=list[KeyInfo], summary="Every API key (never the secret)")
def list_keys(state: State) -> list[dict[str, Any]]:
    return key_service.list_keys(state.engine)


@router.post(
    "/keys",
    response_model=IssuedKey,
    status_code=status.HTTP_201_CREATED,
    summary="Issue a key; the response is the only time it is shown",
)
def create_key(body: KeyRequest, state: State) -> dict[str, Any]:
    policy = state.policy
    issued = key_service.create_key(
        state.engine,
        role=body.role,
        name=body.name,
        furnisher=body.furnisher,
        subject_id=body.subject_id,
        rate_per_minute=body.rate_per_minute,
        known_furnishers=frozenset(f.code for f in policy.furnishers) if policy else None,
        purposes=body.purposes,
    )
    prefix, _ = key_service.split_key(issued) or ("", "")
    return {**key_service.describe_key(state.engine, prefix), "key": issued}


@router.delete(
    "/keys/{prefix}",
    response_model=RevokedKey,
    responses=errors(404),
    summary="Revoke a key (by prefix or key id); it stops working within a second",
)
def revoke_key(prefix: Annotated[str, Path(max_length=64)], state: State) -> dict[str, Any]:
    revoked = key_service.revoke_key(state.engine, prefix)
    state.keys = {p: k for p, k in state.keys.items() if k.key_id != revoked["key_id"]}
    return revoked


@router.get(
    "/audit",
    response_model=list[AuditEntry],
    summary="The audit log, newest first: key, route, subject touched, outcome",
)
def audit_log(
    state: State,
    since: Annotated[dt.datetime | None, Query()] = None,
    key_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    subject_id: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> list[dict[str, Any]]:
    if subject_id and any(not c.isprintable() for c in subject_id):
        # No identifier holds one, and a store may refuse it (PostgreSQL text has no NUL).
        raise ValidationFailed(
            "subject_id: control characters are not part of any identifier",
            details=[{"location": ["query", "subject_id"], "message": "control characters"}],
        )
    state.audit.flush()  # include what is still buffered
    return audit.read_audit(
        state.engine,
        since=since,
        key_id=key_id,
        subject_id=ids.normalise(subject_id) if subject_id else None,  # as the log holds it
        limit=limit,
    )


ReviewId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/review", summary="The identity review queue (rows held for a valid identifier)")
def reviews(
    state: State,
    status_filter: Annotated[
        Literal["open", "resolved", "rejected"] | None, Query(alias="status")
    ] = "open",
) -> list[dict[str, Any]]:
    return review.list_reviews(state.engine, status_filter)


@router.post(
    "/review/{review_id}/resolve",
    responses=errors(404, 409),
    summary="Resolve a held row to a subject: it is validated again and appended",
)
def resolve_review(
    review_id: ReviewId, body: ReviewResolution, key: Operator, state: State, request: Request
) -> dict[str, Any]:
    touch(request, body.subject_id[:32])
    return review.resolve(state.engine, review_id, body.subject_id, by=key.name)


@router.post(
    "/review/{review_id}/reject",
    responses=errors(404, 409),
    summary="Reject a held row (it stays in the quarantine, with the reason)",
)
def reject_review(
    review_id: ReviewId, body: ReviewRejection, key: Operator, state: State
) -> dict[str, Any]:
    return review.reject(state.engine, review_id, by=key.name, reason=body.reason)
