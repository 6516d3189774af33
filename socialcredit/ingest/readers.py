"""Streaming readers: furnisher files in, chunks of string columns out, in constant memory.

The format follows the file name: ``.csv``/``.txt`` (UTF-8, UTF-8 with BOM or GB18030, sniffed;
comma, tab, semicolon or pipe separated), ``.jsonl``/``.ndjson``, ``.parquet``, ``.xlsx``. A file
that cannot be read at all raises ``InputFileError`` naming it; a row that cannot be read (a CSV
record with the wrong number of fields, a line that is not a JSON object) becomes an
``Unreadable`` row of its chunk, to be quarantined as ``row_unreadable``.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from socialcredit.errors import InputFileError
from socialcredit.ingest.chunk import Chunk, ChunkBuilder, Unreadable, empty_chunk
from socialcredit.ingest.columns import map_header
from socialcredit.ingest.rowsources import jsonl_chunks, xlsx_chunks

Format = Literal["csv", "jsonl", "parquet", "xlsx"]
FORMATS: dict[str, Format] = {
    ".csv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".xlsx": "xlsx",
}
SNIFF_BYTES = 1 << 16
# NUL bytes in the first part of a file beyond which it is binary (or UTF-16 without its mark).
BINARY_NUL_SHARE = 0.01
DELIMITERS = (",", "\t", ";", "|")
# A few GB18030 characters can also be valid UTF-8 by chance; this many cannot.
MIXED_AFTER_CHARS = 16


@dataclass
class Source:
    """One furnisher file, opened: its format, encoding and a chunk iterator."""

    path: Path
    format: Format
    chunk_rows: int
    encoding: str | None = None
    total: int = 0  # progress units (bytes for text files, rows otherwise)
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.path)

    def chunks(self) -> Iterator[Chunk]:
        """Chunks of at most ``chunk_rows`` rows; read errors become ``InputFileError``."""
        readers = {
            "csv": self._csv,
            "jsonl": self._jsonl,
            "parquet": self._parquet,
            "xlsx": self._xlsx,
        }
        try:
            yield from readers[self.format]()
        except InputFileError:
            raise
        except (pa.ArrowException, UnicodeDecodeError, OSError, ValueError, KeyError) as exc:
            raise InputFileError(self.name, f"unreadable {self.format} file: {_why(exc)}") from exc

    # -- CSV ----------------------------------------------------------------------------------

    def _csv(self) -> Iterator[Chunk]:
        prefix = _read_prefix(self.path)
        self.encoding = sniff_encoding(self.name, prefix)
        names, delimiter = _csv_header(self.name, prefix, self.encoding)
        header = map_header(self.name, names)
        self.warnings += header.warnings
        builder = ChunkBuilder(header)
        pending: list[Unreadable] = []

        def on_invalid(row: Any) -> str:
            # ``number`` counts records from the header (1); None only when parsing in threads.
            number = (row.number - 1) if row.number is not None else -1
            why = (
                f"{row.actual_columns} fields where the header has {row.expected_columns}"
                if row.actual_columns
                else "no fields"
            )
            pending.append(Unreadable(number, row.text, why))
            return "skip"

        with open(self.path, "rb") as handle:
            reader = pa_csv.open_csv(
                handle,
                read_options=pa_csv.ReadOptions(
                    encoding=self.encoding,
                    column_names=names,
                    skip_rows=1,
                    use_threads=False,
                    block_size=1 << 20,
                ),
                parse_options=pa_csv.ParseOptions(
                    delimiter=delimiter,
                    newlines_in_values=True,
                    invalid_row_handler=on_invalid,
                ),
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                ),
            )
            numbers = _RowNumbers()
            for table in _rebatch(reader, self.chunk_rows):
                rows = numbers.take(table.num_rows, {u.row_no for u in pending})
                done = tuple(u for u in pending if u.row_no < numbers.next)
                pending[:] = [u for u in pending if u.row_no >= numbers.next]
                yield builder.build(table, rows, done, handle.tell())
        if pending:
            yield empty_chunk(tuple(pending), self.total)

    # -- other formats ------------------------------------------------------------------------

    def _jsonl(self) -> Iterator[Chunk]:
        self.encoding = "utf-8"
        yield from jsonl_chunks(self.path, self.chunk_rows, self.warnings)

    def _xlsx(self) -> Iterator[Chunk]:
        yield from xlsx_chunks(self.path, self.chunk_rows, self.warnings)

    def _parquet(self) -> Iterator[Chunk]:
        try:
            parquet = pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as exc:
            raise InputFileError(self.name, f"not a readable Parquet file: {_why(exc)}") from exc
        self.total = parquet.metadata.num_rows
        header = map_header(self.name, parquet.schema_arrow.names)
        self.warnings += header.warnings
        for name in header.source_of.values():  # the file's columns that the run reads
            kind = parquet.schema_arrow.field(name).type
            if pa.types.is_nested(kind):
                raise InputFileError(
                    self.name, f"column {name} holds {kind} values: each field must be one value"
                )
        builder = ChunkBuilder(header)
        start = 1
        for batch in parquet.iter_batches(batch_size=self.chunk_rows):
            rows = np.arange(start, start + batch.num_rows, dtype=np.int64)
            start += batch.num_rows
            yield builder.build(batch, rows, position=start - 1)


class _RowNumbers:
    """Numbers the valid rows of a CSV around the ones the parser skipped."""

    def __init__(self) -> None:
        self.next = 1

    def take(self, count: int, skipped: set[int]) -> np.ndarray[Any, np.dtype[np.int64]]:
        ahead = sorted(n for n in skipped if n >= self.next)
        candidates = np.arange(self.next, self.next + count + len(ahead), dtype=np.int64)
        if ahead:
            candidates = candidates[~np.isin(candidates, ahead)]
        rows = candidates[:count]
        if count:
            self.next = int(rows[-1]) + 1
        return rows


def _rebatch(reader: Any, size: int) -> Iterator[pa.Table]:
    """Re-cut the parser's record batches into tables of exactly ``size`` rows (the last fewer)."""
    buffered: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        buffered.append(batch)
        count += batch.num_rows
        while count >= size:
            table = pa.Table.from_batches(buffered)
            yield table.slice(0, size)
            rest = table.slice(size)
            buffered = rest.to_batches()
            count = rest.num_rows
    if count:
        yield pa.Table.from_batches(buffered)


def open_source(path: Path, chunk_rows: int) -> Source:
    """Check that the file exists and its format is known; reading starts with ``chunks()``."""
    name = str(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise InputFileError(
            name, f"unsupported file type {path.suffix or '(none)'!r}: use {known}"
        )
    if not path.exists():
        raise InputFileError(name, "no such file")
    if not path.is_file():
        raise InputFileError(name, "not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise InputFileError(name, "the file is empty (no header row)")
    return Source(path, fmt, chunk_rows, total=size if fmt in ("csv", "jsonl") else 0)


def _read_prefix(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(SNIFF_BYTES)


def sniff_encoding(file: str, prefix: bytes) -> str:
    """UTF-8 (with or without BOM) or GB18030, judged on the first 64 KiB; or UTF-16 with its
    byte-order mark (Excel's "Unicode Text", tab-separated)."""
    if prefix.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # the codec reads the byte order from the mark, and drops it
    if prefix.count(b"\x00") > max(1, len(prefix) * BINARY_NUL_SHARE):
        raise InputFileError(
            file, "not a text file (it contains NUL bytes): is the extension right?"
        )  # a stray NUL in text is the row's fault: validation quarantines that row
    try:
        codecs.getincrementaldecoder("utf-8")().decode(prefix, final=False)
        return "utf-8"
    except UnicodeDecodeError as exc:
        before = prefix[: exc.start].decode("utf-8")
        if sum(not c.isascii() for c in before) >= MIXED_AFTER_CHARS:
            # Plenty of real UTF-8 text, then bytes of another encoding: a spliced file.
            raise InputFileError(
                file, f"mixed encodings: UTF-8 text up to byte {exc.start}, then other bytes"
            ) from exc
    try:
        codecs.getincrementaldecoder("gb18030")().decode(prefix, final=False)
        return "gb18030"
    except UnicodeDecodeError as exc:
        raise InputFileError(
            file, "text is neither UTF-8 nor GB18030: save the file as UTF-8"
        ) from exc


def _csv_header(file: str, prefix: bytes, encoding: str) -> tuple[list[str], str]:
    text = codecs.getincrementaldecoder(encoding)().decode(prefix, final=False).lstrip("\ufeff")
    first_line = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=first_line.count)
    if not first_line.count(delimiter):
        delimiter = ","
    try:
        names = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    except (StopIteration, csv.Error) as exc:
        raise InputFileError(file, "no header row") from exc
    names = [n.strip() for n in names]
    if not any(names):
        raise InputFileError(file, "the first row is empty: the header row must come first")
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise InputFileError(file, f"column {n!r} appears twice in the header")
        seen.add(n)
    return names, delimiter


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
