"""An event's identity: the first 16 bytes of the sha256 of its content (see ``store.ledger``).

Apart from the ledger so that the ingestion worker, which computes keys and never touches the
store, does not import SQLAlchemy to do it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

# The fields that make an event what it is; recorded_at and batch_id are not part of it.
EVENT_FIELDS = (
    "furnisher",
    "record_id",
    "action",
    "subject_id",
    "subject_name",
    "category",
    "decided_on",
    "document_no",
    "amount_fen",
    "ground",
    "extension_months",
    "legal_rep_id",
    "note",
)
SEPARATOR = "\x1f"
KEY_BYTES = 16


def key_text(value: Any) -> str:
    """How one field enters the event key."""
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def event_key(row: Mapping[str, Any]) -> bytes:
    parts = [key_text(row.get(name)) for name in EVENT_FIELDS]
    return hashlib.sha256(SEPARATOR.join(parts).encode()).digest()[:KEY_BYTES]


def keys_of_joined(joined: Iterable[bytes]) -> list[bytes]:
    """Event keys of field texts already joined with ``SEPARATOR`` and UTF-8 encoded."""
    sha = hashlib.sha256
    return [sha(b).digest()[:KEY_BYTES] for b in joined]
