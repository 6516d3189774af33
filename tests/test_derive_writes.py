"""How a full run's results reach the store: only the changed rows when they are few, whole
tables otherwise, the same rows either way, and never without the run being finished in the
same transaction."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest
from alembic import command
from derive_scenarios import AS_OF, filings, follow_ups, registrations, snapshot
from derive_support import add_events, event, make_store, org, person, store
from sqlalchemy import func, select

from socialcredit.derive.engines import duckdb_hash_cache as hash_cache
from socialcredit.derive.engines.duckdb import DuckDBEngine
from socialcredit.derive.run_finish import RunFinish
from socialcredit.settings import Settings
from socialcredit.store import tables
from socialcredit.store.engine import alembic_config


def _derive(run: Any, db_url: str, as_of: dt.date = AS_OF, **kw: Any) -> dict[str, Any]:
    out = run("derive", "--db", db_url, "--as-of", as_of.isoformat(), "--full", "--json", **kw)
    return dict(json.loads(out.stdout))


def _finished_runs(db_url: str) -> list[tuple[Any, ...]]:
    runs = tables.derive_runs
    with store(db_url) as engine, engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(runs.c.run_id, runs.c.as_of)
                .where(runs.c.finished_at.is_not(None))
                .order_by(runs.c.run_id)
            )
        ]


def test_a_full_run_writes_only_what_changed_and_equals_a_whole_rewrite(
    db_url: str, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(11)
    sqlite = db_url.startswith("sqlite")
    persons, orgs = [person(i + 1) for i in range(12)], [org(i + 1) for i in range(5)]
    make_store(db_url)
    first = filings(rng, "a", persons, orgs, 60) + registrations(rng, "r", persons, orgs)
    add_events(db_url, first)
    assert _derive(run, db_url)["written"]["method"] == "whole_tables"  # empty tables: load

    # A few amendments, revocations, fulfilments and one new record, then a later as-of date.
    # In a store this small they change a large share of the rows: above 1 % of them, whole
    # tables are written; the default share (20 %) fits a large store.
    add_events(db_url, follow_ups(rng, first) + filings(rng, "b", persons[:1], orgs[:1], 1))
    later = AS_OF + dt.timedelta(days=40)
    monkeypatch.setenv("SOCIALCREDIT_DERIVE_DELTA_MAX_SHARE", "0.01")
    assert _derive(run, db_url, later)["written"]["method"] == "whole_tables"
    add_events(db_url, follow_ups(rng, first) + filings(rng, "c", persons[:1], orgs[:1], 1))
    monkeypatch.setenv("SOCIALCREDIT_DERIVE_DELTA_MAX_SHARE", "0.9")
    result = _derive(run, db_url, later + dt.timedelta(days=1))
    written = result["written"]
    rows = result["ratings"] + result["list_entries"] + result["decisions"]
    assert written["method"] == "changed_rows"
    assert 0 < written["rows_inserted"] + written["rows_deleted"] < rows
    # On SQLite the stored rows' hashes come from the ledger copy, kept by the previous run.
    assert written["compared_with"] == ("ledger_copy" if sqlite else "store")
    changed = snapshot(db_url)
    later += dt.timedelta(days=1)

    monkeypatch.setenv("SOCIALCREDIT_DERIVE_DELTA_MAX_SHARE", "0")  # whole tables, from scratch
    again = _derive(run, db_url, later)
    whole = {"method": "whole_tables", "rows_deleted": 0, "rows_inserted": rows}
    assert again["written"] == {**whole, "compared_with": ""}
    assert snapshot(db_url) == changed

    monkeypatch.delenv("SOCIALCREDIT_DERIVE_DELTA_MAX_SHARE")
    unchanged = _derive(run, db_url, later)["written"]
    # The run before compared nothing, so kept no hashes: this one reads the store's rows.
    assert unchanged == {
        "method": "changed_rows",
        "rows_deleted": 0,
        "rows_inserted": 0,
        "compared_with": "store",
    }
    assert [when for _, when in _finished_runs(db_url)] == [
        AS_OF,
        later - dt.timedelta(days=1),
        later,
        later,
        later,
    ]


@pytest.mark.parametrize("share", ["0", "1"])
def test_a_failed_write_keeps_the_previous_results_and_the_run_unfinished(
    db_url: str, run: Any, monkeypatch: pytest.MonkeyPatch, share: str
) -> None:
    """The results and the run's finish are one transaction, on both write paths: when the
    finish fails, the store still holds the previous run's results, and that run is still the
    last finished one."""
    rng = random.Random(4)
    persons, orgs = [person(i + 1) for i in range(6)], [org(i + 1) for i in range(3)]
    make_store(db_url)
    first = filings(rng, "a", persons, orgs, 30) + registrations(rng, "r", persons, orgs)
    add_events(db_url, first)
    _derive(run, db_url)
    before, runs = snapshot(db_url), _finished_runs(db_url)
    add_events(db_url, follow_ups(rng, first) + filings(rng, "b", persons, orgs, 10))

    def refuse(*_: Any) -> None:
        raise RuntimeError("the store went away before the commit")

    monkeypatch.setattr(RunFinish, "execute", refuse)  # inherited by the forked worker
    monkeypatch.setattr(RunFinish, "execute_sqlite3", refuse)
    monkeypatch.setenv("SOCIALCREDIT_DERIVE_DELTA_MAX_SHARE", share)
    failed = run(
        "derive", "--db", db_url, "--as-of", AS_OF.isoformat(), "--full", "--json", ok=False
    )
    assert failed.exit_code != 0
    assert "the store went away" in failed.output + repr(failed.exception)
    assert snapshot(db_url) == before and _finished_runs(db_url) == runs
    with store(db_url) as engine, engine.connect() as conn:
        names = [n for n in engine.dialect.get_table_names(conn) if "__derive_" in n]
        assert names == [], "a failed swap leaves no shadow table behind"
        unfinished = conn.execute(
            select(func.count()).where(tables.derive_runs.c.finished_at.is_(None))
        ).scalar_one()
        assert unfinished == 1


def test_the_run_columns_come_back_on_a_downgrade(db_url: str, run: Any) -> None:
    """Revision 0004 took the run off every derived row; a downgrade puts back the last
    finished run's, and an upgrade takes them off again, the rows otherwise unchanged."""
    rng = random.Random(8)
    persons, orgs = [person(i + 1) for i in range(5)], [org(i + 1) for i in range(3)]
    make_store(db_url)
    rows = filings(rng, "a", persons, orgs, 25) + registrations(rng, "r", persons, orgs)
    add_events(db_url, rows)
    run_id = _derive(run, db_url)["run_id"]
    current = snapshot(db_url)
    with store(db_url) as engine:
        command.downgrade(alembic_config(engine), "0003")
        with engine.connect() as conn:
            for name in ("ratings", "list_entries", "decisions"):
                stamped = conn.exec_driver_sql(
                    f"SELECT DISTINCT run_id, as_of, policy_version FROM {name}"
                ).all()
                assert [(r[0], str(r[1])[:10], r[2]) for r in stamped] == [
                    (run_id, AS_OF.isoformat(), "derive-test-1")
                ]
        command.upgrade(alembic_config(engine), "head")
    assert snapshot(db_url) == current
    assert _derive(run, db_url)["written"]["method"] == "changed_rows"


def test_a_setting_out_of_range_is_a_one_line_error(
    db_url: str, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_store(db_url)
    monkeypatch.setenv("SOCIALCREDIT_DERIVE_DELTA_MAX_SHARE", "2")
    failed = run("derive", "--db", db_url, ok=False)
    assert failed.exit_code == 1 and failed.exception is not None
    assert "config_invalid" in failed.output
    assert "SOCIALCREDIT_DERIVE_DELTA_MAX_SHARE='2'" in failed.output.replace("\n", "")
    assert "Traceback" not in failed.output


def test_a_run_as_of_a_day_to_come_is_refused(db_url: str, run: Any) -> None:
    """A run's results are the live state every check reads: never as of a future day."""
    make_store(db_url)
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    failed = run("derive", "--db", db_url, "--as-of", tomorrow, "--json", ok=False)
    assert failed.exit_code == 2
    error = json.loads(failed.stdout)["error"]
    assert error["code"] == "validation_failed" and "is after today" in error["message"]
    assert _finished_runs(db_url) == []
    today = json.loads(run("derive", "--db", db_url, "--json").stdout)
    assert today["as_of"] == dt.date.today().isoformat()
    again = run("derive", "--db", db_url)  # no new events: says so, not "0 subjects"
    assert "nothing changed since the last run" in " ".join(again.stderr.split())


def test_hashes_kept_by_a_run_are_not_used_after_an_incremental_run(
    db_url: str, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full run compares with the hashes the last full run kept (SQLite) only while that run
    is still the store's last finished one: an incremental run rewrites rows behind them."""
    rng = random.Random(21)
    persons, orgs = [person(i + 1) for i in range(6)], [org(i + 1) for i in range(3)]
    make_store(db_url)
    add_events(
        db_url, filings(rng, "a", persons, orgs, 20) + registrations(rng, "r", persons, orgs)
    )
    _derive(run, db_url)
    before = snapshot(db_url)

    # A new defaulter filing, derived incrementally: that person's rows change in the store.
    filing = event("court", "X-1", persons[0], "court.dishonest_defaulter", AS_OF, ground="evasion")
    add_events(db_url, [filing])
    out = run("derive", "--db", db_url, "--as-of", AS_OF.isoformat(), "--json")
    assert json.loads(out.stdout)["mode"] == "incremental"
    assert snapshot(db_url) != before

    # Revoked again: the full run's results equal the first run's, which the kept hashes
    # describe; only the store's own rows show what must change back.
    add_events(db_url, [{**filing, "action": "revoke"}])
    written = _derive(run, db_url)["written"]
    assert written["compared_with"] == "store"
    assert written["rows_deleted"] > 0
    assert snapshot(db_url) == before

    # Now the hashes are this run's again, and the next full run uses them.
    again = _derive(run, db_url)["written"]
    expected = "ledger_copy" if db_url.startswith("sqlite") else "store"
    assert again == {
        "method": "changed_rows",
        "rows_deleted": 0,
        "rows_inserted": 0,
        "compared_with": expected,
    }


def _lists_grounds(url: str) -> list[tuple[Any, ...]]:
    with store(url) as engine, engine.connect() as conn:
        entries = tables.list_entries
        return sorted(conn.execute(select(entries.c.record_id, entries.c.ground)).all(), key=repr)


def _derived_sqlite_store(tmp_path: Path, run: Any, seed: int) -> tuple[str, list[str]]:
    """A small SQLite store, fully derived once (which keeps its hashes); and its persons."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    rng = random.Random(seed)
    persons, orgs = [person(i + 1) for i in range(6)], [org(i + 1) for i in range(3)]
    make_store(url)
    add_events(url, filings(rng, "a", persons, orgs, 30) + registrations(rng, "r", persons, orgs))
    _derive(run, url)
    return url, persons


def test_kept_hashes_are_not_trusted_after_a_migration_a_hand_edit_or_damage(
    tmp_path: Path, run: Any
) -> None:
    """SQLite: the kept hashes are used only while they still describe the stored rows."""
    url, persons = _derived_sqlite_store(tmp_path, run, seed=31)
    assert _derive(run, url)["written"]["compared_with"] == "ledger_copy"
    derived, grounds = snapshot(url), _lists_grounds(url)
    assert any(ground for _, ground in grounds)

    # Migration 0002 takes the list entries' grounds off and puts them back empty: the round
    # trip changes the schema, so the next run reads the store and writes the grounds again.
    with store(url) as engine:
        command.downgrade(alembic_config(engine), "0001")
        command.upgrade(alembic_config(engine), "head")
    assert not any(ground for _, ground in _lists_grounds(url))
    written = _derive(run, url)["written"]
    assert written["compared_with"] == "store" and written["rows_inserted"] > 0
    assert snapshot(url) == derived
    assert _derive(run, url)["written"]["compared_with"] == "ledger_copy"

    # A rating deleted by hand: the store no longer holds as many rows as the hashes.
    with store(url) as engine, engine.begin() as conn:
        conn.execute(tables.ratings.delete().where(tables.ratings.c.subject_id == persons[0]))
    written = _derive(run, url)["written"]
    assert written["compared_with"] == "store" and written["rows_inserted"] == 1
    assert snapshot(url) == derived

    # A kept table of the wrong shape (damaged, or another release's): read the store instead.
    db = duckdb.connect(str(tmp_path / "store.db.ledger.duckdb"))
    db.execute("CREATE OR REPLACE TABLE derived_hash_ratings AS SELECT 1 AS subject_id")
    db.close()
    written = _derive(run, url)["written"]
    assert written == {
        "method": "changed_rows",
        "rows_deleted": 0,
        "rows_inserted": 0,
        "compared_with": "store",
    }
    assert _derive(run, url)["written"]["compared_with"] == "ledger_copy"


def test_a_difference_the_store_refuses_is_made_again_against_the_store(
    tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: rows edited by hand in a way the checks miss (here, with sampling off, one list
    entry swapped for one the next run will compute) make the difference from the kept hashes
    collide with a stored row; the run then compares with the store itself, and succeeds."""
    url, persons = _derived_sqlite_store(tmp_path, run, seed=41)
    filing = event("court", "X-9", persons[1], "court.dishonest_defaulter", AS_OF, ground="evasion")
    add_events(url, [filing])
    entries = tables.list_entries
    with store(url) as engine, engine.begin() as conn:
        (gone,) = conn.execute(select(entries.c.record_id).limit(1)).one()
        conn.execute(entries.delete().where(entries.c.record_id == gone))
        conn.execute(
            entries.insert().values(
                list_code="court_defaulters",
                subject_id=persons[1],
                furnisher="court",
                record_id="X-9",
                start_on=AS_OF,
                basis="by hand",
                document_no="by hand",
            )
        )
    monkeypatch.setattr(hash_cache, "SAMPLES", 0)  # inherited by the forked worker
    written = _derive(run, url)["written"]
    assert written["compared_with"] == "store"
    repaired = snapshot(url)
    monkeypatch.setenv("SOCIALCREDIT_DERIVE_DELTA_MAX_SHARE", "0")  # whole tables, from scratch
    _derive(run, url)
    assert snapshot(url) == repaired


def _counting_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("stored-row-counts")]


def test_the_background_count_of_stored_rows_ends_before_the_store_is_detached(
    tmp_path: Path, run: Any
) -> None:
    """SQLite: the derived tables' rows are counted on a thread of their own while a run
    computes (for the kept hashes' check), and that thread never outlives the attached store:
    the store's own driver writes to it next, and two SQLite libraries must not share it."""
    url, _ = _derived_sqlite_store(tmp_path, run, seed=41)
    settings = Settings().with_db(url)
    for finish in ("detach", "close"):
        with DuckDBEngine(settings) as duck:
            duck.attach(url)
            duck.ledger_events()
            duck.count_stored_rows(["ratings", "list_entries", "decisions"])
            assert _counting_threads()
            if finish == "detach":
                duck.detach()
                assert not _counting_threads()
        assert not _counting_threads()
    # The counts themselves agree with the kept hashes: the next run uses them.
    assert _derive(run, url)["written"]["compared_with"] == "ledger_copy"


def test_kept_hashes_brought_up_to_date_in_place_match_every_stored_row(
    tmp_path: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: a run that compared with the kept hashes updates them by its difference alone;
    the next run, checking every kept row against the store (not 8), still uses them."""
    url, persons = _derived_sqlite_store(tmp_path, run, seed=51)
    for i, who in enumerate(persons[:3]):
        filing = event("court", f"N-{i}", who, "court.dishonest_defaulter", AS_OF, ground="evasion")
        add_events(url, [filing])
        written = _derive(run, url)["written"]
        assert written["compared_with"] == "ledger_copy" and written["rows_inserted"] > 0
        monkeypatch.setattr(hash_cache, "SAMPLES", 10**9)  # inherited by the forked worker
    updated = snapshot(url)
    monkeypatch.setenv("SOCIALCREDIT_DERIVE_DELTA_MAX_SHARE", "0")  # whole tables, from scratch
    _derive(run, url)
    assert snapshot(url) == updated
