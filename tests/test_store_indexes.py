"""Revision 0005: the legal-representative index holds only the events that name one, and the
look-ups by representative still use it."""

from __future__ import annotations

from pathlib import Path

from tests.ingest_support import init, migrate, query


def _definition(db_url: str) -> str:
    if db_url.startswith("sqlite"):
        sql = "select sql from sqlite_master where name = 'ix_events_legal_rep'"
    else:
        sql = "select indexdef from pg_indexes where indexname = 'ix_events_legal_rep'"
    (row,) = query(db_url, sql)
    return " ".join(str(row[0]).replace("(", " ").replace(")", " ").split()).lower()


def test_the_legal_rep_index_is_partial_and_migrates_both_ways(db_url: str) -> None:
    init(db_url)
    assert _definition(db_url).endswith("where legal_rep_id is not null")
    migrate(db_url, "0004")
    assert "where" not in _definition(db_url)
    migrate(db_url, "head")
    assert _definition(db_url).endswith("where legal_rep_id is not null")


def test_look_ups_by_legal_rep_use_the_partial_index(tmp_path: Path) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'store.db'}"
    init(sqlite_url)
    plan = query(
        sqlite_url,
        "explain query plan select subject_id from events where legal_rep_id in ('a', 'b')",
    )
    assert any("ix_events_legal_rep" in str(step[-1]) for step in plan), plan
