"""The subject registry: one row per validated identifier, added when its first record arrives.

The first name furnished is the registry's name; every furnished name stays in the events. The
pinyin is computed once per new subject (and cached per name), for the review queue's
same-sounding candidates. Birth date and sex come from a resident ID, the kind from its scheme.

A run remembers the subjects it has registered or found in the registry (``seen``), so a subject
that recurs in later chunks is not looked up in the store again.
"""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from pypinyin import lazy_pinyin
from sqlalchemy import Connection

from socialcredit.ingest.records import Candidates
from socialcredit.store.ledger import bulk_insert, rows_matching, stored_timestamp
from socialcredit.store.tables import subjects

Mask = NDArray[np.bool_]
MAX_SEEN = 2_000_000  # subjects remembered per run before the memory starts afresh
SUBJECT_COLUMNS = (
    "subject_id",
    "scheme",
    "kind",
    "name",
    "name_pinyin",
    "birth_date",
    "sex",
    "first_seen",
)


@functools.lru_cache(maxsize=1 << 16)
def pinyin_of(name: str) -> str:
    """Toneless pinyin, syllables separated by spaces: 王喜民 -> 'wang xi min'."""
    return " ".join(lazy_pinyin(name.strip())).lower()


def known_subjects(conn: Connection, subject_ids: list[str]) -> set[str]:
    found = rows_matching(conn, subjects, "subject_id", subject_ids, ["subject_id"])
    return {row[0] for row in found}


def register(
    conn: Connection,
    cand: Candidates,
    picked: Mask,
    first_seen: dt.datetime,
    seen: set[str] | None = None,
) -> int:
    """Add the subjects of the ``picked`` candidates (the accepted events) that are new;
    ``seen`` holds the subjects the run already knows are registered, and gains these."""
    rows = np.flatnonzero(picked)
    if not len(rows):
        return 0
    seen = set() if seen is None else seen
    groups = pc.dictionary_encode(cand.column("subject_id").take(pa.array(rows)))
    _, first = np.unique(np.asarray(groups.indices), return_index=True)
    firsts = rows[first]  # the first row of each distinct subject, in row order of its values
    asked = set(groups.dictionary.to_pylist()).difference(seen)
    new = asked.difference(known_subjects(conn, list(asked)))
    fresh = firsts[_among(groups.dictionary, new)]  # in the order of ``firsts``
    if len(seen) + len(asked) > MAX_SEEN:
        seen.clear()
    seen.update(asked)
    if not len(fresh):
        return 0
    when = stored_timestamp(conn, first_seen)
    names = cand.values("subject_name", fresh)
    births = pc.cast(cand.column("birth").take(pa.array(fresh)), pa.string()).to_pylist()
    columns = [
        cand.values("subject_id", fresh),
        cand.values("scheme", fresh),
        cand.values("kind", fresh),
        names,
        [pinyin_of(n) for n in names],
        births,
        cand.values("sex", fresh),
        [when] * len(fresh),
    ]
    bulk_insert(conn, subjects, SUBJECT_COLUMNS, zip(*columns, strict=True))
    return len(fresh)


def _among(values: pa.Array, wanted: set[str]) -> NDArray[np.intp]:
    """Positions of ``values`` that are in ``wanted`` (a hash look-up in Arrow)."""
    if not wanted:
        return np.zeros(0, dtype=np.intp)
    found = pc.is_in(values, value_set=pa.array(list(wanted), type=pa.string()))
    return np.flatnonzero(np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool))
