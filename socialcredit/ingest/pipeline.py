"""One ingestion run: files in, events / quarantine / reviews out, with counts that always add up.

A run is one ``ingest_batches`` row and one transaction: either every file of the run is read to
the end and committed together (status ``done``), or nothing of the run is kept and the batch is
marked ``failed`` with zero counts (a file that cannot be read, a store error). Re-sending the
same files after a failure is therefore always safe, and re-sending after a success only counts
duplicates.

Per chunk: validate (arrays) -> candidate events with keys -> judge against the ledger (batched
look-ups) -> bulk-insert accepted events, register new subjects -> store rejected rows and open
reviews. ``read == accepted + quarantined + duplicates`` is asserted for every chunk.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, Engine, insert, update
from sqlalchemy.exc import DBAPIError

from socialcredit.errors import ConfigError, InputFileError, StoreError, ValidationFailed
from socialcredit.ingest import quarantine, subjects
from socialcredit.ingest.chunk import Chunk, Unreadable
from socialcredit.ingest.columns import CANONICAL, canonical_name
from socialcredit.ingest.identity import IdentityBook
from socialcredit.ingest.ledger_rules import Judged, judge
from socialcredit.ingest.readers import Source, open_source
from socialcredit.ingest.records import Candidates, candidates
from socialcredit.ingest.rules import Rules
from socialcredit.ingest.summary import Counts, Progress, RunSummary
from socialcredit.ingest.validate import Checked, validate
from socialcredit.store.engine import is_initialised
from socialcredit.store.ledger import bulk_session, insert_events
from socialcredit.store.policies import policy_in_force
from socialcredit.store.tables import ingest_batches


class Prepared(NamedTuple):
    """A chunk with the work that needs no store: validation and candidate events with keys."""

    chunk: Chunk
    checked: Checked
    cand: Candidates


def prepare(chunk: Chunk, rules: Rules, today: dt.date, book: IdentityBook) -> Prepared:
    checked = validate(chunk.table, rules, today, book)
    return Prepared(chunk, checked, candidates(checked, chunk.row_no, rules.furnisher))


class _Run:
    """The state of one run inside its transaction."""

    def __init__(
        self,
        conn: Connection,
        rules: Rules,
        batch_id: int,
        today: dt.date,
        received_at: dt.datetime,
    ) -> None:
        self.conn = conn
        self.rules = rules
        self.batch_id = batch_id
        self.today = today
        self.received_at = received_at
        self.subjects_seen: set[str] = set()

    def chunk(self, prepared: Prepared, source: str, counts: Counts) -> None:
        chunk, checked, cand = prepared
        judged = judge(self.conn, self.rules.furnisher, cand)
        accepted = insert_events(
            self.conn,
            cand.take(judged.accepted),
            batch_id=self.batch_id,
            recorded_at=self.received_at,
        )
        subjects.register(
            self.conn,
            cand.positions[judged.accepted],
            checked.subject_name,
            checked.identity,
            self.received_at,
            self.subjects_seen,
        )

        rejected = _rejected(chunk, checked, cand, judged)
        review = quarantine.write(
            self.conn,
            rejected,
            batch_id=self.batch_id,
            source=source,
            received_at=self.received_at,
        )
        counts.add(
            read=chunk.read,
            accepted=accepted,
            duplicates=int(judged.duplicate.sum()),
            rejected=rejected.code,
            review=review,
        )


def _rejected(
    chunk: Chunk, checked: Checked, cand: Candidates, judged: Judged
) -> quarantine.Rejected:
    """The chunk's rejected rows in row order: unreadable, invalid, refused by the ledger."""
    rejected = quarantine.Rejected()
    refused = cand.positions[judged.rejected]
    by_ledger = dict(
        zip(
            refused.tolist(),
            zip(
                judged.code[judged.rejected].tolist(),
                judged.message[judged.rejected].tolist(),
                strict=True,
            ),
            strict=True,
        )
    )
    positions = np.sort(np.concatenate([np.flatnonzero(~checked.ok), refused])).astype(np.int64)
    unreadable = deque(chunk.unreadable)
    for position, raw in zip(positions.tolist(), chunk.raw_rows(positions), strict=True):
        row_no = int(chunk.row_no[position])
        while unreadable and unreadable[0].row_no < row_no:
            _add_unreadable(rejected, unreadable.popleft())
        if position in by_ledger:
            code, message = by_ledger[position]
            rejected.add(row_no, "record_id", checked.record_id[position], code, message, raw)
        else:
            name = str(checked.reasons.field[position])
            rejected.add(
                row_no,
                name,
                checked.text[name][position] or None,
                str(checked.reasons.code[position]),
                str(checked.reasons.message[position]),
                raw,
            )
    for row in unreadable:
        _add_unreadable(rejected, row)
    return rejected


def _add_unreadable(rejected: quarantine.Rejected, row: Unreadable) -> None:
    rejected.add(
        row.row_no,
        "row",
        row.text,
        "row_unreadable",
        f"the row could not be read: {row.reason}",
        {"text": row.text},
    )


def _rules(engine: Engine, furnisher: str, today: dt.date) -> Rules:
    if not is_initialised(engine):
        raise ConfigError(
            f"the store at {engine.url.render_as_string(hide_password=True)} has "
            "no schema: run `socialcredit init` first"
        )
    return Rules.for_furnisher(policy_in_force(engine, today).policy, furnisher)


def new_batch(
    conn: Connection,
    furnisher: str,
    source: str,
    received_at: dt.datetime,
    status: str,
    accepted: int = 0,
) -> int:
    """An ``ingest_batches`` row; ``accepted`` > 0 only for a batch written whole at once."""
    values = {
        "read": accepted,
        "accepted": accepted,
        "quarantined": 0,
        "duplicates": 0,
        "review": 0,
    }
    key = conn.execute(
        insert(ingest_batches).values(
            furnisher=furnisher,
            source=source,
            received_at=received_at,
            status=status,
            finished_at=received_at if status == "done" else None,
            **values,
        )
    ).inserted_primary_key
    assert key is not None
    return int(key[0])


def _start_batch(engine: Engine, furnisher: str, source: str, received_at: dt.datetime) -> int:
    with engine.begin() as conn:
        return new_batch(conn, furnisher, source, received_at, "running")


def _finish_batch(conn: Connection, batch_id: int, status: str, totals: Counts) -> None:
    conn.execute(
        update(ingest_batches)
        .where(ingest_batches.c.batch_id == batch_id)
        .values(
            status=status,
            finished_at=dt.datetime.now(dt.UTC),
            read=totals.read,
            accepted=totals.accepted,
            quarantined=totals.quarantined,
            duplicates=totals.duplicates,
            review=totals.review,
        )
    )


def _run(
    engine: Engine,
    furnisher: str,
    source_label: str,
    today: dt.date | None,
    work: Iterable[tuple[str, Iterable[Chunk], Counts]],
    progress: Progress | None,
) -> tuple[int, Counts, float]:
    day = today or dt.date.today()
    rules = _rules(engine, furnisher, day)
    received_at = dt.datetime.now(dt.UTC)
    batch_id = _start_batch(engine, furnisher, source_label, received_at)
    started = time.perf_counter()
    totals = Counts()
    try:
        with engine.begin() as conn, bulk_session(conn):
            run = _Run(conn, rules, batch_id, day, received_at)
            book = IdentityBook(day)
            for name, chunks, counts in work:
                # Reading and validating in a thread beside the writes was slower: SQLite's
                # executemany hands the GIL back and forth on every row.
                for item in (prepare(chunk, rules, day, book) for chunk in chunks):
                    run.chunk(item, name, counts)
                    if progress:
                        progress.advance(item.chunk.position, item.chunk.read)
                totals.merge(counts)
            _finish_batch(conn, batch_id, "done", totals)
    except BaseException as exc:
        with engine.begin() as conn:
            _finish_batch(conn, batch_id, "failed", Counts())
        if isinstance(exc, InputFileError):
            kept = f"{exc.reason} (batch {batch_id} failed: nothing of it was kept)"
            raise InputFileError(exc.file, kept) from exc
        if isinstance(exc, DBAPIError):
            raise StoreError(
                f"the store refused the batch ({type(exc.orig).__name__}: "
                f"{str(exc.orig).strip().splitlines()[0]}); nothing was kept"
            ) from exc
        raise
    return batch_id, totals, time.perf_counter() - started


def ingest_files(
    engine: Engine,
    paths: Sequence[Path],
    *,
    furnisher: str,
    chunk_rows: int,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> RunSummary:
    """Ingest files as one batch of ``furnisher`` (see the module docstring for atomicity)."""
    if len({p.resolve() for p in paths}) != len(paths):
        raise ValidationFailed("the same file is named twice")
    sources = [open_source(p, chunk_rows) for p in paths]  # fail fast: missing, unknown type
    files = [Counts(file=s.name, format=s.format) for s in sources]

    def work() -> Iterable[tuple[str, Iterable[Chunk], Counts]]:
        for source, counts in zip(sources, files, strict=True):
            if progress:
                progress.start(source.name, source.total, source.format)
            yield source.name, _tracked(source, counts), counts
            if progress:
                progress.finish()

    batch_id, totals, seconds = _run(
        engine, furnisher, ", ".join(s.name for s in sources), today, work(), progress
    )
    return RunSummary(batch_id, furnisher, totals, files, seconds)


def _tracked(source: Source, counts: Counts) -> Iterable[Chunk]:
    try:
        yield from source.chunks()
    finally:
        counts.encoding = source.encoding
        counts.warnings = list(source.warnings)


def ingest_rows(
    engine: Engine,
    rows: Sequence[Mapping[str, Any]],
    *,
    furnisher: str,
    source: str = "api",
    today: dt.date | None = None,
) -> RunSummary:
    """Ingest records given as mappings (binding names or aliases; the API's path), row 1 first."""
    table = rows_table(rows)
    chunk = Chunk(table, np.arange(1, len(rows) + 1, dtype=np.int64), position=len(rows))
    counts = Counts(file=source, format="records")
    batch_id, totals, seconds = _run(
        engine, furnisher, source, today, [(source, [chunk], counts)], None
    )
    return RunSummary(batch_id, furnisher, totals, [counts], seconds)


def rows_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Mappings -> a table of the binding columns as text (keys may be aliases)."""
    named = [{canonical_name(str(k)) or str(k): v for k, v in r.items()} for r in rows]
    return pa.table(
        {
            c: pa.array(
                [None if r.get(c) is None else str(r.get(c)) for r in named], type=pa.string()
            )
            for c in CANONICAL
        }
    )
