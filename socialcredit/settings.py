"""One Settings object from SOCIALCREDIT_* environment variables: passed down, never mutated."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from socialcredit.errors import ConfigError

DEFAULT_DB_URL = "sqlite:///socialcredit.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOCIALCREDIT_", frozen=True, extra="ignore")

    db: str = Field(default=DEFAULT_DB_URL, description="SQLAlchemy URL of the store")
    policy: Path | None = Field(
        default=None, description="policy TOML; None means the shipped default"
    )
    ingest_chunk_rows: int = Field(default=50_000, ge=1, description="rows validated per batch")
    duckdb_threads: int | None = Field(
        default=None, ge=1, description="DuckDB threads; None = all cores"
    )
    duckdb_memory_limit: str | None = Field(default=None, description="e.g. '8GB'")
    ledger_mirror: bool = Field(
        default=True,
        description="full derives on a SQLite store keep a columnar copy of the ledger beside it "
        "(FILE.ledger.duckdb) and read only new events from the store",
    )

    derive_delta_max_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="a full derive writes only the changed rows when they are at most this share "
        "of the derived rows (0: always rewrite the whole tables)",
    )
    derive_lock_wait_seconds: float = Field(
        default=600.0,
        ge=0,
        description="how long a derive waits for another one on the same store before giving up",
    )

    def with_db(self, db: str | None) -> Settings:
        """A copy with another store URL (the CLI's --db); the original is left as it was."""
        return self if not db else self.model_copy(update={"db": db})


def load_settings() -> Settings:
    """Settings from the environment; a value out of range is a ``ConfigError`` naming the
    variable, not a validation traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"SOCIALCREDIT_{str(error['loc'][0]).upper()}={error.get('input')!r}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"invalid setting: {problems}") from None
