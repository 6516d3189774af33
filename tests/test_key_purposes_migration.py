"""Revision 0006: inquirer keys name the purposes they may state. Keys issued before it keep
every purpose but court enforcement; other roles name none."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import insert, select

from socialcredit.store.engine import make_engine
from socialcredit.store.tables import api_keys, inquiries
from tests.ingest_support import init, migrate

EARLIER = ["credit_decision", "tenancy", "employment", "business_partner", "procurement"]


def _purposes(run: Any, db_url: str) -> dict[str, Any]:
    listed = json.loads(run("keys", "list", "--db", db_url, "--json").stdout)
    return {key["name"]: key["purposes"] for key in listed}


def test_keys_issued_before_purposes_keep_all_but_court_enforcement(run: Any, db_url: str) -> None:
    init(db_url)
    run(
        "keys",
        "create",
        "--role",
        "inquirer",
        "--name",
        "Court",
        "--purpose",
        "court_enforcement",
        "--db",
        db_url,
    )
    run("keys", "create", "--role", "integrator", "--name", "Rail", "--db", db_url)
    assert _purposes(run, db_url) == {"Court": ["court_enforcement"], "Rail": None}

    _inquire(db_url, "Court")  # an inquiry references the key: the downgrade keeps the row
    migrate(db_url, "0005")  # the column goes; the keys stay
    migrate(db_url, "head")
    assert _purposes(run, db_url) == {"Court": EARLIER, "Rail": None}


def _inquire(db_url: str, inquirer: str) -> None:
    """An inquiry by the key named ``inquirer``, as the API records one."""
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            key_id = conn.execute(
                select(api_keys.c.key_id).where(api_keys.c.name == inquirer)
            ).scalar_one()
            conn.execute(
                insert(inquiries).values(
                    subject_id="11010519491231002X",
                    key_id=key_id,
                    inquirer=inquirer,
                    purpose="court_enforcement",
                    shown={},
                    at=dt.datetime.now(dt.UTC),
                )
            )
    finally:
        engine.dispose()
