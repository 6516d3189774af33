"""A run materialises only the record states later stages read (``record_states`` with
``stage_reads``):
which ones follows from the policy, and leaving the others out changes no result."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

import pytest
from derive_scenarios import AS_OF, FURNISHER, ORG_CATEGORIES, PERSON_CATEGORIES, snapshot
from derive_support import add_events, event, make_store, org, person

from socialcredit.derive import pipeline
from socialcredit.derive.policy_tables import policy_tables, stage_reads
from socialcredit.policy.load import load_default


def test_the_shipped_policy_reads_scored_records_only_while_their_points_count() -> None:
    reads = stage_reads(policy_tables(load_default().policy))
    # A repaid loan is worth 2 points to a person: 1 at the 50 % step, 0 at 25 % (truncated).
    assert reads.active[("person", "finance.loan_repaid")] == 730
    # ... and 1 point to an organisation, 0 from the 50 % step on.
    assert reads.active[("org", "finance.loan_repaid")] == 365
    # Listed categories, direct bands and legal representatives' registrations: any age.
    assert reads.active[("person", "court.dishonest_defaulter")] is None
    assert reads.active[("org", "tax.major_violation")] is None
    assert reads.active[("org", "registration.basic")] is None
    assert reads.registrations == ("registration.basic",)
    # A category nothing reads is not read at all.
    assert ("person", "registration.basic") not in reads.active


def test_rating_points_are_numbered_one_after_another() -> None:
    points = policy_tables(load_default().policy).rating_points
    assert points.column("point_id").to_pylist() == list(range(points.num_rows))


def _old_and_new(rng: random.Random, persons: list[str], orgs: list[str]) -> list[dict[str, Any]]:
    """Filings of every age up to 11 years (past every decay step and publication period),
    registrations naming legal representatives, and revocations and fulfilments."""
    rows: list[dict[str, Any]] = []
    for i in range(120):
        kind_orgs = rng.random() < 0.5
        subject = rng.choice(orgs if kind_orgs else persons)
        category = rng.choice(ORG_CATEGORIES if kind_orgs else PERSON_CATEGORIES)
        extra: dict[str, Any] = {}
        if category == "court.dishonest_defaulter":
            extra = {"ground": rng.choice([None, "ability_refusal"])}
        day = AS_OF - dt.timedelta(days=rng.choice([rng.randint(0, 1200), rng.randint(0, 4000)]))
        rows.append(event(FURNISHER[category], f"w{i}", subject, category, day, **extra))
    for o in orgs:
        day = AS_OF - dt.timedelta(days=rng.randint(0, 2000))
        rep = rng.choice(persons)
        rows.append(event("market", f"reg{o[-5:]}", o, "registration.basic", day, legal_rep_id=rep))
    for row in rng.sample(rows, k=20):
        action = rng.choice(["revoke", "fulfil"])
        later = min(row["decided_on"] + dt.timedelta(days=rng.randint(0, 300)), AS_OF)
        rows.append({**row, "action": action, "decided_on": later})
    # A new organisation whose registration is no longer active still counts as registered.
    newcomer = event("market", "reg-new", org(99), "registration.basic", AS_OF - dt.timedelta(90))
    rows += [newcomer, {**newcomer, "action": "fulfil", "decided_on": AS_OF - dt.timedelta(30)}]
    return rows


@pytest.mark.parametrize("seed", [4, 5])
def test_deriving_from_every_record_state_gives_the_same_results(
    db_url: str, run: Any, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    persons = [person(i + 1) for i in range(8)]
    orgs = [org(i + 1) for i in range(8)]
    make_store(db_url)
    add_events(db_url, _old_and_new(rng, persons, orgs))
    derive = ("derive", "--db", db_url, "--as-of", AS_OF.isoformat(), "--full", "--json")

    working = json.loads(run(*derive).stdout)
    from_working_set = snapshot(db_url)
    assert from_working_set["list_entries"] and from_working_set["decisions"]

    # The same run over every record's state: the reference the working set must equal.
    monkeypatch.setattr(pipeline, "stage_reads", lambda policy: None)
    monkeypatch.setattr(pipeline, "_COMPILED", {})
    everything = json.loads(run(*derive).stdout)
    assert snapshot(db_url) == from_working_set
    assert everything["written"]["rows_inserted"] == 0  # nothing differed
    assert everything["records"] == working["records"] == 120 + len(orgs) + 1
