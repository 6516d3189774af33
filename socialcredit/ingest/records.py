"""The events a validated chunk would append, column-wise, with their keys.

Keys are computed as ``store.ledger.event_key`` defines them: the field texts are joined by
Arrow in one call, and only the sha256 runs per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from socialcredit.ingest.validate import Checked
from socialcredit.store.ledger import EVENT_FIELDS, SEPARATOR, keys_of_joined


@dataclass(frozen=True)
class Candidates:
    """Rows that passed validation, as events not yet judged against the ledger."""

    positions: NDArray[np.intp]  # rows of the chunk
    row_no: NDArray[np.int64]
    columns: dict[str, NDArray[Any]]  # EVENT_FIELDS + "event_key", object arrays

    def __len__(self) -> int:
        return len(self.positions)

    def take(self, picked: NDArray[np.bool_]) -> dict[str, list[Any]]:
        """The chosen events as Python lists, ready for ``ledger.insert_events``."""
        return {name: values[picked].tolist() for name, values in self.columns.items()}


def candidates(checked: Checked, row_no: NDArray[np.int64], furnisher: str) -> Candidates:
    positions = np.flatnonzero(checked.ok)
    count = len(positions)
    fields: dict[str, NDArray[Any]] = {
        "furnisher": np.full(count, furnisher, dtype=object),
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
    fields["event_key"] = np.array(_keys(checked, positions, furnisher), dtype=object)
    return Candidates(positions, row_no[positions], fields)


def _keys(checked: Checked, positions: NDArray[np.intp], furnisher: str) -> list[bytes]:
    """``ledger.event_key`` of the rows at ``positions``, the texts joined in Arrow."""
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
