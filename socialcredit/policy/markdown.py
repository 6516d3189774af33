"""The policy as Markdown tables: the shipped catalogue section of docs/policy.md is this output."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from socialcredit.policy.load import LoadedPolicy
from socialcredit.policy.schema import Category, ListRule, Policy, Rating


def policy_tables(loaded: LoadedPolicy) -> str:
    """Every table and its legal basis, one Markdown section each."""
    policy = loaded.policy
    header = policy.policy
    parts = [
        f"Policy **{header.version}**, *{header.name}*, in force from {header.effective_from} "
        f"(`{loaded.file}`).",
        _section(
            "Furnishers",
            ("code", "name", "中文", "legal basis"),
            [(f"`{f.code}`", f.name, f.name_zh, f.legal_basis) for f in policy.furnishers],
        ),
        _section(
            "Catalogue",
            (
                "code",
                "name",
                "中文",
                "class",
                "subjects",
                "polarity",
                "severity",
                "furnishers",
                "published (days)",
                "kept (days)",
                "legal basis",
            ),
            [_category_row(c) for c in policy.categories],
        ),
        _section(
            "Lists",
            (
                "code",
                "name",
                "中文",
                "kind",
                "categories",
                "subjects",
                "term (days)",
                "removal",
                "published fields",
                "legal basis",
            ),
            [_list_row(r) for r in policy.lists],
        ),
        _section(
            "Measures",
            ("code", "kind", "name", "中文", "agency", "legal basis"),
            [
                (f"`{m.code}`", m.kind, m.name, m.name_zh, m.agency, m.legal_basis)
                for m in policy.measures
            ],
        ),
        _section(
            "Memoranda",
            ("code", "name", "lists", "measures", "binds legal rep.", "legal basis"),
            [
                (
                    f"`{m.code}`",
                    m.name,
                    _codes(m.lists),
                    _codes(m.measures),
                    "yes" if m.extends_to_legal_representative else "no",
                    m.legal_basis,
                )
                for m in policy.memoranda
            ],
        ),
        *(_rating_section(policy, r) for r in policy.ratings),
    ]
    return "\n\n".join(parts) + "\n"


def _category_row(c: Category) -> Sequence[str]:
    published = (
        f"{c.publication_min_days}–{c.publication_max_days}"
        if c.publish
        else f"not published ({c.publication_min_days}–{c.publication_max_days})"
    )
    extras = [f"age ≥ {c.min_subject_age}"] if c.min_subject_age is not None else []
    if c.carries_legal_rep:
        extras.append("names legal rep.")
    subjects = ", ".join(c.subject_kinds) + (f" ({'; '.join(extras)})" if extras else "")
    return (
        f"`{c.code}`",
        c.name,
        c.name_zh,
        str(c.catalogue_class),
        subjects,
        c.polarity,
        c.severity,
        ", ".join(c.furnishers),
        published,
        str(c.retention_days),
        c.legal_basis,
    )


def _list_row(r: ListRule) -> Sequence[str]:
    if r.term_days is None:
        term = "until removed"
    else:
        term = str(r.term_days)
        if r.max_extension_days:
            term += f" (+ up to {r.max_extension_days})"
        if r.no_term_grounds:
            term += f"; no term for {', '.join(r.no_term_grounds)}"
    removal = f"{', '.join(r.removal)}; within {r.removal_sla_working_days} working days"
    fields = ", ".join(r.publish_fields) if r.publish else "not published"
    return (
        f"`{r.code}`",
        r.name,
        r.name_zh,
        r.kind,
        _codes(r.categories),
        ", ".join(r.subject_kinds),
        term,
        removal,
        fields,
        r.legal_basis,
    )


def _rating_section(policy: Policy, rating: Rating) -> str:
    decay = ", ".join(f"{s.percent}% under {s.until_days} days" for s in rating.decay)
    bands = ", ".join(f"{b.band} ≥ {b.min_score}" for b in rating.bands)
    intro = [
        f"### Rating `{rating.code}`: {rating.name}",
        "",
        f"Subjects: {rating.subject_kind}; base {rating.base}, range {rating.min_score}–"
        f"{rating.max_score}; {'advisory' if rating.advisory else 'binding'}. "
        f"Decay: {decay}, then 0. Bands: {bands}.",
    ]
    if rating.new_subject_band is not None:
        new = rating.new_subject_band
        intro.append(
            f"Band {new.band}: registered (`{new.registration_category}`) within "
            f"{new.registered_within_days} days and scoring ≥ {new.min_score}."
        )
    intro.append(f"Legal basis: {rating.legal_basis}")
    rows = []
    for p in rating.points:
        cat = policy.category(p.category)
        rows.append(
            (
                f"`{p.category}`",
                cat.name if cat else "",
                f"{p.points:+d}",
                "" if p.cap is None else f"{p.cap:+d}",
                p.direct_band or "",
            )
        )
    table = _table(("category", "name", "points", "cap", "direct band"), rows)
    return "\n".join(intro) + "\n\n" + table


def _section(title: str, head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    return f"### {title}\n\n{_table(head, rows)}"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _codes(codes: Iterable[str]) -> str:
    return ", ".join(f"`{c}`" for c in codes)
