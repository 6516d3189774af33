"""Serving the API for tests: a real uvicorn server on a loopback port, in a thread, over a store
initialised and keyed through the real CLI (``socialcredit init``, ``socialcredit keys create``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, insert, select
from stdnum.cn import ric, uscc

from socialcredit.api.app import create_app
from socialcredit.api.config import ApiSettings
from socialcredit.policy.load import load_default
from socialcredit.settings import Settings
from socialcredit.store.engine import make_engine, upgrade
from socialcredit.store.policies import save_policy
from socialcredit.store.tables import decisions, derive_runs, subjects

# Valid identifiers for tests: the check character is computed, never typed in.


def person_id(serial: int, born: str = "19800101", area: str = "110105") -> str:
    body = f"{area}{born}{serial % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def org_id(serial: int) -> str:
    body = f"91110000{serial:09d}"
    return body + uscc.calc_check_digit(body)


SUBJECT = person_id(1)  # the subject key's holder
INQUIRER_NAME = "Acme Bank"
FAST_API = ApiSettings(watch_seconds=0.1, audit_flush_seconds=0.1, public_rate_per_minute=100_000)


@dataclass
class Api:
    url: str
    db: str
    keys: dict[str, str]
    engine: Engine
    client: httpx.Client = field(repr=False)

    def headers(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"} if role else {}

    def call(self, method: str, path: str, role: str | None = None, **kw: Any) -> httpx.Response:
        headers = {**self.headers(role), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)

    def get(self, path: str, role: str | None = None, **kw: Any) -> httpx.Response:
        return self.call("GET", path, role, **kw)

    def post(self, path: str, role: str | None = None, **kw: Any) -> httpx.Response:
        return self.call("POST", path, role, **kw)


@contextmanager
def serving(db_url: str, api_settings: ApiSettings = FAST_API) -> Iterator[str]:
    """Run the app under uvicorn on 127.0.0.1 (a free port) until the block ends."""
    app = create_app(Settings(db=db_url), api_settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        ws="none",
        lifespan="on",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def issue_keys(run: Callable[..., Any], db_url: str) -> dict[str, str]:
    """One key per role through the real CLI; each printed once, on stdout."""
    specs = {
        "furnisher": ["--name", "Court of Test", "--furnisher", "court"],
        "inquirer": ["--name", INQUIRER_NAME],
        "integrator": ["--name", "Test Rail"],
        "subject": ["--name", "Subject One", "--subject", SUBJECT],
        "operator": ["--name", "Test Operator"],
    }
    keys = {}
    for role, options in specs.items():
        result = run("keys", "create", "--role", role, *options, "--db", db_url)
        keys[role] = result.stdout.strip()
    return keys


def market_furnisher_key(run: Callable[..., Any], db_url: str) -> str:
    """A furnisher key for the market regulator (SAMR), issued through the CLI."""
    result = run(
        "keys",
        "create",
        "--role",
        "furnisher",
        "--name",
        "SAMR",
        "--furnisher",
        "market",
        "--db",
        db_url,
    )
    return str(result.stdout.strip())


# --- derived state written directly, for tests of the serving side alone ------------------------


def register_subjects(engine: Engine, rows: Mapping[str, str]) -> None:
    """subject_id -> name, as ingestion registers them."""
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        have = set(conn.execute(select(subjects.c.subject_id)).scalars())
        new = [
            {
                "subject_id": sid,
                "scheme": "cn_ric" if sid[:17].isdigit() else "cn_uscc",
                "kind": "person" if sid[:17].isdigit() else "org",
                "name": name,
                "first_seen": now,
            }
            for sid, name in rows.items()
            if sid not in have
        ]
        if new:
            conn.execute(insert(subjects), new)


def publish_decisions(
    engine: Engine, rows: list[dict[str, Any]], *, policy_version: str = "CN-2026.1"
) -> int:
    """Write decisions and a derive_runs row, as a derivation would; returns the run id."""
    today = dt.date.today()
    with engine.begin() as conn:
        run_id = conn.execute(
            insert(derive_runs).values(
                mode="full",
                as_of=today,
                policy_version=policy_version,
                high_water_seq=0,
                subjects=len(rows),
                started_at=dt.datetime.now(dt.UTC),
                finished_at=dt.datetime.now(dt.UTC),
            )
        ).inserted_primary_key[0]
        if rows:
            conn.execute(
                insert(decisions),
                [
                    {
                        "effect": "restricted",
                        "memorandum": "spc_consumption",
                        "basis": "SPC consumption restrictions",
                        "end_on": None,
                        **row,
                    }
                    for row in rows
                ],
            )
    return int(run_id)


def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> float:
    """Poll until true; returns the seconds it took, or raises after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture(name="api")
def api_fixture(db_url: str, run: Callable[..., Any]) -> Iterator[Api]:
    """An initialised store with one key per role, served over HTTP."""
    engine = make_engine(db_url)
    upgrade(engine)  # what `socialcredit init` does (it leaves its engine open on PostgreSQL)
    save_policy(engine, load_default())
    keys = issue_keys(run, db_url)
    register_subjects(engine, {SUBJECT: "张三"})
    try:
        with serving(db_url) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield Api(url=url, db=db_url, keys=keys, engine=engine, client=client)
    finally:
        engine.dispose()
