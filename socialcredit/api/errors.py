"""One error map: every failure becomes ``{"error": {"code", "message", "details"}}``.

The domain's errors (``socialcredit.errors``) carry their HTTP status and code; the service adds
the few that only HTTP has (401, 403, 413, 429), as members of the same tree.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from socialcredit.errors import SocialCreditError

log = logging.getLogger(__name__)


class Unauthenticated(SocialCreditError):
    status: ClassVar[int] = 401
    code: ClassVar[str] = "unauthenticated"


class Forbidden(SocialCreditError):
    status: ClassVar[int] = 403
    code: ClassVar[str] = "forbidden"


class PayloadTooLarge(SocialCreditError):
    status: ClassVar[int] = 413
    code: ClassVar[str] = "payload_too_large"


class RateLimited(SocialCreditError):
    status: ClassVar[int] = 429
    code: ClassVar[str] = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, details={"retry_after_seconds": round(retry_after, 3)})
        self.retry_after = retry_after


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(exc: SocialCreditError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers
    )


def _explain(err: dict[str, Any]) -> dict[str, Any]:
    kind = err.get("type", "")
    location = [str(p) for p in err.get("loc", ())]
    message = str(err.get("msg", "")).removeprefix("Value error, ")
    if kind == "json_invalid":  # pydantic puts the character position where a field would be
        position = location[1] if len(location) > 1 else "?"
        reason = (err.get("ctx") or {}).get("error", "")
        location = ["body"]
        message = f"the body is not valid JSON (at character {position}: {reason})"
    return {"location": location, "message": message, "type": kind}


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where and why, without echoing the input back (it may be large or hostile)."""
    return [_explain(err) for err in exc.errors()[:50]]


def domain_error_response(exc: SocialCreditError) -> JSONResponse:
    """The response to a domain error raised while handling a request (logged if ours)."""
    if exc.status >= 500:
        log.error("request failed: %s (%s)", exc.message, exc.code)
    return error_response(exc)


async def _on_domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SocialCreditError)
    return domain_error_response(exc)


async def _refused_caller(request: Request) -> JSONResponse | None:
    """FastAPI reads a body before it solves the route's dependencies: when it cannot, the
    caller is authenticated first, so that no key (or another role's) is 401 (403), not a
    complaint about the body. The refusal, or None when the caller may use the route."""
    from socialcredit.api.auth import authenticate_route  # auth imports this module

    try:
        await authenticate_route(request)
    except SocialCreditError as refused:
        return domain_error_response(refused)
    return None


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    unparsed = any(err.get("type") == "json_invalid" for err in exc.errors())
    if unparsed and (refused := await _refused_caller(request)):
        return refused
    details = _validation_details(exc)
    first = details[0] if details else {"location": [], "message": "invalid request"}
    where = (
        ".".join(p for p in first["location"][1:]) or first["location"][0]
        if first["location"]
        else "request"
    )
    message = f"{where}: {first['message']}"
    if len(details) > 1:
        message += f" (and {len(details) - 1} more)"
    return JSONResponse(error_body("validation_failed", message, details), status_code=422)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # 400: a body FastAPI could not read (not UTF-8, say)
    if exc.status_code == 400 and (refused := await _refused_caller(request)):
        return refused
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse(
        error_body("internal", "internal error; it has been logged"), status_code=500
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SocialCreditError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
