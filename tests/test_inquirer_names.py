"""One active inquirer key per name (case and spacing aside), held by the store's unique index
(revision 0007), not only by the check before the insert: two keys created at the same moment
both pass the check, and the store must still refuse the second."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest
from derive_support import person
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from socialcredit.errors import Conflict
from socialcredit.services import keys as key_service
from socialcredit.services.inquiries import grant_consent
from socialcredit.services.keys import create_key, revoke_key
from socialcredit.store.engine import make_engine
from socialcredit.store.tables import api_keys
from tests.ingest_support import init, migrate

SUBJECT = person(1)


def test_two_keys_created_at_once_cannot_share_a_name(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    init(db_url)
    engine = make_engine(db_url)
    try:
        # Both creations pass the check before either inserts (what a race does).
        checked = threading.Barrier(2, timeout=30)
        original = key_service._refuse_taken_name
        outcomes: list[Any] = []

        def create(name: str) -> None:
            try:
                outcomes.append(create_key(engine, role="inquirer", name=name))
            except Exception as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=create, args=(n,)) for n in ("Acme Bank", "acme  BANK")]
        monkeypatch.setattr(key_service, "_refuse_taken_name", _after(checked, original))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        monkeypatch.setattr(key_service, "_refuse_taken_name", original)
        refused = [o for o in outcomes if isinstance(o, Exception)]
        assert len(refused) == 1, outcomes
        assert isinstance(refused[0], Conflict), refused
        assert "already named" in refused[0].message
        with engine.connect() as conn:
            names = conn.execute(
                select(api_keys.c.name).where(api_keys.c.revoked_at.is_(None))
            ).all()
        assert len(names) == 1

        # Revoking releases the name.
        revoke_key(engine, str(outcomes[0] if isinstance(outcomes[0], str) else outcomes[1]))
        assert create_key(engine, role="inquirer", name="ACME BANK")
    finally:
        engine.dispose()


def _after(barrier: threading.Barrier, check: Any) -> Any:
    """The check, then a wait (the first time) until both creations have passed it: both saw no
    key, and both go on to insert (a refused creation runs the check again, to say which key
    holds the name)."""
    waited: set[int] = set()

    def check_then_wait(conn: Any, name: str) -> None:
        check(conn, name)
        if threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            barrier.wait()

    return check_then_wait


def test_the_store_refuses_a_second_active_inquirer_name_whoever_writes_it(db_url: str) -> None:
    init(db_url)
    engine = make_engine(db_url)
    try:
        create_key(engine, role="inquirer", name="Acme Bank")
        create_key(engine, role="integrator", name="Acme Bank")  # other roles hold no name
        row = {
            "name": "ACME BANK",
            "role": "inquirer",
            "prefix": "feedfeedfeed",
            "key_hash": "0" * 64,
            "rate_per_minute": 60,
            "inquirer_name": "acme bank",
        }
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(api_keys).values(**row, created_at=_now()))
        with engine.begin() as conn:  # a revoked key's name is released
            conn.execute(update(api_keys).values(inquirer_name=None, revoked_at=_now()))
            conn.execute(insert(api_keys).values(**row, created_at=_now()))
    finally:
        engine.dispose()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_keys_of_one_name_issued_before_keep_working_and_the_oldest_holds_it(
    run: Any, db_url: str
) -> None:
    init(db_url)
    migrate(db_url, "0006")  # names were unique by check only: duplicates may be stored
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            for n, name in enumerate(("Acme Bank", " acme bank", "Other Bank")):
                conn.execute(
                    insert(api_keys).values(
                        name=name,
                        role="inquirer",
                        prefix=f"{n:012x}",
                        key_hash="0" * 64,
                        rate_per_minute=60,
                        created_at=_now(),
                    )
                )
    finally:
        engine.dispose()
    migrate(db_url, "head")
    listed = json.loads(run("keys", "list", "--db", db_url, "--json").stdout)
    assert [(k["name"], k["revoked"]) for k in listed] == [
        ("Acme Bank", False),
        (" acme bank", False),
        ("Other Bank", False),
    ]
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            held = conn.execute(
                select(api_keys.c.key_id, api_keys.c.inquirer_name).order_by(api_keys.c.key_id)
            ).all()
        assert [h for _, h in held] == ["acme bank", None, "other bank"]
        with pytest.raises(Conflict):
            create_key(engine, role="inquirer", name="ACME bank")
        # Revoking the holder hands the name on to the other key of that name, which a
        # consent still finds; a new key of the name is still refused.
        revoke_key(engine, str(held[0][0]))
        consent = grant_consent(engine, subject_id=SUBJECT, inquirer="ACME  Bank")
        assert consent["inquirer"] == " acme bank"
        with pytest.raises(Conflict):
            create_key(engine, role="inquirer", name="acme bank")
        revoke_key(engine, str(held[1][0]))  # the last of the name: now it is free
        assert create_key(engine, role="inquirer", name="acme bank")
    finally:
        engine.dispose()


def test_the_cli_names_the_holding_key_by_prefix_and_says_when_it_was_already_revoked(
    run: Any, db_url: str
) -> None:
    init(db_url)
    issued = run("keys", "create", "--role", "inquirer", "--name", "Acme Bank", "--db", db_url)
    prefix = issued.stdout.strip().split("_")[1]
    refused = run(
        "keys",
        "create",
        "--role",
        "inquirer",
        "--name",
        "ACME bank",
        "--db",
        db_url,
        "--json",
        ok=False,
    )
    error = json.loads(refused.stdout)["error"]
    assert error["details"]["prefix"] == prefix and f"prefix {prefix}" in error["message"]
    first = json.loads(run("keys", "revoke", prefix, "--db", db_url, "--json").stdout)
    assert first["already_revoked"] is False and first["revoked_at"]
    second = run("keys", "revoke", prefix, "--db", db_url)
    assert "already revoked" in " ".join(second.stderr.split())
    again = json.loads(run("keys", "revoke", prefix, "--db", db_url, "--json").stdout)
    assert again["already_revoked"] is True and again["revoked_at"] == first["revoked_at"]


def test_a_key_name_that_looks_like_markup_is_printed_as_it_is(run: Any, db_url: str) -> None:
    init(db_url)
    issued = run(
        "keys", "create", "--role", "integrator", "--name", "Rail [/] [bold]", "--db", db_url
    )
    assert "Rail [/] [bold]" in " ".join(issued.stderr.split())
    prefix = issued.stdout.strip().split("_")[1]
    revoked = run("keys", "revoke", prefix, "--db", db_url)
    assert "Rail [/] [bold]" in " ".join(revoked.stderr.split())
