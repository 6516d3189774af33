"""The work on a chunk that needs no store: validation, and the candidate events with keys.

Its result is small and made of arrays (``Invalid``, ``Candidates``), so that it can be done in
the reading worker and handed to the writer cheaply; the writer needs nothing else of it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from socialcredit.ingest.chunk import Chunk
from socialcredit.ingest.identity import IdentityBook
from socialcredit.ingest.records import Candidates, Stage, candidates
from socialcredit.ingest.rules import Rules
from socialcredit.ingest.validate import Checked, validate


@dataclass(frozen=True)
class Invalid:
    """The rows that failed validation, in row order, with the field, value and reason."""

    positions: NDArray[np.intp]  # rows of the chunk
    field: list[str]
    value: list[str | None]  # the field's trimmed text, None when empty
    code: list[str]
    message: list[str]


def invalid_rows(checked: Checked) -> Invalid:
    positions = np.flatnonzero(~checked.ok)
    reasons = checked.reasons
    fields = reasons.field[positions]
    value: NDArray[Any] = np.full(len(positions), None, dtype=object)
    for name in set(fields.tolist()):
        at = np.flatnonzero(fields == name)
        texts = checked.text.arrow[name].take(pa.array(positions[at], type=pa.int64()))
        value[at] = [v or None for v in texts.to_pylist()]
    return Invalid(
        positions,
        fields.tolist(),
        value.tolist(),
        reasons.code[positions].tolist(),
        reasons.message[positions].tolist(),
    )


def prepare_table(
    table: pa.Table,
    row_no: NDArray[np.int64],
    rules: Rules,
    today: dt.date,
    book: IdentityBook,
    *,
    stage: Stage | None = None,
) -> tuple[Invalid, Candidates]:
    """Validate a chunk's table; ``stage`` also stages the candidates for a SQLite store."""
    checked = validate(table, rules, today, book)
    return invalid_rows(checked), candidates(checked, row_no, rules.furnisher, stage=stage)


class Prepared(NamedTuple):
    """A chunk with the work that needs no store: its invalid rows and candidate events."""

    chunk: Chunk
    invalid: Invalid
    cand: Candidates


def prepare(
    chunk: Chunk, rules: Rules, today: dt.date, book: IdentityBook, *, stage: Stage | None = None
) -> Prepared:
    return Prepared(
        chunk, *prepare_table(chunk.table, chunk.row_no, rules, today, book, stage=stage)
    )
