"""The derivation's stages in order, materialised once each by an engine.

``derive_relations`` runs over whatever ``events`` / ``subjects`` relations it is given: the
attached store (a full run) or a slice read by index (incremental runs, replays). The result's
relations have the stored tables' columns (``STORED``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from socialcredit.derive import expressions as x
from socialcredit.derive import scoring
from socialcredit.derive.engines import Engine
from socialcredit.derive.engines.duckdb_ratings_memo import salt as memo_salt
from socialcredit.derive.policy_tables import PolicyRelations, PolicyTables, stage_reads
from socialcredit.store import tables

Table = Any  # ibis.Table
Progress = Callable[[str], None]

# Columns each derived table receives from the expressions.
STORED: dict[str, tuple[str, ...]] = {
    t.name: tuple(c.name for c in t.columns) for t in tables.DERIVED_TABLES
}
# A record's state as ``report`` shows it.
RECORD_COLUMNS = (
    "furnisher",
    "record_id",
    "subject_id",
    "category",
    "decided_on",
    "document_no",
    "amount_fen",
    "ground",
    "status",
    "status_on",
    "publish_until",
    "restorable_from",
)
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    t.name: tuple(c.name for c in t.primary_key.columns) for t in tables.DERIVED_TABLES
}


@dataclass(frozen=True)
class Derived:
    """Materialised results. ``records`` (one state per record) is not stored: ``report``
    computes it for one subject; the others replace the stored tables of their names."""

    subjects: Table
    filed: Table  # every record filed by the as-of date (not materialised: it is counted)
    records: Table
    ratings: Table
    list_entries: Table
    decisions: Table

    def by_table(self) -> dict[str, Table]:
        return {
            "ratings": self.ratings,
            "list_entries": self.list_entries,
            "decisions": self.decisions,
        }


def quiet(_: str) -> None:
    return None


# Compiled SQL of the later stages, per as-of date, policy and input schemas: building and
# compiling the Ibis expressions costs about a second, every time, in a long-lived process
# (the API, the tests) that derives again and again.
_COMPILED: dict[tuple[Any, ...], str] = {}
_COMPILED_MAX = 256


def _stage(
    engine: Engine,
    name: str,
    key: tuple[Any, ...],
    build: Callable[[], Table],
    *,
    read_once: bool = False,
) -> Table:
    """A stage computed into a table, or, ``read_once``, a view of it (for a relation the run
    reads once: computing it into a table first would only add the copy)."""
    sql = _COMPILED.get((name, *key))
    if sql is None:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        sql = _COMPILED[(name, *key)] = engine.compile(build())
    return engine.view_sql(name, sql) if read_once else engine.materialise_sql(name, sql)


@dataclass(frozen=True)
class RecordStages:
    """The first stages, which everything else reads: subjects, events and changes
    (materialised), and every record's state (an expression: a run materialises only the
    states later stages read: ``record_states`` with ``stage_reads``)."""

    relations: PolicyRelations
    people: Table
    known: Table
    changes: x.RecordChanges
    states: Table
    key: tuple[Any, ...]  # what the compiled later stages depend on

    def records(self) -> Table:
        """Every record's state with its details, as ``report`` shows it."""
        return x.with_details(self.states, self.known, self.changes, self.relations).select(
            *RECORD_COLUMNS
        )


def record_stages(
    engine: Engine,
    events: Table,
    subjects: Table,
    policy: PolicyTables,
    as_of: dt.date,
    progress: Progress = quiet,
) -> RecordStages:
    rel = engine.policy_relations(policy)
    progress("subjects")
    people = engine.materialise("sc_subjects", subjects.select(*x.SUBJECT_COLUMNS))
    progress("events")
    # One scan of the store's ledger (later stages read the engine's own copy), or a view of
    # the columnar ledger copy beside a SQLite store, which carries the subjects' attributes.
    known = events.filter(events.decided_on <= as_of)
    if set(x.SUBJECT_ATTRIBUTES).issubset(known.columns):
        known = known.select(*x.EVENT_COLUMNS, *x.SUBJECT_ATTRIBUTES)
    else:
        known = x.with_subjects(known.select(*x.EVENT_COLUMNS), people)
    known = engine.stage_events("sc_events", known)
    key = (as_of, policy.fingerprint, tuple(known.schema().items()), tuple(people.schema().items()))
    progress("record states")
    changes = x.RecordChanges(
        ends=_stage(engine, "sc_ends", key, lambda: x.record_ends(known, as_of)),
        amendments=_stage(engine, "sc_amendments", key, lambda: x.record_amendments(known, as_of)),
    )
    states = x.record_states(known, changes, rel, as_of)
    return RecordStages(rel, people, known, changes, states, key)


# The date the memo's salt compiles the ratings for: the SQL of another date differs only in
# its literals, and a memo's rows stay true from one date to the next (see ``_ratings``).
SALT_DAY = dt.date(2000, 1, 1)


def _ratings(
    engine: Engine,
    records: Table,
    base: RecordStages,
    policy: PolicyTables,
    as_of: dt.date,
    progress: Progress,
) -> Table:
    """The ratings stage: every (subject, rating) row, computed whole, or, where the engine
    keeps a memo of rows by signature (``duckdb_ratings_memo``), computed only for subjects
    whose signature is new. A signature covers everything a row is made of at its date, so a
    kept row is the row this date's ``ratings`` would give."""
    rel, people = base.relations, base.people

    def fresh(subjects: Table | None) -> Table:
        if subjects is None:
            return scoring.ratings(records, people, rel, as_of)
        return scoring.ratings(
            records.semi_join(subjects, records.subject_id == subjects.subject_id),
            people.semi_join(subjects, people.subject_id == subjects.subject_id),
            rel,
            as_of,
        )

    key = base.key

    def salt() -> str:
        cached = _COMPILED.get(("salt", *key[1:]))
        if cached is None:
            cached = _COMPILED[("salt", *key[1:])] = memo_salt(
                [
                    engine.compile(scoring.ratings(records, people, rel, SALT_DAY)),
                    engine.compile(scoring.rating_signatures(records, people, rel, SALT_DAY)),
                    policy.fingerprint,
                    repr(key[2:]),
                ]
            )
        return cached

    memo = engine.ratings_memo(salt)
    if memo is None:
        return _stage(engine, "sc_ratings", key, lambda: fresh(None))
    # Read once by the memo: compared with its rows, or (no usable memo) kept with the rows.
    signatures = _stage(
        engine,
        "sc_rating_signatures",
        key,
        lambda: scoring.rating_signatures(records, people, rel, as_of),
        read_once=True,
    )
    return memo.ratings(signatures, fresh, progress)


def derive_relations(
    engine: Engine,
    events: Table,
    subjects: Table,
    policy: PolicyTables,
    as_of: dt.date,
    progress: Progress = quiet,
) -> Derived:
    base = record_stages(engine, events, subjects, policy, as_of, progress)
    rel, known, changes, key = base.relations, base.known, base.changes, base.key
    reads = stage_reads(policy)
    records = _stage(
        engine, "sc_records", key, lambda: x.record_states(known, changes, rel, as_of, reads)
    )
    progress("list entries")
    listable = policy.listable_categories()
    candidates = _stage(
        engine, "sc_detail_keys", key, lambda: x.detail_candidates(records, listable)
    )
    # Only filings of the candidates' categories can match them: filtered as the ledger is
    # scanned, the join probes a few percent of the events rather than all of them.
    filings = known.filter(
        (known.action == "file") & known.category.isin(list(policy.detail_categories()))
    )
    details = _stage(
        engine,
        "sc_details",
        key,
        lambda: x.with_details(candidates, filings, changes, rel, active_only=True),
    )
    entries = _stage(engine, "sc_entries", key, lambda: x.list_entries(details, rel, as_of))
    progress("decisions")
    decisions = _stage(
        engine,
        "sc_decisions",
        key,
        lambda: x.decisions(entries, x.legal_representatives(details), rel),
    )
    progress("ratings")
    ratings = _ratings(engine, records, base, policy, as_of, progress)
    return Derived(
        subjects=base.people,
        filed=x.filed_records(known, rel, as_of),
        records=base.records(),
        ratings=ratings.select(*STORED["ratings"]),
        list_entries=entries.select(*STORED["list_entries"]),
        decisions=decisions.select(*STORED["decisions"]),
    )
