"""Authentication (``Authorization: Bearer sc_<prefix>_<secret>``) and roles.

Keys are looked up in the in-memory copy the store watcher keeps (a revoked key disappears from
it within one watch interval); a prefix not yet in memory (a key created a moment ago) is looked
up in the store. A missing or unknown key is 401, a wrong role 403, too many requests 429.
Every request that reaches authentication is written to the audit log by the middleware.

Plain functions do the work, so that the fast path (``hot.py``) and the FastAPI dependency
(``require_roles``, one level, for the other routes) share them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from socialcredit import ids
from socialcredit.api.deps import service_state
from socialcredit.api.errors import Forbidden, Unauthenticated
from socialcredit.api.state import ServiceState
from socialcredit.services.keys import ApiKey, Role, find_key, matches, split_key

bearer = HTTPBearer(auto_error=False, description="an API key: sc_<prefix>_<secret>")

AUDIT = "audit"  # request.state attribute the middleware reads


def auditable(raw: str) -> str:
    """An identifier as the audit log keeps it: normalised (so that any spelling finds it),
    without control characters (no identifier has one, and a store may refuse them: a NUL in
    PostgreSQL text, and with it every audit row of the flush), at most 32 characters."""
    return "".join(c for c in ids.normalise(raw) if c.isprintable())[:32]


@dataclass
class AuditContext:
    """Filled in while the request is handled; written by the middleware when it ends."""

    key_id: int | None = None
    role: str | None = None
    subject_id: str | None = None
    # A request about several subjects (a batch check): one audit row for each.
    subject_ids: list[str] | None = None

    def asked_about(self, raw: str) -> None:
        """Name the subject a request asks about before it is answered (or refused)."""
        self.subject_id = auditable(raw)

    def touched(self, subject_ids: list[str]) -> None:
        """Name the subjects a request was about, normalised, once it has found them."""
        self.subject_id = subject_ids[0] if len(subject_ids) == 1 else None
        self.subject_ids = subject_ids if len(subject_ids) > 1 else None


def audit_context(request: Request) -> AuditContext:
    ctx = getattr(request.state, AUDIT, None)
    if ctx is None:
        ctx = AuditContext()
        setattr(request.state, AUDIT, ctx)
    assert isinstance(ctx, AuditContext)
    return ctx


def touch(request: Request, subject_id: str | None) -> None:
    """Name the subject this request is about, for the audit log."""
    audit_context(request).subject_id = None if subject_id is None else auditable(subject_id)


def bearer_credentials(authorization: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header value, read as FastAPI's
    ``HTTPBearer`` reads it; None when there is none."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    if not scheme or not credentials or scheme.lower() != "bearer":
        return None
    return credentials


def _lookup(state: ServiceState, prefix: str) -> ApiKey | None:
    with state.engine.connect() as conn:
        key = find_key(conn, prefix)
    return None if key is None or key.revoked else key


async def authenticate(state: ServiceState, ctx: AuditContext, credentials: str | None) -> ApiKey:
    """The caller's key (401 when missing, malformed, unknown or revoked; 429 over its limit).

    A key string seen before against the same in-memory key set is not parsed or hashed again
    (``VerifiedKeys``): the set is replaced whenever a key is created or revoked."""
    if credentials is None:
        raise Unauthenticated("an API key is required: send 'Authorization: Bearer <key>'")
    keys = state.keys
    key = state.verified.get(keys, credentials)
    if key is None:
        parsed = split_key(credentials)
        if parsed is None:
            raise Unauthenticated("malformed API key: keys look like sc_<prefix>_<secret>")
        prefix, secret = parsed
        key = keys.get(prefix)
        in_memory = key is not None
        if key is None:
            key = await run_in_threadpool(_lookup, state, prefix)
        if key is None or not matches(key, secret):
            raise Unauthenticated("unknown or revoked API key")
        if in_memory:
            state.verified.add(keys, credentials, key)
    ctx.key_id, ctx.role = key.key_id, key.role.value
    state.limiter.take(("key", key.key_id), key.rate_per_minute)
    return key


class RoleRule:
    """The roles a route is for; ``check`` raises 403 for a key of another role."""

    def __init__(self, *roles: Role) -> None:
        self.allowed = frozenset(roles)
        self.names = ", ".join(r.value for r in roles)
        self.required = sorted(r.value for r in roles)

    def check(self, key: ApiKey) -> None:
        if key.role not in self.allowed:
            raise Forbidden(
                f"this route is for {self.names} keys; this key has the role {key.role.value}",
                details={"required": self.required, "role": key.role.value},
            )


def require_roles(*roles: Role) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: the caller must hold one of ``roles``. One function does authentication
    and the role check, because each dependency level costs FastAPI time on every request;
    ``bearer`` is declared so that the OpenAPI document names the scheme."""
    rule = RoleRule(*roles)

    async def check_role(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiKey:
        ctx = audit_context(request)
        if request.path_params.get("subject_id"):
            ctx.asked_about(str(request.path_params["subject_id"]))
        presented = credentials.credentials if credentials is not None else None
        key = await authenticate(service_state(request), ctx, presented)
        rule.check(key)
        return key

    check_role.rule = rule  # type: ignore[attr-defined]  # read by ``authenticate_route``
    return check_role


async def authenticate_route(request: Request) -> None:
    """Authenticate the caller against the roles of the route it asked for, as the route's own
    dependency would (raising 401 or 403). FastAPI reads a JSON body before it solves the
    dependencies, so a malformed body would otherwise answer 422 to a caller with no key."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    for dependency in getattr(dependant, "dependencies", ()):
        rule = getattr(dependency.call, "rule", None)
        if isinstance(rule, RoleRule):
            ctx = audit_context(request)
            presented = bearer_credentials(request.headers.get("authorization"))
            rule.check(await authenticate(service_state(request), ctx, presented))
            return
