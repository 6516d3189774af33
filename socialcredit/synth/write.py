"""Writing furnisher files in the binding format, in the formats real furnishers send.

court and market write Chinese headers (one alias set each), tax is GB18030, bank is UTF-8 with
a BOM, civil_affairs is JSON Lines, hrss is Parquet, the rest plain UTF-8 CSV. Empty values are
empty CSV fields and nulls in JSON Lines and Parquet. Every column is text, so bad values stay
exactly as written. All writing is column-at-a-time (pyarrow, numpy string operations).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from socialcredit.synth.catalogue import categories_of
from socialcredit.synth.records import has_amount
from socialcredit.synth.table import FIELDS, Rows

Format = Literal["csv", "jsonl", "parquet"]

COURT_HEADERS: dict[str, str] = {
    "record_id": "记录编号",
    "subject_id": "证件号码",
    "subject_name": "主体名称",
    "category": "信息类别",
    "decided_on": "决定日期",
    "document_no": "文书号",
    "amount": "金额",
    "action": "操作",
    "note": "备注",
    "ground": "依据情形",
    "extension_months": "延长月数",
}
MARKET_HEADERS: dict[str, str] = {
    "record_id": "记录编号",
    "subject_id": "证件号码",
    "subject_name": "名称",
    "category": "类别",
    "decided_on": "作出决定日期",
    "document_no": "决定文书号",
    "amount": "金额",
    "action": "操作",
    "note": "备注",
    "legal_rep_id": "法定代表人证件号码",
}


@dataclass(frozen=True, slots=True)
class FileSpec:
    furnisher: str
    format: Format = "csv"
    encoding: str | None = "utf-8"  # a Python codec name; None for Parquet
    headers: dict[str, str] | None = None  # binding column -> Chinese alias; None: English

    @property
    def path(self) -> str:
        return f"{self.furnisher}.{self.format}"

    @property
    def columns(self) -> tuple[str, ...]:
        """The binding columns this furnisher's rows can fill."""
        own = categories_of(self.furnisher)
        optional = {
            "amount": any(has_amount(c) for c in own),
            "ground": "court.dishonest_defaulter" in own,
            "extension_months": "court.dishonest_defaulter" in own,
            "legal_rep_id": "registration.basic" in own,
        }
        return tuple(c for c in FIELDS if optional.get(c, True))


FILE_SPECS: dict[str, FileSpec] = {
    s.furnisher: s
    for s in (
        FileSpec("court", headers=COURT_HEADERS),
        FileSpec("tax", encoding="gb18030"),
        FileSpec("market", headers=MARKET_HEADERS),
        FileSpec("bank", encoding="utf-8-sig"),
        FileSpec("hrss", format="parquet", encoding=None),
        FileSpec("emergency"),
        FileSpec("ecology"),
        FileSpec("procurement"),
        FileSpec("civil_affairs", format="jsonl"),
    )
}


def _arrow(values: NDArray[Any]) -> pa.Array:
    return pa.array(values, type=pa.string(), mask=values == "")


def _table(spec: FileSpec, rows: Rows) -> pa.Table:
    headers = spec.headers or {}
    return pa.table({headers.get(c, c): _arrow(rows[c]) for c in spec.columns})


def _json_value(values: NDArray[np.str_]) -> NDArray[np.str_]:
    """Each value as a JSON string literal, or null when empty (values hold no control chars)."""
    escaped = np.strings.replace(np.strings.replace(values, "\\", "\\\\"), '"', '\\"')
    return np.where(values == "", "null", np.strings.add(np.strings.add('"', escaped), '"'))


def _jsonl(spec: FileSpec, rows: Rows) -> bytes:
    if not len(rows["record_id"]):
        return b""
    line = None
    for i, column in enumerate(spec.columns):
        part = np.strings.add(f'{"{" if i == 0 else ", "}"{column}": ', _json_value(rows[column]))
        line = part if line is None else np.strings.add(line, part)
    assert line is not None
    return ("\n".join(np.strings.add(line, "}").tolist()) + "\n").encode("utf-8")


def write_furnisher_file(out_dir: Path, spec: FileSpec, rows: Rows) -> Path:
    path = out_dir / spec.path
    if spec.format == "parquet":
        pq.write_table(_table(spec, rows), path, compression="zstd")
    elif spec.format == "jsonl":
        path.write_bytes(_jsonl(spec, rows))
    else:
        buffer = io.BytesIO()
        pa_csv.write_csv(
            _table(spec, rows),
            buffer,
            pa_csv.WriteOptions(quoting_style="needed", quoting_header="none"),
        )
        data = buffer.getvalue()
        if spec.encoding not in ("utf-8", "utf-8-sig"):
            data = data.decode("utf-8").encode(spec.encoding or "utf-8")
        if spec.encoding == "utf-8-sig":
            data = b"\xef\xbb\xbf" + data
        path.write_bytes(data)
    return path


def write_csv(path: Path, columns: dict[str, NDArray[Any]]) -> None:
    """A small plain UTF-8 CSV (truth files) from equal-length columns."""
    table = pa.table({name: pa.array(values) for name, values in columns.items()})
    pa_csv.write_csv(
        table, path, pa_csv.WriteOptions(quoting_style="needed", quoting_header="none")
    )


def write_parquet(path: Path, columns: dict[str, pa.Array | NDArray[Any]]) -> None:
    pq.write_table(pa.table(columns), path, compression="zstd")
