"""Judging valid rows against the ledger and the rows before them: duplicates, conflicts, unknowns.

- An exact re-send (same ``event_key`` as an event in the ledger, or as an earlier row of the
  input) is a *duplicate*: counted, neither quarantined nor inserted.
- ``record_conflict``: a ``file`` row for a record this furnisher already filed (in the ledger, or
  earlier in the input) with other content; or an amend/revoke/fulfil that names another subject
  or category than the filing, or is dated before it.
- ``record_unknown``: an amend/revoke/fulfil of a record this furnisher has not filed before the
  row (record IDs are per furnisher, so another furnisher's record is unknown too).

Earlier chunks of the same run are already in the ledger (same transaction), so the in-chunk part
only has to look at rows of this chunk. Everything is one batched look-up and numpy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from sqlalchemy import Connection

from socialcredit.ingest.records import Candidates
from socialcredit.store.ledger import filings, record_history

Mask = NDArray[np.bool_]
TEXT, KEYS = pa.string(), pa.binary()  # record IDs and codes; event keys


@dataclass(frozen=True)
class Judged:
    """Per candidate: accepted, duplicate, or a reason (code + message)."""

    accepted: Mask
    duplicate: Mask
    code: NDArray[Any]  # None unless quarantined
    message: NDArray[Any]

    @property
    def rejected(self) -> Mask:
        return np.asarray(self.code.astype(bool))


def _group_ids(values: NDArray[Any], kind: pa.DataType = TEXT) -> NDArray[np.int64]:
    """Dense group numbers of equal values (hash-based, in Arrow)."""
    indices = pc.dictionary_encode(pa.array(values.tolist(), type=kind)).indices
    return np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64)


def _member(values: NDArray[Any], of: set[Any], kind: pa.DataType = TEXT) -> Mask:
    if not of:
        return np.zeros(len(values), dtype=bool)
    found = pc.is_in(
        pa.array(values.tolist(), type=kind),
        value_set=pa.array(sorted(of), type=kind),
    )
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def _first_of(groups: NDArray[np.int64], among: Mask) -> Mask:
    """True at the first position of each group among the ``among`` positions."""
    first = np.zeros(len(groups), dtype=bool)
    where = np.flatnonzero(among)
    if len(where):
        _, index = np.unique(groups[where], return_index=True)
        first[where[index]] = True
    return first


def judge(conn: Connection, furnisher: str, cand: Candidates) -> Judged:
    n = len(cand)
    col = cand.columns
    keys, record_ids, action = col["event_key"], col["record_id"], col["action"]
    code = np.full(n, None, dtype=object)
    message = np.full(n, None, dtype=object)
    if not n:
        empty = np.zeros(0, dtype=bool)
        return Judged(empty, empty, code, message)

    key_ids = _group_ids(keys, KEYS)
    record_codes = _group_ids(record_ids)
    history = record_history(conn, furnisher, list(set(record_ids.tolist())))
    in_ledger = _member(keys, {bytes(row.event_key) for row in history}, KEYS)
    first_copy = _first_of(key_ids, np.ones(n, dtype=bool))
    judged = first_copy & ~in_ledger  # later copies take the verdict of their first copy

    filed = filings(history)
    has_filing = _member(record_ids, set(filed))
    is_file = action == "file"

    # A filing: the first one of a record wins; any other content for it is a conflict.
    new_filing = judged & is_file & ~has_filing
    winner = _first_of(record_codes, new_filing)
    position = np.arange(n)
    conflict = judged & is_file & ~winner
    for i in np.flatnonzero(conflict):
        earlier = "in the ledger" if has_filing[i] else "earlier in this input"
        message[i] = (
            f"record {record_ids[i]} was already filed by {furnisher} ({earlier}) with "
            "other content: send an amend row to change it"
        )
    code[conflict] = "record_conflict"

    # A follow-up needs a filing before it, about the same subject and category, not later.
    winner_at = np.full(record_codes.max() + 1, n, dtype=np.int64)
    winner_at[record_codes[winner]] = position[winner]
    follow_up = judged & ~is_file
    known = has_filing | (winner_at[record_codes] < position)
    unknown = follow_up & ~known
    code[unknown] = "record_unknown"
    for i in np.flatnonzero(unknown):
        message[i] = (
            f"{action[i]} of record {record_ids[i]}, which {furnisher} has not filed "
            "before this row"
        )
    for i in np.flatnonzero(follow_up & known):
        ref = filed.get(record_ids[i])
        if ref is None:
            j = winner_at[record_codes[i]]
            ref_subject, ref_category = col["subject_id"][j], col["category"][j]
            ref_day = dt.date.fromisoformat(col["decided_on"][j])
        else:
            ref_subject, ref_category, ref_day = ref.subject_id, ref.category, ref.decided_on
        why = _mismatch(col, int(i), ref_subject, ref_category, ref_day)
        if why:
            code[i], message[i] = "record_conflict", f"{action[i]} of record {record_ids[i]} {why}"

    # Later copies of a row: duplicates of an accepted first copy, else rejected like it.
    first_at = np.zeros(key_ids.max() + 1, dtype=np.int64)
    first_at[key_ids[first_copy]] = position[first_copy]
    copies = ~first_copy & ~in_ledger
    source = first_at[key_ids[copies]]
    code[copies], message[copies] = code[source], message[source]
    rejected = code.astype(bool)  # None -> False, a reason code -> True
    duplicate = in_ledger | (copies & ~rejected)
    accepted = ~rejected & ~duplicate
    return Judged(accepted, duplicate, code, message)


def _mismatch(
    col: dict[str, NDArray[Any]], i: int, subject: str, category: str, day: dt.date
) -> str | None:
    if col["subject_id"][i] != subject:
        return f"names subject {col['subject_id'][i]}, but the record was filed about {subject}"
    if col["category"][i] != category:
        return f"has category {col['category'][i]}, but the record was filed as {category}"
    if dt.date.fromisoformat(col["decided_on"][i]) < day:
        return f"is dated {col['decided_on'][i]}, before the filing on {day.isoformat()}"
    return None
