"""Run the service with uvicorn: ``serve(settings, host, port, workers)``.

With one worker the app is built here from ``settings``; with several, uvicorn imports
``app_from_environment`` in each worker process, so the settings travel as SOCIALCREDIT_*
environment variables (the same ones ``Settings`` reads). The HTTP parser and event loop are
named (httptools, uvloop: both come with uvicorn[standard]) rather than left to "auto", so a
missing one fails loudly instead of silently serving at a third of the rate with h11.
"""

from __future__ import annotations

import os
from typing import Any

import uvicorn
from fastapi import FastAPI

from socialcredit.api.app import create_app
from socialcredit.errors import ConfigError
from socialcredit.settings import Settings, load_settings
from socialcredit.store.engine import is_initialised, make_engine


def app_from_environment() -> FastAPI:
    """The factory each uvicorn worker calls."""
    return create_app(load_settings())


def _environment(settings: Settings) -> dict[str, str]:
    return {
        f"SOCIALCREDIT_{name.upper()}": str(value)
        for name, value in settings.model_dump().items()
        if value is not None
    }


def check_store(settings: Settings) -> None:
    engine = make_engine(settings.db)
    try:
        if not is_initialised(engine):
            raise ConfigError(
                f"the store {engine.url.render_as_string(hide_password=True)} is "
                "not initialised: run `socialcredit init` first"
            )
    finally:
        engine.dispose()


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    log_level: str = "info",
) -> None:
    """Serve until interrupted (blocks)."""
    check_store(settings)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,
        "http": "httptools",
        "loop": "uvloop",
    }
    if workers <= 1:
        uvicorn.run(create_app(settings), **options)
        return
    os.environ.update(_environment(settings))
    uvicorn.run(
        "socialcredit.api.server:app_from_environment", factory=True, workers=workers, **options
    )
