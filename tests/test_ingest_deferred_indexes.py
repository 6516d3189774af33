"""A run that is large for its SQLite store builds the events' subject and representative indexes
at its end (``ingest.deferred_indexes``): the same indexes afterwards, readers unaffected
meanwhile, nothing changed by a run that fails, and never on PostgreSQL or for a small run."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from socialcredit.ingest import pipeline
from socialcredit.ingest.deferred_indexes import (
    DEFERRED,
    DeferredIndexes,
    expected_rows,
    should_defer,
)
from socialcredit.ingest.readers import open_source
from socialcredit.store.engine import make_engine
from tests.ingest_support import (
    FIXTURES,
    ingest,
    ingest_fails,
    init,
    migrate,
    query,
    read_fixture,
    typed,
    write_parquet,
)

INDEXES = "select name, sql from sqlite_master where type = 'index' and tbl_name = 'events'"


def _names(conn: Connection) -> set[str]:
    return {row[0] for row in conn.execute(text(INDEXES))}


def test_a_first_load_drops_and_rebuilds_the_same_indexes(  # type: ignore[no-untyped-def]
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    init(url)
    migrated = sorted(query(url, INDEXES))
    decided: list[bool] = []

    def spy(conn: Connection, rows: int) -> bool:
        decided.append(should_defer(conn, rows))
        return decided[-1]

    monkeypatch.setattr(pipeline, "should_defer", spy)
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"record_id,subject_id,name\nA,B,C\n")  # no subject_name column
    ingest_fails(run, url, FIXTURES / "court_good.csv", broken, furnisher="court")
    assert sorted(query(url, INDEXES)) == migrated  # the failed run's drop was rolled back
    assert ingest(run, url, FIXTURES / "court_good.csv", furnisher="court")["accepted"] == 5
    assert decided == [True, True]  # both runs brought more than the empty store held
    assert sorted(query(url, INDEXES)) == migrated
    assert query(url, "pragma integrity_check") == [("ok",)]
    plan = query(url, "explain query plan select seq from events where subject_id = 'x'")
    assert any("ix_events_subject" in str(step[-1]) for step in plan), plan
    by_index = query(url, "select subject_id, count(*) from events group by 1 order by 1")
    by_scan = query(
        url, "select subject_id, count(*) from events not indexed group by 1 order by 1"
    )
    assert by_index == by_scan and len(by_index) > 1


def test_readers_keep_the_indexes_while_a_run_defers_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    init(url)
    writer, reader = make_engine(url), make_engine(url)
    try:
        with writer.connect() as conn:
            with pytest.raises(RuntimeError), conn.begin():
                DeferredIndexes(conn).drop()
                assert not _names(conn) & set(DEFERRED)  # gone for the run itself
                with reader.connect() as other:
                    assert set(DEFERRED) <= _names(other)  # not for a reader
                raise RuntimeError("the run fails")
            assert set(DEFERRED) <= _names(conn)  # rolled back
            conn.rollback()
            steps: list[str] = []

            class Steps:
                def start(self, file: str, total: int, unit: str) -> None:
                    steps.append(f"start {file}")

                def advance(self, position: int, rows: int) -> None:
                    steps.append("advance")

                def finish(self) -> None:
                    steps.append("finish")

            with conn.begin():
                deferred = DeferredIndexes(conn)
                deferred.drop()
                deferred.rebuild(Steps())
            assert steps == ["start building the events' indexes", "finish"]  # shown, not silent
        with reader.connect() as other:
            assert set(DEFERRED) <= _names(other)  # built again and committed
    finally:
        writer.dispose()
        reader.dispose()


def test_only_a_run_large_for_a_sqlite_store_defers(run, db_url: str) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    engine = make_engine(db_url)
    sqlite = db_url.startswith("sqlite")
    try:
        with engine.connect() as conn:
            assert should_defer(conn, 1) is sqlite  # an empty store
            assert should_defer(conn, 0) is False  # nothing expected (records from the API)
        ingest(run, db_url, FIXTURES / "court_good.csv", furnisher="court")  # 5 events
        with engine.connect() as conn:
            assert should_defer(conn, 3) is sqlite
            assert should_defer(conn, 2) is False
    finally:
        engine.dispose()


def test_the_expected_rows_come_from_the_files(tmp_path: Path) -> None:
    """Text files by size, Parquet by its row count; a broken file counts 0 (its reader then
    refuses it, naming the file: test_ingest_readers)."""
    text_file = tmp_path / "big.csv"
    text_file.write_bytes(b"x" * 10_000)
    header, rows = read_fixture("court_good.csv")
    parquet = write_parquet(tmp_path / "p.parquet", header, [typed(header, r) for r in rows])
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(parquet.read_bytes()[:300])
    sources = [open_source(path, 100) for path in (text_file, parquet, broken)]
    assert expected_rows(sources) == 10_000 // 200 + len(rows)


def test_a_store_keeps_the_index_definitions_it_has(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The indexes are rebuilt as the store defined them, not as this release would: a store
    before migration 0005 keeps its full legal-representative index."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    init(url)
    migrate(url, "0004")
    before = sorted(query(url, INDEXES))
    assert any("ix_events_legal_rep" in n and "WHERE" not in sql for n, sql in before)
    assert ingest(run, url, FIXTURES / "court_good.csv", furnisher="court")["accepted"] == 5
    assert sorted(query(url, INDEXES)) == before
