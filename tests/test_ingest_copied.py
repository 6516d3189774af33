"""Values arrive in the ledger exactly as furnished, whatever their characters: on PostgreSQL the
events travel as CSV text written by Arrow (``ingest.copied``), on SQLite through a staged
image or bound parameters. Checked against the furnished values and against each event's own
key, which the worker computed from the validated values before they were sent."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from socialcredit.ingest.copied import bytea_hex
from socialcredit.store.event_keys import EVENT_FIELDS, event_key
from tests.ingest_support import ingest, init, query, read_fixture, write_csv

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
    "emoji 🙂 and NUL-free control \x07",
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
