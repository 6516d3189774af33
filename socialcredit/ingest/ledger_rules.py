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
from socialcredit.store.ledger import FiledRecord, filings, record_history

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


def _group_ids(values: pa.Array) -> NDArray[np.int64]:
    """Dense group numbers of equal values (hash-based, in Arrow)."""
    indices = pc.dictionary_encode(values).indices
    return np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64)


def _member(values: pa.Array, of: set[Any], kind: pa.DataType = TEXT) -> Mask:
    if not of:
        return np.zeros(len(values), dtype=bool)
    found = pc.is_in(values, value_set=pa.array(sorted(of), type=kind))
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
    keys, record_ids = cand.column("event_key"), cand.column("record_id")
    code = np.full(n, None, dtype=object)
    message = np.full(n, None, dtype=object)
    if not n:
        empty = np.zeros(0, dtype=bool)
        return Judged(empty, empty, code, message)

    key_ids = _group_ids(keys)
    records = pc.dictionary_encode(record_ids)
    record_codes = np.asarray(records.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    history = record_history(conn, furnisher, records.dictionary.to_pylist())
    in_ledger = _member(keys, {bytes(row.event_key) for row in history}, KEYS)
    first_copy = _first_of(key_ids, np.ones(n, dtype=bool))
    judged = first_copy & ~in_ledger  # later copies take the verdict of their first copy

    filed = filings(history)
    has_filing = _member(record_ids, set(filed))
    is_file = np.asarray(pc.equal(cand.column("action"), "file").to_numpy(zero_copy_only=False))

    # A filing: the first one of a record wins; any other content for it is a conflict.
    new_filing = judged & is_file & ~has_filing
    winner = _first_of(record_codes, new_filing)
    position = np.arange(n)
    conflict = np.flatnonzero(judged & is_file & ~winner)
    for i, record_id in zip(conflict, cand.values("record_id", conflict), strict=True):
        earlier = "in the ledger" if has_filing[i] else "earlier in this input"
        message[i] = (
            f"record {record_id} was already filed by {furnisher} ({earlier}) with "
            "other content: send an amend row to change it"
        )
    code[conflict] = "record_conflict"

    # A follow-up needs a filing before it, about the same subject and category, not later.
    winner_at = np.full(record_codes.max() + 1, n, dtype=np.int64)
    winner_at[record_codes[winner]] = position[winner]
    follow_up = judged & ~is_file
    known = has_filing | (winner_at[record_codes] < position)
    unknown = np.flatnonzero(follow_up & ~known)
    code[unknown] = "record_unknown"
    for i, action, record_id in zip(
        unknown, cand.values("action", unknown), cand.values("record_id", unknown), strict=True
    ):
        message[i] = (
            f"{action} of record {record_id}, which {furnisher} has not filed before this row"
        )
    _check_follow_ups(cand, np.flatnonzero(follow_up & known), filed, winner_at[record_codes],
                      code, message)  # fmt: skip

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


FOLLOW_UP_COLUMNS = ("record_id", "action", "subject_id", "category", "decided_on")


def _check_follow_ups(
    cand: Candidates,
    rows: NDArray[np.intp],
    filed: dict[str, FiledRecord],
    filing_at: NDArray[np.int64],
    code: NDArray[Any],
    message: NDArray[Any],
) -> None:
    """Follow-ups of a known record: the same subject and category as its filing, not before it
    (the filing is in the ledger, or the winning filing row of this input)."""
    if not len(rows):
        return
    these = {name: cand.values(name, rows) for name in FOLLOW_UP_COLUMNS}
    at = np.minimum(filing_at[rows], len(cand) - 1)  # only read where the filing is a row here
    theirs = {name: cand.values(name, at) for name in FOLLOW_UP_COLUMNS[2:]}
    for k, i in enumerate(rows.tolist()):
        row = {name: values[k] for name, values in these.items()}
        ref = filed.get(row["record_id"])
        if ref is None:
            ref = FiledRecord(
                theirs["subject_id"][k],
                theirs["category"][k],
                dt.date.fromisoformat(theirs["decided_on"][k]),
            )
        why = _mismatch(row, ref)
        if why:
            code[i] = "record_conflict"
            message[i] = f"{row['action']} of record {row['record_id']} {why}"


def _mismatch(row: dict[str, Any], ref: FiledRecord) -> str | None:
    if row["subject_id"] != ref.subject_id:
        return f"names subject {row['subject_id']}, but the record was filed about {ref.subject_id}"
    if row["category"] != ref.category:
        return f"has category {row['category']}, but the record was filed as {ref.category}"
    if dt.date.fromisoformat(row["decided_on"]) < ref.decided_on:
        return f"is dated {row['decided_on']}, before the filing on {ref.decided_on.isoformat()}"
    return None
