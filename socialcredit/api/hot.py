"""The fast path: well-formed restriction checks (and the authenticated no-op ``/v1/whoami``)
served without FastAPI's routing, dependency solving and request validation.

On this service a minimal FastAPI route costs about 100 us of Python per request before any
work is done; a restriction check itself costs a few. So the three routes integrators call at
volume are matched here, by hand, *inside* ``ServiceMiddleware`` (body limit, metrics, audit)
and with the same authentication, rate limit, answers and error bodies as their FastAPI routes.

Only requests whose shape is certain are taken: ``GET /v1/checks/{measure}/{subject_id}`` with
both segments 1 to 64 characters, ``POST /v1/checks`` whose JSON body is exactly a
``CheckRequest`` (parsed with orjson), and ``GET /v1/whoami``. Everything else, including a
body that is not valid JSON or not a valid request, goes on to FastAPI (with the body replayed),
which answers it as the published routes do: 404, 405, 422 with the field, and so on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from socialcredit.api import checks
from socialcredit.api.auth import AUDIT, AuditContext, RoleRule, authenticate, bearer_credentials
from socialcredit.api.errors import domain_error_response
from socialcredit.api.schemas import MAX_CHECK_SUBJECTS
from socialcredit.api.state import ServiceState
from socialcredit.errors import SocialCreditError
from socialcredit.services.keys import Role

CHECKS = "/v1/checks"
WHOAMI = "/v1/whoami"
_ONE_PREFIX = CHECKS + "/"
_MAX_SEGMENT = 64  # as Path(max_length=64) on the FastAPI route
_JSON_HEADERS = [(b"content-type", b"application/json")]
INTEGRATOR = RoleRule(Role.integrator)

_Answer = Callable[[AuditContext], Awaitable[bytes]]  # the body of a 200, or raises


@dataclass(frozen=True, slots=True)
class RouteTemplate:
    """What ``ServiceMiddleware`` reads from ``scope["route"]``: the route's path template."""

    path: str


CHECK_ONE = RouteTemplate(CHECKS + "/{measure}/{subject_id}")
CHECK_BATCH = RouteTemplate(CHECKS)
WHOAMI_ROUTE = RouteTemplate(WHOAMI)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def parse_check_request(scope: Scope, body: bytes) -> tuple[str, list[str]] | None:
    """``(measure, subjects)`` when the body is certainly a valid ``CheckRequest``; None for
    anything else (FastAPI then parses and validates it and says what is wrong)."""
    content_type = _header(scope, b"content-type")  # FastAPI reads JSON only when it says so
    if content_type is None or content_type.split(";")[0].strip().lower() != "application/json":
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or data.keys() != {"measure", "subjects"}:
        return None
    measure, subjects = data["measure"], data["subjects"]
    if type(measure) is not str or not 1 <= len(measure) <= 64:
        return None
    if type(subjects) is not list or not 1 <= len(subjects) <= MAX_CHECK_SUBJECTS:
        return None
    try:
        "".join(subjects)  # the quickest proof that every item is a string (orjson: exactly)
    except TypeError:
        return None
    return measure, subjects


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body; None if the client went away."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once more, then whatever the client sends."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class HotRoutes:
    """ASGI middleware: the fast path for the check routes; the rest goes on to ``app``."""

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            method, path = scope["method"], scope["path"]
            if method == "GET" and path.startswith(_ONE_PREFIX):
                segments = path[len(_ONE_PREFIX) :].split("/")
                if len(segments) == 2 and all(0 < len(s) <= _MAX_SEGMENT for s in segments):
                    await self._check_one(scope, receive, send, *segments)
                    return
            elif method == "POST" and path == CHECKS:
                await self._check_batch(scope, receive, send)
                return
            elif method == "GET" and path == WHOAMI:
                await self._serve(scope, receive, send, WHOAMI_ROUTE, self._whoami(scope))
                return
        await self.app(scope, receive, send)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, route: RouteTemplate, answer: _Answer
    ) -> None:
        scope["route"] = route
        ctx = AuditContext()
        scope.setdefault("state", {})[AUDIT] = ctx
        try:
            body = await answer(ctx)
        except SocialCreditError as exc:
            await domain_error_response(exc)(scope, receive, send)
            return
        headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _key(self, scope: Scope, ctx: AuditContext, rule: RoleRule) -> None:
        credentials = bearer_credentials(_header(scope, b"authorization"))
        rule.check(await authenticate(self.state, ctx, credentials))

    def _whoami(self, scope: Scope) -> _Answer:
        async def answer(ctx: AuditContext) -> bytes:
            credentials = bearer_credentials(_header(scope, b"authorization"))
            key = await authenticate(self.state, ctx, credentials)
            return orjson.dumps(key.public())

        return answer

    async def _check_one(
        self, scope: Scope, receive: Receive, send: Send, measure: str, subject_id: str
    ) -> None:
        async def answer(ctx: AuditContext) -> bytes:
            ctx.asked_about(subject_id)
            await self._key(scope, ctx, INTEGRATOR)
            index = self.state.require_index()
            checks.require_measure(index, measure, in_path=True)
            answer = checks.answer_one(index, measure, subject_id, dt.date.today())
            ctx.touched(answer.subject_ids)
            self.state.metrics.checked(measure, 1)
            return answer.body

        await self._serve(scope, receive, send, CHECK_ONE, answer)

    async def _check_batch(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await _read_body(receive)
        except SocialCreditError as exc:  # over the body limit
            await domain_error_response(exc)(scope, receive, send)
            return
        if body is None:
            return
        parsed = parse_check_request(scope, body)
        if parsed is None:
            await self.app(scope, _replay(body, receive), send)
            return
        measure, subjects = parsed

        async def answer(ctx: AuditContext) -> bytes:
            await self._key(scope, ctx, INTEGRATOR)
            index = self.state.require_index()
            checks.require_measure(index, measure, in_path=False)
            answer = checks.answer_batch(index, measure, subjects, dt.date.today())
            ctx.touched(answer.subject_ids)
            self.state.metrics.checked(measure, len(subjects))
            return answer.body

        await self._serve(scope, receive, send, CHECK_BATCH, answer)
