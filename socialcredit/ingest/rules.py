"""The policy's catalogue as lookup arrays for one furnisher, so that checks are array lookups.

Grounds are the six listing grounds of the SPC provisions (Fa Shi [2013] No. 17 as amended,
Art 1); the policy names only which of them list without a term, so the full set lives here.
The largest extension a category accepts comes from the policy's lists (``max_extension_days``,
in whole months of 30 days: 1095 days allow 36 months).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from socialcredit.errors import ValidationFailed
from socialcredit.policy.schema import Category, Policy

ACTIONS: tuple[str, ...] = ("file", "amend", "revoke", "fulfil")
# Words Chinese furnishers use for the four actions.
ACTION_ALIASES: dict[str, str] = {
    "新增": "file",
    "报送": "file",
    "变更": "amend",
    "更正": "amend",
    "修改": "amend",
    "撤销": "revoke",
    "撤回": "revoke",
    "履行": "fulfil",
    "履行完毕": "fulfil",
}
FOLLOW_UPS: tuple[str, ...] = ("amend", "revoke", "fulfil")
NO_AGE_LIMIT = -1
NO_EXTENSION = -1


@dataclass(frozen=True)
class Rules:
    """Per-category facts, indexed like ``codes``; one instance per (policy, furnisher)."""

    furnisher: str
    policy_version: str
    categories: tuple[Category, ...]
    codes: pa.Array
    authorised: NDArray[np.bool_]
    allows_person: NDArray[np.bool_]
    allows_org: NDArray[np.bool_]
    min_age: NDArray[np.int64]
    carries_legal_rep: NDArray[np.bool_]
    max_extension_months: NDArray[np.int64]
    ground_pairs: frozenset[str]  # "category\x1fground" that are allowed

    @classmethod
    def for_furnisher(cls, policy: Policy, furnisher: str) -> Rules:
        known = [f.code for f in policy.furnishers]
        if furnisher not in known:
            raise ValidationFailed(
                f"unknown furnisher {furnisher!r}: policy {policy.version} knows "
                + ", ".join(known)
            )
        cats = policy.categories
        extension_days: dict[str, int] = {}
        for rule in policy.lists:
            for code in rule.categories:
                extension_days[code] = max(extension_days.get(code, 0), rule.max_extension_days)
        return cls(
            furnisher=furnisher,
            policy_version=policy.version,
            categories=cats,
            codes=pa.array([c.code for c in cats], type=pa.string()),
            authorised=np.array([furnisher in c.furnishers for c in cats], dtype=bool),
            allows_person=np.array(["person" in c.subject_kinds for c in cats], dtype=bool),
            allows_org=np.array(["org" in c.subject_kinds for c in cats], dtype=bool),
            min_age=np.array(
                [NO_AGE_LIMIT if c.min_subject_age is None else c.min_subject_age for c in cats],
                dtype=np.int64,
            ),
            carries_legal_rep=np.array([c.carries_legal_rep for c in cats], dtype=bool),
            max_extension_months=np.array(
                [
                    extension_days[c.code] // 30 if extension_days.get(c.code) else NO_EXTENSION
                    for c in cats
                ],
                dtype=np.int64,
            ),
            ground_pairs=frozenset(f"{c.code}\x1f{g}" for c in cats for g in c.grounds),
        )

    def category(self, index: int) -> Category:
        return self.categories[index]

    def policy_category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    def authorised_codes(self) -> list[str]:
        return [c.code for c, ok in zip(self.categories, self.authorised, strict=True) if ok]
