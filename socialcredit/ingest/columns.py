"""The binding furnisher columns, their aliases, and the mapping of a file's header onto them.

A header cell is matched after trimming, NFKC (full-width to ASCII) and, for Latin names, lower
case with spaces and hyphens read as underscores, so ``Record ID``, ``record-id`` and
``RECORD_ID`` all mean ``record_id``. Chinese aliases are those of the binding format and the
headers of the national disclosure templates (行政相对人名称, 行政处罚决定书文号) and of the
court's defaulter list (被执行人姓名/名称). A combined header such as 统一社会信用代码/身份证号码
means a column when each of its parts means that column.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from socialcredit.errors import InputFileError

REQUIRED: tuple[str, ...] = (
    "record_id",
    "subject_id",
    "subject_name",
    "category",
    "decided_on",
    "document_no",
)
OPTIONAL: tuple[str, ...] = (
    "amount",
    "action",
    "note",
    "ground",
    "extension_months",
    "legal_rep_id",
)
CANONICAL: tuple[str, ...] = REQUIRED + OPTIONAL

ALIASES: dict[str, str] = {
    "记录编号": "record_id",
    "统一社会信用代码": "subject_id",
    "公民身份号码": "subject_id",
    "身份证号码": "subject_id",
    "证件号码": "subject_id",
    "行政相对人代码": "subject_id",
    "名称": "subject_name",
    "姓名": "subject_name",
    "主体名称": "subject_name",
    "行政相对人名称": "subject_name",
    "被执行人姓名": "subject_name",
    "被执行人名称": "subject_name",
    "企业名称": "subject_name",
    "信息类别": "category",
    "类别": "category",
    "决定日期": "decided_on",
    "作出决定日期": "decided_on",
    "处罚决定日期": "decided_on",
    "文书号": "document_no",
    "决定文书号": "document_no",
    "行政处罚决定书文号": "document_no",
    "金额": "amount",
    "操作": "action",
    "备注": "note",
    "依据情形": "ground",
    "延长月数": "extension_months",
    "法定代表人证件号码": "legal_rep_id",
}


def header_key(cell: str) -> str:
    """The form a header cell is compared in."""
    text = unicodedata.normalize("NFKC", cell).strip().lstrip("\ufeff")
    return text.lower().replace(" ", "_").replace("-", "_")


COMBINED = re.compile(r"\s*(?:[/、]|或者|或)\s*")  # 姓名/名称 (after NFKC, ／ is /)
# Names that mean a column only as a part of a combined header: 身份证号码/组织机构代码 holds
# resident IDs and organisation codes, but a column of its own named 组织机构代码 sits beside
# 统一社会信用代码 in the disclosure templates (and its 9-character codes identify no one here).
PART_ALIASES = {"组织机构代码": "subject_id"}


def canonical_name(cell: str) -> str | None:
    single = _single_name(header_key(cell))
    if single is not None:
        return single
    text = unicodedata.normalize("NFKC", cell)
    if not COMBINED.search(text):
        return None
    keys = [header_key(part) for part in COMBINED.split(text)]
    parts = {_single_name(key, PART_ALIASES) for key in keys}
    if len(parts) != 1 or not any(_single_name(key) for key in keys):
        return None  # parts that mean different columns, or only part-only names
    return parts.pop()  # every part means the same column


def _single_name(key: str, more: dict[str, str] | None = None) -> str | None:
    if key in CANONICAL:
        return key
    return ALIASES.get(key) or (more or {}).get(key)


@dataclass(frozen=True)
class HeaderMap:
    """Which source column feeds which binding column, and what is left over."""

    source_of: dict[str, str]  # canonical name -> source column name
    ignored: tuple[str, ...]  # source columns that are not binding columns

    @property
    def warnings(self) -> list[str]:
        if not self.ignored:
            return []
        return [
            f"ignored {len(self.ignored)} column(s) that are not furnisher columns: "
            + ", ".join(self.ignored)
        ]


def map_header(file: str, names: Sequence[str], *, require_all: bool = True) -> HeaderMap:
    """Map source column names onto binding columns, or raise ``InputFileError``.

    Extra columns are ignored (and reported as a warning) when every required column is there;
    when some are missing, the error names the missing ones and the unrecognised ones, which
    are usually misspellings of them. With ``require_all=False`` (JSON Lines, where keys vary
    from line to line) only a total absence of required columns is an error.
    """
    source_of: dict[str, str] = {}
    ignored: list[str] = []
    for name in names:
        target = canonical_name(name) if name is not None else None
        if target is None:
            ignored.append(str(name))
            continue
        if target in source_of:
            raise InputFileError(
                file, f"columns {source_of[target]!r} and {name!r} both mean {target}; keep one"
            )
        source_of[target] = name
    missing = [c for c in REQUIRED if c not in source_of]
    if missing and (require_all or len(missing) == len(REQUIRED)):
        unknown = f"; unrecognised column(s): {', '.join(ignored)}" if ignored else ""
        raise InputFileError(
            file,
            f"missing required column(s): {', '.join(missing)}{unknown} "
            "(see docs/furnisher-format.md for the column names and their Chinese aliases)",
        )
    return HeaderMap(source_of, tuple(ignored))
