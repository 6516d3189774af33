"""``derive``: full and incremental runs, with one ``derive_runs`` row per run.

A full run computes everything from the attached store and replaces the derived tables in one
transaction. An incremental run (the default when the last finished run has the same as-of date
and policy version) recomputes only the subjects touched by events after that run's
``high_water_seq``: their events are read by index, derived in memory, and their rows replaced
in one store transaction. Decisions are replaced by *source* subject, which covers the legal
representatives of touched organisations (old and new) without recomputing them.

A full run on a SQLite store runs its engine in a child process (``worker.py``): DuckDB's
SQLite scanner carries its own SQLite library, which must not share a process with another
library that has the same file open.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, Engine, delete, insert

from socialcredit.derive import slices
from socialcredit.derive.engines import Engine as DeriveEngine
from socialcredit.derive.engines.duckdb import DuckDBEngine
from socialcredit.derive.engines.duckdb_write import TableWrite
from socialcredit.derive.lock import derive_lock
from socialcredit.derive.pipeline import (
    PRIMARY_KEYS,
    STORED,
    Derived,
    Progress,
    derive_relations,
    quiet,
    record_stages,
)
from socialcredit.derive.policy_tables import PolicyTables, policy_tables
from socialcredit.derive.run_finish import RunFinish
from socialcredit.derive.worker import run_in_child
from socialcredit.errors import NotFound, ValidationFailed
from socialcredit.settings import Settings
from socialcredit.store import tables
from socialcredit.store.engine import is_initialised, make_engine
from socialcredit.store.policies import policy_in_force
from socialcredit.store.runs import last_finished_run

Mode = Literal["full", "incremental"]
# Above this many touched subjects a full run is cheaper than slicing by index.
INCREMENTAL_MAX_SUBJECTS = 20_000
SOURCES = {
    "ratings": "sc_ratings",
    "list_entries": "sc_entries",
    "decisions": "sc_decisions",
}


@dataclass(frozen=True)
class DeriveResult:
    """What a run did; the counts are the rows it wrote (all rows for a full run)."""

    run_id: int
    mode: Mode
    as_of: dt.date
    policy_version: str
    high_water_seq: int
    subjects: int
    records: int
    ratings: int
    list_entries: int
    decisions: int
    lists: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # The as-of date of the run before (None: the first run): a run as of an earlier date
    # replaces the stored state with that date's, which ``check`` and ``report`` then give.
    previous_as_of: dt.date | None = None
    # How the results reached the store: method (changed_rows, whole_tables, slice), rows
    # deleted and inserted.
    written: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        if self.previous_as_of is not None:
            data["previous_as_of"] = self.previous_as_of.isoformat()
        return data


def _start_run(engine: Engine, mode: Mode, as_of: dt.date, version: str, high_water: int) -> int:
    with engine.begin() as conn:
        key = conn.execute(
            insert(tables.derive_runs).values(
                mode=mode,
                as_of=as_of,
                policy_version=version,
                high_water_seq=high_water,
                subjects=0,
                started_at=dt.datetime.now(dt.UTC),
            )
        ).inserted_primary_key
        return int(key[0]) if key else 0


def _counts(engine: DeriveEngine, derived: Derived) -> dict[str, Any]:
    per_list = engine.to_arrow(derived.list_entries.list_code.value_counts())
    return {
        "subjects": engine.count(derived.subjects),
        "records": engine.count(derived.filed),
        "ratings": engine.count(derived.ratings),
        "list_entries": engine.count(derived.list_entries),
        "decisions": engine.count(derived.decisions),
        "lists": dict(
            sorted(zip(per_list.column(0).to_pylist(), per_list.column(1).to_pylist(), strict=True))
        ),
    }


def _full(
    settings: Settings,
    url: str,
    run_id: int,
    high_water: int,
    as_of: dt.date,
    policy: PolicyTables,
    started: float,
    *,
    progress: Progress,
) -> dict[str, Any]:
    """The whole store through an attached engine, up to the run's high-water event (so that
    a report, which reads that far, sees what the run saw); writes the results and finishes
    the run in one store transaction; returns the counts."""
    progress("starting the engine")
    with DuckDBEngine(settings) as duck:
        progress("attaching the store")
        duck.attach(url)
        ledger = duck.ledger_events(progress)
        if settings.derive_delta_max_share > 0:  # the counts check kept hashes of a delta
            duck.count_stored_rows(list(SOURCES))
        events = ledger.filter(ledger.seq <= high_water)
        derived = derive_relations(duck, events, duck.ledger_subjects(), policy, as_of, progress)
        progress("counting")
        counts = _counts(duck, derived)
        progress("writing to the store")
        written = duck.replace_store_tables(
            [
                TableWrite(
                    target=name,
                    source=SOURCES[name],
                    columns=STORED[name],
                    order_by=PRIMARY_KEYS[name],
                )
                for name in SOURCES
            ],
            progress,
            tag=f"run{run_id}",
            finish=RunFinish(run_id, counts["subjects"], started),
            delta_max_share=settings.derive_delta_max_share,
        )
        progress("closing the engine")
    return {**counts, "written": asdict(written)}


def _rows(duck: DeriveEngine, derived: Derived) -> dict[str, list[dict[str, Any]]]:
    relations = {**derived.by_table(), "records": derived.records}
    return {name: duck.to_arrow(rel).to_pylist() for name, rel in relations.items()}


def _slice_inputs(duck: DuckDBEngine, piece: slices.Slice) -> tuple[Any, Any]:
    """A slice's events and subjects as relations of an in-memory engine."""
    return (
        duck.from_arrow("sc_events_in", piece.events),
        duck.from_arrow("sc_subjects_in", piece.subjects),
    )


def compute_slice(
    settings: Settings, piece: slices.Slice, policy: PolicyTables, as_of: dt.date
) -> dict[str, list[dict[str, Any]]]:
    """Derive a slice in an in-memory engine: rows per stored table (no run constants), and
    the slice's record states under ``records``."""
    with DuckDBEngine(settings) as duck:
        derived = derive_relations(duck, *_slice_inputs(duck, piece), policy, as_of)
        rows = _rows(duck, derived)
    for rating in rows["ratings"]:
        rating["reasons"] = json.loads(rating["reasons"])
    return rows


def slice_records(
    settings: Settings, piece: slices.Slice, policy: PolicyTables, as_of: dt.date
) -> list[dict[str, Any]]:
    """The record states of a slice alone (what a report lists), without the later stages."""
    with DuckDBEngine(settings) as duck:
        stages = record_stages(duck, *_slice_inputs(duck, piece), policy, as_of)
        rows: list[dict[str, Any]] = duck.to_arrow(stages.records()).to_pylist()
        return rows


def _in_chunks(column: Any, values: Sequence[str]) -> list[Any]:
    return [column.in_(values[i : i + slices.CHUNK]) for i in range(0, len(values), slices.CHUNK)]


def _replace_slice(
    conn: Connection, piece: slices.Slice, rows: Mapping[str, list[dict[str, Any]]]
) -> int:
    """Replace the slice's rows; returns how many stored rows were deleted."""
    touched = sorted(piece.subject_ids)
    deleted = 0
    for name in ("ratings", "list_entries"):
        table = tables.metadata.tables[name]
        for clause in _in_chunks(table.c.subject_id, touched):
            deleted += conn.execute(delete(table).where(clause)).rowcount
    # A decision belongs to its source subject; its holder is the source or a named legal rep.
    holders = sorted(piece.subject_ids | piece.legal_reps_named())
    d = tables.decisions
    for holder_clause in _in_chunks(d.c.subject_id, holders):
        for source_clause in _in_chunks(d.c.source_subject_id, touched):
            deleted += conn.execute(delete(d).where(holder_clause, source_clause)).rowcount
    for name in STORED:
        data = rows[name]
        if data:
            conn.execute(insert(tables.metadata.tables[name]), data)
    return deleted


def _incremental(
    settings: Settings,
    engine: Engine,
    run_id: int,
    high_water: int,
    as_of: dt.date,
    policy: PolicyTables,
    touched: set[str],
    started: float,
    progress: Progress,
) -> dict[str, Any]:
    progress(f"incremental: {len(touched)} touched subjects")
    with engine.connect() as conn:
        piece = slices.load_slice(conn, touched, through_seq=high_water)
    rows = (
        compute_slice(settings, piece, policy, as_of)
        if touched
        else {name: [] for name in (*STORED, "records")}
    )
    subjects = len(piece.subject_ids | piece.legal_reps_named())
    progress("writing to the store")
    with engine.begin() as conn:
        deleted = _replace_slice(conn, piece, rows)
        RunFinish(run_id, subjects, started).execute(conn)
    return {
        "written": {
            "method": "slice",  # the touched subjects' rows, replaced whatever they held
            "rows_deleted": deleted,
            "rows_inserted": sum(len(rows[name]) for name in STORED),
        },
        "subjects": subjects,
        "records": len(rows["records"]),
        "ratings": len(rows["ratings"]),
        "list_entries": len(rows["list_entries"]),
        "decisions": len(rows["decisions"]),
        "lists": dict(sorted(Counter(r["list_code"] for r in rows["list_entries"]).items())),
    }


def derive(
    settings: Settings,
    *,
    as_of: dt.date | None = None,
    full: bool = False,
    progress: Progress = quiet,
) -> DeriveResult:
    """Run the derivation as of ``as_of`` (default today, never later) and record the run."""
    started = time.time()  # wall clock: a full run on SQLite finishes in a child process
    today = dt.date.today()
    day = as_of or today
    if day > today:
        # The run's results are the live state every check reads: never a day still to come.
        raise ValidationFailed(
            f"--as-of {day.isoformat()} is after today ({today.isoformat()}): a run derives "
            "the state on a day that has come; `report ID --as-of DATE` replays any date",
            details={"as_of": day.isoformat(), "today": today.isoformat()},
        )
    engine = make_engine(settings.db)
    try:
        if not is_initialised(engine):
            raise NotFound("the store is not initialised: run `socialcredit init` first")
        with derive_lock(engine, settings.derive_lock_wait_seconds, progress):
            return _locked_run(settings, engine, day, full, started, progress)
    finally:
        engine.dispose()


def _locked_run(
    settings: Settings,
    engine: Engine,
    day: dt.date,
    full: bool,
    started: float,
    progress: Progress,
) -> DeriveResult:
    """The run itself, with the store's derive lock held."""
    loaded = policy_in_force(engine, day)
    version = loaded.policy.version
    policy = policy_tables(loaded.policy)
    with engine.connect() as conn:
        high_water = slices.high_water_seq(conn)
        previous = last_finished_run(conn)
        touched = None
        if (
            not full
            and previous is not None
            and previous.as_of == day
            and previous.policy_version == version
        ):
            touched = slices.touched_subjects(
                conn, previous.high_water_seq, limit=INCREMENTAL_MAX_SUBJECTS
            )
    mode: Mode = "incremental" if touched is not None else "full"
    run_id = _start_run(engine, mode, day, version, high_water)
    if touched is None:
        url = engine.url.render_as_string(hide_password=False)
        if engine.dialect.name == "sqlite":  # see worker.py: one SQLite library per process
            counts = run_in_child(
                _full, settings, url, run_id, high_water, day, policy, started, progress=progress
            )
        else:
            counts = _full(
                settings, url, run_id, high_water, day, policy, started, progress=progress
            )
    else:
        counts = _incremental(
            settings, engine, run_id, high_water, day, policy, touched, started, progress
        )
    seconds = round(time.time() - started, 3)
    return DeriveResult(
        run_id=run_id,
        mode=mode,
        as_of=day,
        policy_version=version,
        high_water_seq=high_water,
        seconds=seconds,
        previous_as_of=previous.as_of if previous is not None else None,
        **counts,
    )
