"""The subject surface: my own report, every inquiry about me, my consents."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from socialcredit.api.auth import require_roles, touch
from socialcredit.api.deps import State
from socialcredit.api.schemas import (
    AUTH_ERRORS,
    ConsentChange,
    ConsentRecord,
    InquiryRecord,
    errors,
)
from socialcredit.services import inquiries
from socialcredit.services.keys import ApiKey, Role
from socialcredit.services.own_report import own_report

router = APIRouter(prefix="/v1/me", tags=["subjects"], responses=AUTH_ERRORS)

Me = Annotated[ApiKey, Depends(require_roles(Role.subject))]


def _subject(request: Request, key: ApiKey) -> str:
    assert key.subject_id is not None  # subject keys are always bound (keys.create_key)
    touch(request, key.subject_id)
    return key.subject_id


@router.get(
    "/inquiries",
    response_model=list[InquiryRecord],
    summary="Every inquiry about me: who, for which purpose, when, what was shown",
)
def my_inquiries(request: Request, key: Me, state: State) -> list[dict[str, Any]]:
    return inquiries.inquiries_about(state.engine, _subject(request, key))


@router.get("/consents", response_model=list[ConsentRecord], summary="My consents")
def my_consents(request: Request, key: Me, state: State) -> list[dict[str, Any]]:
    return inquiries.list_consents(state.engine, _subject(request, key))


@router.post(
    "/consents",
    response_model=ConsentRecord,
    responses=errors(404),
    summary="Grant or withdraw consent to an employment check by a named inquirer",
)
def change_consent(request: Request, body: ConsentChange, key: Me, state: State) -> dict[str, Any]:
    subject_id = _subject(request, key)
    purpose = inquiries.Purpose(body.purpose)
    if body.action == "grant":
        return inquiries.grant_consent(
            state.engine, subject_id=subject_id, inquirer=body.inquirer, purpose=purpose
        )
    return inquiries.withdraw_consent(
        state.engine, subject_id=subject_id, inquirer=body.inquirer, purpose=purpose
    )


@router.get(
    "/report",
    responses=errors(404),
    summary="Everything about me: records, sources, ratings with reasons and "
    "how they are computed, lists, measures, restoration dates",
)
def my_report(request: Request, key: Me, state: State) -> dict[str, Any]:
    return own_report(state.settings, state.engine, state.require_policy(), _subject(request, key))
