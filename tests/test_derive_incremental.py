"""Incremental runs give exactly what a full run gives, and a new event changes ``check``."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest
from derive_scenarios import AS_OF, filings, follow_ups, registrations, snapshot
from derive_support import (
    add_events,
    event,
    make_store,
    org,
    person,
    register_subjects,
    store,
)
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import make_url

from socialcredit.derive.lock import ADVISORY_KEY
from socialcredit.store import tables
from socialcredit.store.engine import normalise_url


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_equals_full(db_url: str, run: Any, seed: int) -> None:
    rng = random.Random(seed)
    persons = [person(i + 1) for i in range(5)]
    orgs = [org(i + 1) for i in range(3)]
    make_store(db_url)
    first = filings(rng, "a", persons, orgs, 14) + registrations(rng, "ra", persons, orgs)
    add_events(db_url, first)
    as_of = ["--as-of", AS_OF.isoformat()]
    run("derive", "--db", db_url, *as_of)

    # Later events: new records, amendments, revocations, fulfilments, a new legal rep.
    second = (
        filings(rng, "b", persons[:3], orgs[:2], 4)
        + follow_ups(rng, first)
        + registrations(rng, "rb", persons, orgs[:1])
    )
    add_events(db_url, second)
    summary = json.loads(run("derive", "--db", db_url, *as_of, "--json").stdout)
    assert summary["mode"] == "incremental"
    incremental = snapshot(db_url)

    summary = json.loads(run("derive", "--db", db_url, *as_of, "--full", "--json").stdout)
    assert summary["mode"] == "full"
    full = snapshot(db_url)
    assert incremental == full
    assert full["decisions"], "the scenario should produce decisions"


def test_a_new_event_changes_check_after_an_incremental_run(db_url: str, run: Any) -> None:
    today = dt.date.today()
    subject, rep, company = person(1), person(2), org(1)
    make_store(db_url)
    add_events(
        db_url,
        [
            event(
                "market",
                "reg",
                company,
                "registration.basic",
                today - dt.timedelta(days=30),
                legal_rep_id=rep,
            )
        ],
    )
    run("derive", "--db", db_url)

    def check(who: str, measure: str = "flight") -> dict[str, Any]:
        return dict(json.loads(run("check", who, measure, "--db", db_url, "--json").stdout))

    assert check(subject)["restricted"] is False
    add_events(
        db_url,
        [
            event(
                "court", "c1", subject, "court.dishonest_defaulter", today - dt.timedelta(days=3)
            ),
            event(
                "court", "c2", company, "court.dishonest_defaulter", today - dt.timedelta(days=2)
            ),
        ],
    )
    summary = json.loads(run("derive", "--db", db_url, "--json").stdout)
    assert summary["mode"] == "incremental" and summary["decisions"] == 5
    answer = check(subject)
    assert answer["restricted"] and answer["effect"] == "restricted" and answer["known"]
    assert [
        (e["list_code"], e["document_no"], e["source_subject_id"]) for e in answer["entries"]
    ] == [("court_defaulters", "DOC-c1", None)]
    via = check(rep)
    assert via["restricted"] and via["entries"][0]["source_subject_id"] == company
    assert check(rep, "public_tender")["restricted"] is False  # not extended by its memorandum

    add_events(
        db_url, [event("court", "c1", subject, "court.dishonest_defaulter", today, action="revoke")]
    )
    run("derive", "--db", db_url)
    assert check(subject)["restricted"] is False
    assert check(rep)["restricted"] is True


def _derived_schema(url: str) -> dict[str, Any]:
    """Columns (name, type, nullable), primary key and indexes of each derived table, and the
    store's table names."""
    with store(url) as engine:
        inspector = inspect(engine)
        return {
            "tables": sorted(inspector.get_table_names()),
            **{
                table.name: (
                    [
                        (c["name"], str(c["type"]), c["nullable"])
                        for c in inspector.get_columns(table.name)
                    ],
                    inspector.get_pk_constraint(table.name)["constrained_columns"],
                    sorted(
                        (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                        for i in inspector.get_indexes(table.name)
                    ),
                )
                for table in tables.DERIVED_TABLES
            },
        }


def test_full_runs_swap_in_tables_identical_to_the_migrated_schema(db_url: str, run: Any) -> None:
    """A full run replaces the derived tables by swapping in freshly loaded ones: the results of
    two runs are equal, the tables keep the migrated keys, types and indexes, no shadow table is
    left behind (nor a crashed run's), and an incremental run works on the swapped tables."""
    rng = random.Random(7)
    persons, orgs = [person(i + 1) for i in range(6)], [org(i + 1) for i in range(3)]
    make_store(db_url)
    migrated = _derived_schema(db_url)
    add_events(
        db_url, filings(rng, "a", persons, orgs, 30) + registrations(rng, "r", persons, orgs)
    )
    with store(db_url) as engine, engine.begin() as conn:  # what a crashed run leaves
        conn.execute(text("CREATE TABLE ratings__derive_run999 (x INTEGER)"))
    as_of = ["--as-of", AS_OF.isoformat(), "--full"]
    run("derive", "--db", db_url, *as_of)
    whole = snapshot(db_url)
    assert len(whole["ratings"]) == 9 and len(whole["list_entries"]) > 3
    run("derive", "--db", db_url, *as_of)
    assert snapshot(db_url) == whole
    assert _derived_schema(db_url) == migrated
    add_events(db_url, filings(rng, "b", persons[:1], orgs[:1], 3))
    summary = json.loads(
        run("derive", "--db", db_url, "--as-of", AS_OF.isoformat(), "--json").stdout
    )
    assert summary["mode"] == "incremental"


def _ledger(url: str) -> list[tuple[Any, ...]]:
    with store(url) as engine, engine.connect() as conn:
        e = tables.events
        return [tuple(r) for r in conn.execute(select(e.c.seq, e.c.record_id).order_by(e.c.seq))]


def _copied(path: Path) -> list[tuple[Any, ...]]:
    with closing(duckdb.connect(str(path), read_only=True)) as con:
        return [
            tuple(r)
            for r in con.execute("SELECT seq, record_id FROM events ORDER BY seq").fetchall()
        ]


def test_sqlite_full_runs_keep_a_ledger_copy_that_follows_the_store(
    tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full runs on SQLite read the ledger from a columnar copy beside the store: new events
    are appended to it, results equal those read from the store itself, and a different store
    at the same path is noticed and copied afresh."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    copy = tmp_path / "store.db.ledger.duckdb"
    rng = random.Random(11)
    persons, orgs = [person(i + 1) for i in range(5)], [org(i + 1) for i in range(3)]
    make_store(url)
    first = filings(rng, "a", persons, orgs, 12) + registrations(rng, "r", persons, orgs)
    add_events(url, first)
    full = ["--as-of", AS_OF.isoformat(), "--full"]
    run("derive", "--db", url, *full)
    assert _copied(copy) == _ledger(url)

    add_events(url, filings(rng, "b", persons[:2], orgs[:1], 4) + follow_ups(rng, first))
    run("derive", "--db", url, *full)
    assert _copied(copy) == _ledger(url)
    from_copy = snapshot(url)
    monkeypatch.setenv("SOCIALCREDIT_LEDGER_MIRROR", "0")
    run("derive", "--db", url, *full)
    assert snapshot(url) == from_copy and from_copy["list_entries"]
    monkeypatch.delenv("SOCIALCREDIT_LEDGER_MIRROR")

    copy.write_bytes(b"not a DuckDB file")  # a damaged copy is only a cache: rebuilt
    run("derive", "--db", url, *full)
    assert _copied(copy) == _ledger(url)

    for leftover in tmp_path.glob("store.db*"):  # another store at the same path
        if leftover != copy:
            leftover.unlink()
    make_store(url)
    add_events(url, filings(rng, "c", persons, orgs, 20))
    run("derive", "--db", url, *full)
    assert _copied(copy) == _ledger(url)
    assert not any(record.startswith("a") for _, record in _copied(copy))


@contextmanager
def _holding(script: str, target: str) -> Iterator[None]:
    """Another process runs ``script`` (which prints "held" once it holds its lock on
    ``target``) for the length of the block."""
    holder = subprocess.Popen(
        [sys.executable, "-c", script, target], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_the_ledger_copy_carries_subjects_and_is_rebuilt_when_of_an_older_shape(
    tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy carries each event's subject kind and birth date (so full runs need not join
    the subjects): a copy without them (an older release's) is rebuilt, and an event copied
    before its subject was registered gets them once it is. Results always equal those read
    from the store itself."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    copy = tmp_path / "store.db.ledger.duckdb"
    rng = random.Random(5)
    persons, orgs = [person(i + 1) for i in range(4)], [org(i + 1) for i in range(2)]
    make_store(url)
    add_events(url, filings(rng, "a", persons, orgs, 10) + registrations(rng, "r", persons, orgs))
    full = ["--as-of", AS_OF.isoformat(), "--full"]
    run("derive", "--db", url, *full)
    with closing(duckdb.connect(str(copy))) as con:
        con.execute("ALTER TABLE events DROP COLUMN birth_date")
    late = person(9)
    add_events(url, filings(rng, "b", [late], [], 3), register=False)
    run("derive", "--db", url, *full)
    assert _copied_subjects(copy, late) == {(None, None)}  # not registered yet
    register_subjects(url, [late])
    run("derive", "--db", url, *full)
    birth = dt.date(int(late[6:10]), int(late[10:12]), int(late[12:14]))
    assert _copied_subjects(copy, late) == {("person", birth)}
    assert _copied(copy) == _ledger(url)
    from_copy = snapshot(url)
    assert any(row[0] == late for row in from_copy["ratings"])
    monkeypatch.setenv("SOCIALCREDIT_LEDGER_MIRROR", "0")
    run("derive", "--db", url, *full)
    assert snapshot(url) == from_copy


def _copied_subjects(path: Path, subject_id: str) -> set[tuple[Any, ...]]:
    with closing(duckdb.connect(str(path), read_only=True)) as con:
        rows = con.execute(
            "SELECT DISTINCT kind, birth_date FROM events WHERE subject_id = ?", [subject_id]
        ).fetchall()
    return {tuple(r) for r in rows}


def test_a_second_full_derive_is_refused_while_the_ledger_copy_is_in_use(
    tmp_path: Path, run: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    make_store(url)
    add_events(url, filings(random.Random(5), "a", [person(1)], [org(1)], 4))
    full = ["--as-of", AS_OF.isoformat(), "--full"]
    run("derive", "--db", url, *full)
    holds_copy = (  # as a running derive would
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
        " time.sleep(120)"
    )
    with _holding(holds_copy, str(tmp_path / "store.db.ledger.duckdb")):
        refused = run("derive", "--db", url, *full, ok=False)
        assert refused.exit_code != 0
        assert "is in use (is another full derive running" in " ".join(refused.stderr.split())
    run("derive", "--db", url, *full)


def test_a_full_derive_waits_for_a_busy_sqlite_store(
    tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's SQLite writer does not wait for a busy store: while another process (an
    ingestion committing a chunk) holds the write lock, the load is tried again until it gets
    through, and the run succeeds."""
    from socialcredit.derive.engines import duckdb as duck_engine

    url = f"sqlite:///{tmp_path / 'store.db'}"
    make_store(url)
    add_events(url, filings(random.Random(9), "a", [person(1), person(2)], [org(1)], 8))
    create = duck_engine.create_sqlite_shadows

    def create_then_lock(path: str, *args: Any) -> None:
        """Runs in the forked derive worker, between making the shadows and loading them."""
        create(path, *args)
        holder = subprocess.Popen(  # holds the write lock for a second and a half, then exits
            [
                sys.executable,
                "-c",
                "import sqlite3, sys, time; db = sqlite3.connect(sys.argv[1], isolation_level=None)"
                "; db.execute('BEGIN IMMEDIATE'); print('held', flush=True); time.sleep(1.5)"
                "; db.execute('COMMIT')",
                path,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"

    monkeypatch.setattr(duck_engine, "create_sqlite_shadows", create_then_lock)  # forked too
    result = run("derive", "--db", url, "--as-of", AS_OF.isoformat(), "--full")
    assert "the store is busy with another writer: loading again" in result.stderr
    assert snapshot(url)["ratings"]


HOLD_LOCK = {
    "sqlite": (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1] + '.derive.lock', os.O_RDWR | "
        "os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)"
    ),
    "postgresql": (
        "import psycopg, sys, time; c = psycopg.connect(sys.argv[1], autocommit=True); "
        f"c.execute('SELECT pg_advisory_lock({ADVISORY_KEY})'); print('held', flush=True); "
        "time.sleep(60)"
    ),
}


def test_one_derive_at_a_time_per_store(
    db_url: str, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another derive holds the store's derive lock, a derive waits for it, then gives up
    with a conflict; once the lock is free, it runs."""
    make_store(db_url)
    add_events(db_url, filings(random.Random(3), "a", [person(1)], [org(1)], 4))
    url = make_url(normalise_url(db_url))
    backend = url.get_backend_name()
    target = (
        url.database
        if backend == "sqlite"
        else url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    with _holding(HOLD_LOCK[backend], str(target)):
        monkeypatch.setenv("SOCIALCREDIT_DERIVE_LOCK_WAIT_SECONDS", "0.5")
        refused = run("derive", "--db", db_url, "--as-of", AS_OF.isoformat(), ok=False)
        assert refused.exit_code != 0
        assert "another derive is running on this store" in " ".join(refused.stderr.split())
    summary = json.loads(
        run("derive", "--db", db_url, "--as-of", AS_OF.isoformat(), "--json").stdout
    )
    assert summary["mode"] == "full"
