"""URL -> SQLAlchemy engine (SQLite in WAL mode, or PostgreSQL via psycopg 3); Alembic upgrades."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

from socialcredit.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and bare SQLite file paths."""
    if "://" not in url:
        return f"sqlite:///{url}"
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite store's URL; None for another database or an in-memory one."""
    try:
        parsed = make_url(normalise_url(url))
    except Exception:  # not a URL: ``make_engine`` says so
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return None
    if str(parsed.query.get("uri", "")).lower() in ("true", "1") and database.startswith("file:"):
        # SQLite's URI filenames: file:PATH, file:///PATH (options are in the URL's query).
        if parsed.query.get("mode") == "memory":
            return None
        database = database.removeprefix("file:")
        if database.startswith("//"):
            database = database[2:]
    return Path(database)


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    try:
        driver = make_url(url).get_backend_name()
    except Exception as exc:
        raise ConfigError(f"not a database URL: {url!r} ({exc})") from exc
    if driver == "sqlite":
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if driver == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    raise ConfigError(f"unsupported store {driver!r}: use sqlite:///FILE or postgresql://...")


def sqlite_driver(conn: Connection) -> sqlite3.Connection:
    """The ``sqlite3`` connection under a SQLite store's connection, for what SQLAlchemy does
    not say (deserialising an image, transaction control around DDL)."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection), "not a SQLite store"
    return driver


@contextmanager
def transaction(url: str) -> Iterator[Connection]:
    """One transaction on the store at ``url``, through an engine of its own, disposed after
    (for a process that holds no engine, such as the derive worker after DuckDB detaches)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config  # imported when needed: it costs a second at start-up

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(engine), "head")


def is_initialised(engine: Engine) -> bool:
    return inspect(engine).has_table("events")


def stored_time(moment: dt.datetime) -> dt.datetime:
    """A time as the store returns it, in UTC with its zone: stored times are UTC, and SQLite
    returns them without the zone, PostgreSQL in the session's zone."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
