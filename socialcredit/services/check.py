"""Is a subject restricted from (or granted) a measure today? Read from the derived decisions.

The answer reflects the last derivation run (its ``as_of`` and policy version are reported);
an entry is in force on a day when ``start_on <= day`` and (no end, or ``day < end_on``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, select

from socialcredit import ids
from socialcredit.errors import ValidationFailed
from socialcredit.policy.schema import Policy
from socialcredit.store.policies import policy_in_force
from socialcredit.store.runs import last_finished_run
from socialcredit.store.tables import decisions, list_entries, subjects


@dataclass(frozen=True)
class CheckResult:
    subject_id: str
    measure: str
    known: bool
    restricted: bool
    effect: str | None  # "restricted", "granted" or None (nothing in force)
    entries: list[dict[str, Any]] = field(default_factory=list)
    policy_version: str | None = None
    as_of: dt.date | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id,
            "measure": self.measure,
            "known": self.known,
            "restricted": self.restricted,
            "effect": self.effect,
            "entries": self.entries,
            "policy_version": self.policy_version,
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }


def in_force(start_on: dt.date, end_on: dt.date | None, day: dt.date) -> bool:
    return start_on <= day and (end_on is None or day < end_on)


def require_measure(policy: Policy, measure: str) -> None:
    if policy.measure(measure) is None:
        valid = ", ".join(sorted(m.code for m in policy.measures))
        raise ValidationFailed(
            f"unknown measure {measure!r}; the measures of policy {policy.version} are: {valid}",
            details={"measure": measure, "valid": sorted(m.code for m in policy.measures)},
        )


def _entries(conn: Connection, subject_id: str, measure: str, day: dt.date) -> list[dict[str, Any]]:
    """The list entries behind the subject's decisions on this measure that are in force."""
    le = list_entries
    rows = conn.execute(
        select(
            decisions.c.list_code,
            decisions.c.source_subject_id,
            decisions.c.effect,
            decisions.c.basis,
            decisions.c.start_on,
            decisions.c.end_on,
            le.c.start_on.label("entry_start"),
            le.c.end_on.label("entry_end"),
            le.c.basis.label("list_basis"),
            le.c.document_no,
        )
        .select_from(
            decisions.outerjoin(
                le,
                and_(
                    le.c.list_code == decisions.c.list_code,
                    le.c.subject_id == decisions.c.source_subject_id,
                ),
            )
        )
        .where(decisions.c.subject_id == subject_id, decisions.c.measure == measure)
        .order_by(decisions.c.list_code, decisions.c.source_subject_id, le.c.start_on)
    ).all()
    found = []
    for row in rows:
        # An extended decision starts when its holder became the legal representative, which
        # may be after the organisation's entry started.
        start = max(row.entry_start, row.start_on) if row.entry_start else row.start_on
        end = row.entry_end if row.entry_start else row.end_on
        if not in_force(start, end, day):
            continue
        found.append(
            {
                "list_code": row.list_code,
                "effect": row.effect,
                "start_on": start,
                "end_on": end,
                "basis": row.basis,
                "list_basis": row.list_basis,
                "document_no": row.document_no,
                "source_subject_id": None
                if row.source_subject_id == subject_id
                else row.source_subject_id,
            }
        )
    return found


def check(
    engine: Engine, raw_id: str, measure: str, *, today: dt.date | None = None
) -> CheckResult:
    """The answer for one subject and measure; raises for an invalid ID or an unknown measure."""
    day = today or dt.date.today()
    subject_id = ids.require_valid(raw_id).normalised or raw_id
    require_measure(policy_in_force(engine, day).policy, measure)
    with engine.connect() as conn:
        registered = (
            conn.execute(
                select(subjects.c.subject_id).where(subjects.c.subject_id == subject_id)
            ).first()
            is not None
        )
        # A legal representative may hold extended decisions without records of their own.
        held = (
            conn.execute(
                select(decisions.c.subject_id).where(decisions.c.subject_id == subject_id).limit(1)
            ).first()
            is not None
        )
        entries = _entries(conn, subject_id, measure, day)
        run = last_finished_run(conn)
    effects = {e["effect"] for e in entries}
    effect = "restricted" if "restricted" in effects else "granted" if effects else None
    return CheckResult(
        subject_id=subject_id,
        measure=measure,
        known=registered or held,
        restricted=effect == "restricted",
        effect=effect,
        entries=entries,
        policy_version=run.policy_version if run else None,
        as_of=run.as_of if run else None,
    )
