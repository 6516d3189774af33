"""Ratings as relational expressions: decayed points, caps, score, band, reasons.

Part of the derivation written once in Ibis (see ``expressions.py`` for record states, lists
and decisions); the semantics are in ``docs/algorithm.md`` section 2. All arithmetic is on
integers, so every engine gives the same scores.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.datatypes as dt_types
from ibis import _

from socialcredit.derive.expressions import (
    EPOCH,
    SEQ_SPAN,
    Table,
    day_literal,
    record_key,
    trunc_div,
)
from socialcredit.derive.policy_tables import PolicyRelations


def rating_subjects(subjects: Table, policy: PolicyRelations) -> Table:
    """Every (subject, rating) pair a rating applies to: all subjects of its kind."""
    models = policy.rating_models
    return subjects.join(models, subjects.kind == models.subject_kind).select(
        "subject_id",
        "rating",
        "base",
        "min_score",
        "max_score",
        "max_reasons",
        "lowest_band",
        "new_band",
        "new_within_days",
        "new_min_score",
        "new_category",
    )


def _scored_records(records: Table, policy: PolicyRelations) -> Table:
    """Active records of the categories each rating scores, with the category's points."""
    active = records.filter(records.status == "active")
    points = policy.rating_points
    return active.join(
        points, [active.category == points.category, active.kind == points.subject_kind]
    )


def rating_contributions(records: Table, policy: PolicyRelations, as_of: dt.date) -> Table:
    """Each active record's non-zero points under each rating, after decay (truncated toward
    zero). A record older than the last decay step, or whose points truncate to zero, adds
    nothing and is left out here: most of a large ledger is old, and this keeps it out of the
    aggregations that follow."""
    day = day_literal(as_of)
    scored = _scored_records(records, policy)
    aged = scored.mutate(age=day.delta(scored.decided_on, unit="day"))
    decay = policy.rating_decay
    stepped = aged.join(
        decay,
        [aged.rating == decay.rating, aged.age >= decay.from_days, aged.age < decay.until_days],
    )
    contributions = stepped.select(
        "subject_id",
        "point_id",
        record=record_key(stepped),
        contribution=trunc_div(stepped.points * stepped.percent, 100),
    )
    return contributions.filter(contributions.contribution != 0)


@ibis.udf.scalar.builtin(name="hash")  # type: ignore[untyped-decorator]
def _hash(value) -> dt_types.uint64:  # type: ignore[no-untyped-def]  # any type: Ibis reads the annotation
    """A 64-bit hash of a value (a struct for several)."""


@ibis.udf.agg.builtin(name="bit_xor")  # type: ignore[untyped-decorator]
def _xor(value: dt_types.uint64, where: bool = True) -> dt_types.uint64:
    """The exclusive or of a group's values: a hash of a set, whatever its order."""


@dataclass(frozen=True)
class RecordNames:
    """How reasons name records: ``many`` aggregates a group's record keys, ``one`` names a
    single record as ``many`` would name a group of it alone."""

    many: Callable[[Any], Any]
    one: Callable[[Any], Any]


# The keys themselves, sorted (``ratings``). Sorted by key: cheaper than an ordered aggregate,
# and just as deterministic.
KEYS = RecordNames(many=lambda key: key.collect().sort(), one=lambda key: ibis.array([key]))
# A hash of the set of keys, whatever their order (``rating_signatures``).
KEY_SET_HASH = RecordNames(many=lambda key: _xor(_hash(key)), one=lambda key: _hash(key))


def _category_totals(
    contributions: Table, policy: PolicyRelations, names: RecordNames = KEYS
) -> Table:
    """Per (subject, rating, category): the points summed and capped, and the records behind
    them. Grouped by the subject and the policy's number for (rating, kind, category), an
    integer (a subject has one kind): cheaper to group by than three strings."""
    c = contributions
    sums = c.group_by("subject_id", "point_id").agg(
        total=c.contribution.sum(), records=names.many(c.record)
    )
    points = policy.rating_points.select(
        p_point_id="point_id", rating="rating", category="category", points="points", cap="cap"
    )
    totals = sums.join(points, sums.point_id == points.p_point_id).select(
        "subject_id", "rating", "category", "point_id", "points", "cap", "total", "records"
    )
    capped = ibis.cases(
        (totals.cap.isnull(), totals.total),
        (totals.points < 0, ibis.greatest(totals.total, totals.cap)),
        else_=ibis.least(totals.total, totals.cap),
    )
    return totals.mutate(capped=capped.cast("int64"))


def _direct_bands(records: Table, policy: PolicyRelations, names: RecordNames = KEYS) -> Table:
    """The band forced by active records of direct-band categories (the lowest such band),
    whatever their age or points."""
    bands = policy.rating_bands
    # Joined from the direct-band categories outward (not from ``_scored_records``): a shared
    # subexpression would make engines materialise every scored record once more.
    points = policy.rating_points.filter(policy.rating_points.direct_band.notnull())
    active = records.filter(records.status == "active")
    forcing = active.join(
        points, [active.category == points.category, active.kind == points.subject_kind]
    )
    forcing = forcing.select("subject_id", "rating", "direct_band", record=record_key(forcing))
    forcing = forcing.join(
        bands, [forcing.rating == bands.rating, forcing.direct_band == bands.band]
    )
    worst = forcing.group_by(w_subject_id=forcing.subject_id, w_rating=forcing.rating).agg(
        worst=forcing.band_min_score.min()
    )
    chosen = forcing.join(
        worst,
        [
            forcing.subject_id == worst.w_subject_id,
            forcing.rating == worst.w_rating,
            forcing.band_min_score == worst.worst,
        ],
    )
    return chosen.group_by(d_subject_id=chosen.subject_id, d_rating=chosen.rating).agg(
        direct_band=chosen.direct_band.min(),
        direct_records=names.many(chosen.record),
    )


def _registrations(records: Table, pairs: Table) -> Table:
    """When each subject was registered, for ratings with a new-subject band."""
    models = pairs.filter(pairs.new_category.notnull()).select("rating", "new_category").distinct()
    regs = records.filter(records.status != "revoked")
    regs = regs.join(models, regs.category == models.new_category)
    return regs.group_by(r_subject_id=regs.subject_id, r_rating=regs.rating).agg(
        registered_on=regs.decided_on.min(),
        registration=record_key(regs).argmin(
            regs.decided_on.delta(EPOCH, unit="day").cast("int64") * SEQ_SPAN + regs.file_seq
        ),
    )


REASON_SEPARATOR = ", "  # between the reasons of a JSON array, as DuckDB writes one


def _json_text(value: Any) -> Any:
    """A struct as its compact JSON text (an Ibis expression in, one out)."""
    return value.cast("json").cast("string")


def _per_rating(totals: Table, policy: PolicyRelations) -> Table:
    """Per (subject, rating): the points (the capped totals summed) and the JSON text of the
    rating's largest reasons (up to its ``max_reasons``; largest absolute total first, ties
    by category code), each a category with a non-zero capped total. One aggregation for
    both, and a sort of a few items per subject, rather than a ranking window; the reasons
    leave as text, so that later joins carry a string rather than nested lists."""
    t = totals
    item = ibis.struct(
        {
            "sort_points": -t.capped.abs(),
            "sort_code": t.category,
            "reason": _json_text(
                ibis.struct({"code": t.category, "points": t.capped, "records": t.records})
            ),
        }
    )
    sums = t.group_by(t_subject_id=t.subject_id, t_rating=t.rating).agg(
        points=t.capped.sum(), items=item.collect(where=t.capped != 0)
    )
    models = policy.rating_models.select(m_rating="rating", max_reasons="max_reasons")
    sums = sums.join(models, sums.t_rating == models.m_rating)
    top = sums.items.sort()[: sums.max_reasons].map(lambda i: i.reason)
    return sums.select("t_subject_id", "t_rating", "points", ranked=top.join(REASON_SEPARATOR))


def _per_rating_signature(totals: Table) -> Table:
    """``_per_rating``'s counterpart for ``rating_signatures``: the points, and a hash of
    every reason the rating could give (each category's number, capped total and records),
    not only of the largest: a change beyond them changes the hash, never the reverse."""
    t = totals
    # The records' set hash first: DuckDB mixes a struct's fields into its hash in order, but
    # only XORs in the last, and an XOR of the reasons would then lose which records went with
    # which category.
    reason = _hash(ibis.struct({"records": t.records, "point_id": t.point_id, "points": t.capped}))
    return t.group_by(t_subject_id=t.subject_id, t_rating=t.rating).agg(
        points=t.capped.sum(), ranked=_xor(reason, where=t.capped != 0)
    )


def _banded(
    records: Table,
    subjects: Table,
    policy: PolicyRelations,
    as_of: dt.date,
    names: RecordNames,
    per_rating: Callable[[Table], Table],
) -> Table:
    """Every (subject, rating) pair with its score, band and what its reasons are made of:
    ``ranked`` (from ``per_rating``), the band forced by a category or given to a new subject
    (``special_band``) and the records behind that (``special_records``)."""
    day = day_literal(as_of)
    pairs = rating_subjects(subjects, policy)
    direct = _direct_bands(records, policy, names)
    regs = _registrations(records, pairs)
    # The direct bands and registrations join the (subject, rating) pairs before the reasons
    # do: joined after them, an engine may build its hash table on the side that carries
    # every subject's reasons (DuckDB did at 10M subjects: 5-12 CPU-seconds of the stage's 80).
    pairs = pairs.left_join(
        direct, [pairs.subject_id == direct.d_subject_id, pairs.rating == direct.d_rating]
    ).left_join(regs, [_.subject_id == regs.r_subject_id, _.rating == regs.r_rating])
    contributions = rating_contributions(records, policy, as_of)
    sums = per_rating(_category_totals(contributions, policy, names))
    scored = pairs.left_join(
        sums, [pairs.subject_id == sums.t_subject_id, pairs.rating == sums.t_rating]
    )
    raw = scored.base + ibis.coalesce(scored.points, 0)
    scored = scored.mutate(
        score=ibis.greatest(scored.min_score, ibis.least(scored.max_score, raw)).cast("int64")
    )
    bands = policy.rating_bands
    # Each band covers [its min_score, the next band's min_score): at most one matches.
    bands = bands.select("band", "band_min_score", "band_below", b_rating=bands.rating)
    banded = scored.left_join(
        bands,
        [
            scored.rating == bands.b_rating,
            scored.score >= bands.band_min_score,
            bands.band_below.isnull() | (scored.score < bands.band_below),
        ],
    )
    is_new = (
        banded.new_band.notnull()
        & banded.registered_on.notnull()
        & (day.delta(banded.registered_on, unit="day") < banded.new_within_days)
        & (banded.score >= banded.new_min_score)
    )
    new_band = ibis.cases((is_new, banded.new_band), else_=ibis.null("string"))
    banded = banded.mutate(
        special_band=ibis.coalesce(banded.direct_band, new_band),
        special_records=ibis.cases(
            (banded.direct_band.notnull(), banded.direct_records),
            (is_new, names.one(banded.registration)),
            else_=ibis.null(banded.direct_records.type()),
        ),
    )
    return banded.mutate(band=ibis.coalesce(banded.special_band, banded.band, banded.lowest_band))


def ratings(records: Table, subjects: Table, policy: PolicyRelations, as_of: dt.date) -> Table:
    """Score, band and reasons per (subject, rating) for every subject a rating applies to."""
    out = _banded(records, subjects, policy, as_of, KEYS, lambda t: _per_rating(t, policy))
    band_code = ibis.cases((out.direct_band.notnull(), "direct_band"), else_="new_subject_band")
    band_reason = ibis.cases(
        (
            out.special_band.notnull(),
            _json_text(
                ibis.struct(
                    {"code": band_code, "band": out.special_band, "records": out.special_records}
                )
            ),
        ),
        else_=ibis.null("string"),
    )
    # The band reason (if any) first, then the largest category totals.
    ranked = ibis.coalesce(out.ranked, "")
    body = ibis.cases(
        (band_reason.isnull(), ranked),
        (ranked == "", band_reason),
        else_=band_reason + REASON_SEPARATOR + ranked,
    )
    return out.select(
        "subject_id",
        "rating",
        "score",
        "band",
        reasons="[" + body + "]",
    )


def rating_signatures(
    records: Table, subjects: Table, policy: PolicyRelations, as_of: dt.date
) -> Table:
    """Per (subject, rating) pair of ``ratings``: a 64-bit hash of everything its row is made
    of (score, band, the band's records, and every category's capped total and records),
    computed without the lists of records and the JSON text that are most of the cost of
    ``ratings``. Two pairs with equal signatures, under the same policy and the same
    ``ratings`` code, have equal rows (but for a 1 in 2^64 chance); ``ratings_memo`` keeps
    the rows by signature, and a full run computes only the rows whose signature is new."""
    out = _banded(records, subjects, policy, as_of, KEY_SET_HASH, _per_rating_signature)
    made_of = ibis.struct(  # the set hashes first (see ``_per_rating_signature``)
        {
            "ranked": out.ranked,
            "special_records": out.special_records,
            "score": out.score,
            "band": out.band,
            "special_band": out.special_band,
            "direct": out.direct_band.notnull(),
        }
    )
    return out.select("subject_id", "rating", signature=_hash(made_of))
