"""The derivation as relational expressions, written once in Ibis and run by any engine.

Inputs are two relations (``events`` and ``subjects``, either the store's tables or a slice of
them) plus the policy relations (``policy_tables``). Every stage is a function from relations
to a relation; an engine decides what to materialise between stages. All score arithmetic is
integer (engines disagree on decimals); dates are shifted with intervals and cast back to
dates. The semantics are documented for the public in ``docs/algorithm.md``; the ratings are in
``scoring.py``.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
from ibis import _

from socialcredit.derive.policy_tables import PolicyRelations, StageReads
from socialcredit.store.event_keys import EVENT_FIELDS

Table = Any  # ibis.Table; Ibis ships no type information

# An event as derivation reads it: its sequence number and every field but the name and the
# note as furnished (neither changes a rating, list or decision).
EVENT_COLUMNS = ("seq", *(f for f in EVENT_FIELDS if f not in ("subject_name", "note")))
SUBJECT_COLUMNS = ("subject_id", "kind", "birth_date")
# What record states need of an event's subject; ``with_subjects`` adds it (the columnar ledger
# copy carries it already: a subject's kind and birth date follow from its identifier).
SUBJECT_ATTRIBUTES = ("kind", "birth_date")
# Fields an amendment may change (the subject, category and decision date never change).
AMENDABLE = ("document_no", "amount_fen", "ground", "extension_months", "legal_rep_id")
EPOCH = ibis.literal(dt.date(1970, 1, 1), type="date")
SEQ_SPAN = 10**12  # orders amendments by (date, seq) as one integer; seqs stay below this
# A record's state as every later stage reads it (``record_states`` adds its status).
STATE_COLUMNS = (
    "furnisher",
    "record_id",
    "subject_id",
    "kind",
    "category",
    "decided_on",
    "file_seq",
    "carries_legal_rep",
)


def day_literal(value: dt.date) -> Any:
    return ibis.literal(value, type="date")


def _as_date(shifted: Any) -> Any:
    """Ibis types ``date + interval`` as a date and so drops a cast to date, but DuckDB returns
    a timestamp: cast through timestamp so that every engine ends with a date."""
    return shifted.cast("timestamp").cast("date")


def _plus_days(date: Any, days: Any) -> Any:
    return _as_date(date + days.as_interval("D"))


def _ymd(date: Any) -> Any:
    """A date as the integer YYYYMMDD, so that ages are exact integer comparisons."""
    return date.year() * 10000 + date.month() * 100 + date.day()


def record_key(table: Table) -> Any:
    return table.furnisher.concat(":", table.record_id)


def trunc_div(value: Any, divisor: int) -> Any:
    """Integer division truncated toward zero, identical on every engine."""
    magnitude = (value.abs() // divisor).cast("int64")
    return ibis.cases((value < 0, -magnitude), else_=magnitude)


@dataclass(frozen=True)
class RecordChanges:
    """What happened to records after they were filed, as of a date.

    ``ends``: per record revoked or fulfilled, the dates (``c_furnisher``, ``c_record_id``,
    ``revoked_on``, ``fulfilled_on``). ``amendments``: per amended record, each amendable field
    from the latest amendment (by date, then seq) that carries it (``a_furnisher``,
    ``a_record_id``, ``amended_<field>``). Two aggregations rather than one over every change
    event: in a large ledger nearly every changed record is its own group, and carrying the
    amendments' arg-max states through the revocations and fulfilments cost twice as much."""

    ends: Table
    amendments: Table


def _changing(events: Table, as_of: dt.date, actions: Sequence[str]) -> Table:
    return events.filter(
        (events.decided_on <= day_literal(as_of)) & events.action.isin(list(actions))
    )


def record_ends(events: Table, as_of: dt.date) -> Table:
    """``RecordChanges.ends``. Small (only records revoked or fulfilled): engines may
    materialise it."""
    ending = _changing(events, as_of, ("revoke", "fulfil"))
    return ending.group_by(c_furnisher=ending.furnisher, c_record_id=ending.record_id).agg(
        revoked_on=ending.decided_on.min(where=ending.action == "revoke"),
        fulfilled_on=ending.decided_on.min(where=ending.action == "fulfil"),
    )


def record_amendments(events: Table, as_of: dt.date) -> Table:
    """``RecordChanges.amendments``. Small (only amended records): engines may materialise
    it."""
    amending = _changing(events, as_of, ("amend",))
    order = amending.decided_on.delta(EPOCH, unit="day").cast("int64") * SEQ_SPAN + amending.seq
    return amending.group_by(a_furnisher=amending.furnisher, a_record_id=amending.record_id).agg(
        **{
            f"amended_{name}": amending[name].argmax(order, where=amending[name].notnull())
            for name in AMENDABLE
        },
        # When the legal representative it names was named: a decision moves to them then.
        amended_legal_rep_on=amending.decided_on.argmax(
            order, where=amending.legal_rep_id.notnull()
        ),
    )


def with_subjects(events: Table, subjects: Table) -> Table:
    """``events`` with their subject's ``SUBJECT_ATTRIBUTES`` (null for an unregistered one)."""
    people = subjects.select(
        s_subject_id=subjects.subject_id,
        **{name: subjects[name] for name in SUBJECT_ATTRIBUTES},
    )
    joined = events.left_join(people, events.subject_id == people.s_subject_id)
    return joined.select(*events.columns, *SUBJECT_ATTRIBUTES)


def filed_records(events: Table, policy: PolicyRelations, as_of: dt.date) -> Table:
    """One row per (furnisher, record_id) filed on or before ``as_of`` in a category of the
    policy, without its status: what ``record_states`` adds that to, and what a run counts.

    ``events`` carry their subject's attributes (``with_subjects``)."""
    day = day_literal(as_of)
    known = events.filter((events.decided_on <= day) & (events.action == "file"))
    files = known.select(
        "furnisher",
        "record_id",
        "subject_id",
        "kind",
        "birth_date",
        "category",
        "decided_on",
        file_seq=known.seq,
    )
    rec = files.join(policy.categories, _.category == policy.categories.category)
    # Defence in depth: a record about a subject under the category's minimum age never counts.
    old_enough = (
        rec.min_subject_age.isnull()
        | rec.birth_date.isnull()
        | (_ymd(rec.decided_on) - _ymd(rec.birth_date) >= rec.min_subject_age * 10000)
    )
    return rec.filter(old_enough).select(*STATE_COLUMNS, "publication_max_days")


def record_states(
    events: Table,
    changes: RecordChanges,
    policy: PolicyRelations,
    as_of: dt.date,
    reads: StageReads | None = None,
) -> Table:
    """One row per (furnisher, record_id) filed on or before ``as_of``, with its status then.

    ``events`` carry their subject's attributes (``with_subjects``); ``changes`` are the
    records' changes as of ``as_of``. Lean on purpose: the subject's kind, the category, the
    dates and the status, which every later stage needs. The amendable fields and the dates a
    report shows come from ``with_details`` for the records that need them (list entries, legal
    representatives, one subject's report): carrying them for every record of a large ledger
    cost more than all the later stages together.

    With ``reads`` (``policy_tables.stage_reads``), only the states a later stage of a run
    reads: the active records of the categories lists, ratings and legal representatives use,
    each while it can still count (a scored record only while a decay step gives it points),
    and the registrations of new-subject bands unless revoked. Most of a large ledger is old or
    never scored (repaid loans past their last decay step), and most of the rest is left out
    before the join with ``changes``: that, and materialising a third of the rows, is most of
    what makes a run scale.
    """
    day = day_literal(as_of)
    ends = changes.ends
    filed = filed_records(events, policy, as_of)
    if reads is not None:
        filed = filed.filter(_possibly_read(filed, reads, as_of))
    rec = filed.left_join(ends, [_.furnisher == ends.c_furnisher, _.record_id == ends.c_record_id])
    status = ibis.cases(
        (rec.revoked_on.notnull(), "revoked"),
        (rec.fulfilled_on.notnull(), "fulfilled"),
        (day.delta(rec.decided_on, unit="day") >= rec.publication_max_days, "expired"),
        else_="active",
    )
    states = rec.select(*STATE_COLUMNS, status=status)
    if reads is None:
        return states
    kept = states.status == "active"
    if reads.registrations:
        kept |= (states.status != "revoked") & states.category.isin(list(reads.registrations))
    return states.filter(kept)


def _possibly_read(filed: Table, reads: StageReads, as_of: dt.date) -> Any:
    """Whether a later stage may read a filed record, whatever its status: its (kind,
    category) is read at its age, or its category is a registration."""
    by_limit: dict[tuple[str, int | None], list[str]] = {}
    oldest = (as_of - dt.date.min).days  # a limit beyond the calendar's start: any age
    for (kind, category), limit in sorted(reads.active.items()):
        limit = None if limit is not None and limit > oldest else limit
        by_limit.setdefault((kind, limit), []).append(category)
    wanted = []
    for (kind, limit), categories in sorted(by_limit.items(), key=repr):
        clause = (filed.kind == kind) & filed.category.isin(categories)
        if limit is not None:  # age in days below the limit
            clause &= filed.decided_on > day_literal(as_of - dt.timedelta(days=limit))
        wanted.append(clause)
    if reads.registrations:
        wanted.append(filed.category.isin(list(reads.registrations)))
    return functools.reduce(operator.or_, wanted, ibis.literal(False))


def with_details(
    records: Table,
    events: Table,
    changes: RecordChanges,
    policy: PolicyRelations,
    *,
    active_only: bool = False,
) -> Table:
    """``records`` (any subset of ``record_states``) with the amendable fields as amended, the
    category's polarity, and the dates a report shows: status date, publish-until and (for
    adverse records) restorable-from. ``active_only``: only the active ones of ``records``,
    none of which was revoked or fulfilled: the join with those ends (a hash table of every
    ended record) is left out."""
    filed = events.select(d_seq=events.seq, **{f"filed_{name}": events[name] for name in AMENDABLE})
    categories = policy.categories.select(
        p_category=policy.categories.category,
        polarity=policy.categories.polarity,
        publication_min_days=policy.categories.publication_min_days,
        publication_max_days=policy.categories.publication_max_days,
    )
    # References of their own: ``records`` may itself have joined ``ends`` (record states).
    ends, amended = changes.ends.view(), changes.amendments.view()
    if active_only:
        records = records.filter(records.status == "active")
    joined = records.join(filed, records.file_seq == filed.d_seq).join(
        categories, _.category == categories.p_category
    )
    if not active_only:
        joined = joined.left_join(
            ends, [_.furnisher == ends.c_furnisher, _.record_id == ends.c_record_id]
        )
    joined = joined.left_join(
        amended, [_.furnisher == amended.a_furnisher, _.record_id == amended.a_record_id]
    )
    if active_only:
        revoked_on = fulfilled_on = ibis.null("date")
    else:
        revoked_on, fulfilled_on = joined.revoked_on, joined.fulfilled_on
    publish_until = _plus_days(joined.decided_on, joined.publication_max_days)
    status_on = ibis.cases(
        (joined.status == "revoked", revoked_on),
        (joined.status == "fulfilled", fulfilled_on),
        (joined.status == "expired", publish_until),
        else_=joined.decided_on,
    )
    restorable_from = ibis.cases(
        (joined.polarity == "negative", _plus_days(joined.decided_on, joined.publication_min_days)),
        else_=ibis.null("date"),
    )
    # A legal representative named by an amendment, other than the one filed, is the
    # representative from the amendment's date; else from the registration's.
    renamed = joined.amended_legal_rep_id.notnull() & (
        joined.filed_legal_rep_id.isnull()
        | (joined.amended_legal_rep_id != joined.filed_legal_rep_id)
    )
    legal_rep_since = ibis.cases((renamed, joined.amended_legal_rep_on), else_=joined.decided_on)
    # ``view()`` closes the join chain: joining more to it would otherwise extend the chain,
    # and Ibis refuses predicates on the columns computed from several of its tables.
    return joined.select(
        *records.columns,
        "polarity",
        **{
            name: ibis.coalesce(joined[f"amended_{name}"], joined[f"filed_{name}"])
            for name in AMENDABLE
        },
        publish_until=publish_until,
        status_on=status_on,
        restorable_from=restorable_from,
        legal_rep_since=legal_rep_since,
    ).view()


def detail_candidates(records: Table, listable: Mapping[str, Sequence[str]]) -> Table:
    """The active records whose details a later stage reads: those a list takes (``listable``:
    per subject kind, the categories some list takes) and organisations' registrations naming
    a legal representative. A small share of the ledger, picked by a plain filter (which the
    engine applies while scanning) and materialised before ``with_details`` joins the events,
    so that the join is planned from the small side."""
    taken = [
        (records.kind == kind) & records.category.isin(list(categories))
        for kind, categories in sorted(listable.items())
        if categories
    ]
    registrations = records.carries_legal_rep & (records.kind == "org")
    wanted = functools.reduce(operator.or_, taken, registrations)
    return records.filter((records.status == "active") & wanted)


def list_entries(details: Table, policy: PolicyRelations, as_of: dt.date) -> Table:
    """Entries of every list in force at ``as_of``, one per (list, record). ``details`` is
    ``with_details`` of (at least) the active records a list takes."""
    day = day_literal(as_of)
    targets, rules, grounds = policy.list_targets, policy.list_rules, policy.list_no_term_grounds
    detailed = details.filter(details.status == "active")
    detailed = detailed.join(
        targets, [detailed.category == targets.category, detailed.kind == targets.subject_kind]
    ).select(*detailed.columns, "list_code")
    listed = detailed.join(rules, detailed.list_code == rules.list_code)
    grounds = grounds.select(g_list_code=grounds.list_code, g_ground=grounds.ground)
    listed = listed.left_join(
        grounds, [listed.list_code == grounds.g_list_code, listed.ground == grounds.g_ground]
    )
    no_term = listed.g_ground.notnull()
    base_end = _plus_days(listed.decided_on, listed.term_days)
    months = ibis.greatest(ibis.coalesce(listed.extension_months, 0), 0)
    extended_end = _as_date(base_end + months.as_interval("M"))
    extra_days = ibis.least(extended_end.delta(base_end, unit="day"), listed.max_extension_days)
    end_on = ibis.cases(
        (no_term | listed.term_days.isnull(), ibis.null("date")),
        else_=_plus_days(base_end, extra_days),
    )
    entries = listed.select(
        "list_code",
        "subject_id",
        "kind",
        "furnisher",
        "record_id",
        "document_no",
        "ground",
        "amount_fen",
        start_on=listed.decided_on,
        end_on=end_on,
        basis=listed.list_basis,
    )
    return entries.filter(
        (entries.start_on <= day) & (entries.end_on.isnull() | (entries.end_on > day))
    )


def legal_representatives(details: Table) -> Table:
    """Each organisation's legal representative (``rep_id``), named by its latest active
    registration record, and since when (``rep_since``): the earliest date from which the
    registrations have named them without a break, so that a registration naming the same
    person again does not move it. ``details`` is ``with_details`` of (at least) the active
    registrations."""
    regs = details.filter(
        (details.status == "active")
        & details.carries_legal_rep
        & (details.kind == "org")
        & details.legal_rep_id.notnull()
    )
    order = regs.decided_on.delta(EPOCH, unit="day").cast("int64") * SEQ_SPAN + regs.file_seq
    regs = regs.mutate(order_key=order)
    newest_first = ibis.window(group_by=regs.subject_id, order_by=regs.order_key.desc())
    regs = regs.mutate(current_rep=regs.legal_rep_id.first().over(newest_first))
    # The newest registration naming someone else ends the current representative's run.
    other = regs.legal_rep_id != regs.current_rep
    regs = regs.mutate(
        run_after=regs.order_key.max(where=other).over(ibis.window(group_by=regs.subject_id))
    )
    run = regs.filter(
        (regs.legal_rep_id == regs.current_rep)
        & (regs.run_after.isnull() | (regs.order_key > regs.run_after))
    )
    return run.group_by(org_id=run.subject_id).agg(
        rep_id=run.current_rep.min(), rep_since=run.legal_rep_since.min()
    )


def decisions(entries: Table, representatives: Table, policy: PolicyRelations) -> Table:
    """Measures in force from list entries through memoranda, extended to legal representatives
    (from the entry's start, or from the date the representative was registered if later: a
    decision moves to a new representative from that date)."""
    memo = policy.memo_measures
    acted = entries.join(memo, entries.list_code == memo.list_code)
    # The legal basis (long text) joins the decisions once they are collapsed, by the
    # memorandum that gives each: carried through the union and the aggregation, it cost more
    # than the rest of the stage.
    columns = ("measure", "list_code", "effect", "memorandum", "start_on", "end_on")
    own = acted.select("subject_id", *columns, source_subject_id=acted.subject_id)
    extendable = acted.filter(acted.extends & (acted.kind == "org"))
    reps = representatives
    extended = extendable.join(reps, extendable.subject_id == reps.org_id)
    extended = extended.select(
        subject_id=reps.rep_id,
        **{c: extended[c] for c in columns if c != "start_on"},
        start_on=ibis.greatest(extended.start_on, extended.rep_since),
        source_subject_id=extendable.subject_id,
    ).select("subject_id", *columns, "source_subject_id")
    both = own.union(extended)
    collapsed = both.group_by("subject_id", "measure", "list_code", "source_subject_id").agg(
        effect=both.effect.min(),
        memorandum=both.memorandum.min(),
        start_on=both.start_on.min(),
        end_on=ibis.cases((both.end_on.isnull().any(), ibis.null("date")), else_=both.end_on.max()),
    )
    bases = memo.select(
        b_memorandum=memo.memorandum,
        b_list_code=memo.list_code,
        b_measure=memo.measure,
        basis=memo.decision_basis,
    )
    return collapsed.join(
        bases,
        [
            collapsed.memorandum == bases.b_memorandum,
            collapsed.list_code == bases.b_list_code,
            collapsed.measure == bases.b_measure,
        ],
    ).select(*collapsed.columns, "basis")
