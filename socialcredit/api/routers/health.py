"""Liveness and Prometheus metrics; no key, no rate limit, not audited."""

from __future__ import annotations

import time

from fastapi import APIRouter, Response

from socialcredit.api.deps import State
from socialcredit.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness, the policy and index served")
async def healthz(state: State) -> Health:
    index = state.index
    return Health(
        status="ok",
        policy_version=state.policy.version if state.policy else None,
        index_run_id=index.run_id if index else None,
        index_age_seconds=round(time.time() - state.index_built_at, 3) if index else None,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(state: State) -> Response:
    return Response(
        state.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
