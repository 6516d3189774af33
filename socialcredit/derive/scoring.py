"""Ratings as relational expressions: decayed points, caps, score, band, reasons.

Part of the derivation written once in Ibis (see ``expressions.py`` for record states, lists
and decisions); the semantics are in ``docs/algorithm.md`` section 2. All arithmetic is on
integers, so every engine gives the same scores.
"""

from __future__ import annotations

import datetime as dt
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
        "file_seq",  # names the record as ``record`` does, for the signatures
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


def _sorted_keys(key: Any) -> Any:
    """A group's record keys as a sorted list: cheaper than an ordered aggregate, and just as
    deterministic."""
    return key.collect().sort()


def _mixed(*values: Any) -> Any:
    """A 64-bit hash of several values, each tied to the others. DuckDB's hash of a struct (or
    of several arguments) mixes every field but the last, which it only XORs in: in an XOR of
    such hashes over a set, the last fields could trade places between members unseen. A
    constant last field leaves every real one mixed."""
    fields = {f"v{i}": value for i, value in enumerate(values)}
    return _hash(ibis.struct({**fields, "end": ibis.literal(0, type="int8")}))


def _category_totals(contributions: Table, policy: PolicyRelations) -> Table:
    """Per (subject, rating, category): the points summed and capped, and the records behind
    them. Grouped by the subject and the policy's number for (rating, kind, category), an
    integer (a subject has one kind): cheaper to group by than three strings."""
    c = contributions
    sums = c.group_by("subject_id", "point_id").agg(
        total=c.contribution.sum(), records=_sorted_keys(c.record)
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


def _direct_forcing(records: Table, policy: PolicyRelations) -> Table:
    """Active records of direct-band categories, with the rating and band they force."""
    # Joined from the direct-band categories outward (not from ``_scored_records``): a shared
    # subexpression would make engines materialise every scored record once more.
    points = policy.rating_points.filter(policy.rating_points.direct_band.notnull())
    active = records.filter(records.status == "active")
    return active.join(
        points, [active.category == points.category, active.kind == points.subject_kind]
    )


def _direct_bands(records: Table, policy: PolicyRelations) -> Table:
    """The band forced by active records of direct-band categories (the lowest such band),
    whatever their age or points."""
    bands = policy.rating_bands
    forcing = _direct_forcing(records, policy)
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
        direct_records=_sorted_keys(chosen.record),
    )


def _registration_records(records: Table, policy: PolicyRelations) -> Table:
    """Records that register a subject (not revoked), each with every rating whose new-subject
    band counts from them and how long that band lasts."""
    models = policy.rating_models
    models = models.filter(models.new_category.notnull()).select(
        "rating", "new_category", "new_within_days"
    )
    regs = records.filter(records.status != "revoked")
    return regs.join(models, regs.category == models.new_category)


def _registrations(records: Table, policy: PolicyRelations) -> Table:
    """When each subject was registered, for ratings with a new-subject band."""
    regs = _registration_records(records, policy)
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


def _banded(records: Table, subjects: Table, policy: PolicyRelations, as_of: dt.date) -> Table:
    """Every (subject, rating) pair with its score, band and what its reasons are made of:
    ``ranked`` (``_per_rating``), the band forced by a category or given to a new subject
    (``special_band``) and the records behind that (``special_records``)."""
    day = day_literal(as_of)
    pairs = rating_subjects(subjects, policy)
    direct = _direct_bands(records, policy)
    regs = _registrations(records, policy)
    # The direct bands and registrations join the (subject, rating) pairs before the reasons
    # do: joined after them, an engine may build its hash table on the side that carries
    # every subject's reasons (DuckDB did at 10M subjects: 5-12 CPU-seconds of the stage's 80).
    pairs = pairs.left_join(
        direct, [pairs.subject_id == direct.d_subject_id, pairs.rating == direct.d_rating]
    ).left_join(regs, [_.subject_id == regs.r_subject_id, _.rating == regs.r_rating])
    contributions = rating_contributions(records, policy, as_of)
    sums = _per_rating(_category_totals(contributions, policy), policy)
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
            (is_new, ibis.array([banded.registration])),
            else_=ibis.null(banded.direct_records.type()),
        ),
    )
    return banded.mutate(band=ibis.coalesce(banded.special_band, banded.band, banded.lowest_band))


def ratings(records: Table, subjects: Table, policy: PolicyRelations, as_of: dt.date) -> Table:
    """Score, band and reasons per (subject, rating) for every subject a rating applies to."""
    out = _banded(records, subjects, policy, as_of)
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
    """Per (subject, rating) pair of ``ratings``: a 64-bit hash of everything its row is
    computed from at ``as_of``, without computing it: the set of the subject's rating
    contributions (each record, its rating and category as the policy numbers them, and its
    points after decay), of its active records that force a band, and of its registrations,
    each with whether a new-subject band still counts from it. The row is a function of these
    and of the policy: two dates or two runs with the same signature for a pair, under the same
    policy and the same ``ratings`` code, give it the same row (but for a 1 in 2^64 chance).
    ``ratings_memo`` keeps the rows by signature, and a full run computes only the rows whose
    signature is new.

    One aggregation per subject over the three sets (a record is named by its filing's
    sequence number, which the ledger never reassigns): the per-category totals, the caps,
    the score, the band and the reasons' lists of record keys, which are most of the cost of
    ``ratings``, are left to the rows that changed."""
    day = day_literal(as_of)
    contributions = rating_contributions(records, policy, as_of)
    forcing = _direct_forcing(records, policy)
    regs = _registration_records(records, policy)
    in_window = day.delta(regs.decided_on, unit="day") < regs.new_within_days
    made_of = ibis.union(
        contributions.select(
            "subject_id",
            part=_mixed(
                1, contributions.file_seq, contributions.point_id, contributions.contribution
            ),
        ),
        forcing.select("subject_id", part=_mixed(2, forcing.file_seq, forcing.point_id)),
        regs.select("subject_id", part=_mixed(3, regs.file_seq, regs.rating, in_window)),
        distinct=False,
    )
    # Grouped by a 64-bit hash of the identifier, not the 18-character string (an eighth of
    # the stage at 10M subjects). Subjects whose identifiers share a hash would share one
    # signature, the XOR of both sets, which still changes whenever either set does: a kept
    # row is never taken for a changed one, at worst both are computed again.
    per_subject = made_of.group_by(s_key=_hash(made_of.subject_id)).agg(
        signature=_xor(made_of.part)
    )
    pairs = rating_subjects(subjects, policy)
    signed = pairs.left_join(per_subject, _hash(pairs.subject_id) == per_subject.s_key)
    # Never null: the memo reads a null signature as a pair that is gone. Nothing to hash is
    # the XOR of nothing.
    empty = ibis.literal(0, type="uint64")
    return signed.select("subject_id", "rating", signature=ibis.coalesce(signed.signature, empty))
