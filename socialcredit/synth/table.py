"""Rows as a dict of equal-length numpy columns: the one shape every generator stage passes on.

Output columns are strings ("" = empty). Columns whose name starts with "_" are bookkeeping for
the generator (subject kind, bad-row kind, ...) and are never written.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from socialcredit.ingest.columns import CANONICAL

Rows = dict[str, NDArray[Any]]

# The binding furnisher-file columns, in the order they are written: the format ingestion reads.
FIELDS: tuple[str, ...] = CANONICAL
# Bookkeeping: furnisher code, subject kind, subject index, locked (never followed up, never
# re-sent as a duplicate), bad-row reason code ("" for good rows), duplicate flag, and the
# serial of a good row (a duplicate keeps the serial of the row it repeats), and the day.
INTERNAL: dict[str, Any] = {
    "_furnisher": "",
    "_kind": "",
    "_subject": -1,
    "_locked": False,
    "_bad": "",
    "_dup": False,
    "_row": -1,
    "_day": -1,  # decided_on as days since 1970 (good rows), to sort without parsing dates
}


def blank(n: int) -> NDArray[np.str_]:
    return np.full(n, "", dtype="U1")


def new_rows(n: int, **columns: Any) -> Rows:
    """Rows with every output and bookkeeping column, defaults where not given."""
    rows: Rows = {name: blank(n) for name in FIELDS}
    for name, default in INTERNAL.items():
        rows[name] = np.full(n, default, dtype=np.asarray(default).dtype if default != "" else "U1")
    for name, values in columns.items():
        if name not in rows:
            raise KeyError(f"unknown column {name}")
        column = np.broadcast_to(np.asarray(values), (n,)).copy()
        rows[name] = compact(column) if column.dtype.kind == "U" else column
    return rows


def compact(values: NDArray[Any]) -> NDArray[np.str_]:
    """The same strings in the narrowest fixed width (copies of wide columns are costly)."""
    width = int(np.strings.str_len(values).max()) if len(values) else 1
    return values.astype(f"U{max(1, width)}")


def iso_dates(days: NDArray[np.datetime64]) -> NDArray[np.str_]:
    """datetime64[D] -> 'YYYY-MM-DD' (numpy's own result is needlessly wide)."""
    return np.datetime_as_string(days, unit="D").astype("U10")


def size(rows: Rows) -> int:
    return len(rows["record_id"])


def take(rows: Rows, index: NDArray[Any]) -> Rows:
    return {name: values[index] for name, values in rows.items()}


def cut(rows: Rows, start: int, stop: int) -> Rows:
    """Rows start..stop as views (no copy)."""
    return {name: values[start:stop] for name, values in rows.items()}


def concat(parts: list[Rows]) -> Rows:
    if not parts:
        return new_rows(0)
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def put(rows: Rows, name: str, where: NDArray[Any], values: NDArray[Any] | str) -> None:
    """rows[name][where] = values, widening a string column first so nothing is cut off."""
    column = rows[name]
    values = np.asarray(values)
    if column.dtype.kind == "U" and values.dtype.kind == "U" and values.itemsize > column.itemsize:
        column = column.astype(values.dtype)
    column[where] = values
    rows[name] = column
