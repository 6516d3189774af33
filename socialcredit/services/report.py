"""A subject's full report for the operator: records, ratings, list entries, measures in force.

Two sources: the stored derived state (what the last run wrote, and which run that was), or a
replay as of any date, which runs the same expressions over the subject's events and those of
the organisations it represents, without writing anything.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select

from socialcredit import ids
from socialcredit.derive import slices
from socialcredit.derive.policy_tables import policy_tables
from socialcredit.derive.run import compute_slice, slice_records
from socialcredit.errors import UnknownSubject
from socialcredit.policy.schema import Policy
from socialcredit.settings import Settings
from socialcredit.store.engine import make_engine
from socialcredit.store.policies import policy_in_force, stored_version
from socialcredit.store.runs import last_finished_run
from socialcredit.store.tables import (
    decisions,
    list_entries,
    ratings,
    subjects,
)

STATUSES = ("active", "expired", "revoked", "fulfilled")


def _rows(conn: Connection, table: Any, subject_id: str) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in conn.execute(select(table).where(table.c.subject_id == subject_id)).mappings()
    ]


def _yuan(fen: int | None) -> str | None:
    return None if fen is None else f"{Decimal(fen) / 100:.2f}"


def _records(rows: list[dict[str, Any]], policy: Policy) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {status: [] for status in STATUSES}
    for row in sorted(rows, key=lambda r: (r["decided_on"], r["furnisher"], r["record_id"])):
        category = policy.category(row["category"])
        item = {
            "furnisher": row["furnisher"],
            "record_id": row["record_id"],
            "category": row["category"],
            "category_name": category.name if category else None,
            "decided_on": row["decided_on"],
            "document_no": row["document_no"],
            "amount": _yuan(row["amount_fen"]),
            "ground": row["ground"],
            "status_on": row["status_on"],
        }
        if category is not None and category.polarity == "negative":
            item["restorable_from"] = row["restorable_from"]
            item["publish_until"] = row["publish_until"]
        grouped.setdefault(row["status"], []).append(item)
    return grouped


def _names(conn: Connection, subject_ids: set[str]) -> dict[str, str]:
    if not subject_ids:
        return {}
    rows = conn.execute(
        select(subjects.c.subject_id, subjects.c.name).where(
            subjects.c.subject_id.in_(sorted(subject_ids))
        )
    ).all()
    return {r.subject_id: r.name for r in rows}


def _assemble(
    conn: Connection,
    subject: dict[str, Any],
    source: dict[str, Any],
    policy: Policy,
    derived: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    subject_id = subject["subject_id"]
    vias = {d["source_subject_id"] for d in derived["decisions"]} - {subject_id}
    names = _names(conn, vias)
    measures = []
    for d in sorted(derived["decisions"], key=lambda d: (d["measure"], d["list_code"])):
        measure = policy.measure(d["measure"])
        via = d["source_subject_id"]
        measures.append(
            {
                "measure": d["measure"],
                "measure_name": measure.name if measure else None,
                "effect": d["effect"],
                "list": d["list_code"],
                "memorandum": d["memorandum"],
                "start_on": d["start_on"],
                "end_on": d["end_on"],
                "basis": d["basis"],
                "via": None if via == subject_id else {"subject_id": via, "name": names.get(via)},
            }
        )
    return {
        "subject": subject,
        "source": source,
        "records": _records(derived["records"], policy),
        "ratings": [
            {"rating": r["rating"], "score": r["score"], "band": r["band"], "reasons": r["reasons"]}
            for r in sorted(derived["ratings"], key=lambda r: r["rating"])
        ],
        "list_entries": [
            {
                "list": e["list_code"],
                "furnisher": e["furnisher"],
                "record_id": e["record_id"],
                "start_on": e["start_on"],
                "end_on": e["end_on"],
                "basis": e["basis"],
                "document_no": e["document_no"],
            }
            for e in sorted(derived["list_entries"], key=lambda e: (e["list_code"], e["start_on"]))
        ],
        "measures": measures,
    }


def _subject(conn: Connection, subject_id: str, *, represents: bool = False) -> dict[str, Any]:
    """The subject as registered; else, for a legal representative holding extended measures
    (or, ``represents``, named by an organisation's registration), what the ID says."""
    row = (
        conn.execute(select(subjects).where(subjects.c.subject_id == subject_id)).mappings().first()
    )
    if row is not None:
        return {k: row[k] for k in ("subject_id", "scheme", "kind", "name", "birth_date", "sex")}
    # A legal representative may hold extended measures without being registered.
    held = conn.execute(
        select(decisions.c.subject_id).where(decisions.c.subject_id == subject_id).limit(1)
    ).first()
    if held is None and not represents:
        raise UnknownSubject(f"{subject_id} is not in the store")
    return subject_from_id(subject_id)


def subject_from_id(subject_id: str) -> dict[str, Any]:
    """What a valid identifier alone says about a subject the registry has no row for."""
    check = ids.check(subject_id)
    return {
        "subject_id": subject_id,
        "scheme": check.scheme,
        "kind": check.kind,
        "name": None,
        "birth_date": check.birth_date,
        "sex": check.sex,
    }


def _record_states(
    conn: Connection, settings: Settings, subject_id: str, run: Any, policy: Policy
) -> list[dict[str, Any]]:
    """The subject's record states as the run saw them: its events up to the run's high-water
    mark, through the same expressions, as of the run's date (record states are not stored)."""
    if run is None:
        return []
    piece = slices.load_slice(conn, [subject_id], through_seq=run.high_water_seq)
    if piece.events.num_rows == 0:
        return []
    return slice_records(settings, piece, policy_tables(policy), run.as_of)


def stored_report(settings: Settings, engine: Engine, subject_id: str) -> dict[str, Any]:
    """The report from the derived tables, as the last run left them."""
    with engine.connect() as conn:
        subject = _subject(conn, subject_id)
        run = last_finished_run(conn)
        stored = stored_version(conn, run.policy_version) if run else None
        policy = stored.policy if stored else None
        if policy is None:
            policy = policy_in_force(engine, dt.date.today()).policy
        derived = {
            "records": _record_states(conn, settings, subject_id, run, policy),
            **{
                name: _rows(conn, table, subject_id)
                for name, table in (
                    ("ratings", ratings),
                    ("list_entries", list_entries),
                    ("decisions", decisions),
                )
            },
        }
        source = {
            "mode": "stored",
            "run_id": run.run_id if run else None,
            "as_of": run.as_of if run else None,
            "policy_version": policy.version,
        }
        return _assemble(conn, subject, source, policy, derived)


def replay_report(
    settings: Settings, engine: Engine, subject_id: str, as_of: dt.date
) -> dict[str, Any]:
    """The report as of any date: the same expressions over this subject's slice of the ledger."""
    policy = policy_in_force(engine, as_of).policy
    with engine.connect() as conn:
        orgs = slices.represented_orgs(conn, [subject_id])
        # A former legal representative may have held measures on that date, and none now.
        subject = _subject(conn, subject_id, represents=bool(orgs))
        scope = {subject_id} | orgs
        piece = slices.load_slice(conn, scope)
        computed = compute_slice(settings, piece, policy_tables(policy), as_of)
        derived = {
            name: [r for r in rows if r["subject_id"] == subject_id]
            for name, rows in computed.items()
        }
        source = {
            "mode": "replay",
            "run_id": None,
            "as_of": as_of,
            "policy_version": policy.version,
        }
        return _assemble(conn, subject, source, policy, derived)


def report(settings: Settings, raw_id: str, *, as_of: dt.date | None = None) -> dict[str, Any]:
    """Stored state without ``as_of``; a replay with it. Raises for invalid or unknown IDs."""
    subject_id = ids.require_valid(raw_id).normalised or raw_id
    engine = make_engine(settings.db)
    try:
        if as_of is None:
            return stored_report(settings, engine, subject_id)
        return replay_report(settings, engine, subject_id, as_of)
    finally:
        engine.dispose()
