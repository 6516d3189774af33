"""Row-at-a-time sources, read in chunks: JSON Lines and Excel workbooks.

Neither format has a streaming columnar reader that survives a bad line, so rows are read one by
one (constant memory) and turned into Arrow columns a chunk at a time.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings as pywarnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from socialcredit.errors import InputFileError
from socialcredit.ingest.chunk import Chunk, Unreadable
from socialcredit.ingest.columns import CANONICAL, REQUIRED, canonical_name, map_header

if TYPE_CHECKING:  # the scan imports openpyxl, which only workbooks need
    from socialcredit.ingest.xlsx_formulas import RowFormulas

# A JSON escape of half a UTF-16 surrogate pair: a line holding one is checked for a lone half.
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")
# What a damaged workbook raises while it is read: bad XML (ElementTree's ParseError, or lxml's
# when openpyxl finds lxml: both are SyntaxErrors), a bad zip member or its compression.
DAMAGED: tuple[type[Exception], ...] = (SyntaxError, zipfile.BadZipFile, zlib.error, EOFError)
# ... and what openpyxl raises on a row or cell it cannot make sense of (a row number "1e400").
SHEET_DAMAGE: tuple[type[Exception], ...] = (*DAMAGED, ValueError, KeyError, IndexError)


class _Rows:
    """Accumulates rows (canonical name -> text) and builds chunks of them."""

    def __init__(self) -> None:
        self.values: list[dict[str, str | None]] = []
        self.numbers: list[int] = []
        self.unreadable: list[Unreadable] = []
        self.extra_names: dict[str, None] = {}  # ignored columns, in order of appearance

    def __len__(self) -> int:
        return len(self.values) + len(self.unreadable)

    def add(self, row_no: int, row: dict[str, str | None]) -> None:
        self.values.append(row)
        self.numbers.append(row_no)

    def chunk(self, position: int) -> Chunk:
        names = list(CANONICAL) + [n for n in self.extra_names if n not in CANONICAL]
        columns = {n: pa.array([r.get(n) for r in self.values], type=pa.string()) for n in names}
        table = pa.table({n: columns[n] for n in CANONICAL})
        extras = [n for n in names if n not in CANONICAL]
        chunk = Chunk(
            table,
            np.array(self.numbers, dtype=np.int64),
            pa.table({n: columns[n] for n in extras}) if extras else None,
            tuple(self.unreadable),
            position,
        )
        self.values, self.numbers, self.unreadable = [], [], []
        return chunk


def _text(value: Any) -> str | None:
    """A JSON or spreadsheet value as the text a furnisher meant."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


# -- JSON Lines -------------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all different: JSON leaves a repeated key's meaning open, and
    taking the last value would store what the furnisher may not have meant."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(f"the key {key!r} is given twice")
            seen.add(key)
    return value


def _json_row(line: bytes) -> dict[str, Any] | str:
    """The line's object, or why it is not one."""
    try:
        text = line.decode("utf-8")  # json.loads would also take UTF-16 or UTF-32 bytes
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text: {exc}"
    try:
        value = json.loads(text, parse_float=str, parse_int=str, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        return str(exc)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc}"
    if not isinstance(value, dict):
        return f"a JSON {type(value).__name__}, not an object"
    if _SURROGATE_ESCAPE.search(line):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : exc.end].encode("unicode_escape").decode()
            return f"holds {bad}, half of a surrogate pair alone: not a character"
    return value


def jsonl_chunks(path: Path, chunk_rows: int, warnings: list[str]) -> Iterator[Chunk]:
    """JSON Lines: one object per line; keys are binding columns or their aliases."""
    file = str(path)
    rows = _Rows()
    mapped: dict[str, str | None] = {}  # key -> canonical name (None: ignored)
    seen_required = False
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            line = raw.strip()
            if line_no == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")
            if not line:
                continue
            parsed = _json_row(line)
            if isinstance(parsed, str):
                # Kept whole, as a CSV row is (bytes that are not UTF-8 as U+FFFD).
                text = line.decode("utf-8", "replace")
                rows.unreadable.append(Unreadable(line_no, text, parsed))
            else:
                row: dict[str, str | None] = {}
                for key, value in parsed.items():
                    if key not in mapped:
                        mapped[key] = canonical_name(key)
                        if mapped[key] is None:
                            rows.extra_names[key] = None
                    name = mapped[key] or key
                    why = None
                    if name in row and mapped[key] is not None:
                        why = f"two keys mean {name}"
                    elif mapped[key] is not None and isinstance(value, dict | list):
                        kind = "an object" if isinstance(value, dict) else "an array"
                        why = f"{key} is {kind}, not one value"
                    if why:
                        rows.unreadable.append(
                            Unreadable(line_no, line.decode("utf-8", "replace"), why)
                        )
                        break
                    row[name] = _text(value)
                else:
                    rows.add(line_no, row)
                    seen_required = seen_required or any(k in row for k in REQUIRED)
            if len(rows) >= chunk_rows:
                _require_columns(file, seen_required, rows)
                yield rows.chunk(handle.tell())
        if len(rows):
            _require_columns(file, seen_required, rows)
            yield rows.chunk(handle.tell())
    ignored = [k for k, v in mapped.items() if v is None]
    if ignored:
        warnings.append(
            f"ignored {len(ignored)} key(s) that are not furnisher columns: " + ", ".join(ignored)
        )


def _require_columns(file: str, seen_required: bool, rows: _Rows) -> None:
    if not seen_required and rows.values:
        map_header(file, list(rows.extra_names), require_all=False)  # raises, naming the keys


# -- Excel --------------------------------------------------------------------------------------


def xlsx_chunks(path: Path, chunk_rows: int, warnings: list[str]) -> Iterator[Chunk]:
    """The first sheet of a workbook; the first non-empty row is the header."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    from socialcredit.ingest.xlsx_formulas import unsaved_formulas

    file = str(path)
    try:
        with pywarnings.catch_warnings():
            pywarnings.simplefilter("ignore")  # style warnings of workbooks made by other tools
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, KeyError, OSError, ValueError, *DAMAGED) as exc:
        raise InputFileError(file, f"not a readable XLSX workbook: {exc}") from exc
    try:
        if not book.worksheets:
            raise InputFileError(file, "the workbook has no sheet")
        sheet = book.worksheets[0]
        # Every row and column the sheet holds: read-only mode otherwise stops at the size the
        # sheet declares (<dimension>), which programs that write workbooks leave stale.
        sheet.reset_dimensions()
        sheet_rows: Iterable[tuple[Any, ...]] = sheet.iter_rows(values_only=True)
        part = getattr(sheet, "_worksheet_path", None)  # the sheet's part in the zip
        with closing(unsaved_formulas(path, part)) as unsaved:
            rows = _guarded(file, sheet_rows)
            yield from _sheet_chunks(file, rows, chunk_rows, warnings, unsaved)
    finally:
        book.close()


def _guarded(file: str, sheet_rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The sheet's rows; what openpyxl raises on a damaged sheet is one ``InputFileError``."""
    rows = iter(sheet_rows)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except SHEET_DAMAGE as exc:
            raise InputFileError(file, f"the first sheet is damaged: {exc}") from exc
        yield row


def _formula_reason(
    names: list[str],
    values: list[str | None],
    formulas: dict[int, str],
    sheet_row: int,
    read: set[str],
) -> str | None:
    """Why the row cannot be read: a column the run reads shows a formula with no saved result,
    which would otherwise read as empty (``xlsx_formulas``)."""
    from openpyxl.utils import get_column_letter

    for column, formula in sorted(formulas.items()):
        value = values[column] if column < len(values) else None
        if column < len(names) and names[column] in read and value is None:
            return (
                f"cell {get_column_letter(column + 1)}{sheet_row} ({names[column]}) holds "
                f"{formula} with no saved result: open and save the workbook in Excel or "
                "LibreOffice, or furnish the values"
            )
    return None


def _sheet_chunks(
    file: str,
    sheet_rows: Iterator[tuple[Any, ...]],
    chunk_rows: int,
    warnings: list[str],
    unsaved: Iterator[RowFormulas],
) -> Iterator[Chunk]:
    """``unsaved``: the sheet's rows with formulas that have no saved result, in row order."""
    header_row = 0
    names: list[str] = []
    for header_row, cells in enumerate(sheet_rows, start=1):  # noqa: B007 - used below
        names = [(_text(c) or "").strip() for c in cells]
        if any(names):
            break
    if not any(names):
        raise InputFileError(file, "the first sheet is empty (no header row)")
    header = map_header(file, [n for n in names if n])
    warnings += header.warnings
    target = {header.source_of[c]: c for c in header.source_of}
    read = set(target)
    rows = _Rows()
    rows.extra_names = dict.fromkeys(header.ignored)
    pending = next(unsaved, None)
    for sheet_row, cells in enumerate(sheet_rows, start=header_row + 1):
        while pending is not None and pending[0] < sheet_row:
            pending = next(unsaved, None)
        values = [_text(c) for c in cells]
        why = None
        if pending is not None and pending[0] == sheet_row:
            why = _formula_reason(names, values, pending[1], sheet_row, read)
        if why:
            shown = ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=False) if n and v)
            rows.unreadable.append(Unreadable(sheet_row - header_row, shown, why))
        elif not any(v not in (None, "") for v in values):
            continue
        else:
            row = {target.get(n, n): v for n, v in zip(names, values, strict=False) if n}
            rows.add(sheet_row - header_row, row)
        if len(rows) >= chunk_rows:
            yield rows.chunk(sheet_row)
    if len(rows):
        yield rows.chunk(header_row + len(rows))
