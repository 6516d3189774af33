"""The inquirer surface: a subject's report for a stated, permissible purpose."""

from __future__ import annotations

from fastapi import APIRouter

from socialcredit.api.schemas import AUTH_ERRORS

router = APIRouter(prefix="/v1/subjects", tags=["inquirers"], responses=AUTH_ERRORS)
