"""Authentication (``Authorization: Bearer sc_<prefix>_<secret>``) and roles, declared per router.

Keys are looked up in the in-memory copy the store watcher keeps (a revoked key disappears from
it within one watch interval); a prefix not yet in memory (a key created a moment ago) is looked
up in the store. A missing or unknown key is 401, a wrong role 403, too many requests 429.
Every request that reaches this dependency is written to the audit log by the middleware.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from socialcredit.api.deps import service_state
from socialcredit.api.errors import Forbidden, Unauthenticated
from socialcredit.services.keys import ApiKey, Role, find_key, matches, split_key

bearer = HTTPBearer(auto_error=False, description="an API key: sc_<prefix>_<secret>")

AUDIT = "audit"  # request.state attribute the middleware reads


@dataclass
class AuditContext:
    """Filled in while the request is handled; written by the middleware when it ends."""

    key_id: int | None = None
    role: str | None = None
    subject_id: str | None = None


def audit_context(request: Request) -> AuditContext:
    ctx = getattr(request.state, AUDIT, None)
    if ctx is None:
        ctx = AuditContext()
        setattr(request.state, AUDIT, ctx)
    assert isinstance(ctx, AuditContext)
    return ctx


def touch(request: Request, subject_id: str | None) -> None:
    """Name the subject this request is about, for the audit log."""
    audit_context(request).subject_id = subject_id


def _lookup(request: Request, prefix: str) -> ApiKey | None:
    state = service_state(request)
    with state.engine.connect() as conn:
        key = find_key(conn, prefix)
    return None if key is None or key.revoked else key


async def authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> ApiKey:
    """The caller's key (401 when missing, malformed, unknown or revoked; 429 over its limit)."""
    ctx = audit_context(request)
    if request.path_params.get("subject_id"):
        ctx.subject_id = str(request.path_params["subject_id"])[:32]
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("an API key is required: send 'Authorization: Bearer <key>'")
    parsed = split_key(credentials.credentials)
    if parsed is None:
        raise Unauthenticated("malformed API key: keys look like sc_<prefix>_<secret>")
    prefix, secret = parsed
    state = service_state(request)
    key = state.keys.get(prefix)
    if key is None:
        key = await run_in_threadpool(_lookup, request, prefix)
    if key is None or not matches(key, secret):
        raise Unauthenticated("unknown or revoked API key")
    ctx.key_id, ctx.role = key.key_id, key.role.value
    state.limiter.take(("key", key.key_id), key.rate_per_minute)
    return key


def require_roles(*roles: Role) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: the caller must hold one of ``roles``. One function does authentication
    and the role check, because each dependency level costs FastAPI time on every request."""
    allowed = frozenset(roles)
    names = ", ".join(r.value for r in roles)

    async def check_role(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiKey:
        key = await authenticate(request, credentials)
        if key.role not in allowed:
            raise Forbidden(
                f"this route is for {names} keys; this key has the role {key.role.value}",
                details={"required": sorted(r.value for r in roles), "role": key.role.value},
            )
        return key

    return check_role
