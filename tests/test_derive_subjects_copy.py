"""SQLite: the subjects a full run rates come from the copy beside the store
(``derive/subjects_mirror.py``), brought up to date by appending the rows registered since,
and copied again when the store no longer holds what was copied. Either way a run gives what
it gives reading the store itself."""

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


def _derive(run: Any, url: str) -> dict[str, Any]:
    out = run("derive", "--db", url, "--as-of", AS_OF.isoformat(), "--full", "--json")
    return dict(json.loads(out.stdout))


def _from_the_store(run: Any, url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The derived tables as a run reading the store itself (no copy) leaves them."""
    monkeypatch.setenv("SOCIALCREDIT_LEDGER_MIRROR", "false")
    try:
        _derive(run, url)
        return snapshot(url)
    finally:
        monkeypatch.delenv("SOCIALCREDIT_LEDGER_MIRROR")


def _copied(path: Path) -> list[str]:
    db = duckdb.connect(ledger_mirror.mirror_path(str(path)), read_only=True)
    try:
        return [
            s for (s,) in db.execute("SELECT subject_id FROM subjects ORDER BY row_no").fetchall()
        ]
    finally:
        db.close()


def _rated(url: str) -> set[str]:
    return {row[0] for row in snapshot(url)["ratings"]}


def _store(tmp_path: Path, run: Any, persons: list[str], orgs: list[str]) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    rng = random.Random(5)
    make_store(url)
    add_events(url, filings(rng, "a", persons, orgs, 12) + registrations(rng, "r", persons, orgs))
    _derive(run, url)
    return url


def test_subjects_registered_after_a_run_are_appended_to_the_copy_and_rated(
    tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    persons, orgs = [person(i + 1) for i in range(4)], [org(i + 1) for i in range(2)]
    url = _store(tmp_path, run, persons, orgs)
    before = _copied(tmp_path / "store.db")
    newcomers = [person(i + 50) for i in range(3)]
    add_events(
        url,
        [
            event("bank", f"B-{i}", subject, "finance.loan_default", AS_OF, amount_fen=10_000)
            for i, subject in enumerate(newcomers)
        ],
    )
    _derive(run, url)

    copied = _copied(tmp_path / "store.db")
    assert copied[: len(before)] == before  # appended, not copied again
    assert sorted(copied) == sorted(set(copied)) and set(newcomers) <= set(copied)
    assert set(newcomers) <= _rated(url)
    derived = snapshot(url)
    assert _from_the_store(run, url, monkeypatch) == derived


def test_a_subject_the_store_no_longer_holds_is_not_rated_from_the_copy(
    tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    persons, orgs = [person(i + 1) for i in range(4)], [org(i + 1) for i in range(2)]
    url = _store(tmp_path, run, persons, orgs)
    db = sqlite3.connect(tmp_path / "store.db")
    (last,) = db.execute("SELECT subject_id FROM subjects ORDER BY rowid DESC LIMIT 1").fetchone()
    with db:  # deleted by hand: the copy's last row is no longer the store's
        db.execute("DELETE FROM subjects WHERE subject_id = ?", [last])
    db.close()
    assert last in _rated(url)

    _derive(run, url)
    assert last not in _copied(tmp_path / "store.db")
    assert last not in _rated(url)
    # The ratings, at least, are what the store's own subjects give (the ledger copy keeps the
    # kind its events' subject had when they were copied, and lists follow those).
    ratings = snapshot(url)["ratings"]
    assert _from_the_store(run, url, monkeypatch)["ratings"] == ratings


def test_a_store_vacuumed_after_deletions_is_copied_again(
    tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VACUUM may renumber the rowids of a table without an integer key: the copy notices."""
    persons, orgs = [person(i + 1) for i in range(6)], [org(i + 1) for i in range(2)]
    url = _store(tmp_path, run, persons, orgs)
    db = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    (first,) = db.execute("SELECT subject_id FROM subjects ORDER BY rowid LIMIT 1").fetchone()
    db.execute("DELETE FROM subjects WHERE subject_id = ?", [first])
    db.execute("VACUUM")
    renumbered = [s for (s,) in db.execute("SELECT subject_id FROM subjects ORDER BY rowid")]
    db.close()

    _derive(run, url)
    assert _copied(tmp_path / "store.db") == renumbered
    assert first not in _rated(url)
    ratings = snapshot(url)["ratings"]
    assert _from_the_store(run, url, monkeypatch)["ratings"] == ratings
