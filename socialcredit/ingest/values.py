"""Vectorised parsing of the text fields: trimmed text, dates, amounts in fen, small integers.

Every function takes a whole Arrow column and returns numpy arrays, so a chunk is parsed in a
handful of calls, never row by row.
"""

from __future__ import annotations

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
    shaped = pc.if_else(
        pc.match_substring_regex(column, ISO_DATE), column, pa.scalar(None, pa.string())
    )
    days = pc.cast(
        pc.strptime(shaped, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32()
    )
    # strptime rolls 2023-02-29 over to 2023-03-01: a real day formats back to the same text.
    real = pc.fill_null(pc.equal(pc.strftime(days, format="%Y-%m-%d"), column), False)
    values = np.asarray(days.to_numpy(zero_copy_only=False), dtype="datetime64[D]")
    ok = np.asarray(real.to_numpy(zero_copy_only=False)) & (values >= EARLIEST)
    return np.where(ok, values, NOT_A_DATE), ok


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
