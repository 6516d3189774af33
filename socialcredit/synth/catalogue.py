"""The binding codes the generator writes: furnishers, categories, their kinds and authorisations.

This mirrors the shipped default policy (the binding list every engineer codes against), so the
generator needs no store and no policy file. ``tests/test_synth.py`` checks every furnisher file
against the policy loader when one exists, which catches any drift between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SubjectKind = Literal["person", "org"]

FURNISHERS: tuple[str, ...] = (
    "court",
    "tax",
    "market",
    "bank",
    "hrss",
    "emergency",
    "ecology",
    "procurement",
    "civil_affairs",
)
ACTIONS: tuple[str, ...] = ("file", "amend", "revoke", "fulfil")
DEFAULTER_GROUNDS: tuple[str, ...] = (
    "ability_refusal",
    "obstruction",
    "sham_litigation",
    "evasion",
    "false_report",
    "consumption_violation",
    "settlement_refusal",
)
MAX_EXTENSION_MONTHS = 36


@dataclass(frozen=True, slots=True)
class CategorySpec:
    code: str
    kinds: tuple[SubjectKind, ...]
    furnishers: tuple[str, ...]
    polarity: Literal["negative", "positive", "neutral"]
    min_subject_age: int | None = None

    @property
    def adverse(self) -> bool:
        return self.polarity == "negative"


_P: tuple[SubjectKind, ...] = ("person",)
_O: tuple[SubjectKind, ...] = ("org",)
_PO: tuple[SubjectKind, ...] = ("person", "org")
_ADMIN = ("market", "tax", "ecology", "emergency")

CATALOGUE: dict[str, CategorySpec] = {
    c.code: c
    for c in (
        CategorySpec("registration.basic", _O, ("market",), "neutral"),
        CategorySpec("registration.deregistered", _O, ("market",), "neutral"),
        CategorySpec("court.dishonest_defaulter", _PO, ("court",), "negative", 18),
        CategorySpec("court.consumption_restriction", _PO, ("court",), "negative", 18),
        CategorySpec("court.enforcement_case", _PO, ("court",), "negative"),
        CategorySpec("court.fraud_conviction", _PO, ("court",), "negative"),
        CategorySpec("admin.licence_granted", _PO, ("market", "ecology", "emergency"), "positive"),
        CategorySpec("admin.penalty_minor", _PO, _ADMIN, "negative"),
        CategorySpec("admin.penalty_general", _PO, _ADMIN, "negative"),
        CategorySpec("admin.penalty_serious", _PO, _ADMIN, "negative"),
        CategorySpec("safety.production_penalty", _O, ("emergency",), "negative"),
        CategorySpec("env.pollution_penalty", _O, ("ecology",), "negative"),
        CategorySpec("professional.qualification", _P, ("hrss",), "positive"),
        CategorySpec("professional.qualification_revoked", _P, ("hrss",), "negative"),
        CategorySpec("market.abnormal_operation", _O, ("market",), "negative"),
        CategorySpec("market.serious_illegal", _O, ("market",), "negative"),
        CategorySpec("tax.major_violation", _PO, ("tax",), "negative"),
        CategorySpec("tax.arrears", _PO, ("tax",), "negative"),
        CategorySpec("tax.grade_a", _O, ("tax",), "positive"),
        CategorySpec("labor.wage_arrears", _O, ("hrss",), "negative"),
        CategorySpec("procurement.debarment", _PO, ("procurement",), "negative"),
        CategorySpec("contract.public_contract_breach", _O, ("procurement",), "negative"),
        CategorySpec("finance.loan_default", _PO, ("bank",), "negative"),
        CategorySpec("finance.loan_repaid", _PO, ("bank",), "positive"),
        CategorySpec("commitment.made", _PO, ("market", "tax", "civil_affairs"), "positive"),
        CategorySpec("commitment.breached", _PO, ("market", "tax"), "negative"),
        CategorySpec("honor.contract_abiding", _O, ("market",), "positive"),
        CategorySpec("honor.trustworthy_model", _PO, ("civil_affairs",), "positive"),
        CategorySpec("voluntary.self_declared", _O, ("market",), "neutral"),
    )
}


def categories_of(furnisher: str) -> tuple[str, ...]:
    """The categories a furnisher is authorised for, in catalogue order."""
    return tuple(code for code, spec in CATALOGUE.items() if furnisher in spec.furnishers)
