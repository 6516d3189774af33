"""Request and response bodies, as published in the OpenAPI document."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from socialcredit.services.inquiries import Purpose
from socialcredit.services.keys import Role
from socialcredit.store.engine import stored_time

MAX_BATCH_RECORDS = 10_000
MAX_CHECK_SUBJECTS = 1_000
_TEXT = 4_096  # no furnisher field is longer than this


_NAME_FORBIDDEN = frozenset('<>;"`\\{}|')
# The same rule for the OpenAPI document (so generated clients and fuzzers know it).
NAME_PATTERN = r'^[^<>;"`\\{}|\u0000-\u001f\u007f]*$'


def _safe_name(value: str | None) -> str | None:
    """Names are letters of any script, digits, spaces and ordinary punctuation. Markup and SQL
    punctuation are refused at the door: no real name needs them, and stored, they would only
    wait for a careless reader."""
    if value is None:
        return None
    bad = sorted({c for c in value if c in _NAME_FORBIDDEN or ord(c) < 32 or ord(c) == 127})
    if bad:
        raise ValueError(f"a name may not contain {', '.join(repr(c) for c in bad)}")
    return value


_NAME_SCHEMA = Field(json_schema_extra={"pattern": NAME_PATTERN})
SafeName = Annotated[str, AfterValidator(_safe_name), _NAME_SCHEMA]
OptionalSafeName = Annotated[str | None, AfterValidator(_safe_name), _NAME_SCHEMA]


Timestamp = Annotated[dt.datetime, AfterValidator(stored_time)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors -----------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable error code")
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries with the uniform error body."""
    text = {
        400: "bad request",
        401: "missing, malformed, unknown or revoked API key",
        403: "the key's role or binding does not allow this",
        404: "not found",
        409: "conflict",
        413: "request body too large",
        422: "invalid input",
        429: "rate limit reached",
    }
    return {s: {"model": ErrorResponse, "description": text.get(s, "error")} for s in statuses}


AUTH_ERRORS = errors(401, 403, 413, 422, 429)
PUBLIC_ERRORS = errors(413, 422, 429)


# --- health -----------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]
    policy_version: str | None
    index_run_id: int | None
    index_age_seconds: float | None


# --- restriction checks -----------------------------------------------------------------------


class CheckRequest(Body):
    measure: str = Field(min_length=1, max_length=64, examples=["flight"])
    subjects: list[str] = Field(
        min_length=1, max_length=MAX_CHECK_SUBJECTS, examples=[["11010519491231002X"]]
    )


class CheckEntry(BaseModel):
    list_code: str
    effect: Literal["restricted", "granted"] | str
    memorandum: str
    basis: str
    start_on: dt.date
    end_on: dt.date | None = Field(description="first day it no longer applies; null: no term")
    source_subject_id: str | None = Field(
        description="the listed organisation when the measure extends to its legal representative"
    )
    policy_version: str
    as_of: dt.date


class CheckResult(BaseModel):
    subject_id: str
    known: bool = Field(description="false: the store has never registered this subject")
    restricted: bool
    granted: bool
    end_on: dt.date | None = Field(description="when the last entry behind the result ends")
    policy_version: str | None
    entries: list[CheckEntry]


class CheckBatchResponse(BaseModel):
    measure: str
    on: dt.date
    policy_version: str | None
    index_run_id: int | None
    results: list[CheckResult]


# --- furnishers -------------------------------------------------------------------------------


class FurnishedRecord(Body):
    """One row in the furnisher format; validated exactly as a file row is."""

    record_id: str | None = Field(default=None, max_length=_TEXT)
    subject_id: str | None = Field(default=None, max_length=_TEXT)
    subject_name: OptionalSafeName = Field(default=None, max_length=_TEXT)
    category: str | None = Field(default=None, max_length=_TEXT)
    decided_on: str | None = Field(default=None, max_length=_TEXT, examples=["2026-03-01"])
    document_no: str | None = Field(default=None, max_length=_TEXT)
    amount: str | int | float | None = Field(default=None, description="yuan, up to 2 decimals")
    action: str | None = Field(
        default=None, max_length=_TEXT, description="file (default), amend, revoke or fulfil"
    )
    note: str | None = Field(default=None, max_length=_TEXT)
    ground: str | None = Field(default=None, max_length=_TEXT)
    extension_months: str | int | None = None
    legal_rep_id: str | None = Field(default=None, max_length=_TEXT)


class RecordBatch(Body):
    records: list[FurnishedRecord] = Field(min_length=1, max_length=MAX_BATCH_RECORDS)


class RowOutcome(BaseModel):
    row: int = Field(description="1-based position in the submitted batch")
    record_id: str | None
    reason_code: str | None = None
    field: str | None = None
    reason: str | None = None
    review_id: int | None = None


class BatchResult(BaseModel):
    batch_id: int
    furnisher: str
    status: str
    read: int
    accepted: list[RowOutcome]
    duplicates: list[RowOutcome]
    rejected: list[RowOutcome]


class BatchStatus(BaseModel):
    batch_id: int
    furnisher: str
    source: str
    status: str
    received_at: Timestamp
    finished_at: Timestamp | None
    read: int
    accepted: int
    quarantined: int
    duplicates: int
    review: int
    rejected: list[RowOutcome]


# --- inquirers and subjects -------------------------------------------------------------------


class InquiryRecord(BaseModel):
    inquiry_id: int
    inquirer: str
    purpose: str
    shown: dict[str, Any]
    at: Timestamp


class InquiryReport(BaseModel):
    """What an inquirer is shown; ``records`` only for purposes that need record detail."""

    inquiry_id: int
    purpose: Purpose
    subject: dict[str, Any]
    ratings: list[dict[str, Any]]
    list_entries: list[dict[str, Any]]
    records: list[dict[str, Any]] | None = None
    source: dict[str, Any]


class ConsentChange(Body):
    inquirer: SafeName = Field(
        min_length=1,
        max_length=200,
        description="the inquirer's name, as it appears in your inquiries",
    )
    action: Literal["grant", "withdraw"]
    purpose: Literal["employment"] = "employment"  # plain text: an enum reads badly in errors


class ConsentRecord(BaseModel):
    consent_id: int
    inquirer: str
    purpose: str
    granted_at: Timestamp
    withdrawn_at: Timestamp | None


# --- operators --------------------------------------------------------------------------------


class KeyRequest(Body):
    role: Role
    name: SafeName = Field(min_length=1, max_length=200)
    furnisher: str | None = Field(default=None, max_length=32)
    subject_id: str | None = Field(default=None, max_length=32)
    rate_per_minute: int | None = Field(default=None, ge=1, le=100_000_000)
    purposes: list[Purpose] | None = Field(
        default=None,
        max_length=len(Purpose),
        description="inquirer keys: the purposes it may state (default: all but court_enforcement)",
    )


class KeyInfo(BaseModel):
    key_id: int
    name: str
    role: str
    prefix: str
    furnisher: str | None
    subject_id: str | None
    rate_per_minute: int
    purposes: list[str] | None = None
    revoked: bool
    created_at: Timestamp | None = None
    revoked_at: Timestamp | None = None


class RevokedKey(KeyInfo):
    already_revoked: bool = Field(description="the key had been revoked before this request")


class IssuedKey(KeyInfo):
    key: str = Field(description="shown once; only its hash is stored")


class AuditEntry(BaseModel):
    audit_id: int
    at: Timestamp
    key_id: int | None
    role: str | None
    method: str
    route: str
    subject_id: str | None
    status: int
    outcome: str


class ReviewResolution(Body):
    subject_id: str = Field(min_length=1, max_length=32)


class ReviewRejection(Body):
    reason: str = Field(min_length=1, max_length=1_000, description="why the row is rejected")
