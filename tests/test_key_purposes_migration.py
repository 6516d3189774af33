"""Revision 0006: inquirer keys name the purposes they may state. Keys issued before it keep
every purpose but court enforcement; other roles name none."""

from __future__ import annotations

import json
from typing import Any

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

    migrate(db_url, "0005")  # the column goes; the keys stay
    migrate(db_url, "head")
    assert _purposes(run, db_url) == {"Court": EARLIER, "Rail": None}
