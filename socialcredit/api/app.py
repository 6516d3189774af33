"""``create_app(settings)``: the FastAPI application, one router per surface, one error map."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from socialcredit import __version__
from socialcredit.api.config import ApiSettings
from socialcredit.api.errors import install_error_handlers
from socialcredit.api.hot import HotRoutes
from socialcredit.api.metrics import Metrics
from socialcredit.api.middleware import ServiceMiddleware
from socialcredit.api.ratelimit import RateLimiter
from socialcredit.api.routers import (
    furnishers,
    health,
    inquirers,
    integrators,
    operators,
    public,
    subjects,
    whoami,
)
from socialcredit.api.state import ServiceState, StoreWatcher
from socialcredit.services.audit import AuditWriter
from socialcredit.settings import Settings
from socialcredit.store.engine import make_engine

DESCRIPTION = """\
The socialcredit service. Every route except the public surface and `/healthz` needs an API key
(`Authorization: Bearer sc_<prefix>_<secret>`, issued with `socialcredit keys create`); each key
has one role: furnisher, inquirer, integrator, subject or operator. Errors always have the body
`{"error": {"code", "message", "details"}}`.
"""


def create_app(settings: Settings, api_settings: ApiSettings | None = None) -> FastAPI:
    """Build the service for the store named in ``settings``; nothing runs until it starts."""
    api = api_settings or ApiSettings()
    engine = make_engine(settings.db)
    state = ServiceState(
        settings=settings,
        api=api,
        engine=engine,
        audit=AuditWriter(engine, flush_seconds=api.audit_flush_seconds),
        limiter=RateLimiter(),
        metrics=Metrics(),
    )
    watcher = StoreWatcher(state)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        watcher.start()
        state.audit.start()
        try:
            yield
        finally:
            try:
                watcher.stop()
                state.audit.stop()  # its last flush may fail (the store gone): still dispose
            finally:
                engine.dispose()

    app = FastAPI(
        title="socialcredit",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        # The service reports through /metrics and the audit log; FastAPI's OpenTelemetry
        # hooks would only look for providers on every request (about 5 us each).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.service = state
    install_error_handlers(app)
    if api.fast_path:
        app.add_middleware(HotRoutes, state=state)  # inside ServiceMiddleware: added first
    app.add_middleware(ServiceMiddleware, state=state)
    for module in (health, public, furnishers, inquirers, integrators, subjects, operators, whoami):
        app.include_router(module.router)
    return app
