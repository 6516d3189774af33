"""The events a validated chunk would append, column-wise in Arrow, with their keys.

Keys are computed as ``store.event_keys.event_key`` defines them: the field texts are joined by
Arrow in one call, and only the sha256 runs per row.

Candidates are Arrow tables (not Python objects) so that the reading worker can hand them to
the writing process as plain buffers; the writer turns into Python values only what it needs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from socialcredit.ingest.validate import Checked
from socialcredit.store.event_keys import EVENT_FIELDS, SEPARATOR, keys_of_joined

TEXT = pa.string()
EVENT_TYPES: dict[str, pa.DataType] = {
    "event_key": pa.binary(),
    **dict.fromkeys(EVENT_FIELDS, TEXT),
    "amount_fen": pa.int64(),
    "extension_months": pa.int64(),
}
# What the subject registry needs beyond the event (the facts of the subject's identifier).
PEOPLE_TYPES: dict[str, pa.DataType] = {
    "scheme": TEXT,
    "kind": TEXT,
    "birth": pa.date32(),
    "sex": TEXT,
}
# Event fields whose key text is the stored value on a valid row (see ``validate``).
KEY_TEXT_AS_STORED = ("record_id", "action", "subject_name", "category", "decided_on")
# The columns the writer reads (ledger rules, subject registry); with an image, only these.
JUDGED_COLUMNS = ("event_key", "record_id", "action", "subject_id", "subject_name", "category",
                  "decided_on")  # fmt: skip
# The staged copy of the candidates (see ``stage_image``): the event's varying columns.
STAGE_COLUMNS = tuple(name for name in EVENT_TYPES if name != "furnisher")
STAGE_TABLE = "candidates"
STAGE_ROWS_PER_INSERT = 100  # 1,300 bound values a statement (SQLite allows 32,766)


@dataclass(frozen=True)
class Candidates:
    """Rows that passed validation, as events not yet judged against the ledger."""

    positions: NDArray[np.intp]  # rows of the chunk
    row_no: NDArray[np.int64]
    events: pa.Table  # event_key + EVENT_FIELDS, typed as EVENT_TYPES
    people: pa.Table  # PEOPLE_TYPES, per candidate (its subject_id's facts)
    image: bytes | None = None  # ``stage_image`` of the events, when asked for

    def __len__(self) -> int:
        return len(self.positions)

    def column(self, name: str) -> pa.Array:
        table = self.people if name in PEOPLE_TYPES else self.events
        return table.column(name).combine_chunks()

    def values(self, name: str, rows: NDArray[np.intp]) -> list[Any]:
        """Python values of one column at a few candidate positions."""
        return list(self.column(name).take(pa.array(rows, type=pa.int64())).to_pylist())

    def take(self, picked: NDArray[np.bool_]) -> dict[str, list[Any]]:
        """The chosen events as Python lists, ready for ``ledger.insert_events``."""
        assert self.image is None, "staged candidates carry only JUDGED_COLUMNS"
        return dict(self.events.filter(pa.array(picked, type=pa.bool_())).to_pydict())


Stage = Callable[[dict[str, NDArray[Any]]], bytes]  # fields -> SQLite image (``stage_image``)


def candidates(
    checked: Checked,
    row_no: NDArray[np.int64],
    furnisher: str,
    *,
    stage: Stage | None = None,
) -> Candidates:
    """The chunk's valid rows as candidates; ``stage`` (``stage_image``, or the worker's
    DuckDB writer) also stages them for a SQLite store, and then ``events`` holds only the
    columns the writer reads (JUDGED_COLUMNS)."""
    positions = np.flatnonzero(checked.ok)
    picked = pa.array(positions, type=pa.int64())
    keys = _keys(checked, positions, furnisher)
    fields: dict[str, NDArray[Any]] = {
        "record_id": checked.record_id[positions],
        "action": checked.action[positions],
        "subject_id": checked.subject_id[positions],
        "subject_name": checked.subject_name[positions],
        "category": checked.category[positions],
        "decided_on": checked.decided_on[positions],
        "document_no": checked.document_no[positions],
        "amount_fen": checked.amount_fen[positions],
        "ground": checked.ground[positions],
        "extension_months": checked.extension_months[positions],
        "legal_rep_id": checked.legal_rep_id[positions],
        "note": checked.note[positions],
    }
    # The same texts as ``fields`` on valid rows, already in Arrow.
    arrow = {name: checked.key_text[name].take(picked) for name in KEY_TEXT_AS_STORED}
    arrow["event_key"] = pa.array(keys, type=pa.binary())
    arrow["subject_id"] = pa.array(fields["subject_id"], type=TEXT)
    if stage is None:
        arrow["furnisher"] = pa.array(np.full(len(positions), furnisher, dtype=object), TEXT)
        for name in EVENT_TYPES.keys() - arrow.keys():
            arrow[name] = pa.array(fields[name], type=EVENT_TYPES[name])
    who = checked.identity
    people = {  # from_pandas: a NaT birth date is null
        name: pa.array(getattr(who, name)[positions], type=kind, from_pandas=True)
        for name, kind in PEOPLE_TYPES.items()
    }
    events = pa.table({name: arrow[name] for name in EVENT_TYPES if name in arrow})
    staged = None
    if stage is not None:
        fields["event_key"] = np.array(keys, dtype=object)
        staged = stage(fields)
    return Candidates(positions, row_no[positions], events, pa.table(people), staged)


def stage_image(fields: dict[str, NDArray[Any]]) -> bytes:
    """The candidates as a serialised in-memory SQLite database (one table, rowid = position
    + 1). A SQLite store appends the accepted ones with one ``INSERT ... SELECT`` from it: the
    per-row work of binding values is done here, in the reading worker, not by the writer."""
    width = len(STAGE_COLUMNS)
    rows = np.stack([fields[n].astype(object) for n in STAGE_COLUMNS], axis=1)
    flat = rows.ravel().tolist()  # row after row
    row = f"({', '.join('?' * width)})"
    step = STAGE_ROWS_PER_INSERT * width
    full = len(rows) // STAGE_ROWS_PER_INSERT * step
    db = sqlite3.connect(":memory:")
    try:
        db.execute(f"CREATE TABLE {STAGE_TABLE} ({', '.join(STAGE_COLUMNS)})")
        # Many rows per statement: the per-statement cost of executemany is paid less often.
        many = f"INSERT INTO {STAGE_TABLE} VALUES {', '.join([row] * STAGE_ROWS_PER_INSERT)}"
        db.executemany(many, (flat[i : i + step] for i in range(0, full, step)))
        if full < len(flat):
            rest = (len(flat) - full) // width
            db.execute(f"INSERT INTO {STAGE_TABLE} VALUES {', '.join([row] * rest)}", flat[full:])
        db.commit()
        return db.serialize()
    finally:
        db.close()


def _keys(checked: Checked, positions: NDArray[np.intp], furnisher: str) -> list[bytes]:
    """``event_keys.event_key`` of the rows at ``positions``, the texts joined in Arrow."""
    if not len(positions):
        return []
    picked = pa.array(positions, type=pa.int64())
    texts: dict[str, Any] = {n: a.take(picked) for n, a in checked.key_text.items()}
    texts["furnisher"] = furnisher
    texts["subject_id"] = pa.array(checked.subject_id[positions].tolist(), type=pa.string())
    texts["legal_rep_id"] = pa.array(checked.legal_rep_id[positions].tolist(), type=pa.string())
    joined = pc.binary_join_element_wise(
        *(texts[name] for name in EVENT_FIELDS), SEPARATOR, null_handling="replace",
        null_replacement="",
    )  # fmt: skip
    return keys_of_joined(joined.cast(pa.binary()).to_pylist())
