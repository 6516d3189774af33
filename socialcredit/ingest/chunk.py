"""What every reader yields: a chunk of rows as strings, numbered, with the rows it could not read.

Row numbers are 1-based data rows (the header excluded): for CSV the n-th non-blank record after
the header, for JSON Lines the line number, for XLSX the sheet row minus the header row, for
Parquet the position in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from socialcredit.ingest.columns import CANONICAL, HeaderMap

RowNumbers = NDArray[np.int64]


@dataclass(frozen=True)
class Unreadable:
    """A row the reader could not turn into fields (bad JSON, wrong number of CSV fields)."""

    row_no: int
    text: str
    reason: str


@dataclass(frozen=True)
class Chunk:
    table: pa.Table  # every binding column (CANONICAL), as strings; absent columns are all null
    row_no: RowNumbers
    extras: pa.Table | None = None  # ignored source columns, kept for the raw row of rejects
    unreadable: tuple[Unreadable, ...] = ()
    position: int = 0  # progress: bytes or rows of the source consumed so far

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)

    @property
    def read(self) -> int:
        return int(self.table.num_rows) + len(self.unreadable)

    def raw_rows(self, positions: NDArray[np.int64]) -> list[dict[str, Any]]:
        """The rows at ``positions`` as {column: value}, for the quarantine's raw row."""
        index = pa.array(positions, type=pa.int64())
        picked: dict[str, list[Any]] = {
            name: self.table.column(name).take(index).to_pylist() for name in CANONICAL
        }
        if self.extras is not None:
            for name in self.extras.column_names:
                picked[name] = self.extras.column(name).take(index).to_pylist()
        names = [n for n, values in picked.items() if any(v is not None for v in values)]
        return [{n: picked[n][i] for n in names} for i in range(len(positions))]


def as_strings(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Any Arrow column as strings: dates as YYYY-MM-DD, midnight timestamps as dates."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = pc.cast(column, kind.value_type)
        kind = column.type
    if pa.types.is_string(kind):
        return column
    if pa.types.is_timestamp(kind):
        midnight = pc.all(pc.equal(pc.cast(column, pa.date32()).cast(kind), column)).as_py()
        if midnight is not False:
            column = pc.cast(column, pa.date32())
    return pc.cast(column, pa.string())


@dataclass
class ChunkBuilder:
    """Turns source tables into chunks with the binding columns under their canonical names."""

    header: HeaderMap
    extras: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.extras = list(self.header.ignored)

    def build(
        self,
        source: pa.Table | pa.RecordBatch,
        row_no: RowNumbers,
        unreadable: tuple[Unreadable, ...] = (),
        position: int = 0,
    ) -> Chunk:
        table = source if isinstance(source, pa.Table) else pa.Table.from_batches([source])
        present = set(table.column_names)
        columns = {}
        for name in CANONICAL:
            src = self.header.source_of.get(name)
            if src is not None and src in present:
                columns[name] = as_strings(table.column(src))
            else:
                columns[name] = pa.nulls(table.num_rows, pa.string())
        extra_names = [n for n in self.extras if n in present]
        extras = (
            pa.table({n: as_strings(table.column(n)) for n in extra_names}) if extra_names else None
        )
        return Chunk(pa.table(columns), row_no, extras, unreadable, position)


def empty_chunk(unreadable: tuple[Unreadable, ...], position: int = 0) -> Chunk:
    """Only unreadable rows (a chunk of nothing but bad lines)."""
    table = pa.table({name: pa.nulls(0, pa.string()) for name in CANONICAL})
    return Chunk(table, np.zeros(0, dtype=np.int64), None, unreadable, position)
