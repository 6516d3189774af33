"""The policy as validated data: catalogue, furnishers, ratings, lists, measures, memoranda.

A policy is one versioned TOML file (see ``defaults/national.toml``). Everything that has a
consequence names its legal basis; the loader (``load.py``) also refuses categories in protected
domains. All periods are in days, all points and scores are integers (so every engine agrees).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SubjectKind = Literal["person", "org"]
Polarity = Literal["negative", "positive", "neutral"]
# Restoration tiers of the 2026 Measures for Credit Restoration, plus list-only information.
Severity = Literal["none", "minor", "general", "serious", "severe"]
ListKind = Literal["black", "red", "watch"]
MeasureKind = Literal["sanction", "reward"]
RemovalCondition = Literal["fulfilled", "revoked", "expired"]

CODE = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"

# The domains no category may ever touch (the loader refuses them by name and by keyword).
PROTECTED_DOMAINS = frozenset(
    {
        "political_opinion",
        "religion",
        "ethnicity",
        "health",
        "sexual_life",
        "union_membership",
        "social_connections",
        "online_speech",
    }
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyHeader(Strict):
    version: str = Field(min_length=1, max_length=64)
    name: str
    effective_from: dt.date
    jurisdiction: str = "CN"
    description: str = ""


class Furnisher(Strict):
    code: str = Field(pattern=CODE)
    name: str
    name_zh: str = ""
    legal_basis: str = Field(min_length=3)


class Category(Strict):
    code: str = Field(pattern=CODE)
    name: str
    name_zh: str = ""
    catalogue_class: int = Field(ge=1, le=13, description="class in the national catalogue")
    domain: str = Field(pattern=r"^[a-z_]+$", description="subject-matter domain")
    legal_basis: str = Field(min_length=3)
    polarity: Polarity
    severity: Severity
    furnishers: tuple[str, ...] = Field(min_length=1)
    subject_kinds: tuple[SubjectKind, ...] = Field(min_length=1)
    publication_min_days: int = Field(ge=0, description="restoration may be applied for after this")
    publication_max_days: int = Field(ge=0, description="publication stops after this")
    retention_days: int = Field(ge=0, description="kept (unpublished) until this, then deleted")
    publish: bool = True
    min_subject_age: int | None = Field(default=None, ge=0, description="e.g. 18: no minors")
    carries_legal_rep: bool = Field(default=False, description="rows name the legal representative")
    grounds: tuple[str, ...] = Field(
        default=(), description="the legal grounds a row may name (empty: rows name none)"
    )

    @model_validator(mode="after")
    def _periods(self) -> Category:
        if self.publication_min_days > self.publication_max_days:
            raise ValueError("publication_min_days is greater than publication_max_days")
        if self.publication_max_days > self.retention_days:
            raise ValueError("publication_max_days is greater than retention_days")
        return self


class DecayStep(Strict):
    until_days: int = Field(gt=0, description="records younger than this count at `percent`")
    percent: int = Field(ge=0, le=100)


class CategoryPoints(Strict):
    category: str
    points: int = Field(description="per record; negative for adverse records")
    cap: int | None = Field(default=None, description="limit on the category's total (same sign)")
    direct_band: str | None = Field(default=None, description="an active record forces this band")


class Band(Strict):
    band: str = Field(min_length=1, max_length=8)
    min_score: int
    meaning: str = ""


class NewSubjectBand(Strict):
    """Tax-style 'M': a subject registered recently, scoring at least min_score."""

    band: str
    registered_within_days: int = Field(gt=0)
    min_score: int
    registration_category: str


class Rating(Strict):
    code: str = Field(pattern=CODE)
    name: str
    subject_kind: SubjectKind
    legal_basis: str = Field(min_length=3)
    advisory: bool = Field(default=True, description="a rating alone never restricts anyone")
    base: int
    min_score: int
    max_score: int
    decay: tuple[DecayStep, ...] = Field(min_length=1)
    points: tuple[CategoryPoints, ...] = Field(min_length=1)
    bands: tuple[Band, ...] = Field(min_length=2)
    new_subject_band: NewSubjectBand | None = None
    max_reasons: int = Field(default=4, ge=1, le=10)

    @field_validator("decay")
    @classmethod
    def _decay_ascending(cls, steps: tuple[DecayStep, ...]) -> tuple[DecayStep, ...]:
        days = [s.until_days for s in steps]
        if days != sorted(set(days)):
            raise ValueError("decay steps must have strictly increasing until_days")
        return steps

    @field_validator("bands")
    @classmethod
    def _bands_descending(cls, bands: tuple[Band, ...]) -> tuple[Band, ...]:
        mins = [b.min_score for b in bands]
        if mins != sorted(set(mins), reverse=True):
            raise ValueError("bands must be listed from the highest min_score down, without ties")
        return bands


class ListRule(Strict):
    code: str = Field(pattern=CODE)
    name: str
    name_zh: str = ""
    kind: ListKind
    legal_basis: str = Field(min_length=3)
    categories: tuple[str, ...] = Field(min_length=1)
    subject_kinds: tuple[SubjectKind, ...] = Field(min_length=1)
    term_days: int | None = Field(default=None, gt=0, description="None: until removal")
    max_extension_days: int = Field(default=0, ge=0)
    no_term_grounds: tuple[str, ...] = Field(default=(), description="grounds listed without term")
    removal: tuple[RemovalCondition, ...] = Field(min_length=1)
    removal_sla_working_days: int = Field(default=3, ge=0)
    publish: bool = True
    publish_fields: tuple[str, ...] = ()
    notice: str = Field(min_length=3, description="what the notice served with the listing says")


class Measure(Strict):
    code: str = Field(pattern=CODE)
    name: str
    name_zh: str = ""
    kind: MeasureKind
    legal_basis: str = Field(min_length=3)
    agency: str = Field(min_length=2, description="implementing agency")
    description: str = ""


class Memorandum(Strict):
    code: str = Field(pattern=CODE)
    name: str
    legal_basis: str = Field(min_length=3)
    lists: tuple[str, ...] = Field(min_length=1)
    measures: tuple[str, ...] = Field(min_length=1)
    extends_to_legal_representative: bool = False


class Policy(Strict):
    policy: PolicyHeader
    furnishers: tuple[Furnisher, ...] = Field(min_length=1)
    categories: tuple[Category, ...] = Field(min_length=1)
    ratings: tuple[Rating, ...] = ()
    lists: tuple[ListRule, ...] = ()
    measures: tuple[Measure, ...] = ()
    memoranda: tuple[Memorandum, ...] = ()

    @property
    def version(self) -> str:
        return self.policy.version

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    def measure(self, code: str) -> Measure | None:
        return next((m for m in self.measures if m.code == code), None)

    def list_rule(self, code: str) -> ListRule | None:
        return next((rule for rule in self.lists if rule.code == code), None)
