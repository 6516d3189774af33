"""Dependencies shared by the routers: the service state and the caller's address."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from socialcredit.api.state import ServiceState


async def get_state(request: Request) -> ServiceState:
    """Async on purpose: FastAPI runs a plain ``def`` dependency in a thread, per request."""
    return service_state(request)


def service_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


State = Annotated[ServiceState, Depends(get_state)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def public_rate_limit(request: Request) -> None:
    """The public surface is limited per client address."""
    state = service_state(request)
    state.limiter.take(("addr", client_address(request)), state.api.public_rate_per_minute)
