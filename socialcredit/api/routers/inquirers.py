"""The inquirer surface: a subject's report for a stated, permissible purpose.

The inquiry (who, purpose, when, what was shown) is committed before the report is sent; the
subject sees it in ``GET /v1/me/inquiries``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from socialcredit import ids
from socialcredit.api.auth import require_roles, touch
from socialcredit.api.deps import State
from socialcredit.api.schemas import AUTH_ERRORS, InquiryReport, errors
from socialcredit.services import inquiries
from socialcredit.services.inquiries import Purpose
from socialcredit.services.keys import ApiKey, Role
from socialcredit.services.report import stored_report

router = APIRouter(prefix="/v1/subjects", tags=["inquirers"], responses=AUTH_ERRORS)

Inquirer = Annotated[ApiKey, Depends(require_roles(Role.inquirer))]


@router.get(
    "/{subject_id}/report",
    response_model=InquiryReport,
    responses=errors(404),
    summary="A subject's report for a stated purpose (recorded, and visible to the subject)",
)
def report(
    request: Request,
    subject_id: Annotated[str, Path(max_length=64)],
    purpose: Annotated[Purpose, Query(description="why you ask; decides what is shown")],
    key: Inquirer,
    state: State,
) -> dict[str, Any]:
    normalised = ids.require_valid(subject_id).normalised or subject_id
    touch(request, normalised)
    policy = state.require_policy()
    inquiries.require_permission(
        state.engine,
        subject_id=normalised,
        inquirer=key.name,
        purpose=purpose,
        allowed=key.purposes,
    )
    full = stored_report(state.settings, state.engine, normalised)
    shown, summary = inquiries.disclose(full, purpose, policy, dt.date.today())
    inquiry_id = inquiries.record_inquiry(
        state.engine,
        subject_id=normalised,
        key_id=key.key_id,
        inquirer=key.name,
        purpose=purpose,
        shown=summary,
    )
    return {"inquiry_id": inquiry_id, "purpose": purpose.value, **shown}
