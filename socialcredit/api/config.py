"""Settings of the HTTP service (env ``SOCIALCREDIT_API_*``), passed to ``create_app``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOCIALCREDIT_API_", frozen=True, extra="ignore")

    public_rate_per_minute: int = Field(
        default=600, ge=1, description="requests per minute per client address on /v1/lists etc."
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="larger request bodies get 413"
    )
    watch_seconds: float = Field(
        default=0.5, gt=0, description="how often the store is polled for derivations and keys"
    )
    audit_flush_seconds: float = Field(
        default=0.5, gt=0, description="how often buffered audit records are written"
    )
    fast_path: bool = Field(
        default=True,
        description="serve well-formed restriction checks without FastAPI's routing and "
        "dependency machinery (the same answers; off: every request through FastAPI)",
    )
