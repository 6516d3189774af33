"""Identifier validation for a batch at once (numpy), for the batch restriction check.

``surely_valid`` applies the rules of ``socialcredit.ids.check`` to many normalised identifiers
together. It answers True only where ``ids.check`` is certain to say valid (with the identifier
itself as the normalised form); every other row is left to ``ids.check``, which also gives the
reason. So it can make a batch faster, never change an answer: a resident ID needs its shape,
a real birth date from 1880 to today, a county-level area code and its MOD 11-2 check
character; a USCC (anything not shaped like a resident ID) its alphabet, a six-digit division
code and its mod-31 check character.
"""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import numpy.typing as npt

from socialcredit import ids

BoolArray = npt.NDArray[np.bool_]

_RIC_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_USCC_WEIGHTS = np.array(
    [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64
)
_USCC_VALUE = np.full(256, -1, dtype=np.int64)  # byte -> its value in the USCC alphabet, or -1
_USCC_VALUE[np.frombuffer(ids.USCC_ALPHABET.encode(), np.uint8)] = np.arange(31)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_EARLIEST_BIRTH = 18800101  # as ids._EARLIEST_BIRTH, yyyymmdd
_ZERO, _X = ord("0"), ord("X")


@functools.lru_cache(maxsize=1 << 16)
def _area_exists(code: int) -> bool:
    return ids.area_code_exists(f"{code:06d}")


def _number(digits: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Rows of decimal digits as integers."""
    powers = 10 ** np.arange(digits.shape[1] - 1, -1, -1, dtype=np.int64)
    return np.asarray(digits @ powers, dtype=np.int64)


def _resident_ids_valid(chars: npt.NDArray[np.uint8], today: dt.date) -> BoolArray:
    """Which rows, all shaped like resident IDs (``ric_shaped``), are valid ones."""
    digits = (chars - np.uint8(_ZERO)).astype(np.int64)  # the X of the last column aside
    last = chars[:, 17]
    year, month = _number(digits[:, 6:10]), _number(digits[:, 10:12])
    day = _number(digits[:, 12:14])
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    last_day = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    born = year * 10_000 + month * 100 + day
    today_number = today.year * 10_000 + today.month * 100 + today.day
    dated = month_ok & (day >= 1) & (day <= last_day)
    dated &= (born >= _EARLIEST_BIRTH) & (born <= today_number)
    expected = (1 - digits[:, :17] @ _RIC_WEIGHTS) % 11
    checked = np.where(last == _X, 10, digits[:, 17]) == expected
    valid = dated & checked
    if valid.any():
        areas = _number(digits[:, :6])
        distinct = np.unique(areas[valid])
        known = np.array([_area_exists(int(code)) for code in distinct], dtype=bool)
        valid &= np.isin(areas, distinct[known])
    return np.asarray(valid, dtype=bool)


def _usccs_valid(chars: npt.NDArray[np.uint8]) -> BoolArray:
    values = _USCC_VALUE[chars]
    division = ((chars[:, 2:8] - np.uint8(_ZERO)) <= 9).all(axis=1)
    expected = (-(np.where(values[:, :17] < 0, 0, values[:, :17]) @ _USCC_WEIGHTS)) % 31
    return np.asarray((values >= 0).all(axis=1) & division & (values[:, 17] == expected))


def ric_shaped(chars: npt.NDArray[np.uint8]) -> BoolArray:
    """As ``ids._ric_shaped``: such a row is judged as a resident ID first."""
    digits = chars - np.uint8(_ZERO)
    century = (chars[:, 6] == ord("1")) & np.isin(chars[:, 7], (ord("8"), ord("9")))
    century |= (chars[:, 6] == ord("2")) & (chars[:, 7] == _ZERO)
    return np.asarray(
        (digits[:, :17] <= 9).all(axis=1) & ((digits[:, 17] <= 9) | (chars[:, 17] == _X)) & century
    )


def surely_valid(chars: npt.NDArray[np.uint8], today: dt.date) -> BoolArray:
    """For an (n, 18) matrix of normalised identifiers (ASCII, upper case): True where
    ``ids.check`` would find the identifier valid; False means "ask ``ids.check``"."""
    if not len(chars):
        return np.zeros(0, dtype=bool)
    person = ric_shaped(chars)
    valid = np.zeros(len(chars), dtype=bool)
    if person.any():
        valid[person] = _resident_ids_valid(chars[person], today)
    if not person.all():
        valid[~person] = _usccs_valid(chars[~person])
    return valid
