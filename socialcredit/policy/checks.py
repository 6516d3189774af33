"""What a policy must satisfy beyond its schema: references, legal bases, consistency.

Every check returns ``Problem`` values (a location path into the TOML data and a message) rather
than raising, so the loader can report all of them at once. Locations are tuples like pydantic's
(``("categories", 3, "furnishers", 0)``); ``format_location`` renders them against the TOML data as
``categories[3] (code='tax.arrears').furnishers[0]``. Protected domains are checked in
``protected.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from socialcredit.policy.schema import (
    Category,
    ListRule,
    Memorandum,
    Policy,
    Rating,
    SubjectKind,
)

Location = tuple[str | int, ...]


class Problem(NamedTuple):
    location: Location
    message: str


# The singular noun of each section, for messages ("measure 'flight' has no legal basis").
SECTION_NOUNS: Mapping[str, str] = {
    "furnishers": "furnisher",
    "categories": "category",
    "ratings": "rating",
    "lists": "list",
    "measures": "measure",
    "memoranda": "memorandum",
}
_NAMING_KEYS = ("code", "category", "band")  # the key that names an item, in a location

# The fields a list may publish, and the subject kinds each applies to. A person's full resident ID
# is never published (only ``masked_id``); an organisation's code and legal representative are
# public registration data.
PUBLISHABLE_FIELDS: Mapping[str, frozenset[SubjectKind]] = {
    "name": frozenset({"person", "org"}),
    "masked_id": frozenset({"person"}),
    "subject_id": frozenset({"org"}),
    "legal_rep_name": frozenset({"org"}),
    "document_no": frozenset({"person", "org"}),
    "decided_on": frozenset({"person", "org"}),
    "furnisher": frozenset({"person", "org"}),
    "ground": frozenset({"person", "org"}),
    "amount": frozenset({"person", "org"}),
    "listed_on": frozenset({"person", "org"}),
    "expires_on": frozenset({"person", "org"}),
}


def published_fields(rule: ListRule, kind: SubjectKind) -> tuple[str, ...]:
    """The fields of ``rule`` published for a subject of ``kind`` (none if it is not published)."""
    if not rule.publish:
        return ()
    return tuple(f for f in rule.publish_fields if kind in PUBLISHABLE_FIELDS.get(f, frozenset()))


def format_location(location: Location, data: object) -> str:
    """``categories[3] (code='tax.arrears').publication_max_days``, naming items by their code."""
    text = ""
    node: object = data
    for part in location:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            text += f"[{part}]{_item_name(node)}"
        else:
            node = node.get(part) if isinstance(node, dict) else None
            text += f".{part}" if text else part
    return text


def _item_name(item: object) -> str:
    if isinstance(item, dict):
        for key in _NAMING_KEYS:
            value = item.get(key)
            if isinstance(value, str):
                return f" ({key}={value!r})"
    return ""


def no_legal_basis(section: str, code: object) -> str:
    noun = SECTION_NOUNS.get(section, "item")
    named = f"{noun} {code!r}" if isinstance(code, str) else f"this {noun}"
    must = (
        "every category must name one"
        if section == "categories"
        else ("every consequence must name one")
    )
    return f"{named} has no legal basis: {must}"


# --- references and consistency of a validated policy ----------------------------------------


def policy_problems(policy: Policy) -> list[Problem]:
    """Every reference, legal-basis and consistency problem of a schema-valid policy."""
    return [
        *_duplicate_codes(policy),
        *_blank_legal_bases(policy),
        *_category_problems(policy),
        *_rating_problems(policy),
        *_list_problems(policy),
        *_memorandum_problems(policy),
    ]


def _sections(policy: Policy) -> Mapping[str, Sequence[Any]]:
    """The policy's coded items by TOML section."""
    return {
        "furnishers": policy.furnishers,
        "categories": policy.categories,
        "ratings": policy.ratings,
        "lists": policy.lists,
        "measures": policy.measures,
        "memoranda": policy.memoranda,
    }


def _duplicate_codes(policy: Policy) -> Iterator[Problem]:
    for section, items in _sections(policy).items():
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            if item.code in first:
                yield Problem(
                    (section, index, "code"),
                    f"duplicate {SECTION_NOUNS[section]} code {item.code!r} "
                    f"(first at {section}[{first[item.code]}])",
                )
            first.setdefault(item.code, index)


def _blank_legal_bases(policy: Policy) -> Iterator[Problem]:
    # The schema asks for 3 characters; spaces are not a legal basis either.
    for section, items in _sections(policy).items():
        for index, item in enumerate(items):
            if len(item.legal_basis.strip()) < 3:
                yield Problem((section, index, "legal_basis"), no_legal_basis(section, item.code))


def _category_problems(policy: Policy) -> Iterator[Problem]:
    furnishers = {f.code for f in policy.furnishers}
    for index, cat in enumerate(policy.categories):
        here = ("categories", index)
        for k, furnisher in enumerate(cat.furnishers):
            if furnisher not in furnishers:
                yield Problem(
                    (*here, "furnishers", k),
                    f"category {cat.code!r} names unknown furnisher {furnisher!r}",
                )
        if (cat.polarity == "negative") == (cat.severity == "none"):
            yield Problem(
                (*here, "severity"),
                f"category {cat.code!r}: a {cat.polarity} category cannot have "
                f"severity {cat.severity!r} (negative categories need a tier, others "
                "'none')",
            )
        if cat.severity == "minor" and cat.publication_max_days > 90:
            yield Problem(
                (*here, "publication_max_days"),
                f"category {cat.code!r}: minor information is published for at most "
                "90 days (2026 restoration measures)",
            )
        if cat.carries_legal_rep and "org" not in cat.subject_kinds:
            yield Problem(
                (*here, "carries_legal_rep"),
                f"category {cat.code!r}: only organisations have a legal representative",
            )
        if cat.min_subject_age is not None and "person" not in cat.subject_kinds:
            yield Problem(
                (*here, "min_subject_age"),
                f"category {cat.code!r}: min_subject_age applies to persons only",
            )


def _category_for(policy: Policy, code: str, kind: SubjectKind) -> tuple[Category | None, str]:
    """The category and, if it cannot be used for ``kind``, why."""
    cat = policy.category(code)
    if cat is None:
        return None, f"unknown category {code!r}"
    if kind not in cat.subject_kinds:
        return cat, f"category {code!r} does not apply to {kind} subjects"
    return cat, ""


def _rating_problems(policy: Policy) -> Iterator[Problem]:
    for index, rating in enumerate(policy.ratings):
        yield from _one_rating(policy, rating, ("ratings", index))


def _one_rating(policy: Policy, rating: Rating, here: Location) -> Iterator[Problem]:
    name = f"rating {rating.code!r}"
    if not rating.min_score <= rating.base <= rating.max_score:
        yield Problem(
            (*here, "base"),
            f"{name}: base {rating.base} is outside min_score..max_score "
            f"({rating.min_score}..{rating.max_score})",
        )
    if rating.bands[-1].min_score > rating.min_score:
        yield Problem(
            (*here, "bands", len(rating.bands) - 1, "min_score"),
            f"{name}: the lowest band must start at or below min_score "
            f"{rating.min_score}, so every score has a band",
        )
    bands = [b.band for b in rating.bands]
    for k, band in enumerate(bands):
        if band in bands[:k]:
            yield Problem((*here, "bands", k, "band"), f"{name}: duplicate band {band!r}")
    seen: set[str] = set()
    for k, points in enumerate(rating.points):
        at = (*here, "points", k)
        _, why = _category_for(policy, points.category, rating.subject_kind)
        if why:
            yield Problem((*at, "category"), f"{name}: {why}")
        if points.category in seen:
            yield Problem(
                (*at, "category"),
                f"{name}: points for category {points.category!r} are given twice",
            )
        seen.add(points.category)
        if points.cap is not None and (
            points.cap * points.points <= 0 or abs(points.cap) < abs(points.points)
        ):
            yield Problem(
                (*at, "cap"),
                f"{name}: cap {points.cap} must have the sign of points "
                f"({points.points}) and be at least as large",
            )
        if points.direct_band is not None and points.direct_band not in bands:
            yield Problem(
                (*at, "direct_band"),
                f"{name}: direct_band {points.direct_band!r} is not one of its bands "
                f"({', '.join(bands)})",
            )
    new = rating.new_subject_band
    if new is not None:
        at = (*here, "new_subject_band")
        if not new.band.strip():
            yield Problem((*at, "band"), f"{name}: the new-subject band needs a label")
        _, why = _category_for(policy, new.registration_category, rating.subject_kind)
        if why:
            yield Problem((*at, "registration_category"), f"{name}: {why}")
        if not rating.min_score <= new.min_score <= rating.max_score:
            yield Problem(
                (*at, "min_score"),
                f"{name}: new_subject_band.min_score is outside min_score..max_score",
            )


_LIST_POLARITY = {"black": "negative", "watch": "negative", "red": "positive"}


def _list_problems(policy: Policy) -> Iterator[Problem]:
    for index, rule in enumerate(policy.lists):
        here: Location = ("lists", index)
        name = f"list {rule.code!r}"
        covered: set[str] = set()
        for k, code in enumerate(rule.categories):
            cat = policy.category(code)
            if cat is None:
                yield Problem((*here, "categories", k), f"{name} names unknown category {code!r}")
                continue
            covered.update(cat.subject_kinds)
            for ground in sorted(set(rule.no_term_grounds) - set(cat.grounds)):
                yield Problem(
                    (*here, "no_term_grounds"),
                    f"{name}: ground {ground!r} is not among the grounds of category {code!r}",
                )
            longest = (rule.term_days or 0) + rule.max_extension_days
            if longest > cat.publication_max_days:
                yield Problem(
                    (*here, "term_days"),
                    f"{name}: an entry may last {longest} days, longer than category {code!r} "
                    f"stays in force (publication_max_days = {cat.publication_max_days})",
                )
            if cat.polarity != _LIST_POLARITY[rule.kind]:
                yield Problem(
                    (*here, "categories", k),
                    f"{name}: a {rule.kind} list takes {_LIST_POLARITY[rule.kind]} "
                    f"categories, but {code!r} is {cat.polarity}",
                )
        for k, kind in enumerate(rule.subject_kinds):
            if covered and kind not in covered:
                yield Problem(
                    (*here, "subject_kinds", k),
                    f"{name}: none of its categories applies to {kind} subjects",
                )
        yield from _list_term_problems(rule, here)
        for k, field in enumerate(rule.publish_fields):
            kinds = PUBLISHABLE_FIELDS.get(field)
            if kinds is None:
                yield Problem(
                    (*here, "publish_fields", k),
                    f"{name}: {field!r} is not a publishable field (allowed: "
                    f"{', '.join(PUBLISHABLE_FIELDS)})",
                )
            elif not kinds & set(rule.subject_kinds):
                yield Problem(
                    (*here, "publish_fields", k),
                    f"{name}: {field!r} is published only for "
                    f"{'/'.join(sorted(kinds))} subjects, which this list has none of",
                )


def _list_term_problems(rule: ListRule, here: Location) -> Iterator[Problem]:
    name = f"list {rule.code!r}"
    if rule.term_days is None:
        if "expired" in rule.removal:
            yield Problem(
                (*here, "removal"),
                f"{name} has no term_days, so an entry cannot be removed as 'expired'",
            )
        if rule.max_extension_days:
            yield Problem((*here, "max_extension_days"), f"{name} has no term_days to extend")
        if rule.no_term_grounds:
            yield Problem(
                (*here, "no_term_grounds"),
                f"{name} has no term_days, so no ground can be exempt from it",
            )
    elif "expired" not in rule.removal:
        yield Problem(
            (*here, "removal"),
            f"{name} has term_days = {rule.term_days}, so removal must include 'expired'",
        )


def _memorandum_problems(policy: Policy) -> Iterator[Problem]:
    for index, memo in enumerate(policy.memoranda):
        yield from _one_memorandum(policy, memo, ("memoranda", index))


def _one_memorandum(policy: Policy, memo: Memorandum, here: Location) -> Iterator[Problem]:
    name = f"memorandum {memo.code!r}"
    rules: list[ListRule] = []
    for k, code in enumerate(memo.lists):
        rule = policy.list_rule(code)
        if rule is None:
            yield Problem((*here, "lists", k), f"{name} names unknown list {code!r}")
        else:
            rules.append(rule)
    for k, code in enumerate(memo.measures):
        measure = policy.measure(code)
        if measure is None:
            yield Problem((*here, "measures", k), f"{name} names unknown measure {code!r}")
            continue
        wrong = [r for r in rules if (r.kind == "red") != (measure.kind == "reward")]
        for rule in wrong:
            allowed = "red lists" if measure.kind == "reward" else "black or watch lists"
            yield Problem(
                (*here, "measures", k),
                f"{name}: {measure.kind} measure {code!r} may only be triggered by "
                f"{allowed}, but list {rule.code!r} is a {rule.kind} list",
            )
    if (
        memo.extends_to_legal_representative
        and rules
        and not any("org" in r.subject_kinds for r in rules)
    ):
        yield Problem(
            (*here, "extends_to_legal_representative"),
            f"{name}: none of its lists holds organisations, which alone have a legal "
            "representative",
        )
