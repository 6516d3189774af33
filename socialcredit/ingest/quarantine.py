"""Rejected rows: the quarantine (file, row, field, value, reason) and the identity review queue.

Rows rejected for their identifier (``id_missing``, ``id_invalid``, ``id_legacy``) also open a
review: a human picks the subject among candidates of the same name (exact hanzi, or the same
toneless pinyin, which also surfaces homophones such as 颜 / 闫), or rejects the row. Until then
the row is not an event, so it can restrict no one.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as list_field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, Engine, and_, select

from socialcredit.errors import NotFound, OutputFileError
from socialcredit.ingest.subjects import pinyin_of
from socialcredit.ingest.validate import IDENTITY_REASONS
from socialcredit.ingest.values import storable
from socialcredit.store.ledger import bulk_insert, rows_matching, stored_timestamp
from socialcredit.store.tables import ingest_batches, quarantine, review_queue, subjects

MAX_CANDIDATES = 50
QUARANTINE_COLUMNS = (
    "batch_id",
    "source",
    "row_no",
    "field",
    "value",
    "reason_code",
    "reason",
    "raw",
    "received_at",
)
# ``record_id`` as the row gave it (empty when it gave none or could not be read): what a
# furnisher matches a rejected row against in its own system.
EXPORT_HEADER = ("file", "row", "record_id", "field", "value", "reason_code", "reason")


@dataclass
class Rejected:
    """The rejected rows of one chunk, in row order."""

    row_no: list[int] = list_field(default_factory=list)
    field: list[str] = list_field(default_factory=list)
    value: list[str | None] = list_field(default_factory=list)
    code: list[str] = list_field(default_factory=list)
    reason: list[str] = list_field(default_factory=list)
    raw: list[dict[str, Any]] = list_field(default_factory=list)

    def add(
        self,
        row_no: int,
        field_name: str,
        value: str | None,
        code: str,
        reason: str,
        raw: dict[str, Any],
    ) -> None:
        self.row_no.append(row_no)
        self.field.append(field_name)
        self.value.append(value)
        self.code.append(code)
        self.reason.append(reason)
        self.raw.append(raw)

    def __len__(self) -> int:
        return len(self.row_no)


def write(
    conn: Connection, rejected: Rejected, *, batch_id: int, source: str, received_at: dt.datetime
) -> int:
    """Store the chunk's rejected rows; open reviews for identity failures; count the reviews."""
    if not len(rejected):
        return 0
    when = stored_timestamp(conn, received_at)
    rows = (
        (
            batch_id,
            source,
            row_no,
            fname,
            None if value is None else storable(value),
            code,
            reason,
            json.dumps(raw, ensure_ascii=False),
            when,
        )
        for row_no, fname, value, code, reason, raw in zip(
            rejected.row_no,
            rejected.field,
            rejected.value,
            rejected.code,
            rejected.reason,
            rejected.raw,
            strict=True,
        )
    )
    bulk_insert(conn, quarantine, QUARANTINE_COLUMNS, rows)
    held = [i for i, code in enumerate(rejected.code) if code in IDENTITY_REASONS]
    if not held:
        return 0
    return _open_reviews(conn, rejected, held, batch_id=batch_id, source=source)


def _open_reviews(
    conn: Connection, rejected: Rejected, held: list[int], *, batch_id: int, source: str
) -> int:
    numbers = [rejected.row_no[i] for i in held]
    ids = {
        row.row_no: row.quarantine_id
        for row in conn.execute(
            select(quarantine.c.row_no, quarantine.c.quarantine_id).where(
                and_(
                    quarantine.c.batch_id == batch_id,
                    quarantine.c.source == source,
                    quarantine.c.reason_code.in_(sorted(IDENTITY_REASONS)),
                    quarantine.c.row_no.between(min(numbers), max(numbers)),
                )
            )
        )
    }
    names = [str(rejected.raw[i].get("subject_name") or "").strip() for i in held]
    found = candidates(conn, names)
    values = [
        (ids[row_no], name or None, json.dumps(found.get(name, []), ensure_ascii=False), "open")
        for row_no, name in zip(numbers, names, strict=True)
    ]
    bulk_insert(
        conn, review_queue, ("quarantine_id", "subject_name", "candidates", "status"), values
    )
    return len(values)


def candidates(conn: Connection, names: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """For each name: registered subjects of that exact name, then those of the same pinyin."""
    wanted = sorted({n for n in names if n})
    if not wanted:
        return {}
    sounds = {n: pinyin_of(n) for n in wanted}
    columns = ["subject_id", "name", "name_pinyin", "kind", "birth_date"]
    rows = {r.subject_id: r for r in rows_matching(conn, subjects, "name", wanted, columns)}
    same_sound = rows_matching(conn, subjects, "name_pinyin", sorted(set(sounds.values())), columns)
    rows.update({r.subject_id: r for r in same_sound})
    by_name: dict[str, list[Any]] = {}
    by_sound: dict[str, list[Any]] = {}
    for r in rows.values():
        by_name.setdefault(r.name, []).append(r)
        by_sound.setdefault(r.name_pinyin, []).append(r)
    out: dict[str, list[dict[str, Any]]] = {}
    for name in wanted:
        same = by_name.get(name, [])
        sound = [r for r in by_sound.get(sounds[name], []) if r.name != name]
        picked = sorted(same, key=lambda r: r.subject_id) + sorted(
            sound, key=lambda r: r.subject_id
        )
        out[name] = [
            {
                "subject_id": r.subject_id,
                "name": r.name,
                "kind": r.kind,
                "birth_date": r.birth_date.isoformat() if r.birth_date else None,
                "match": "name" if r.name == name else "pinyin",
            }
            for r in picked[:MAX_CANDIDATES]
        ]
    return out


def export_csv(engine: Engine, out: Path | TextIO, *, batch_id: int | None = None) -> int:
    """Write the rejection report (``EXPORT_HEADER``) to a file, or to an open text stream;
    count rows."""
    query = select(
        quarantine.c.source,
        quarantine.c.row_no,
        # The row as read, for the furnisher's own id of it. Read here, not by the store:
        # PostgreSQL's JSON text extraction refuses a document holding an escaped NUL.
        quarantine.c.raw,
        quarantine.c.field,
        quarantine.c.value,
        quarantine.c.reason_code,
        quarantine.c.reason,
    )
    if batch_id is not None:
        query = query.where(quarantine.c.batch_id == batch_id)
        with engine.connect() as conn:
            known = conn.execute(
                select(ingest_batches.c.batch_id).where(ingest_batches.c.batch_id == batch_id)
            ).first()
        if known is None:
            raise NotFound(f"no ingest batch {batch_id}")
    query = query.order_by(quarantine.c.batch_id, quarantine.c.source, quarantine.c.row_no)
    if not isinstance(out, Path):
        return _write_report(engine, query, out)
    try:
        # UTF-8 with a BOM, so that spreadsheet programs show the Chinese text as it is.
        handle = open(out, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise _unwritable(out, exc) from exc
    try:
        with handle:
            return _write_report(engine, query, handle)
    except OSError as exc:  # a full disk, a file size limit: no partial report is left
        if out.is_file():
            out.unlink(missing_ok=True)
        raise _unwritable(out, exc) from exc


# A cell a spreadsheet program would read as a formula (the report is made to be opened in
# one): written after an apostrophe, which such programs show as text and do not run.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _as_text(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _write_report(engine: Engine, query: Any, handle: TextIO) -> int:
    count = 0
    with engine.connect() as conn:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_HEADER)
        for source, row_no, raw, *rest in _stream(conn, query):
            record_id = raw.get("record_id") if isinstance(raw, dict) else None
            record_id = record_id if isinstance(record_id, str) else ""
            writer.writerow([_as_text(v) for v in (source, row_no, record_id, *rest)])
            count += 1
    return count


def _unwritable(out: Path, exc: OSError) -> OutputFileError:
    return OutputFileError(str(out), exc.strerror or str(exc))


def _stream(conn: Connection, query: Any) -> Iterator[tuple[Any, ...]]:
    result = conn.execution_options(yield_per=10_000).execute(query)
    for row in result:
        yield tuple(row)
