"""One pure-ASGI middleware around every request: body size limit, metrics and the audit trail.

It reads the route template (not the raw path, so metrics stay bounded and the audit names the
route) and the audit context that the authentication dependency filled in.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from socialcredit.api.auth import AUDIT, AuditContext
from socialcredit.api.errors import PayloadTooLarge, error_body
from socialcredit.api.state import ServiceState
from socialcredit.services.audit import AuditRecord, outcome_of


class ServiceMiddleware:
    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        limit = self.state.api.max_body_bytes
        status = 500
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _reject_too_large(send, limit)
            self._finish(scope, 413, started)
            return

        received = 0
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise PayloadTooLarge(f"request body is larger than {limit} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if exceeded:
                # A body without a declared length went over the limit while the app read it:
                # whatever the app makes of that (FastAPI: 400, "error parsing the body"), the
                # answer is 413.
                if message["type"] == "http.response.start":
                    status = 413
                    await _reject_too_large(send, limit)
                return
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        finally:
            self._finish(scope, status, started)

    def _finish(self, scope: Scope, status: int, started: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope.get("method", "")
        self.state.metrics.observe(method, route, status, time.perf_counter() - started)
        ctx = scope.get("state", {}).get(AUDIT)
        if isinstance(ctx, AuditContext):
            at, outcome = dt.datetime.now(dt.UTC), outcome_of(status)
            touched: list[str | None] = [*ctx.subject_ids] if ctx.subject_ids else [ctx.subject_id]
            for subject_id in touched:
                self.state.audit.record(
                    AuditRecord(
                        at=at,
                        key_id=ctx.key_id,
                        role=ctx.role,
                        method=method,
                        route=route,
                        subject_id=subject_id,
                        status=status,
                        outcome=outcome,
                    )
                )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reject_too_large(send: Send, limit: int) -> None:
    body: dict[str, Any] = error_body(
        "payload_too_large", f"request body is larger than {limit} bytes"
    )
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
