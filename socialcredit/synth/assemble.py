"""The order of each furnisher's file, and its truth (which rows are bad or re-sent).

Good rows go in decision-date order (so a follow-up comes after its original); bad rows are
scattered at random positions; a duplicate lands somewhere after the row it repeats. All files
are laid out with one sort and one copy of the columns they write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from socialcredit.synth.catalogue import FURNISHERS
from socialcredit.synth.table import FIELDS, Rows, cut, size


@dataclass(frozen=True, slots=True)
class FurnisherFile:
    furnisher: str
    rows: Rows  # in file order
    bad_rows: NDArray[np.int64]  # 1-based row numbers (header excluded) ...
    bad_reasons: NDArray[np.str_]  # ... and their binding reason codes
    duplicate_rows: NDArray[np.int64]  # 1-based row numbers of re-sent rows ...
    duplicate_of: NDArray[np.int64]  # ... and of the rows they repeat


def _keys(
    day: NDArray[np.int64],
    serial: NDArray[np.int64],
    n_bad: int,
    dup_serial: NDArray[np.int64],
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Sort keys within one file for its good rows, then bad rows, then duplicates."""
    n = len(day)
    good_key = np.empty(n, dtype=np.float64)
    good_key[np.lexsort((rng.random(n), day))] = np.arange(n)
    bad_key = rng.uniform(-0.5, n - 0.5, n_bad)
    key_of_serial = np.zeros(int(serial.max(initial=0)) + 1)
    key_of_serial[serial] = good_key
    start = key_of_serial[dup_serial]
    dup_key = start + rng.uniform(0.01, 1.0, len(start)) * (n - start)
    return np.concatenate([good_key, bad_key, dup_key])


def _truth(furnisher: str, rows: Rows) -> FurnisherFile:
    row_no = np.arange(1, size(rows) + 1)
    bad_mask = rows["_bad"] != ""
    dup_mask = rows["_dup"]
    original = ~bad_mask & ~dup_mask
    row_of_serial = np.zeros(int(rows["_row"].max(initial=0)) + 1, dtype=np.int64)
    row_of_serial[rows["_row"][original]] = row_no[original]
    return FurnisherFile(
        furnisher,
        rows,
        row_no[bad_mask],
        rows["_bad"][bad_mask],
        row_no[dup_mask],
        row_of_serial[rows["_row"][dup_mask]],
    )


def _gather(parts: list[Rows], name: str, slots: list[NDArray[np.int64]]) -> NDArray[Any]:
    """One column of all parts, each row written straight into its slot in file order."""
    columns = [p[name] for p in parts]
    out = np.empty(sum(len(c) for c in columns), dtype=np.result_type(*columns))
    for column, slot in zip(columns, slots, strict=True):
        out[slot] = column
    return out


def lay_out(good: Rows, bad: Rows, dups: Rows, rng: np.random.Generator) -> list[FurnisherFile]:
    """Every furnisher's file, in FURNISHERS order: one sort, one copy of the written columns."""
    parts = [good, bad, dups]
    part = np.repeat([0, 1, 2], [size(p) for p in parts])
    position = np.array([FURNISHERS.index(f) for f in sorted(FURNISHERS)])
    furnisher = np.concatenate([p["_furnisher"] for p in parts])
    code = position[np.searchsorted(np.array(sorted(FURNISHERS)), furnisher)]
    day = np.concatenate([p["_day"] for p in parts])
    serial = np.concatenate([p["_row"] for p in parts])
    key = np.zeros(len(part))
    for i in range(len(FURNISHERS)):
        g, b, d = (np.flatnonzero((code == i) & (part == p)) for p in (0, 1, 2))
        key[np.concatenate([g, b, d])] = _keys(day[g], serial[g], len(b), serial[d], rng)
    order = np.lexsort((key, code))
    slot = np.empty(len(order), dtype=np.int64)
    slot[order] = np.arange(len(order))
    bounds = np.cumsum([0, *(size(p) for p in parts)])
    slots = [slot[bounds[k] : bounds[k + 1]] for k in range(len(parts))]
    rows = {name: _gather(parts, name, slots) for name in (*FIELDS, "_bad", "_dup", "_row")}
    ends = np.searchsorted(code[order], np.arange(len(FURNISHERS) + 1))
    return [_truth(f, cut(rows, int(ends[i]), int(ends[i + 1]))) for i, f in enumerate(FURNISHERS)]
