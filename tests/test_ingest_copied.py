"""Values arrive in the ledger exactly as furnished, whatever their characters: on PostgreSQL the
events travel as CSV text written by Arrow (``ingest.copied``), on SQLite through a staged
image or bound parameters. Checked against the furnished values and against each event's own
key, which the worker computed from the validated values before they were sent."""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import Connection, delete, select

from socialcredit.errors import Conflict
from socialcredit.ingest import pipeline
from socialcredit.ingest.copied import bytea_hex, copy_events
from socialcredit.ingest.identity import IdentityBook
from socialcredit.ingest.pipeline import new_batch, rows_table
from socialcredit.ingest.prepare import prepare_table
from socialcredit.ingest.records import Candidates, stage_image
from socialcredit.ingest.rules import Rules
from socialcredit.ingest.staged import insert_staged, stage_schema
from socialcredit.policy.load import load_default
from socialcredit.store.engine import make_engine
from socialcredit.store.event_keys import EVENT_FIELDS, event_key
from socialcredit.store.ledger import insert_events
from socialcredit.store.tables import events
from tests.ingest_support import (
    FIXTURES,
    ingest,
    ingest_fails,
    init,
    query,
    read_fixture,
    write_csv,
)

TODAY = dt.date(2026, 11, 26)

NOTES = [
    'he said "pay", then left',
    "a,b;c|d",
    "line one\nline two\r\nline three",
    "C:\\path\\to\\file",
    "\\.",
    "\\N",
    "tab\there",
    "王喜民 已履行完毕 （部分）",
    "'single' and \"double\"",
    "emoji 🙂, a zero-width joiner \u200d and a non-breaking space \u00a0.",
    "",  # no note: stored as null
]


def test_furnished_text_is_stored_verbatim(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    header, rows = read_fixture("court_good.csv")
    template = rows[1]  # an enforcement case filing
    furnished = []
    for number, note in enumerate(NOTES):
        row = dict(zip(header, template, strict=True))
        row.update(record_id=f'Q-"{number}",x', note=note, document_no=f'(2024)吉"{number}"号')
        furnished.append([row[name] for name in header])
    path = write_csv(tmp_path / "tricky.csv", header, furnished)
    assert ingest(run, db_url, path, furnisher="court")["accepted"] == len(NOTES)

    stored = query(db_url, "select record_id, document_no, note from events order by seq")
    assert stored == [
        (f'Q-"{n}",x', f'(2024)吉"{n}"号', note or None) for n, note in enumerate(NOTES)
    ]
    names = ", ".join(EVENT_FIELDS)
    for key, *values in query(db_url, f"select event_key, {names} from events"):
        assert bytes(key) == event_key(dict(zip(EVENT_FIELDS, values, strict=True)))


def test_keys_as_bytea_text_from_any_slice() -> None:
    keys = pa.array([bytes(range(16)), bytes(range(16, 32)), b"\xff" * 16])
    assert bytea_hex(keys).to_pylist() == ["\\x" + k.hex() for k in keys.to_pylist()]
    assert bytea_hex(keys.slice(1)).to_pylist() == [
        "\\x" + bytes(range(16, 32)).hex(),
        "\\x" + "ff" * 16,
    ]


def _candidates(notes: list[str], *, staged: bool) -> Candidates:
    rules = Rules.for_furnisher(load_default().policy, "court")
    rows = [
        {
            "record_id": f"N-{number}",
            "subject_id": "220524196903020333",
            "subject_name": "王喜民",
            "category": "court.enforcement_case",
            "decided_on": "2024-04-12",
            "document_no": f'(2024)京"{number}"号',
            "amount": "12500.25" if number % 2 else None,
            "note": note or None,
        }
        for number, note in enumerate(notes)
    ]
    stage = stage_image if staged else None
    row_no = np.arange(1, len(rows) + 1)
    invalid, cand = prepare_table(
        rows_table(rows), row_no, rules, TODAY, IdentityBook(TODAY), stage=stage
    )
    assert not invalid.code
    return cand


def test_the_bulk_path_stores_what_insert_events_stores(db_url: str) -> None:
    """The store's bulk append (PostgreSQL: COPY in CSV; SQLite: the staged INSERT) gives the
    very rows of ``insert_events``, and a second copy of them is a conflict, not a duplicate."""
    init(db_url)
    postgres = db_url.startswith("postgres")
    plain = _candidates(NOTES, staged=False)
    bulk = plain if postgres else _candidates(NOTES, staged=True)
    everything = np.ones(len(plain), dtype=bool)
    now = dt.datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=dt.UTC)

    def append(conn: Connection, batch: int) -> int:
        if postgres:
            return copy_events(conn, bulk.events, everything, batch_id=batch, recorded_at=now)
        assert bulk.image is not None
        return insert_staged(
            conn, bulk.image, everything, furnisher="court", batch_id=batch, recorded_at=now
        )

    def stored(conn: Connection) -> list[Any]:
        columns = [c for c in events.c if c.name != "seq"]
        return [tuple(r) for r in conn.execute(select(*columns).order_by(events.c.seq))]

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn, nullcontext() if postgres else stage_schema(conn):
            with conn.begin():
                batch = new_batch(conn, "court", "test", now, "done")
                insert_events(conn, plain.take(everything), batch_id=batch, recorded_at=now)
                reference = stored(conn)
                conn.execute(delete(events))  # only here: the ledger itself is never rewritten
                assert append(conn, batch) == len(NOTES)
                assert stored(conn) == reference
            refused = pytest.raises(Conflict, match="another run stored some of the same rows")
            with refused, conn.begin():
                append(conn, batch)
    finally:
        engine.dispose()
    assert query(db_url, "select count(*) from events") == [(len(NOTES),)]


def test_a_driver_error_in_a_bulk_path_is_a_store_error(  # type: ignore[no-untyped-def]
    run, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bulk paths call the driver directly, so its errors arrive without SQLAlchemy's
    wrapping; the run still ends as a one-line store error, and nothing of it is kept."""
    init(db_url)
    engine = make_engine(db_url)
    dbapi = engine.dialect.dbapi
    engine.dispose()
    assert dbapi is not None

    def refuse(*_: Any, **__: Any) -> int:
        raise dbapi.DataError("value out of range\nDETAIL: more")

    for name in ("copy_events", "insert_staged", "insert_events"):
        monkeypatch.setattr(pipeline, name, refuse)
    message = ingest_fails(run, db_url, FIXTURES / "court_good.csv", furnisher="court")
    assert "store_error" in message
    assert "thestorerefusedthebatch(DataError:valueoutofrange);nothingwaskept" in message
    assert "Traceback" not in message
    assert query(db_url, "select status, read from ingest_batches") == [("failed", 0)]
    assert query(db_url, "select count(*) from events") == [(0,)]


def test_text_survives_a_session_in_another_client_encoding(  # type: ignore[no-untyped-def]
    run, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL session may speak GBK (a role's or database's default, PGCLIENTENCODING):
    the events' COPY text, written as UTF-8, says so, and Chinese names arrive intact."""
    init(db_url)
    monkeypatch.setenv("PGCLIENTENCODING", "GBK")
    assert ingest(run, db_url, FIXTURES / "court_good.csv", furnisher="court")["accepted"] == 5
    monkeypatch.delenv("PGCLIENTENCODING")
    _, rows = read_fixture("court_good.csv")
    furnished = [(r[0], r[2], r[5], r[8] or None) for r in rows]
    stored = query(db_url, "select record_id, subject_name, document_no, note from events")
    assert sorted(stored) == sorted(furnished)
