"""The restriction check's in-memory decision index: numpy arrays, no query per request.

Built from the derived ``decisions`` table and the ``subjects`` registry, rebuilt whole when a new
derivation run appears (``StoreWatcher`` swaps the new index in atomically), and answered with
``np.searchsorted``; batch checks are vectorised.

Layout (compressed sparse rows keyed by subject):

- ``known``: sorted fixed-width byte strings of every registered subject (for ``known``);
- ``listed``: sorted subjects that have at least one decision, ``offsets`` into the group rows;
- one *group row* per (subject, list, source subject, start, end, basis, provenance), with the
  measures it covers as a bit mask: a defaulter's seven consumption measures are one row.

Dates are int32 day numbers; a missing end is ``NO_END``. A decision is in effect on day ``d``
when ``start_on <= d`` and (no end or ``d < end_on``): ``end_on`` is the first day it no longer
applies (the list entry's end).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, func, select

from socialcredit.store.tables import decisions, derive_runs, subjects

NO_END = np.iinfo(np.int32).max
EPOCH = dt.date(1970, 1, 1)
MAX_MEASURES = 64  # the bit mask is a uint64

IntArray = npt.NDArray[np.int64]


def day_number(day: dt.date | None) -> int:
    return NO_END if day is None else (day - EPOCH).days


def from_day_number(value: int) -> dt.date | None:
    return None if value == NO_END else EPOCH + dt.timedelta(days=int(value))


@dataclass(frozen=True, slots=True)
class Entry:
    """One list entry (and its basis) behind a decision on one measure."""

    list_code: str
    effect: str
    memorandum: str
    basis: str
    start_on: dt.date
    end_on: dt.date | None
    source_subject_id: str | None  # set when the decision extends to a legal representative
    policy_version: str
    as_of: dt.date

    def to_json(self) -> dict[str, Any]:
        return {
            "list_code": self.list_code,
            "effect": self.effect,
            "memorandum": self.memorandum,
            "basis": self.basis,
            "start_on": self.start_on.isoformat(),
            "end_on": self.end_on.isoformat() if self.end_on else None,
            "source_subject_id": self.source_subject_id,
            "policy_version": self.policy_version,
            "as_of": self.as_of.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    subject_id: str
    known: bool
    entries: tuple[Entry, ...]

    @property
    def restricted(self) -> bool:
        return any(e.effect == "restricted" for e in self.entries)

    @property
    def granted(self) -> bool:
        return any(e.effect == "granted" for e in self.entries)

    @property
    def end_on(self) -> dt.date | None:
        """The day the last entry in effect ends; None if one has no fixed term (or none apply)."""
        ends = [e.end_on for e in self.entries]
        return None if not ends or None in ends else max(e for e in ends if e is not None)


@dataclass(frozen=True)
class DecisionIndex:
    run_id: int | None
    policy_version: str | None
    measures: tuple[str, ...]  # bit i of a mask is measures[i]
    known: npt.NDArray[np.bytes_]
    listed: npt.NDArray[np.bytes_]
    offsets: npt.NDArray[np.int32]
    mask: npt.NDArray[np.uint64]
    list_idx: npt.NDArray[np.uint16]
    start: npt.NDArray[np.int32]
    end: npt.NDArray[np.int32]
    source: npt.NDArray[np.int32]  # -1: the subject itself; else an index into ``sources``
    detail_idx: npt.NDArray[np.uint16]  # (effect, memorandum, basis) in ``details``
    prov_idx: npt.NDArray[np.uint16]  # (policy_version, as_of) in ``provenance``
    sources: npt.NDArray[np.bytes_]
    lists: tuple[str, ...]
    details: tuple[tuple[str, str, str], ...]
    provenance: tuple[tuple[str, dt.date], ...]
    measure_bit: dict[str, int] = field(default_factory=dict)

    # --- size -------------------------------------------------------------------------------
    def decision_bytes(self) -> int:
        arrays = (
            self.listed,
            self.offsets,
            self.mask,
            self.list_idx,
            self.start,
            self.end,
            self.source,
            self.detail_idx,
            self.prov_idx,
            self.sources,
        )
        return int(sum(a.nbytes for a in arrays))

    def stats(self) -> dict[str, Any]:
        listed = len(self.listed)
        return {
            "run_id": self.run_id,
            "policy_version": self.policy_version,
            "known_subjects": len(self.known),
            "listed_subjects": listed,
            "group_rows": len(self.mask),
            "decision_bytes": self.decision_bytes(),
            "bytes_per_listed_subject": round(self.decision_bytes() / listed, 1) if listed else 0.0,
            "known_set_bytes": int(self.known.nbytes),
        }

    # --- lookups ----------------------------------------------------------------------------
    def _entry(self, row: int) -> Entry:
        effect, memorandum, basis = self.details[self.detail_idx[row]]
        version, as_of = self.provenance[self.prov_idx[row]]
        src = int(self.source[row])
        end = from_day_number(int(self.end[row]))
        start = from_day_number(int(self.start[row]))
        assert start is not None
        return Entry(
            list_code=self.lists[self.list_idx[row]],
            effect=effect,
            memorandum=memorandum,
            basis=basis,
            start_on=start,
            end_on=end,
            source_subject_id=None if src < 0 else self.sources[src].decode(),
            policy_version=version,
            as_of=as_of,
        )

    def keys_of(self, normalised: Sequence[str]) -> npt.NDArray[np.bytes_]:
        width = max(self.known.dtype.itemsize, self.listed.dtype.itemsize, 1)
        joined = "".join(normalised)
        if joined.isascii() and all(len(s) == width for s in normalised):
            return np.frombuffer(joined.encode(), dtype=f"S{width}")  # the fast, common case
        return np.array([s.encode("utf-8")[:64] for s in normalised], dtype=f"S{max(width, 64)}")

    def is_known(self, keys: npt.NDArray[np.bytes_]) -> npt.NDArray[np.bool_]:
        return _member(self.known, keys)

    def check(
        self, measure: str, keys: npt.NDArray[np.bytes_], on: dt.date
    ) -> tuple[npt.NDArray[np.bool_], dict[int, tuple[Entry, ...]]]:
        """For each key: known?; and, for the keys with a decision in effect, its entries."""
        bit = self.measure_bit[measure]
        known = self.is_known(keys)
        pos = np.searchsorted(self.listed, keys)
        pos_c = np.minimum(pos, max(len(self.listed) - 1, 0))
        found = (
            (pos < len(self.listed)) & (self.listed[pos_c] == keys)
            if len(self.listed)
            else np.zeros(len(keys), dtype=bool)
        )
        hits: dict[int, tuple[Entry, ...]] = {}
        which = np.flatnonzero(found)
        if not len(which):
            return known | found, hits
        first = self.offsets[pos[which]].astype(np.int64)
        counts = self.offsets[pos[which] + 1].astype(np.int64) - first
        rows = np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        day = day_number(on)
        live = (
            ((self.mask[rows] >> np.uint64(bit)) & np.uint64(1)).astype(bool)
            & (self.start[rows] <= day)
            & (day < self.end[rows])
        )
        owner = np.repeat(which, counts)
        for query in np.unique(owner[live]):
            hits[int(query)] = tuple(self._entry(int(r)) for r in rows[live & (owner == query)])
        return known | found, hits

    def verdict(self, measure: str, subject_id: str, on: dt.date) -> Verdict:
        keys = self.keys_of([subject_id])
        known, hits = self.check(measure, keys, on)
        return Verdict(subject_id, bool(known[0]), hits.get(0, ()))


def _member(
    sorted_keys: npt.NDArray[np.bytes_], keys: npt.NDArray[np.bytes_]
) -> npt.NDArray[np.bool_]:
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=bool)
    pos = np.searchsorted(sorted_keys, keys)
    return np.asarray(sorted_keys[np.minimum(pos, len(sorted_keys) - 1)] == keys)


def _intern(values: Sequence[Any]) -> tuple[list[Any], IntArray]:
    """Distinct values (in first-seen order) and each value's index: a categorical code."""
    table: dict[Any, int] = {}
    codes = np.fromiter(
        (table.setdefault(v, len(table)) for v in values), dtype=np.int64, count=len(values)
    )
    return list(table), codes


def _bytes_array(values: Sequence[str]) -> npt.NDArray[np.bytes_]:
    width = max((len(v) for v in values), default=18)
    return np.array([v.encode() for v in values], dtype=f"S{max(width, 18)}")


def latest_run(conn: Connection) -> int | None:
    """The last *finished* derivation run: a run's results are complete once it is finished."""
    value = conn.execute(
        select(func.max(derive_runs.c.run_id)).where(derive_runs.c.finished_at.is_not(None))
    ).scalar_one_or_none()
    return None if value is None else int(value)


def build_index(
    conn: Connection, *, measures: Sequence[str], policy_version: str | None
) -> DecisionIndex:
    """Read ``subjects`` and ``decisions`` (one pass each) into a new index."""
    run_id = latest_run(conn)
    known_ids = conn.execute(select(subjects.c.subject_id)).scalars().all()
    rows = conn.execute(
        select(
            decisions.c.subject_id,
            decisions.c.measure,
            decisions.c.list_code,
            decisions.c.source_subject_id,
            decisions.c.effect,
            decisions.c.memorandum,
            decisions.c.basis,
            decisions.c.start_on,
            decisions.c.end_on,
            decisions.c.policy_version,
            decisions.c.as_of,
        )
    ).all()
    all_measures = list(dict.fromkeys([*measures, *(r.measure for r in rows)]))
    if len(all_measures) > MAX_MEASURES:
        raise ValueError(f"the decision index holds at most {MAX_MEASURES} measures")
    width = max([18, *(len(s) for s in known_ids), *(len(r.subject_id) for r in rows)])
    known = np.unique(np.array([s.encode() for s in known_ids], dtype=f"S{width}"))
    measure_bit = {m: i for i, m in enumerate(all_measures)}
    if not rows:
        empty_i32 = np.zeros(0, dtype=np.int32)
        return DecisionIndex(
            run_id=run_id,
            policy_version=policy_version,
            measures=tuple(all_measures),
            known=known,
            listed=np.zeros(0, dtype=f"S{width}"),
            offsets=np.zeros(1, np.int32),
            mask=np.zeros(0, np.uint64),
            list_idx=np.zeros(0, np.uint16),
            start=empty_i32,
            end=empty_i32,
            source=empty_i32,
            detail_idx=np.zeros(0, np.uint16),
            prov_idx=np.zeros(0, np.uint16),
            sources=np.zeros(0, dtype="S18"),
            lists=(),
            details=(),
            provenance=(),
            measure_bit=measure_bit,
        )
    subject_codes = np.array([r.subject_id.encode() for r in rows], dtype=f"S{width}")
    listed, subject_idx = np.unique(subject_codes, return_inverse=True)
    lists, list_codes = _intern([r.list_code for r in rows])
    details, detail_codes = _intern([(r.effect, r.memorandum, r.basis) for r in rows])
    provenance, prov_codes = _intern([(r.policy_version, r.as_of) for r in rows])
    source_ids, source_codes = _intern(
        [None if r.source_subject_id == r.subject_id else r.source_subject_id for r in rows]
    )
    if len(lists) > 65535 or len(details) > 65535 or len(provenance) > 65535:
        raise ValueError("too many distinct lists, bases or policy versions for the index")
    # Sources: -1 for "the subject itself", else an index into the distinct source IDs.
    others = [s for s in source_ids if s is not None]
    source_idx = _remap_sources(source_ids)[source_codes]
    start = np.array([day_number(r.start_on) for r in rows], dtype=np.int64)
    end = np.array([day_number(r.end_on) for r in rows], dtype=np.int64)
    bits = np.array([measure_bit[r.measure] for r in rows], dtype=np.uint64)
    group_cols = np.stack(
        [subject_idx, list_codes, source_idx, start, end, detail_codes, prov_codes], axis=1
    )
    groups, group_of_row = np.unique(group_cols, axis=0, return_inverse=True)
    mask = np.zeros(len(groups), dtype=np.uint64)
    np.bitwise_or.at(mask, group_of_row.ravel(), np.left_shift(np.uint64(1), bits))
    counts = np.bincount(groups[:, 0], minlength=len(listed))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return DecisionIndex(
        run_id=run_id,
        policy_version=policy_version,
        measures=tuple(all_measures),
        known=np.union1d(known, listed).astype(f"S{width}"),
        listed=listed,
        offsets=offsets,
        mask=mask,
        list_idx=groups[:, 1].astype(np.uint16),
        start=groups[:, 3].astype(np.int32),
        end=groups[:, 4].astype(np.int32),
        source=groups[:, 2].astype(np.int32),
        detail_idx=groups[:, 5].astype(np.uint16),
        prov_idx=groups[:, 6].astype(np.uint16),
        sources=_bytes_array(others),
        lists=tuple(lists),
        details=tuple(details),
        provenance=tuple(provenance),
        measure_bit=measure_bit,
    )


def _remap_sources(source_ids: list[str | None]) -> IntArray:
    """-1 for None, else the position among the non-None values (in first-seen order)."""
    position: dict[str, int] = {}
    out = []
    for s in source_ids:
        out.append(-1 if s is None else position.setdefault(s, len(position)))
    return np.array(out, dtype=np.int64)
