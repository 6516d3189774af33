"""Identifier checks for a whole column: ``ids.check`` once per distinct value, spread to rows.

An ``IdentityBook`` keeps the outcome of every distinct value seen during a run as arrays, so a
subject that recurs in later chunks costs a dictionary look-up, not another check.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from socialcredit import ids

Mask = NDArray[np.bool_]
FIELDS = ("valid", "legacy", "normalised", "scheme", "kind", "birth", "sex", "error")
DTYPES: dict[str, Any] = {"valid": bool, "legacy": bool, "birth": "datetime64[D]"}
MAX_REMEMBERED = 2_000_000  # distinct values kept per run before the book starts afresh


@dataclass(frozen=True)
class Identities:
    """Per-row outcome of ``ids.check`` (arrays aligned with the checked column)."""

    given: Mask
    valid: Mask
    legacy: Mask
    normalised: NDArray[Any]  # str, or None when invalid
    scheme: NDArray[Any]
    kind: NDArray[Any]  # "person" / "org" / None
    birth: NDArray[np.datetime64]  # NaT when unknown
    sex: NDArray[Any]
    error: NDArray[Any]  # why invalid, or None


_NONE = (False, False, None, None, None, None, None, None)  # no value: entry 0 of a book


def _facts(result: ids.IdCheck) -> tuple[Any, ...]:
    kind = result.kind if result.valid else None
    return (
        result.valid,
        result.legacy,
        result.normalised,
        result.scheme,
        kind,
        result.birth_date,
        result.sex,
        result.error,
    )


class IdentityBook:
    """The checked identifiers of one run (one ``today``), as growing per-field arrays."""

    def __init__(self, today: dt.date) -> None:
        self.today = today
        self._start()

    def _start(self) -> None:
        self.number: dict[str, int] = {"": 0}
        self.columns = {
            f: np.array([v], dtype=DTYPES.get(f, object))
            for f, v in zip(FIELDS, _NONE, strict=True)
        }

    def _numbers(self, values: list[str]) -> NDArray[np.int64]:
        """The book's entry of each distinct value, checking the ones not seen before."""
        known = self.number
        numbers = [known.get(v, -1) for v in values]
        new = [v for v, n in zip(values, numbers, strict=True) if n < 0]
        if new:
            if len(known) + len(new) > MAX_REMEMBERED:
                self._start()
                known = self.number
                new = [v for v in values if v]
            start = len(known)
            known.update((v, start + i) for i, v in enumerate(new))
            facts = zip(*(_facts(ids.check(v, today=self.today)) for v in new), strict=True)
            for field, column in zip(FIELDS, facts, strict=True):
                grown = np.array(column, dtype=DTYPES.get(field, object))
                self.columns[field] = np.concatenate([self.columns[field], grown])
            numbers = [known[v] for v in values]
        return np.array(numbers, dtype=np.int64)

    def check(self, column: pa.Array) -> Identities:
        """Check trimmed identifier text; empty values are ``given=False`` and invalid."""
        encoded = pc.dictionary_encode(column)
        values: list[str] = encoded.dictionary.to_pylist()
        rows = self._numbers(values)[
            np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        ]
        picked = {field: self.columns[field][rows] for field in FIELDS}
        return Identities(given=rows != 0, **picked)
