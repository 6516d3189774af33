"""The integrator surface: restriction checks answered from the in-memory decision index.

These routes are the published contract (OpenAPI) and answer what the fast path (``hot.py``)
leaves to FastAPI: requests it cannot be sure of, such as invalid bodies, and every request
when ``ApiSettings.fast_path`` is off. Both call ``checks``, so the answers are the same.
Bodies are assembled as JSON bytes there, hence ``response_model=None`` with the models named
in ``responses`` for the document.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from socialcredit.api import checks
from socialcredit.api.auth import audit_context, require_roles
from socialcredit.api.deps import service_state
from socialcredit.api.schemas import (
    AUTH_ERRORS,
    CheckBatchResponse,
    CheckRequest,
    CheckResult,
    errors,
)
from socialcredit.services.keys import Role

router = APIRouter(
    prefix="/v1/checks",
    tags=["integrators"],
    dependencies=[Depends(require_roles(Role.integrator))],
    responses=AUTH_ERRORS,
)


def _ok(model: type[CheckResult] | type[CheckBatchResponse]) -> dict[int | str, dict[str, object]]:
    return {200: {"model": model, "description": "Successful Response"}, **errors(404)}


@router.post(
    "",
    response_model=None,
    responses=_ok(CheckBatchResponse),
    summary="Check 1 to 1,000 subjects against one measure",
)
async def check_batch(body: CheckRequest, request: Request) -> Response:
    state = service_state(request)
    index = state.require_index()
    checks.require_measure(index, body.measure, in_path=False)
    answer = checks.answer_batch(index, body.measure, body.subjects, dt.date.today())
    audit_context(request).touched(answer.subject_ids)
    state.metrics.checked(body.measure, len(body.subjects))
    return Response(answer.body, media_type="application/json")


@router.get(
    "/{measure}/{subject_id}",
    response_model=None,
    responses=_ok(CheckResult),
    summary="Check one subject against one measure",
)
async def check_one(
    request: Request,
    measure: Annotated[str, Path(max_length=64)],
    subject_id: Annotated[str, Path(max_length=64)],
) -> Response:
    state = service_state(request)
    index = state.require_index()
    checks.require_measure(index, measure, in_path=True)
    answer = checks.answer_one(index, measure, subject_id, dt.date.today())
    audit_context(request).touched(answer.subject_ids)
    state.metrics.checked(measure, 1)
    return Response(answer.body, media_type="application/json")
