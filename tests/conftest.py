"""Test strategy: every store-facing test runs twice, on SQLite (a temp file) and on PostgreSQL
(a fresh database per test on 127.0.0.1:5432). Without a reachable PostgreSQL the PostgreSQL half
is skipped with a reason, unless SOCIALCREDIT_REQUIRE_POSTGRES=1 (set by .ci/run), where it fails.
Commands are exercised through the real CLI (Typer's CliRunner on the real app)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

PG_ADMIN_URL = os.environ.get(
    "SOCIALCREDIT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _postgres_reachable() -> str | None:
    """None when reachable, else the reason."""
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}: {exc}"


@pytest.fixture(scope="session")
def postgres_unavailable() -> str | None:
    return _postgres_reachable()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_unavailable: str | None
) -> Iterator[str]:
    """A store URL for an empty, uninitialised database, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    if postgres_unavailable:
        if os.environ.get("SOCIALCREDIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(postgres_unavailable)
        pytest.skip(postgres_unavailable)
    name = f"sc_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))  # name is generated above, not input
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture
def run(cli: CliRunner):  # type: ignore[no-untyped-def]
    """Invoke the real CLI in-process: run("ingest", "file.csv", "--db", url)."""
    from socialcredit.cli import app

    def invoke(*args: str, ok: bool = True):  # type: ignore[no-untyped-def]
        result = cli.invoke(app, list(args))
        if ok and result.exit_code != 0:
            raise AssertionError(
                f"socialcredit {' '.join(args)} exited {result.exit_code}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}\n{result.exception!r}"
            )
        return result

    return invoke


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under SOCIALCREDIT_REQUIRE_POSTGRES=1 a run in which no PostgreSQL test passed fails."""
    if os.environ.get("SOCIALCREDIT_REQUIRE_POSTGRES") != "1" or exitstatus != 0:
        return
    if getattr(session.config, "workerinput", None) is not None:
        return  # xdist workers report to the controller
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = reporter.stats.get("passed", []) if reporter else []
    if not any("[postgres" in getattr(r, "nodeid", "") for r in passed):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter:
            reporter.write_line(
                "FAILED: SOCIALCREDIT_REQUIRE_POSTGRES=1 but no PostgreSQL test passed", red=True
            )
