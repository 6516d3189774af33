"""Ingestion with the reading worker (``ingest.worker``, ``ingest.feed``) keeps what the plain
in-process path keeps: the same counts, events, subjects, quarantine and reviews, and a run that
fails part-way keeps nothing."""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from socialcredit.cli import app
from socialcredit.errors import Conflict, InputFileError
from socialcredit.ingest import pipeline
from socialcredit.ingest import worker as worker_module
from socialcredit.ingest.identity import IdentityBook
from socialcredit.ingest.pipeline import ingest_files, new_batch, rows_table
from socialcredit.ingest.prepare import prepare as prepare_chunk
from socialcredit.ingest.prepare import prepare_table
from socialcredit.ingest.records import stage_image
from socialcredit.ingest.rules import Rules
from socialcredit.ingest.staged import insert_staged, stage_schema
from socialcredit.ingest.summary import RunSummary
from socialcredit.ingest.worker import Worker
from socialcredit.policy.load import load_default
from socialcredit.store.engine import make_engine
from tests.ingest_support import ingest, init, query, write_csv

TODAY = dt.date(2026, 11, 26)
CHUNK = 50
EVENTS = (
    "select furnisher, record_id, action, subject_id, subject_name, category, decided_on, "
    "document_no, amount_fen, ground, extension_months, legal_rep_id, note, event_key "
    "from events order by seq"
)
QUARANTINE = (
    "select row_no, field, value, reason_code, reason, raw from quarantine "
    "order by source, row_no, quarantine_id"
)
SUBJECTS = (
    "select subject_id, scheme, kind, name, name_pinyin, birth_date, sex from subjects "
    "order by subject_id"
)
REVIEWS = "select subject_name, candidates, status from review_queue order by review_id"


@pytest.fixture(scope="module")
def country(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("country")
    args = ["synth", "--out", str(out), "--persons", "100", "--orgs", "30"]
    result = CliRunner().invoke(app, [*args, "--bad-share", "0.1", "--seed", "7"])
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture
def bank(country: Path, tmp_path: Path) -> Path:
    """The synthetic bank file (bad rows planted) and, after it, follow-ups of its filings:
    amends, refilings with other content, revokes naming another subject, exact copies, amends
    of records never filed."""
    with open(country / "bank.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    filed = [r for r in body if r[col["action"]] == "file"][:60]
    more = []
    for k, row in enumerate(filed):
        amend = list(row)
        amend[col["action"]], amend[col["document_no"]] = "amend", row[col["document_no"]] + "A"
        refile = list(row)
        refile[col["document_no"]] = row[col["document_no"]] + "B"
        revoke = list(row)
        revoke[col["action"]] = "revoke"
        revoke[col["subject_id"]] = filed[(k + 1) % len(filed)][col["subject_id"]]
        unknown = list(amend)
        unknown[col["record_id"]] = f"NEVER-FILED-{k}"
        more += [amend, refile, revoke, list(row), unknown]
    return write_csv(tmp_path / "bank.csv", header, body + more)


@pytest.fixture
def worker_ready_at_once(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The writer waits for the worker to start instead of preparing chunks meanwhile, so the
    worker's path is taken whatever the machine's speed; counts the chunks each side prepared."""
    seen = {"worker": 0, "writer": 0}
    started, receive, prepare = Worker.ready, Worker.receive, prepare_chunk

    def ready(self: Worker) -> bool:
        deadline = time.monotonic() + 120
        while not started(self) and time.monotonic() < deadline:
            time.sleep(0.02)
        return started(self)

    def counted_receive(self: Worker) -> Any:
        seen["worker"] += 1
        return receive(self)

    def counted_prepare(*args: Any, **kwargs: Any) -> Any:
        seen["writer"] += 1
        return prepare(*args, **kwargs)

    monkeypatch.setattr(Worker, "ready", ready)
    monkeypatch.setattr(Worker, "receive", counted_receive)
    monkeypatch.setattr("socialcredit.ingest.feed.prepare", counted_prepare)
    return seen


def _ingest(db_url: str, files: list[Path], *, pipelined: bool) -> RunSummary:
    engine = make_engine(db_url)
    try:
        return ingest_files(
            engine, files, furnisher="bank", chunk_rows=CHUNK, today=TODAY, pipelined=pipelined
        )
    finally:
        engine.dispose()


def _plain(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _stored(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a run left in the store, in comparable form (no sequence numbers or batch ids)."""
    out = {
        name: [tuple(_plain(v) for v in row) for row in query(db_url, sql)]
        for name, sql in (("events", EVENTS), ("subjects", SUBJECTS), ("reviews", REVIEWS))
    }
    out["quarantine"] = [
        (*row[:5], json.loads(row[5]) if isinstance(row[5], str) else row[5])
        for row in query(db_url, QUARANTINE)
    ]
    out["reviews"] = [
        (name, json.loads(c) if isinstance(c, str) else c, status)
        for name, c, status in out["reviews"]
    ]
    return out


def _types(db_url: str) -> list[tuple[Any, ...]]:
    """SQLite: the storage class of every event column, counted."""
    columns = EVENTS.removeprefix("select ").split(" from ")[0].split(", ")
    selected = ", ".join(f"typeof({c})" for c in columns)
    return query(db_url, f"select {selected}, count(*) from events group by {selected}")


def test_the_worker_keeps_what_the_writer_alone_keeps(
    db_url: str, bank: Path, tmp_path: Path, worker_ready_at_once: dict[str, int]
) -> None:
    alone = f"sqlite:///{tmp_path / 'alone.db'}"
    init(alone)
    init(db_url)
    first = [_ingest(alone, [bank], pipelined=False)]
    worker_ready_at_once.update(worker=0, writer=0)
    first.append(_ingest(db_url, [bank], pipelined=True))
    # Both sides prepared chunks: the worker, and the writer while the worker had enough.
    assert worker_ready_at_once["worker"] > 0 and worker_ready_at_once["writer"] > 0
    again = [_ingest(alone, [bank], pipelined=False), _ingest(db_url, [bank], pipelined=True)]

    for plain, piped in (first, again):
        assert piped.totals.figures() == plain.totals.figures()
        assert [f.figures() for f in piped.files] == [f.figures() for f in plain.files]
    figures = first[0].totals.figures()
    assert figures["read"] == figures["accepted"] + figures["quarantined"] + figures["duplicates"]
    assert {"record_conflict", "record_unknown", "id_invalid"} <= set(figures["reasons"])
    assert figures["duplicates"] >= 50  # the copies of valid rows
    assert again[0].totals.duplicates == figures["accepted"] + figures["duplicates"]
    assert _stored(db_url) == _stored(alone)
    if db_url.startswith("sqlite"):
        assert _types(db_url) == _types(alone)


def _spliced(path: Path, rows: int) -> Path:
    """A CSV whose bytes stop being text far past the 64 KiB the encoding is judged on."""
    header = "record_id,subject_id,subject_name,category,decided_on,document_no,amount,action\n"
    line = "B-{:06d},220524196903020333,王小明,finance.loan_overdue,2024-01-02,D{:06d},1.00,file\n"
    text = header + "".join(line.format(i, i) for i in range(rows))
    path.write_bytes(text.encode() + b"B-x,\xff\xfe\xfd,\xff,x,x,x,x,x\n")
    return path


def test_a_file_unreadable_part_way_keeps_nothing(
    db_url: str, bank: Path, tmp_path: Path, worker_ready_at_once: dict[str, int]
) -> None:
    bad = _spliced(tmp_path / "spliced.csv", 3_000)
    init(db_url)
    alone = f"sqlite:///{tmp_path / 'alone.db'}"
    init(alone)
    errors = []
    for url, pipelined in ((alone, False), (db_url, True)):
        worker_ready_at_once.update(worker=0)
        with pytest.raises(InputFileError) as caught:
            _ingest(url, [bank, bad], pipelined=pipelined)
        errors.append(caught.value)
        assert query(url, "select status, read, accepted from ingest_batches") == [("failed", 0, 0)]
        for table in ("events", "subjects", "quarantine", "review_queue"):
            assert query(url, f"select count(*) from {table}") == [(0,)], table
    assert worker_ready_at_once["worker"] > 0
    assert errors[0].file == errors[1].file == str(bad)
    assert errors[0].reason == errors[1].reason
    assert "nothing of it was kept" in errors[1].reason


@pytest.fixture
def worker() -> Iterator[Worker]:
    rules = Rules.for_furnisher(load_default().policy, "bank")
    with Worker(rules, TODAY, image=False) as started:
        yield started


def test_an_error_in_the_worker_comes_back_as_itself(worker: Worker) -> None:
    worker.send(pa.table({"not_a_binding_column": ["x"]}), np.array([1], dtype=np.int64))
    with pytest.raises(KeyError) as caught:
        worker.receive()
    assert "in the ingestion worker" in "".join(caught.value.__notes__)


def test_a_worker_that_dies_is_an_error_not_a_hang(worker: Worker) -> None:
    worker.send(pa.table({"record_id": ["x"]}), np.array([1], dtype=np.int64))
    worker._process.kill()
    with pytest.raises(RuntimeError, match="the ingestion worker stopped"):
        worker.receive()
        worker.send(pa.table({"record_id": ["x"]}), np.array([1], dtype=np.int64))


def test_large_input_takes_the_worker_by_itself(
    run: Any, db_url: str, bank: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the CLI, with the size threshold lowered: the same counts as the synth file's."""
    init(db_url)
    monkeypatch.setattr(pipeline, "PIPELINE_MIN_BYTES", 0)
    monkeypatch.setenv("SOCIALCREDIT_INGEST_CHUNK_ROWS", str(CHUNK))
    started = []

    def enter(self: Worker) -> Worker:
        started.append(self)
        return self

    monkeypatch.setattr(Worker, "__enter__", enter)
    summary = ingest(run, db_url, bank, furnisher="bank")
    assert len(started) == 1
    assert summary["read"] == summary["accepted"] + summary["quarantined"] + summary["duplicates"]
    assert summary["read"] == 946 + 5 * 60


def test_chunks_travel_through_dev_shm_only_when_it_has_room(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(worker_module, "SHM", str(tmp_path))
    assert worker_module._exchange_base() == str(tmp_path)
    monkeypatch.setattr(worker_module, "SHM_MIN_FREE", 1 << 62)
    assert worker_module._exchange_base() is None  # the temp folder instead
    monkeypatch.setattr(worker_module, "SHM", str(tmp_path / "absent"))
    assert worker_module._exchange_base() is None


def test_a_staged_event_another_run_stored_is_a_conflict(tmp_path: Path) -> None:
    """The staged append refuses a second copy of an event as ``ledger.insert_events`` does."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    init(url)
    rules = Rules.for_furnisher(load_default().policy, "court")
    row = {
        "record_id": "C-1",
        "subject_id": "220524196903020333",
        "subject_name": "王喜民",
        "category": "court.enforcement_case",
        "decided_on": "2024-04-12",
        "document_no": "(2024)京0101执1号",
        "amount": "12500.00",
    }
    invalid, cand = prepare_table(
        rows_table([row]), np.array([1]), rules, TODAY, IdentityBook(TODAY), stage=stage_image
    )
    assert not invalid.code and cand.image is not None
    now = dt.datetime.now(dt.UTC)
    all_of_it = np.ones(1, dtype=bool)

    def staged(batch: int) -> dict[str, Any]:
        return {"furnisher": "court", "batch_id": batch, "recorded_at": now}

    engine = make_engine(url)
    try:
        with engine.connect() as conn, stage_schema(conn):
            with conn.begin():
                batch = new_batch(conn, "court", "test", now, "done")
                assert insert_staged(conn, cand.image, all_of_it, **staged(batch)) == 1
            refused = pytest.raises(Conflict, match="another run stored some of the same rows")
            with refused, conn.begin():
                insert_staged(conn, cand.image, all_of_it, **staged(batch))
    finally:
        engine.dispose()
    assert query(url, "select count(*) from events") == [(1,)]
