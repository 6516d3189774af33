"""Incremental runs give exactly what a full run gives, and a new event changes ``check``."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

import pytest
from derive_support import add_events, event, make_store, org, person, store
from sqlalchemy import select

from socialcredit.store import tables

AS_OF = dt.date(2025, 6, 1)
PERSON_CATEGORIES = ("court.dishonest_defaulter", "admin.penalty_general", "tax.major_violation")
ORG_CATEGORIES = (*PERSON_CATEGORIES, "tax.grade_a", "honor.contract_abiding")
FURNISHER = {
    "court.dishonest_defaulter": "court",
    "admin.penalty_general": "market",
    "tax.major_violation": "tax",
    "tax.grade_a": "tax",
    "honor.contract_abiding": "market",
    "registration.basic": "market",
}


def _random_day(rng: random.Random) -> dt.date:
    return AS_OF - dt.timedelta(days=rng.randint(-20, 1200))


def _files(
    rng: random.Random, prefix: str, persons: list[str], orgs: list[str], n: int
) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        if rng.random() < 0.5:
            subject, category = rng.choice(persons), rng.choice(PERSON_CATEGORIES)
        else:
            subject, category = rng.choice(orgs), rng.choice(ORG_CATEGORIES)
        extra: dict[str, Any] = {}
        if category == "court.dishonest_defaulter":
            extra = {
                "ground": rng.choice([None, "ability_refusal", "evasion"]),
                "extension_months": rng.choice([None, 0, 6, 36]),
            }
        rows.append(
            event(FURNISHER[category], f"{prefix}{i}", subject, category, _random_day(rng), **extra)
        )
    return rows


def _registrations(
    rng: random.Random, prefix: str, persons: list[str], orgs: list[str]
) -> list[dict[str, Any]]:
    return [
        event(
            "market",
            f"{prefix}{o[-4:]}",
            o,
            "registration.basic",
            _random_day(rng),
            legal_rep_id=rng.choice(persons),
        )
        for o in orgs
        if rng.random() < 0.8
    ]


def _follow_ups(rng: random.Random, filed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for row in rng.sample(filed, k=min(4, len(filed))):
        action = rng.choice(["amend", "revoke", "fulfil"])
        extra = {k: row[k] for k in ("ground", "extension_months", "legal_rep_id")}
        if action == "amend":
            extra["document_no"] = f"amended {row['record_id']}"
            extra["extension_months"] = rng.choice([None, 3])
        when = row["decided_on"] + dt.timedelta(days=rng.randint(0, 400))
        rows.append(
            event(
                row["furnisher"],
                row["record_id"],
                row["subject_id"],
                row["category"],
                when,
                action=action,
                **extra,
            )
        )
    return rows


def _snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The derived tables without their run ids, in a comparable order."""
    snap = {}
    with store(url) as engine, engine.connect() as conn:
        for table in tables.DERIVED_TABLES:
            columns = [c for c in table.columns if c.name != "run_id"]
            rows = conn.execute(select(*columns)).all()
            snap[table.name] = sorted(
                (
                    tuple(
                        json.dumps(v, sort_keys=True) if isinstance(v, list | dict) else v
                        for v in row
                    )
                    for row in rows
                ),
                key=repr,
            )
    return snap


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_equals_full(db_url: str, run: Any, seed: int) -> None:
    rng = random.Random(seed)
    persons = [person(i + 1) for i in range(5)]
    orgs = [org(i + 1) for i in range(3)]
    make_store(db_url)
    first = _files(rng, "a", persons, orgs, 14) + _registrations(rng, "ra", persons, orgs)
    add_events(db_url, first)
    as_of = ["--as-of", AS_OF.isoformat()]
    run("derive", "--db", db_url, *as_of)

    # Later events: new records, amendments, revocations, fulfilments, a new legal rep.
    second = (
        _files(rng, "b", persons[:3], orgs[:2], 4)
        + _follow_ups(rng, first)
        + _registrations(rng, "rb", persons, orgs[:1])
    )
    add_events(db_url, second)
    summary = json.loads(run("derive", "--db", db_url, *as_of, "--json").stdout)
    assert summary["mode"] == "incremental"
    incremental = _snapshot(db_url)

    summary = json.loads(run("derive", "--db", db_url, *as_of, "--full", "--json").stdout)
    assert summary["mode"] == "full"
    full = _snapshot(db_url)
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
    assert [(e["list"], e["document_no"], e["via_subject"]) for e in answer["entries"]] == [
        ("court_defaulters", "DOC-c1", None)
    ]
    via = check(rep)
    assert via["restricted"] and via["entries"][0]["via_subject"] == company
    assert check(rep, "public_tender")["restricted"] is False  # not extended by its memorandum

    add_events(
        db_url, [event("court", "c1", subject, "court.dishonest_defaulter", today, action="revoke")]
    )
    run("derive", "--db", db_url)
    assert check(subject)["restricted"] is False
    assert check(rep)["restricted"] is True


def test_large_results_written_in_key_ranges_give_the_same_tables(
    db_url: str, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite writes big results as several key ranges in parallel; the store must not differ."""
    from socialcredit.derive.engines import duckdb_write

    rng = random.Random(7)
    persons, orgs = [person(i + 1) for i in range(6)], [org(i + 1) for i in range(3)]
    make_store(db_url)
    add_events(
        db_url, _files(rng, "a", persons, orgs, 30) + _registrations(rng, "r", persons, orgs)
    )
    as_of = ["--as-of", AS_OF.isoformat(), "--full"]
    run("derive", "--db", db_url, *as_of)
    whole = _snapshot(db_url)
    monkeypatch.setenv("SOCIALCREDIT_DUCKDB_THREADS", "3")
    monkeypatch.setattr(duckdb_write, "SPLIT_MIN_ROWS", 2)  # the forked worker inherits it
    run("derive", "--db", db_url, *as_of)
    assert _snapshot(db_url) == whole
    assert len(whole["ratings"]) > 8 and len(whole["list_entries"]) > 8
