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


_NONE = (False, False, None, None, None, None, None, None)


def _facts(result: ids.IdCheck | None) -> tuple[Any, ...]:
    if result is None:
        return _NONE
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


def check_column(column: pa.Array, today: dt.date) -> Identities:
    """Check trimmed identifier text; empty values are ``given=False`` and invalid."""
    encoded = pc.dictionary_encode(column)
    rows = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    values: list[str] = encoded.dictionary.to_pylist()
    # One check per distinct value; the last entry stands for "no value" (never indexed).
    facts = [_facts(ids.check(v, today=today) if v else None) for v in values] + [_NONE]
    valid, legacy, normalised, scheme, kind, birth, sex, error = zip(*facts, strict=True)
    given = np.array([bool(v) for v in values] + [False], dtype=bool)

    def spread(per_value: tuple[Any, ...], dtype: Any = object) -> NDArray[Any]:
        return np.array(per_value, dtype=dtype)[rows]

    return Identities(
        given=given[rows],
        valid=spread(valid, bool),
        legacy=spread(legacy, bool),
        normalised=spread(normalised),
        scheme=spread(scheme),
        kind=spread(kind),
        birth=spread(birth, "datetime64[D]"),
        sex=spread(sex),
        error=spread(error),
    )
