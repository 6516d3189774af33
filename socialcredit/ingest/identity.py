"""Identifier checks for a whole column: ``ids.check`` once per distinct value, spread to rows."""

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


def check_column(column: pa.Array, today: dt.date) -> Identities:
    """Check trimmed identifier text; empty values are ``given=False`` and invalid."""
    encoded = pc.dictionary_encode(column)
    rows = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    values: list[str] = encoded.dictionary.to_pylist()
    results = [ids.check(v, today=today) if v else None for v in values]

    def spread(pick: Any, dtype: Any = object, empty: Any = None) -> NDArray[Any]:
        per_value = np.array(
            [empty if r is None else pick(r) for r in results] + [empty], dtype=dtype
        )
        return per_value[rows] if len(rows) else per_value[:0]

    births = spread(
        lambda r: np.datetime64(r.birth_date, "D") if r.birth_date else None,
        dtype="datetime64[D]",
        empty=np.datetime64("NaT", "D"),
    )
    return Identities(
        given=spread(lambda r: True, dtype=bool, empty=False),
        valid=spread(lambda r: r.valid, dtype=bool, empty=False),
        legacy=spread(lambda r: r.legacy, dtype=bool, empty=False),
        normalised=spread(lambda r: r.normalised),
        scheme=spread(lambda r: r.scheme),
        kind=spread(lambda r: r.kind if r.valid else None),
        birth=births,
        sex=spread(lambda r: r.sex),
        error=spread(lambda r: r.error),
    )
