"""Published list entries: only lists the policy publishes, only the fields it allows.

A person is shown by name and a masked ID (``ids.mask``), never the full number; an organisation
by name, unified social credit code and the name of its legal representative. Each list's
``publish_fields`` decides which of the fields below appear:
``name``, ``masked_id`` (persons), ``subject_id`` and ``legal_rep_name`` (organisations),
``document_no``, ``decided_on``, ``furnisher``, ``ground``, ``amount``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, or_, select

from socialcredit import ids
from socialcredit.errors import NotFound
from socialcredit.policy.schema import ListRule, Policy
from socialcredit.store.tables import events, list_entries, subjects

PAGE_SIZE = 50


def published_list(policy: Policy, code: str) -> ListRule:
    rule = policy.list_rule(code)
    if rule is None or not rule.publish:
        raise NotFound(
            f"no published list {code!r}",
            details={"published": [r.code for r in policy.lists if r.publish]},
        )
    return rule


def list_summaries(engine: Engine, policy: Policy) -> list[dict[str, Any]]:
    """The published lists of the policy with their rules and how many entries are in force."""
    codes = [r.code for r in policy.lists if r.publish]
    with engine.connect() as conn:
        counts: dict[str, int] = dict(
            conn.execute(
                select(list_entries.c.list_code, func.count())
                .where(list_entries.c.list_code.in_(codes))
                .group_by(list_entries.c.list_code)
            ).all()
        )
    return [
        {
            "code": r.code,
            "name": r.name,
            "name_zh": r.name_zh,
            "kind": r.kind,
            "legal_basis": r.legal_basis,
            "subject_kinds": list(r.subject_kinds),
            "term_days": r.term_days,
            "max_extension_days": r.max_extension_days,
            "removal": list(r.removal),
            "publish_fields": list(r.publish_fields),
            "entries": int(counts.get(r.code, 0)),
        }
        for r in policy.lists
        if r.publish
    ]


def _legal_rep_names(engine: Engine, policy: Policy, org_ids: list[str]) -> dict[str, str]:
    """Each organisation's legal representative's name, from its latest registration record."""
    if not org_ids:
        return {}
    categories = [c.code for c in policy.categories if c.carries_legal_rep]
    latest = (
        select(events.c.subject_id, func.max(events.c.seq).label("seq"))
        .where(
            events.c.subject_id.in_(org_ids),
            events.c.category.in_(categories),
            events.c.legal_rep_id.is_not(None),
        )
        .group_by(events.c.subject_id)
        .subquery()
    )
    query = (
        select(events.c.subject_id, subjects.c.name)
        .join(latest, events.c.seq == latest.c.seq)
        .join(subjects, subjects.c.subject_id == events.c.legal_rep_id)
    )
    with engine.connect() as conn:
        return {row.subject_id: row.name for row in conn.execute(query)}


def published_entries(
    engine: Engine,
    policy: Policy,
    code: str,
    *,
    q: str | None = None,
    changed_since: dt.date | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> dict[str, Any]:
    """One page of a published list's entries in force, newest first."""
    rule = published_list(policy, code)
    fields = set(rule.publish_fields)
    le, sj = list_entries, subjects
    where = [le.c.list_code == code]
    if changed_since is not None:
        where.append(le.c.start_on >= changed_since)
    if q:
        needle = q.strip()
        normalised = ids.normalise(needle)
        # A full identifier matches exactly; anything else is a name search.
        where.append(
            or_(
                sj.c.subject_id == normalised,
                func.lower(sj.c.name).contains(needle.lower(), autoescape=True),
            )
        )
    base = (
        select(
            le.c.subject_id,
            le.c.furnisher,
            le.c.record_id,
            le.c.start_on,
            le.c.end_on,
            le.c.document_no,
            sj.c.name,
            sj.c.kind,
            le.c.ground,
            le.c.amount_fen,
        )
        .join(sj, sj.c.subject_id == le.c.subject_id)
        .where(*where)
    )
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(base.subquery())).scalar_one()
        rows = conn.execute(
            base.order_by(le.c.start_on.desc(), le.c.subject_id, le.c.record_id)
            .limit(page_size)
            .offset((page - 1) * page_size)
        ).all()
    reps = (
        _legal_rep_names(engine, policy, [r.subject_id for r in rows if r.kind == "org"])
        if "legal_rep_name" in fields
        else {}
    )
    entries = [_published(row, fields, reps) for row in rows]
    return {
        "list": code,
        "kind": rule.kind,
        "legal_basis": rule.legal_basis,
        "page": page,
        "page_size": page_size,
        "total": int(total),
        "entries": entries,
    }


def _published(row: Any, fields: set[str], reps: dict[str, str]) -> dict[str, Any]:
    person = row.kind == "person"
    out: dict[str, Any] = {"kind": row.kind, "listed_on": row.start_on, "ends_on": row.end_on}
    if "name" in fields:
        out["name"] = row.name
    if person and "masked_id" in fields:
        out["masked_id"] = ids.mask(row.subject_id)
    if not person and "subject_id" in fields:
        out["subject_id"] = row.subject_id
    if not person and "legal_rep_name" in fields:
        out["legal_rep_name"] = reps.get(row.subject_id)
    if "document_no" in fields:
        out["document_no"] = row.document_no
    if "decided_on" in fields:
        out["decided_on"] = row.start_on
    if "furnisher" in fields:
        out["furnisher"] = row.furnisher
    if "ground" in fields:
        out["ground"] = row.ground
    if "amount" in fields:
        out["amount"] = None if row.amount_fen is None else str(Decimal(row.amount_fen) / 100)
    return out
