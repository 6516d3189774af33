"""Inquiries for a stated purpose, the subject's consents, and the record of who looked.

Modelled on permissible-purpose rules: an inquirer states one purpose from a closed list; what
is disclosed depends on it; ``employment`` needs the subject's recorded consent naming that
inquirer. Every inquiry is committed (who, purpose, when, what was shown) before the caller
sends the report, and the subject sees it in their own list of inquiries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import Connection, Engine, and_, insert, select, update

from socialcredit.errors import NotFound, SocialCreditError
from socialcredit.policy.schema import Policy
from socialcredit.store.tables import api_keys, consents, inquiries


class Purpose(StrEnum):
    credit_decision = "credit_decision"
    tenancy = "tenancy"
    employment = "employment"
    business_partner = "business_partner"
    procurement = "procurement"
    court_enforcement = "court_enforcement"


@dataclass(frozen=True, slots=True)
class PurposeRule:
    """What a purpose may see. Published list entries and the rating are shown for every one."""

    record_detail: bool  # the records behind the report (category, dates, amounts)
    unpublished_records: bool  # also records past their publication period (not yet deleted)
    needs_consent: bool
    description: str


PURPOSE_RULES: dict[Purpose, PurposeRule] = {
    Purpose.credit_decision: PurposeRule(
        True, False, False, "lending or credit terms: the records in their publication period"
    ),
    Purpose.tenancy: PurposeRule(
        False, False, False, "renting to the subject: list entries and rating only"
    ),
    Purpose.employment: PurposeRule(
        True, False, True, "hiring the subject: only with the subject's consent to this inquirer"
    ),
    Purpose.business_partner: PurposeRule(
        True, False, False, "contracting: the records in their publication period"
    ),
    Purpose.procurement: PurposeRule(
        True, False, False, "awarding public contracts: the records in their publication period"
    ),
    Purpose.court_enforcement: PurposeRule(
        True, True, False, "enforcing a judgment: every record the store still holds"
    ),
}


class ConsentRequired(SocialCreditError):
    """The purpose needs the subject's consent and there is none for this inquirer."""

    status: ClassVar[int] = 403
    code: ClassVar[str] = "consent_required"


# --- consents ---------------------------------------------------------------------------------


def same_inquirer(name: str) -> str:
    """An inquirer's name as names are compared (keys, consents): case and runs of spaces do
    not tell two apart."""
    return " ".join(name.split()).casefold()


def active_inquirer(conn: Connection, name: str) -> tuple[int, str, str] | None:
    """The active inquirer key called ``name`` (by ``same_inquirer``): its id, its name as
    issued and its prefix."""
    row = conn.execute(
        select(api_keys.c.key_id, api_keys.c.name, api_keys.c.prefix).where(
            api_keys.c.inquirer_name == same_inquirer(name)
        )
    ).first()
    return None if row is None else (int(row.key_id), str(row.name), str(row.prefix))


def _inquirer_named(conn: Connection, inquirer: str) -> str:
    """The name, as its key was issued, of the active inquirer key called ``inquirer``."""
    found = active_inquirer(conn, inquirer)
    if found is None:
        raise NotFound(
            f"no inquirer named {inquirer!r} holds a key: a consent names an inquirer as its "
            "key names it (it appears so in your inquiries)"
        )
    return found[1]


def grant_consent(
    engine: Engine, *, subject_id: str, inquirer: str, purpose: Purpose = Purpose.employment
) -> dict[str, Any]:
    """Record a consent to an inquirer that holds a key (under the key's spelling of its name);
    granting again while one is active keeps the existing one."""
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        inquirer = _inquirer_named(conn, inquirer)
        current = _active(conn, subject_id, inquirer, purpose)
        if current is None:
            conn.execute(
                insert(consents).values(
                    subject_id=subject_id, inquirer=inquirer, purpose=purpose.value, granted_at=now
                )
            )
            current = _active(conn, subject_id, inquirer, purpose)
    assert current is not None
    return current


def withdraw_consent(
    engine: Engine, *, subject_id: str, inquirer: str, purpose: Purpose = Purpose.employment
) -> dict[str, Any]:
    with engine.begin() as conn:
        current = _active(conn, subject_id, inquirer, purpose)
        if current is None:
            raise NotFound(f"no active {purpose.value} consent to {inquirer!r}")
        now = dt.datetime.now(dt.UTC)
        conn.execute(
            update(consents)
            .where(consents.c.consent_id == current["consent_id"])
            .values(withdrawn_at=now)
        )
    return {**current, "withdrawn_at": now}


def _active(
    conn: Connection, subject_id: str, inquirer: str, purpose: Purpose
) -> dict[str, Any] | None:
    """The newest active consent of the subject to the inquirer (by ``same_inquirer``)."""
    rows = conn.execute(
        select(consents)
        .where(
            and_(
                consents.c.subject_id == subject_id,
                consents.c.purpose == purpose.value,
                consents.c.withdrawn_at.is_(None),
            )
        )
        .order_by(consents.c.consent_id.desc())
    ).mappings()
    wanted = same_inquirer(inquirer)
    return next((dict(r) for r in rows if same_inquirer(r["inquirer"]) == wanted), None)


def has_consent(engine: Engine, *, subject_id: str, inquirer: str, purpose: Purpose) -> bool:
    with engine.connect() as conn:
        return _active(conn, subject_id, inquirer, purpose) is not None


def list_consents(engine: Engine, subject_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(consents)
            .where(consents.c.subject_id == subject_id)
            .order_by(consents.c.consent_id)
        ).mappings()
        return [dict(r) for r in rows]


# --- inquiries --------------------------------------------------------------------------------


class PurposeNotAllowed(SocialCreditError):
    """The inquirer's key was not issued for the purpose it states."""

    status: ClassVar[int] = 403
    code: ClassVar[str] = "purpose_not_allowed"


def require_permission(
    engine: Engine,
    *,
    subject_id: str,
    inquirer: str,
    purpose: Purpose,
    allowed: Sequence[Purpose],
) -> PurposeRule:
    """The purpose's rule, once the key may state it (``allowed``) and, where the purpose
    needs it, the subject has consented to this inquirer."""
    if purpose not in allowed:
        raise PurposeNotAllowed(
            f"this key may not state the purpose {purpose.value!r}; it may state "
            f"{', '.join(p.value for p in allowed) or 'none'} (an operator issues keys for "
            "other purposes)",
            details={"purpose": purpose.value, "allowed": [p.value for p in allowed]},
        )
    rule = PURPOSE_RULES[purpose]
    if rule.needs_consent and not has_consent(
        engine, subject_id=subject_id, inquirer=inquirer, purpose=purpose
    ):
        raise ConsentRequired(
            f"purpose {purpose.value!r} needs the subject's consent to {inquirer!r}; "
            "none is recorded (the subject grants it with POST /v1/me/consents)",
            details={"purpose": purpose.value, "inquirer": inquirer},
        )
    return rule


def record_inquiry(
    engine: Engine,
    *,
    subject_id: str,
    key_id: int,
    inquirer: str,
    purpose: Purpose,
    shown: dict[str, Any],
) -> int:
    """Commit the inquiry in its own transaction; the report is sent only after this returns."""
    with engine.begin() as conn:
        result = conn.execute(
            insert(inquiries).values(
                subject_id=subject_id,
                key_id=key_id,
                inquirer=inquirer,
                purpose=purpose.value,
                shown=shown,
                at=dt.datetime.now(dt.UTC),
            )
        )
        primary_key = result.inserted_primary_key
        assert primary_key is not None
        return int(primary_key[0])


def inquiries_about(engine: Engine, subject_id: str) -> list[dict[str, Any]]:
    """Every inquiry about a subject, newest first: inquirer, purpose, time, what was shown."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                inquiries.c.inquiry_id,
                inquiries.c.inquirer,
                inquiries.c.purpose,
                inquiries.c.shown,
                inquiries.c.at,
            )
            .where(inquiries.c.subject_id == subject_id)
            .order_by(inquiries.c.at.desc(), inquiries.c.inquiry_id.desc())
        ).mappings()
        return [dict(r) for r in rows]


# --- what an inquirer is shown ----------------------------------------------------------------


def _in_period(record: dict[str, Any], today: dt.date) -> bool:
    until = record.get("publish_until")
    return until is None or until >= today


def _record_key(record: dict[str, Any]) -> str:
    return f"{record['furnisher']}:{record['record_id']}"


def _disclosed_reasons(
    reasons: list[dict[str, Any]], shown_records: set[str], visible: Callable[[str], bool]
) -> list[dict[str, Any]]:
    """A rating's reasons as this purpose may see them: each names only records the purpose is
    shown, and a reason of a category it may not see keeps its points but not its code."""
    disclosed = []
    for reason in reasons:
        item = dict(reason)
        if "records" in item:
            item["records"] = [r for r in item["records"] if r in shown_records]
        code = str(item.get("code", ""))
        if "points" in item and not visible(code):
            item["code"] = UNDISCLOSED
        disclosed.append(item)
    return disclosed


UNDISCLOSED = "undisclosed"  # a reason's code when its category is not for this purpose


def disclose(
    report: dict[str, Any], purpose: Purpose, policy: Policy, today: dt.date
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The part of a subject's report this purpose may see, and a summary of what it showed.

    Every purpose sees the subject's name and kind, the ratings and the entries of published
    lists. Purposes with record detail also see the active records of published categories
    within their publication period; court enforcement sees every active record. A rating's
    reasons name only the records the purpose sees; a reason from a category the purpose may
    not see (an unpublished one, but for court enforcement) shows its points under the code
    ``undisclosed``.
    """
    rule = PURPOSE_RULES[purpose]
    subject = {k: report["subject"].get(k) for k in ("subject_id", "kind", "name")}
    published = {r.code for r in policy.lists if r.publish}
    entries = [e for e in report["list_entries"] if e["list"] in published]

    def visible(code: str) -> bool:
        category = policy.category(code)
        return category is not None and (category.publish or rule.unpublished_records)

    records: list[dict[str, Any]] = []
    if rule.record_detail:
        for record in report["records"].get("active", []):
            category = policy.category(record["category"])
            public = category is not None and category.publish and _in_period(record, today)
            if public or rule.unpublished_records:
                records.append(record)
    shown_keys = {_record_key(r) for r in records}
    ratings = [
        {**r, "reasons": _disclosed_reasons(r["reasons"], shown_keys, visible)}
        for r in report["ratings"]
    ]
    shown: dict[str, Any] = {
        "subject": subject,
        "ratings": ratings,
        "list_entries": entries,
        "source": report["source"],
    }
    sections = ["subject", "ratings", "list_entries"]
    if rule.record_detail:
        shown["records"] = records
        sections.append("records")
    summary = {
        "sections": sections,
        "lists": sorted({e["list"] for e in entries}),
        "ratings": {r["rating"]: r["band"] for r in report["ratings"]},
        "records": len(records),
        "policy_version": report["source"].get("policy_version"),
    }
    return shown, summary
