"""Event keys as 16 bytes, unique with their record (revision 0003): the store itself refuses a
second copy of an event, ``append_events`` finds copies through the record, and the migration
keeps the ledger's memory (events stored with 0002's 64-character keys are still duplicates when
re-sent after upgrading; a downgrade gives back exactly the keys 0002 computed)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from sqlalchemy import func, select

from socialcredit.errors import Conflict
from socialcredit.ingest.pipeline import new_batch
from socialcredit.store.engine import make_engine
from socialcredit.store.event_keys import EVENT_FIELDS, KEY_BYTES, event_key, key_text
from socialcredit.store.ledger import append_events, insert_events
from socialcredit.store.tables import events
from tests.ingest_support import FIXTURES, ingest, init, migrate, query


def _events(db_url: str) -> list[tuple[Any, ...]]:
    names = ", ".join(EVENT_FIELDS)
    return query(db_url, f"select seq, event_key, {names} from events order by seq")


def _hex_key_of_0002(values: list[Any]) -> str:
    """How 0002 keyed an event: the whole sha256 of its content, as hex."""
    joined = "\x1f".join(key_text(v) for v in values)
    return hashlib.sha256(joined.encode()).hexdigest()


def test_keys_survive_a_downgrade_and_an_upgrade(run, db_url: str) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    ingest(run, db_url, FIXTURES / "court_good.csv", furnisher="court")
    ingest(run, db_url, FIXTURES / "market_zh.csv", furnisher="market")  # a legal rep, a note
    before = _events(db_url)
    assert len(before) == 8

    migrate(db_url, "0002")
    old = _events(db_url)
    assert [row[2:] for row in old] == [row[2:] for row in before]
    assert [row[1] for row in old] == [_hex_key_of_0002(list(row[2:])) for row in old]

    migrate(db_url, "head")
    after = _events(db_url)
    assert after == before
    for _, key, *values in after:
        assert key == event_key(dict(zip(EVENT_FIELDS, values, strict=True)))

    again = ingest(run, db_url, FIXTURES / "court_good.csv", furnisher="court")
    assert (again["accepted"], again["duplicates"], again["quarantined"]) == (0, 5, 0)
    assert _events(db_url) == before


EVENT = {
    "furnisher": "court",
    "record_id": "C-1",
    "action": "file",
    "subject_id": "220524196903020333",
    "subject_name": "王喜民",
    "category": "court.enforcement_case",
    "decided_on": "2024-04-12",
    "document_no": "(2024)京0101执1号",
    "amount_fen": 1250000,
    "ground": None,
    "extension_months": None,
    "legal_rep_id": None,
    "note": None,
}


def test_the_store_refuses_a_second_copy_of_an_event(db_url: str) -> None:
    init(db_url)
    engine = make_engine(db_url)
    now = dt.datetime.now(dt.UTC)
    columns = {"event_key": [event_key(EVENT)], **{f: [EVENT[f]] for f in EVENT_FIELDS}}
    try:
        assert len(columns["event_key"][0]) == KEY_BYTES
        with engine.begin() as conn:
            batch = new_batch(conn, "court", "test", now, "done")
            assert insert_events(conn, columns, batch_id=batch, recorded_at=now) == 1
        # Refused by the store's unique key (as when two runs found the event new at once), and
        # reported as a conflict, not as the driver's raw error; nothing of it is kept.
        refused = pytest.raises(Conflict, match="another run stored some of the same rows")
        with refused, engine.begin() as conn:
            insert_events(conn, columns, batch_id=batch, recorded_at=now)
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 1
        amended = {**columns, "action": ["amend"]}
        amended["event_key"] = [event_key({**EVENT, "action": "amend"})]
        with engine.begin() as conn:  # other content for the same record is another event
            assert insert_events(conn, amended, batch_id=batch, recorded_at=now) == 1
    finally:
        engine.dispose()


def test_append_events_skips_copies_already_in_the_ledger(db_url: str) -> None:
    init(db_url)
    engine = make_engine(db_url)
    other = {**EVENT, "record_id": "C-2"}
    try:
        with engine.begin() as conn:
            batch = new_batch(conn, "court", "test", dt.datetime.now(dt.UTC), "done")
            first = append_events(conn, [EVENT, EVENT], batch_id=batch)
            second = append_events(conn, [other, EVENT], batch_id=batch)
        assert (first.inserted, first.duplicates) == (1, 1)
        assert (second.inserted, second.duplicates) == (1, 1)
        stored = query(db_url, "select record_id, event_key from events order by seq")
        assert stored == [("C-1", event_key(EVENT)), ("C-2", event_key(other))]
    finally:
        engine.dispose()
