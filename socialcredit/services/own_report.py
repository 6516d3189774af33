"""A subject's own report: everything the store holds about them, and how it was computed.

The stored report (records by status with their sources, ratings with reasons, list entries,
measures in force) plus the published rating model that produced each rating and, for every
adverse record, when restoration may be applied for and when publication ends.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from socialcredit.errors import UnknownSubject
from socialcredit.policy.schema import Policy
from socialcredit.services.report import stored_report, subject_from_id
from socialcredit.settings import Settings
from socialcredit.store.runs import last_finished_run


def _empty(engine: Engine, subject_id: str, policy: Policy) -> dict[str, Any]:
    """The report of a subject nothing was furnished about, as of the last finished run."""
    with engine.connect() as conn:
        run = last_finished_run(conn)
    return {
        "subject": subject_from_id(subject_id),
        "source": {
            "mode": "stored",
            "run_id": run.run_id if run else None,
            "as_of": run.as_of if run else None,
            "policy_version": run.policy_version if run else policy.version,
        },
        "records": {},
        "ratings": [],
        "list_entries": [],
        "measures": [],
    }


def own_report(
    settings: Settings, engine: Engine, policy: Policy, subject_id: str
) -> dict[str, Any]:
    try:
        report = stored_report(settings, engine, subject_id)
    except UnknownSubject:
        report = _empty(engine, subject_id, policy)  # nothing furnished about you: an empty report
    kind = report["subject"].get("kind")
    report["rating_models"] = [
        rating.model_dump(mode="json") for rating in policy.ratings if rating.subject_kind == kind
    ]
    report["restoration"] = [
        {
            "furnisher": r["furnisher"],
            "record_id": r["record_id"],
            "category": r["category"],
            "restorable_from": r.get("restorable_from"),
            "publish_until": r.get("publish_until"),
        }
        for r in report["records"].get("active", [])
        if "restorable_from" in r
    ]
    return report
