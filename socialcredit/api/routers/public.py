"""The public surface: published lists and their entries, and the policy in force. No key;
rate-limited per client address; read-only."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from socialcredit.api.deps import State, public_rate_limit
from socialcredit.api.schemas import PUBLIC_ERRORS, OptionalSafeName, errors
from socialcredit.policy.schema import Policy
from socialcredit.services import publication

router = APIRouter(
    prefix="/v1",
    tags=["public"],
    dependencies=[Depends(public_rate_limit)],
    responses=PUBLIC_ERRORS,
)

ListCode = Annotated[str, Path(max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]


@router.get(
    "/policy",
    response_model=Policy,
    responses=errors(404),
    summary="The published policy in force: catalogue, lists, measures, rating algorithm",
)
def policy(state: State) -> dict[str, Any]:
    return state.require_policy().model_dump(mode="json")


@router.get("/lists", responses=errors(404), summary="Published red, black and watch lists")
def lists(state: State) -> list[dict[str, Any]]:
    return publication.list_summaries(state.engine, state.require_policy())


@router.get(
    "/lists/{code}/entries",
    responses=errors(404),
    summary="Entries in force on a published list (persons: name and masked ID)",
)
def list_entries(
    state: State,
    code: ListCode,
    q: Annotated[OptionalSafeName, Query(max_length=100, description="name, or a full ID")] = None,
    changed_since: Annotated[dt.date | None, Query(description="listed on or after")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> dict[str, Any]:
    return publication.published_entries(
        state.engine, state.require_policy(), code, q=q, changed_since=changed_since, page=page
    )
