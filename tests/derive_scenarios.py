"""Random but reproducible derivation scenarios, and a comparable snapshot of the derived
tables: for tests that compare two ways of deriving the same store."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

from derive_support import event, store
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


def random_day(rng: random.Random) -> dt.date:
    return AS_OF - dt.timedelta(days=rng.randint(-20, 1200))


def filings(
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
            event(FURNISHER[category], f"{prefix}{i}", subject, category, random_day(rng), **extra)
        )
    return rows


def registrations(
    rng: random.Random, prefix: str, persons: list[str], orgs: list[str]
) -> list[dict[str, Any]]:
    return [
        event(
            "market",
            f"{prefix}{o[-4:]}",
            o,
            "registration.basic",
            random_day(rng),
            legal_rep_id=rng.choice(persons),
        )
        for o in orgs
        if rng.random() < 0.8
    ]


def follow_ups(rng: random.Random, filed: list[dict[str, Any]]) -> list[dict[str, Any]]:
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


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The derived tables' rows, in a comparable order (JSON by value, not by spelling)."""
    snap = {}
    with store(url) as engine, engine.connect() as conn:
        for table in tables.DERIVED_TABLES:
            rows = conn.execute(select(table)).all()
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
