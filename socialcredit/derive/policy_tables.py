"""The policy as a handful of small relations, so the derivation can join them set-wise.

Each table is an Arrow table with an explicit schema (so an empty list still has typed columns);
an engine loads them and hands back relations (``PolicyRelations``). Only the policy's few
lists, ratings and memoranda are looped over here; no record or subject ever is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from socialcredit.errors import PolicyError
from socialcredit.policy.schema import Policy

SCHEMAS: dict[str, pa.Schema] = {
    "categories": pa.schema(
        [
            ("category", pa.string()),
            ("polarity", pa.string()),
            ("publication_min_days", pa.int64()),
            ("publication_max_days", pa.int64()),
            ("min_subject_age", pa.int64()),
            ("carries_legal_rep", pa.bool_()),
        ]
    ),
    "rating_models": pa.schema(
        [
            ("rating", pa.string()),
            ("subject_kind", pa.string()),
            ("base", pa.int64()),
            ("min_score", pa.int64()),
            ("max_score", pa.int64()),
            ("max_reasons", pa.int64()),
            ("lowest_band", pa.string()),
            ("new_band", pa.string()),
            ("new_within_days", pa.int64()),
            ("new_min_score", pa.int64()),
            ("new_category", pa.string()),
        ]
    ),
    "rating_points": pa.schema(
        [
            ("point_id", pa.int64()),  # the row's number: a cheap key to group records by
            ("rating", pa.string()),
            ("subject_kind", pa.string()),
            ("category", pa.string()),
            ("points", pa.int64()),
            ("cap", pa.int64()),
            ("direct_band", pa.string()),
        ]
    ),
    "rating_decay": pa.schema(
        [
            ("rating", pa.string()),
            ("from_days", pa.int64()),
            ("until_days", pa.int64()),
            ("percent", pa.int64()),
        ]
    ),
    "rating_bands": pa.schema(
        [
            ("rating", pa.string()),
            ("band", pa.string()),
            ("band_min_score", pa.int64()),
            ("band_below", pa.int64()),  # the next band's min_score (None for the top band)
        ]
    ),
    "list_targets": pa.schema(
        [
            ("list_code", pa.string()),
            ("category", pa.string()),
            ("subject_kind", pa.string()),
        ]
    ),
    "list_rules": pa.schema(
        [
            ("list_code", pa.string()),
            ("list_kind", pa.string()),
            ("term_days", pa.int64()),
            ("max_extension_days", pa.int64()),
            ("list_basis", pa.string()),
        ]
    ),
    "list_no_term_grounds": pa.schema([("list_code", pa.string()), ("ground", pa.string())]),
    "memo_measures": pa.schema(
        [
            ("memorandum", pa.string()),
            ("list_code", pa.string()),
            ("measure", pa.string()),
            ("effect", pa.string()),
            ("decision_basis", pa.string()),
            ("extends", pa.bool_()),
        ]
    ),
}


@dataclass(frozen=True)
class PolicyTables:
    """The policy's parameters as relations (Arrow tables), ready to become memtables."""

    version: str
    fingerprint: str  # of the tables' content: equal policies, equal fingerprints
    categories: pa.Table
    rating_models: pa.Table
    rating_points: pa.Table
    rating_decay: pa.Table
    rating_bands: pa.Table
    list_targets: pa.Table
    list_rules: pa.Table
    list_no_term_grounds: pa.Table
    memo_measures: pa.Table

    def listable_categories(self) -> dict[str, tuple[str, ...]]:
        """Per subject kind, the categories some list takes (sorted)."""
        taken: dict[str, set[str]] = {}
        for row in self.list_targets.select(["subject_kind", "category"]).to_pylist():
            taken.setdefault(row["subject_kind"], set()).add(row["category"])
        return {kind: tuple(sorted(categories)) for kind, categories in sorted(taken.items())}

    def detail_categories(self) -> tuple[str, ...]:
        """The categories of every record ``expressions.detail_candidates`` may pick: those
        some list takes and those that name a legal representative (sorted)."""
        listed = {c for categories in self.listable_categories().values() for c in categories}
        naming = {
            row["category"]
            for row in self.categories.select(["category", "carries_legal_rep"]).to_pylist()
            if row["carries_legal_rep"]
        }
        return tuple(sorted(listed | naming))


@dataclass(frozen=True)
class StageReads:
    """Which record states the stages after them read (see ``expressions.record_states``).

    ``active``: per (subject kind, category), the age in days an active record must be below
    (None: any age). ``registrations``: the categories of new-subject bands, read whatever the
    status but revoked."""

    active: dict[tuple[str, str], int | None]
    registrations: tuple[str, ...]


def stage_reads(tables: PolicyTables) -> StageReads:
    """What lists (every age: their terms run from the decision), organisations' legal
    representatives, direct bands (every age) and rating points (while some decay step still
    gives a non-zero share, truncated as ``rating_contributions`` truncates) read."""
    active: dict[tuple[str, str], int | None] = {}

    def widen(key: tuple[str, str], limit: int | None) -> None:
        """Keep the larger limit (None is the largest)."""
        current = active.get(key, 0)
        if current is not None and (limit is None or limit > current):
            active[key] = limit

    for target in tables.list_targets.to_pylist():
        widen((target["subject_kind"], target["category"]), None)
    for category in tables.categories.to_pylist():
        if category["carries_legal_rep"]:
            widen(("org", category["category"]), None)
    steps: dict[str, list[dict[str, Any]]] = {}
    for step in tables.rating_decay.to_pylist():
        steps.setdefault(step["rating"], []).append(step)
    for point in tables.rating_points.to_pylist():
        key = (point["subject_kind"], point["category"])
        if point["direct_band"] is not None:
            widen(key, None)
        counting = [
            s["until_days"]
            for s in steps.get(point["rating"], [])
            if abs(point["points"] * s["percent"]) // 100 != 0
        ]
        if counting:
            widen(key, max(counting))
    registrations = {
        m["new_category"] for m in tables.rating_models.to_pylist() if m["new_category"]
    }
    return StageReads(active, tuple(sorted(registrations)))


@dataclass(frozen=True)
class PolicyRelations:
    """The same tables as Ibis expressions."""

    categories: Any
    rating_models: Any
    rating_points: Any
    rating_decay: Any
    rating_bands: Any
    list_targets: Any
    list_rules: Any
    list_no_term_grounds: Any
    memo_measures: Any


def _table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMAS[name])


def _rating_rows(policy: Policy) -> dict[str, list[dict[str, Any]]]:
    models: list[dict[str, Any]] = []
    points: list[dict[str, Any]] = []
    decay: list[dict[str, Any]] = []
    bands: list[dict[str, Any]] = []
    for rating in policy.ratings:
        new = rating.new_subject_band
        models.append(
            {
                "rating": rating.code,
                "subject_kind": rating.subject_kind,
                "base": rating.base,
                "min_score": rating.min_score,
                "max_score": rating.max_score,
                "max_reasons": rating.max_reasons,
                "lowest_band": rating.bands[-1].band,
                "new_band": new.band if new else None,
                "new_within_days": new.registered_within_days if new else None,
                "new_min_score": new.min_score if new else None,
                "new_category": new.registration_category if new else None,
            }
        )
        first = len(points)  # numbered before extending: the generator sees the list grow
        points.extend(
            {
                "point_id": first + number,
                "rating": rating.code,
                "subject_kind": rating.subject_kind,
                "category": p.category,
                "points": p.points,
                "cap": p.cap,
                "direct_band": p.direct_band,
            }
            for number, p in enumerate(rating.points)
        )
        start = 0
        for step in rating.decay:
            decay.append(
                {
                    "rating": rating.code,
                    "from_days": start,
                    "until_days": step.until_days,
                    "percent": step.percent,
                }
            )
            start = step.until_days
        above: list[int | None] = [None, *(b.min_score for b in rating.bands[:-1])]
        bands.extend(
            {
                "rating": rating.code,
                "band": b.band,
                "band_min_score": b.min_score,
                "band_below": upper,
            }
            for b, upper in zip(rating.bands, above, strict=True)
        )
    return {
        "rating_models": models,
        "rating_points": points,
        "rating_decay": decay,
        "rating_bands": bands,
    }


def _list_rows(policy: Policy) -> dict[str, list[dict[str, Any]]]:
    targets: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    grounds: list[dict[str, Any]] = []
    for rule in policy.lists:
        targets.extend(
            {"list_code": rule.code, "category": c, "subject_kind": k}
            for c in rule.categories
            for k in rule.subject_kinds
        )
        rules.append(
            {
                "list_code": rule.code,
                "list_kind": rule.kind,
                "term_days": rule.term_days,
                "max_extension_days": rule.max_extension_days,
                "list_basis": rule.legal_basis,
            }
        )
        grounds.extend({"list_code": rule.code, "ground": g} for g in rule.no_term_grounds)
    return {"list_targets": targets, "list_rules": rules, "list_no_term_grounds": grounds}


def _memo_rows(policy: Policy) -> list[dict[str, Any]]:
    measures = {m.code: m for m in policy.measures}
    rows = []
    for memo in policy.memoranda:  # one row per (memorandum, list, measure), named once each
        for list_code in dict.fromkeys(memo.lists):
            for code in dict.fromkeys(memo.measures):
                measure = measures.get(code)
                if measure is None:
                    raise PolicyError(
                        f"memorandum {memo.code!r} names unknown measure {code!r}",
                        location=f"memoranda.{memo.code}.measures",
                    )
                rows.append(
                    {
                        "memorandum": memo.code,
                        "list_code": list_code,
                        "measure": code,
                        "effect": "restricted" if measure.kind == "sanction" else "granted",
                        "decision_basis": _joined_bases(measure.legal_basis, memo.legal_basis),
                        "extends": memo.extends_to_legal_representative,
                    }
                )
    return rows


def _joined_bases(*bases: str) -> str:
    """Legal bases joined by "; ", each citation once (a measure and the memorandum applying it
    often cite the same document)."""
    parts = (part.strip() for basis in bases for part in basis.split(";"))
    return "; ".join(dict.fromkeys(part for part in parts if part))


def policy_tables(policy: Policy) -> PolicyTables:
    categories = [
        {
            "category": c.code,
            "polarity": c.polarity,
            "publication_min_days": c.publication_min_days,
            "publication_max_days": c.publication_max_days,
            "min_subject_age": c.min_subject_age,
            "carries_legal_rep": c.carries_legal_rep,
        }
        for c in policy.categories
    ]
    rows: dict[str, list[dict[str, Any]]] = {
        "categories": categories,
        **_rating_rows(policy),
        **_list_rows(policy),
        "memo_measures": _memo_rows(policy),
    }
    digest = hashlib.sha256(repr(sorted(rows.items())).encode()).hexdigest()
    return PolicyTables(
        version=policy.version,
        fingerprint=digest,
        **{name: _table(name, data) for name, data in rows.items()},
    )
