"""The subject registry: one row per validated identifier, added when its first record arrives.

The first name furnished is the registry's name; every furnished name stays in the events. The
pinyin is computed once per new subject (and cached per name), for the review queue's
same-sounding candidates. Birth date and sex come from a resident ID, the kind from its scheme.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pypinyin import lazy_pinyin
from sqlalchemy import Connection

from socialcredit.ingest.identity import Identities
from socialcredit.store.ledger import bulk_insert, rows_matching, stored_timestamp
from socialcredit.store.tables import subjects

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
) -> int:
    """Add the subjects of ``rows`` (chunk positions of accepted events) that are new."""
    if not len(rows):
        return 0
    ids = who.normalised[rows]
    unique, first = np.unique(ids.astype(str), return_index=True)
    known = known_subjects(conn, unique.tolist())
    fresh = [
        rows[i]
        for value, i in zip(unique.tolist(), first.tolist(), strict=True)
        if value not in known
    ]
    if not fresh:
        return 0
    when = stored_timestamp(conn, first_seen)
    values = [
        (
            who.normalised[i],
            who.scheme[i],
            who.kind[i],
            names[i],
            pinyin_of(names[i]),
            None if np.isnat(who.birth[i]) else str(who.birth[i]),
            who.sex[i],
            when,
        )
        for i in fresh
    ]
    bulk_insert(conn, subjects, SUBJECT_COLUMNS, values)
    return len(values)
