"""Identifier checks for a whole column: ``ids.check`` once per distinct value, spread to rows.

An ``IdentityBook`` keeps the outcome of every distinct value seen during a run as arrays, so a
subject that recurs in later chunks costs a hash look-up in Arrow, not another check.

New values that are plainly valid resident IDs (18 ASCII characters, a real birth date in range,
the GB 11643 check character, an existing area code) are recognised with numpy in one pass: most
of a furnisher's file, at a fraction of ``ids.check``'s cost per value. Every other value goes
through ``ids.check``, which owns the reasons; for a plain valid ID both give the same outcome.
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
        self.values = pa.array([""], type=pa.string())  # entry i of the book is values[i]
        self.columns = {
            f: np.array([v], dtype=DTYPES.get(f, object))
            for f, v in zip(FIELDS, _NONE, strict=True)
        }

    def _numbers(self, column: pa.Array) -> NDArray[np.int64]:
        """The book's entry of each row's value (a hash look-up in Arrow), checking the values
        not seen before."""
        found = pc.index_in(column, value_set=self.values)
        if found.null_count:
            new = pc.unique(column.filter(pc.is_null(found)))
            if len(self.values) + len(new) > MAX_REMEMBERED:
                self._start()
                found = pc.index_in(column, value_set=self.values)
                new = pc.unique(column.filter(pc.is_null(found)))
            offset = len(self.values)
            for field, grown in _check_all(new.to_pylist(), self.today).items():
                self.columns[field] = np.concatenate([self.columns[field], grown])
            self.values = pa.concat_arrays([self.values, new])
            in_new = pc.add(pc.index_in(column, value_set=new).cast(pa.int64()), offset)
            found = pc.coalesce(found.cast(pa.int64()), in_new)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)

    def check(self, column: pa.Array) -> Identities:
        """Check trimmed identifier text; empty values are ``given=False`` and invalid."""
        if pc.all(pc.equal(column, "")).as_py() is not False:  # an absent optional column
            rows = np.zeros(len(column), dtype=np.int64)
        else:
            rows = self._numbers(column)
        picked = {field: self.columns[field][rows] for field in FIELDS}
        return Identities(given=rows != 0, **picked)


RIC_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
RIC_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
PLAIN_RIC = r"^[0-9]{17}[0-9X]$"
EARLIEST_BIRTH = np.datetime64("1880-01-01")  # as ids._EARLIEST_BIRTH


def _check_all(values: list[str], today: dt.date) -> dict[str, NDArray[Any]]:
    """The facts of ``ids.check`` for each value, as one array per field."""
    plain, birth, male = _plain_resident_ids(values, today)
    count = len(values)
    out = {f: np.full(count, None, dtype=object) for f in FIELDS if f not in DTYPES}
    out.update(valid=plain.copy(), legacy=np.zeros(count, dtype=bool), birth=birth)
    out["normalised"][plain] = np.array(values, dtype=object)[plain]
    out["scheme"][plain], out["kind"][plain] = "cn_ric", "person"
    out["sex"][plain] = np.where(male, "M", "F")[plain]
    rest = np.flatnonzero(~plain)
    if len(rest):
        facts = zip(*(_facts(ids.check(values[i], today=today)) for i in rest), strict=True)
        for field, column in zip(FIELDS, facts, strict=True):
            out[field][rest] = np.array(column, dtype=DTYPES.get(field, object))
    return out


def _plain_resident_ids(
    values: list[str], today: dt.date
) -> tuple[Mask, NDArray[np.datetime64], Mask]:
    """(valid, birth date, male) for the values ``ids.check`` accepts as written."""
    count = len(values)
    plain = np.zeros(count, dtype=bool)
    birth = np.full(count, np.datetime64("NaT"), dtype="datetime64[D]")
    male = np.zeros(count, dtype=bool)
    shaped = pc.match_substring_regex(pa.array(values, pa.string()), PLAIN_RIC)
    where = np.flatnonzero(np.asarray(pc.fill_null(shaped, False).to_numpy(zero_copy_only=False)))
    if not len(where):
        return plain, birth, male
    raw = "".join(values[i] for i in where).encode("ascii")
    chars = np.frombuffer(raw, dtype=np.uint8).reshape(len(where), 18).astype(np.int64)
    digits = chars - ord("0")

    def number(start: int, stop: int) -> NDArray[np.int64]:
        scale = 10 ** np.arange(stop - start - 1, -1, -1, dtype=np.int64)
        return np.asarray(digits[:, start:stop] @ scale, dtype=np.int64)

    year, month, day = number(6, 10), number(10, 12), number(12, 14)
    months = ((year - 1970) * 12 + np.clip(month, 1, 12) - 1).astype("datetime64[M]")
    born = months.astype("datetime64[D]") + (np.clip(day, 1, 31) - 1)
    real = (month >= 1) & (month <= 12) & (day >= 1) & (born.astype("datetime64[M]") == months)
    in_range = (born >= EARLIEST_BIRTH) & (born <= np.datetime64(today, "D"))
    checks = RIC_CHECK[(digits[:, :17] @ RIC_WEIGHTS) % 11] == chars[:, 17]
    areas = [values[i][:6] for i in where]
    known = {code: ids.area_code_exists(code) for code in set(areas)}  # a few thousand codes
    area_ok = np.array([known[code] for code in areas], dtype=bool)
    good = real & in_range & checks & area_ok
    plain[where[good]] = True
    birth[where[good]] = born[good]
    male[where[good]] = digits[good, 16] % 2 == 1
    return plain, birth, male
