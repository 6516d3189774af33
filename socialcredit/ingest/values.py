"""Vectorised parsing of the text fields: trimmed text, dates, amounts in fen, small integers.

Every function takes a whole Arrow column and returns numpy arrays, so a chunk is parsed in a
handful of calls, never row by row.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

Mask = NDArray[np.bool_]

ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
AMOUNT = r"^[0-9]{1,15}(\.[0-9]{1,2})?$"  # yuan, at most 2 decimals; 15 digits fit in fen int64
SMALL_INT = r"^[0-9]{1,4}$"
EARLIEST = np.datetime64("1900-01-01")
NOT_A_DATE = np.datetime64("NaT", "D")


def text(column: pa.Array | pa.ChunkedArray, *, fold: bool = False) -> pa.Array:
    """Trimmed text, null as empty; ``fold`` also maps full-width forms to ASCII (NFKC)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    column = pc.fill_null(column, "")
    if fold and not pc.all(pc.string_is_ascii(column)).as_py():
        column = pc.utf8_normalize(column, form="NFKC")
    return pc.utf8_trim_whitespace(column)


def present(column: pa.Array) -> Mask:
    return np.asarray(pc.greater(pc.utf8_length(column), 0).to_numpy(zero_copy_only=False))


# C0 control characters but tab and line ends, and DEL: no record holds them (PostgreSQL
# refuses NUL in text), and they are never part of a name, number or note as written.
CONTROL = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]"
_CONTROL = re.compile(CONTROL)


_CONTROL_BYTES = np.zeros(256, dtype=bool)  # the same characters, as UTF-8 bytes
_CONTROL_BYTES[[*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]] = True


def has_control(column: pa.Array) -> Mask:
    """Rows whose text holds a control character (``CONTROL``). The column's bytes are looked
    at first, all at once: a regular expression per row would cost seconds a million rows, for
    characters almost no file has. (UTF-8 encodes them as these bytes and nothing else does.)"""
    data = column.buffers()[2] if len(column) else None
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else None
    if raw is None or not (
        ((raw < 0x20).any() or (raw == 0x7F).any()) and _CONTROL_BYTES[raw].any()
    ):  # the comparisons are cheap, and the look-up only runs where tab or line ends may be
        return np.zeros(len(column), dtype=bool)
    found = pc.fill_null(pc.match_substring_regex(column, CONTROL), False)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def first_control(value: str) -> int:
    """The code point of the first control character (``CONTROL``) in ``value``."""
    match = _CONTROL.search(value)
    assert match is not None
    return ord(match.group())


def storable(value: str) -> str:
    """``value`` as the quarantine keeps it: as it is, or, if it holds control characters, with
    each written ``\\uXXXX`` and each backslash doubled (so ``\\u0000`` furnished as text
    reads ``\\\\u0000``)."""
    if not _CONTROL.search(value):
        return value
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", value.replace("\\", "\\\\"))


def longer_than(column: pa.Array, limit: int) -> Mask:
    return np.asarray(pc.greater(pc.utf8_length(column), limit).to_numpy(zero_copy_only=False))


def member(column: pa.Array, values: list[str]) -> Mask:
    """Which entries are one of ``values`` (a hash look-up in Arrow)."""
    found = pc.is_in(column, value_set=pa.array(values, type=pa.string()))
    return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)


def to_numpy_str(column: pa.Array) -> NDArray[Any]:
    """An object array of Python strings (empty text stays ``""``)."""
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


def matches(column: pa.Array, pattern: str) -> Mask:
    return np.asarray(
        pc.fill_null(pc.match_substring_regex(column, pattern), False).to_numpy(
            zero_copy_only=False
        )
    )


def parse_dates(column: pa.Array) -> tuple[NDArray[np.datetime64], Mask]:
    """(days, real): YYYY-MM-DD of a real calendar day from 1900 on; NaT elsewhere."""
    shaped = matches(column, ISO_DATE)
    safe = pc.if_else(pa.array(shaped), column, "1900-01-01")

    def part(start: int, stop: int) -> NDArray[np.int64]:
        piece = pc.utf8_slice_codeunits(safe, start, stop)
        return np.asarray(pc.cast(piece, pa.int64()).to_numpy(zero_copy_only=False))

    year, month, day = part(0, 4), part(5, 7), part(8, 10)
    months = ((year - 1970) * 12 + np.clip(month, 1, 12) - 1).astype("datetime64[M]")
    days = months.astype("datetime64[D]") + (np.clip(day, 1, 31) - 1)
    # 2023-02-29 lands in March: a real day stays in its month.
    real = (
        shaped
        & (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (days.astype("datetime64[M]") == months)
        & (days >= EARLIEST)
    )
    return np.where(real, days, NOT_A_DATE), real


def parse_fen(column: pa.Array) -> tuple[NDArray[np.int64], Mask]:
    """(fen, valid) for amounts in yuan with up to two decimals; empty is valid (no amount)."""
    given = present(column)
    ok = matches(column, AMOUNT)
    digits = pc.replace_substring(pc.if_else(pa.array(ok), column, "0"), ".", "")
    whole = np.asarray(pc.cast(digits, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    dot = np.asarray(pc.find_substring(column, ".").to_numpy(zero_copy_only=False))
    length = np.asarray(pc.utf8_length(column).to_numpy(zero_copy_only=False))
    decimals = np.where(ok & (dot >= 0), length - dot - 1, 0)
    fen = whole * np.power(10, 2 - decimals).astype(np.int64)
    return np.where(ok, fen, 0), ok | ~given


def parse_small_int(column: pa.Array) -> tuple[NDArray[np.int64], Mask]:
    """(value, valid) for non-negative integers of up to 4 digits; empty is valid (none)."""
    given = present(column)
    ok = matches(column, SMALL_INT)
    values = pc.cast(pc.if_else(pa.array(ok), column, "0"), pa.int64())
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.int64), ok | ~given


def full_years(born: NDArray[np.datetime64], on: NDArray[np.datetime64]) -> NDArray[np.int64]:
    """Completed years of age on a day (a birthday on 29 February counts on 1 March)."""

    def ymd(days: NDArray[np.datetime64]) -> NDArray[np.int64]:
        years = days.astype("datetime64[Y]").astype(np.int64) + 1970
        months = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
        dom = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
        return np.asarray(years * 10000 + months * 100 + dom, dtype=np.int64)

    return (ymd(on) - ymd(born)) // 10000
