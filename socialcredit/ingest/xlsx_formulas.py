"""Formula cells of a worksheet that carry no saved result, read from the sheet's own XML.

openpyxl reads a formula cell by the result saved with it, and reads it as empty when there is
none: a workbook written by a program (openpyxl included) and never opened in Excel. An ID
column computed by such a formula would then send every row to review as "empty identifier".
This scan finds those cells so that their rows can be refused as unreadable instead.

A result is missing when the cell has an ``<f>`` and its ``<v>`` is absent, or empty on a cell
that is not a text result (Excel saves ``=IF(...,"",...)`` as ``t="str"`` with an empty
``<v>``: an empty text, which is a real result). The scan streams the XML (constant memory)
and only advises: if it cannot parse the part, it finds nothing and the values reader, which
reads the same XML, reports the file.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Generator
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError, iterparse

from openpyxl.utils.cell import column_index_from_string, get_column_letter

TEXT_RESULTS = ("str", "inlineStr")  # cell types whose empty <v> is an empty text
_FORMULA_TAG = re.compile(rb"<(?:[\w.-]+:)?f[\s>/]")  # <f>, <x:f t="shared" .../>
_REFERENCE = re.compile(r"([A-Za-z]{1,3})([0-9]+)")
# What a part that cannot be read raises; openpyxl, reading the same part, reports the file.
UNREADABLE = (KeyError, ParseError, OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)

SHOWN_FORMULA = 60  # characters of a formula named in a reason
RowFormulas = tuple[int, dict[int, str]]  # sheet row -> {column (0-based): formula text}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _row_number(text: str | None, previous: int) -> int:
    """A <row>'s "r", written "3" or, by some programs, "3.0", as openpyxl reads it; anything
    else is a ValueError (the scan stops, and openpyxl refuses the row)."""
    if not text:
        return previous + 1
    try:
        return int(text)
    except ValueError:
        number = float(text)
        if not number.is_integer():  # also "inf" and "nan"
            raise ValueError(f"{text} is not a row number") from None
        return int(number)


def unsaved_formulas(path: Path, sheet_part: str | None) -> Generator[RowFormulas, None, None]:
    """Rows (in sheet order) holding formula cells without a saved result, with the formulas;
    ``sheet_part``: the sheet's part in the zip (none known: nothing is found).

    A shared formula's other cells name their master's formula (``<f t="shared" si="0"/>``)."""
    if not sheet_part or not _has_formulas(path, sheet_part):  # mostly a byte scan, no parse
        return
    shared: dict[str, str] = {}
    row_no, column, found = 0, -1, dict[int, str]()
    rows: Element | None = None  # <sheetData>, emptied after every row
    try:
        with zipfile.ZipFile(path) as archive, archive.open(sheet_part) as part:
            for event, element in iterparse(part, events=("start", "end")):
                name = _local(element.tag)
                if event == "start":
                    if name == "row":  # "r" may be left out: then it is the next row
                        row_no, column, found = _row_number(element.get("r"), row_no), -1, {}
                    elif name == "sheetData":
                        rows = element
                    continue
                if name == "c":
                    reference = _REFERENCE.fullmatch(element.get("r") or "")
                    if reference:
                        column = column_index_from_string(reference.group(1).upper()) - 1
                    else:  # cells may leave out "r": then it is the next column
                        column += 1
                    name = f"{get_column_letter(column + 1)}{row_no}"
                    formula = _unsaved(element, shared, name)
                    if formula is not None:
                        found[column] = formula
                elif name == "row":
                    if found:
                        yield row_no, found
                    if rows is not None:
                        rows.clear()  # constant memory: rows done with leave the tree
    except UNREADABLE:
        return


def _has_formulas(path: Path, sheet_part: str) -> bool:
    try:
        with zipfile.ZipFile(path) as archive, archive.open(sheet_part) as part:
            tail = b""
            while block := part.read(1 << 20):
                if _FORMULA_TAG.search(tail + block):
                    return True
                tail = block[-64:]  # a tag split across two blocks
    except UNREADABLE:
        return False
    return False


def _unsaved(cell: Element, shared: dict[str, str], name: str) -> str | None:
    """The cell's formula (as shown in a reason) when it has one and no saved result."""
    formula = cell.find("{*}f")  # in any namespace, or none
    if formula is None:
        return None
    text = "=" + formula.text[:SHOWN_FORMULA] if formula.text else ""
    key = formula.get("si")
    if formula.get("t") == "shared" and key is not None:
        if text:  # the master cell: its dependents repeat its formula, shifted
            shared[key] = f"{text} (shared from {name})"
        else:
            text = shared.get(key, "")
    value = cell.find("{*}v")
    if value is not None and (value.text or cell.get("t") in TEXT_RESULTS):
        return None
    return text or "a formula"
