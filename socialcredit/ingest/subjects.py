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
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from pypinyin import lazy_pinyin
from sqlalchemy import Connection

from socialcredit.ingest.identity import Identities
from socialcredit.store.ledger import bulk_insert, rows_matching, stored_timestamp
from socialcredit.store.tables import subjects

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
    rows: NDArray[np.intp],
    names: NDArray[Any],
    who: Identities,
    first_seen: dt.datetime,
    seen: set[str] | None = None,
) -> int:
    """Add the subjects of ``rows`` (chunk positions of accepted events) that are new; ``seen``
    holds the subjects the run already knows are registered, and gains the ones of ``rows``."""
    if not len(rows):
        return 0
    seen = set() if seen is None else seen
    groups = pc.dictionary_encode(pa.array(who.normalised[rows].tolist(), type=pa.string()))
    _, first = np.unique(np.asarray(groups.indices), return_index=True)
    firsts = rows[first]  # the first row of each distinct subject, in row order of its values
    candidates: list[str] = who.normalised[firsts].tolist()
    unseen = [i for i, value in enumerate(candidates) if value not in seen]
    asked = [candidates[i] for i in unseen]
    known = known_subjects(conn, asked)
    fresh = firsts[[unseen[i] for i, value in enumerate(asked) if value not in known]]
    if len(seen) + len(asked) > MAX_SEEN:
        seen.clear()
    seen.update(asked)
    if not len(fresh):
        return 0
    when = stored_timestamp(conn, first_seen)
    new_names: list[str] = names[fresh].tolist()
    births = who.birth[fresh]
    birth_text = [None if b == "NaT" else b for b in births.astype(str).tolist()]
    values = zip(
        who.normalised[fresh].tolist(),
        who.scheme[fresh].tolist(),
        who.kind[fresh].tolist(),
        new_names,
        [pinyin_of(n) for n in new_names],
        birth_text,
        who.sex[fresh].tolist(),
        [when] * len(fresh),
        strict=True,
    )
    bulk_insert(conn, subjects, SUBJECT_COLUMNS, values)
    return len(fresh)
