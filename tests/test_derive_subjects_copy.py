"""SQLite: the subjects a full run rates come from the copy beside the store
(``derive/subjects_mirror.py``), brought up to date by appending the rows registered since,
and copied again when the store no longer holds what was copied. Either way a run rates what
a run reading the store itself rates."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest
from derive_scenarios import AS_OF, filings, registrations, snapshot
from derive_support import add_events, event, make_store, org, person

from socialcredit.derive import ledger_mirror
from socialcredit.derive.engines.duckdb import DuckDBEngine
from socialcredit.settings import Settings


def _derive(run: Any, url: str) -> dict[str, Any]:
    out = run("derive", "--db", url, "--as-of", AS_OF.isoformat(), "--full", "--json")
    return dict(json.loads(out.stdout))


def _ratings_from_the_store(run: Any, url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The ratings a run reading the store itself (no copy) leaves."""
    monkeypatch.setenv("SOCIALCREDIT_LEDGER_MIRROR", "false")
    try:
        _derive(run, url)
        return snapshot(url)["ratings"]
    finally:
        monkeypatch.delenv("SOCIALCREDIT_LEDGER_MIRROR")


def _copy(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(ledger_mirror.mirror_path(str(path)))


def _copied(path: Path) -> list[tuple[int, str]]:
    db = _copy(path)
    try:
        rows = db.execute("SELECT row_no, subject_id FROM subjects ORDER BY row_no").fetchall()
        return [(int(row), str(subject)) for row, subject in rows]
    finally:
        db.close()


def _in_store(path: Path) -> list[tuple[int, str]]:
    db = sqlite3.connect(path)
    try:
        return list(db.execute("SELECT rowid, subject_id FROM subjects ORDER BY rowid"))
    finally:
        db.close()


def _rated(url: str) -> set[str]:
    return {row[0] for row in snapshot(url)["ratings"]}


def _refresh_messages(url: str) -> list[str]:
    """Bring the copy up to date as a full run does; the messages it gave."""
    messages: list[str] = []
    with DuckDBEngine(Settings().with_db(url)) as duck:
        duck.attach(url)
        duck.ledger_events(messages.append)
    return messages


def _store(tmp_path: Path, run: Any, n_persons: int, n_orgs: int = 2) -> str:
    """A SQLite store of a few subjects with filings, fully derived once."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    persons, orgs = [person(i + 1) for i in range(n_persons)], [org(i + 1) for i in range(n_orgs)]
    rng = random.Random(5)
    make_store(url)
    add_events(url, filings(rng, "a", persons, orgs, 40) + registrations(rng, "r", persons, orgs))
    _derive(run, url)
    return url


def _loan_defaults(prefix: str, subjects: list[str]) -> list[dict[str, Any]]:
    return [
        event("bank", f"{prefix}-{i}", subject, "finance.loan_default", AS_OF, amount_fen=10_000)
        for i, subject in enumerate(subjects)
    ]


def test_subjects_registered_since_are_appended_and_rated(
    tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enough subjects that rowids run to two digits (the check compares them as numbers)."""
    url = _store(tmp_path, run, 24, 4)
    path = tmp_path / "store.db"
    assert _copied(path) == _in_store(path) and len(_copied(path)) > 10
    newcomers = [person(i + 50) for i in range(3)]
    add_events(url, _loan_defaults("B", newcomers))

    # A mark on a copied row survives the refresh: the newcomers were appended, not the
    # subjects copied again.
    db = _copy(path)
    db.execute("UPDATE subjects SET kind = 'marked' WHERE row_no = 1")
    db.close()
    assert not any("subjects" in message for message in _refresh_messages(url))
    db = _copy(path)
    (kind,) = db.execute("SELECT kind FROM subjects WHERE row_no = 1").fetchone()
    db.execute("UPDATE subjects SET kind = 'person' WHERE row_no = 1")
    db.close()
    assert kind == "marked"
    assert _copied(path) == _in_store(path)
    _derive(run, url)
    assert set(newcomers) <= _rated(url)
    assert _ratings_from_the_store(run, url, monkeypatch) == snapshot(url)["ratings"]


def test_full_runs_rate_the_subjects_of_the_copy(tmp_path: Path, run: Any) -> None:
    """What a full run rates is the copy (a subject only the copy holds gets a rating)."""
    url = _store(tmp_path, run, 4)
    stray = person(90)
    db = _copy(tmp_path / "store.db")
    db.execute("INSERT INTO subjects VALUES (1000000, ?, 'person', DATE '1980-01-01')", [stray])
    db.close()
    _derive(run, url)
    assert stray in _rated(url)


def test_renumbered_rows_and_a_subject_registered_again_are_copied_again(
    tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _store(tmp_path, run, 12)
    path = tmp_path / "store.db"

    # Every rowid moved, as SQLite says VACUUM may do to a table without an integer key.
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE subjects SET rowid = rowid + 100")
    db.close()
    assert any("subjects differ" in message for message in _refresh_messages(url))
    assert _copied(path) == _in_store(path)

    # A subject deleted by hand and registered again: a new rowid, after the copy's last one.
    again = _in_store(path)[3][1]
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TEMP TABLE kept AS SELECT * FROM subjects WHERE subject_id = ?", [again])
    db.execute("DELETE FROM subjects WHERE subject_id = ?", [again])
    db.execute("INSERT INTO subjects SELECT * FROM kept")
    db.close()
    assert any("registered again" in message for message in _refresh_messages(url))
    assert _copied(path) == _in_store(path)
    _derive(run, url)
    assert _ratings_from_the_store(run, url, monkeypatch) == snapshot(url)["ratings"]
