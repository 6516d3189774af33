"""Appending candidates to a PostgreSQL store: one ``COPY ... (FORMAT csv)`` per chunk, its text
written by Arrow.

``COPY`` row by row (psycopg's ``write_row``) formats every value in Python, about 11 s of the
writer's time per million rows. Arrow's CSV writer formats a whole chunk in C++, and
PostgreSQL's CSV reader gives back the same values: every string is quoted (an empty string
stays one), a null is an unquoted empty field, and the key travels as bytea's ``\\x`` hex text.

The rows stored are the ones ``store.ledger.insert_events`` would store (the same columns,
values and order); an event another run stored meanwhile is the same ``Conflict``.
"""

from __future__ import annotations

import binascii
import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
from numpy.typing import NDArray
from sqlalchemy import Connection

from socialcredit.store.event_keys import KEY_BYTES
from socialcredit.store.ledger import INSERT_COLUMNS, copy_in
from socialcredit.store.tables import events

CSV = pa_csv.WriteOptions(include_header=False, quoting_style="needed")


def copy_events(
    conn: Connection,
    candidates: pa.Table,
    accepted: NDArray[np.bool_],
    *,
    batch_id: int,
    recorded_at: dt.datetime,
) -> int:
    """Append the ``accepted`` rows of ``candidates`` (event_key + EVENT_FIELDS) as events, in
    candidate order."""
    picked = candidates.filter(pa.array(accepted, type=pa.bool_()))
    count = int(picked.num_rows)
    if not count:
        return 0
    fixed = {
        "event_key": bytea_hex(picked.column("event_key").combine_chunks()),
        "batch_id": pa.repeat(pa.scalar(batch_id, pa.int64()), count),
        "recorded_at": pa.repeat(pa.scalar(recorded_at.isoformat()), count),
    }
    table = pa.table(
        {name: fixed[name] if name in fixed else picked.column(name) for name in INSERT_COLUMNS}
    )
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink, CSV)
    # Arrow writes UTF-8 whatever the session's client encoding (GBK, say) would have it read.
    with copy_in(conn, events, INSERT_COLUMNS, "(FORMAT csv, ENCODING 'UTF8')") as copy:
        copy.write(memoryview(sink.getvalue()))
    return count


def bytea_hex(keys: pa.Array) -> pa.Array:
    """Event keys (16 bytes each) as PostgreSQL's bytea input text: ``\\x`` and 32 hex digits."""
    fixed = keys.cast(pa.binary(KEY_BYTES))
    start = fixed.offset * KEY_BYTES
    raw = np.frombuffer(fixed.buffers()[1], dtype=np.uint8)[start : start + len(fixed) * KEY_BYTES]
    width = 2 + 2 * KEY_BYTES
    text = np.empty((len(fixed), width), dtype=np.uint8)
    text[:, 0], text[:, 1] = ord("\\"), ord("x")
    text[:, 2:] = np.frombuffer(binascii.hexlify(raw.tobytes()), dtype=np.uint8).reshape(
        -1, width - 2
    )
    offsets = np.arange(0, width * (len(fixed) + 1), width, dtype=np.int32)
    return pa.StringArray.from_buffers(len(fixed), pa.py_buffer(offsets), pa.py_buffer(text))
