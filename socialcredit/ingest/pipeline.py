"""One ingestion run: files in, events / quarantine / reviews out, with counts that always add up.

A run is one ``ingest_batches`` row and one transaction: either every file of the run is read to
the end and committed together (status ``done``), or nothing of the run is kept and the batch is
marked ``failed`` with zero counts (a file that cannot be read, a store error). Re-sending the
same files after a failure is therefore always safe, and re-sending after a success only counts
duplicates.

Per chunk: validate (arrays) -> candidate events with keys -> judge against the ledger (batched
look-ups) -> bulk-insert accepted events, register new subjects -> store rejected rows and open
reviews. ``read == accepted + quarantined + duplicates`` is asserted for every chunk.

The first two steps need no store: for large input (``PIPELINE_MIN_BYTES``) a reading worker
process does them beside the writer (``ingest.worker``, ``ingest.feed``), and on SQLite it also
stages the candidates so that the writer appends them with one statement per chunk
(``ingest.staged``). Chunks are written in input order whoever prepared them, so the outcome is
the same either way.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, Engine, insert, update
from sqlalchemy.exc import DBAPIError

from socialcredit.errors import ConfigError, InputFileError, StoreError, ValidationFailed
from socialcredit.ingest import quarantine, subjects
from socialcredit.ingest.chunk import Chunk, Unreadable
from socialcredit.ingest.columns import CANONICAL, canonical_name
from socialcredit.ingest.copied import copy_events
from socialcredit.ingest.deferred_indexes import DeferredIndexes, expected_rows, should_defer
from socialcredit.ingest.feed import Feed
from socialcredit.ingest.ledger_rules import Judged, judge
from socialcredit.ingest.prepare import Invalid, Prepared
from socialcredit.ingest.readers import Source, open_source
from socialcredit.ingest.records import Candidates, stage_image
from socialcredit.ingest.rules import Rules
from socialcredit.ingest.staged import insert_staged, stage_schema
from socialcredit.ingest.summary import Counts, Progress, RunSummary
from socialcredit.ingest.worker import Worker
from socialcredit.store.engine import is_initialised
from socialcredit.store.ledger import bulk_session, insert_events
from socialcredit.store.policies import policy_in_force
from socialcredit.store.tables import ingest_batches

# Input from which ``ingest_files`` prepares chunks in the reading worker: below it, the worker's
# start-up (a new interpreter) is a fair share of the run.
PIPELINE_MIN_BYTES = 16 << 20


class _Run:
    """The state of one run inside its transaction."""

    def __init__(
        self,
        conn: Connection,
        rules: Rules,
        batch_id: int,
        received_at: dt.datetime,
        progress: Progress | None,
    ) -> None:
        self.conn = conn
        self.rules = rules
        self.batch_id = batch_id
        self.received_at = received_at
        self.progress = progress
        self.subjects_seen: set[str] = set()

    def chunk(self, prepared: Prepared, source: str, counts: Counts) -> None:
        chunk, invalid, cand = prepared
        judged = judge(self.conn, self.rules.furnisher, cand)
        if cand.image is not None:
            accepted = insert_staged(
                self.conn,
                cand.image,
                judged.accepted,
                furnisher=self.rules.furnisher,
                batch_id=self.batch_id,
                recorded_at=self.received_at,
            )
        elif self.conn.dialect.name == "postgresql":
            accepted = copy_events(
                self.conn,
                cand.events,
                judged.accepted,
                batch_id=self.batch_id,
                recorded_at=self.received_at,
            )
        else:
            accepted = insert_events(
                self.conn,
                cand.take(judged.accepted),
                batch_id=self.batch_id,
                recorded_at=self.received_at,
            )
        subjects.register(self.conn, cand, judged.accepted, self.received_at, self.subjects_seen)

        rejected = _rejected(chunk, invalid, cand, judged)
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
        if self.progress:
            self.progress.advance(chunk.position, chunk.read)


def _rejected(
    chunk: Chunk, invalid: Invalid, cand: Candidates, judged: Judged
) -> quarantine.Rejected:
    """The chunk's rejected rows in row order: unreadable, invalid, refused by the ledger."""
    rejected = quarantine.Rejected()
    refused_at = np.flatnonzero(judged.rejected)
    refused = cand.positions[refused_at]
    by_ledger = dict(
        zip(
            refused.tolist(),
            zip(
                cand.values("record_id", refused_at),
                judged.code[refused_at].tolist(),
                judged.message[refused_at].tolist(),
                strict=True,
            ),
            strict=True,
        )
    )
    by_check = dict(
        zip(
            invalid.positions.tolist(),
            zip(invalid.field, invalid.value, invalid.code, invalid.message, strict=True),
            strict=True,
        )
    )
    positions = np.sort(np.concatenate([invalid.positions, refused])).astype(np.int64)
    unreadable = deque(chunk.unreadable)
    for position, raw in zip(positions.tolist(), chunk.raw_rows(positions), strict=True):
        row_no = int(chunk.row_no[position])
        while unreadable and unreadable[0].row_no < row_no:
            _add_unreadable(rejected, unreadable.popleft())
        if position in by_ledger:
            record_id, code, message = by_ledger[position]
            rejected.add(row_no, "record_id", record_id, code, message, raw)
        else:
            field, value, code, message = by_check[position]
            rejected.add(row_no, field, value, code, message, raw)
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
    *,
    pipelined: bool = False,
    expected: int = 0,
) -> tuple[int, Counts, float]:
    """``expected``: about how many rows the run brings (for ``DeferredIndexes``)."""
    day = today or dt.date.today()
    rules = _rules(engine, furnisher, day)
    received_at = dt.datetime.now(dt.UTC)
    batch_id = _start_batch(engine, furnisher, source_label, received_at)
    started = time.perf_counter()
    totals = Counts()
    files: list[Counts] = []
    sqlite = engine.dialect.name == "sqlite"
    try:
        with ExitStack() as stack:
            worker = stack.enter_context(Worker(rules, day, image=sqlite)) if pipelined else None
            conn = stack.enter_context(engine.connect())
            if worker is not None and sqlite:
                stack.enter_context(stage_schema(conn))  # outlives the transaction
            stack.enter_context(conn.begin())
            stack.enter_context(bulk_session(conn))
            deferred = DeferredIndexes(conn)
            if should_defer(conn, expected):
                deferred.drop()
            run = _Run(conn, rules, batch_id, received_at, progress)
            stage = stage_image if worker is not None and sqlite else None
            chunks = Feed(run.chunk, rules, day, worker, stage=stage)
            for name, file_chunks, counts in work:
                for chunk in file_chunks:
                    chunks.add(chunk, name, counts)
                chunks.drain()  # the file's counts are complete before the next file starts
                files.append(counts)
            for counts in files:
                totals.merge(counts)
            deferred.rebuild(progress)
            _finish_batch(conn, batch_id, "done", totals)
    except BaseException as exc:
        with engine.begin() as conn:
            _finish_batch(conn, batch_id, "failed", Counts())
        if isinstance(exc, InputFileError):
            kept = f"{exc.reason} (batch {batch_id} failed: nothing of it was kept)"
            raise InputFileError(exc.file, kept) from exc
        # The bulk paths speak to the driver itself: its errors arrive without SQLAlchemy's.
        # (Not its ProgrammingError: that is a fault of this code, not a refusal by the store.)
        driver_error = exc.orig if isinstance(exc, DBAPIError) else exc
        dbapi = engine.dialect.dbapi
        refusals: tuple[type[BaseException], ...] = (DBAPIError,)
        if dbapi is not None:
            refusals += (dbapi.DataError, dbapi.OperationalError, dbapi.IntegrityError,
                         dbapi.InternalError)  # fmt: skip
        if isinstance(exc, refusals):
            first_line = (str(driver_error).strip().splitlines() or [""])[0]
            raise StoreError(
                f"the store refused the batch ({type(driver_error).__name__}: "
                f"{first_line}); nothing was kept"
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
    pipelined: bool | None = None,
) -> RunSummary:
    """Ingest files as one batch of ``furnisher`` (see the module docstring for atomicity).

    ``pipelined``: prepare chunks in a reading worker beside the writer (``ingest.worker``);
    None decides by size (``PIPELINE_MIN_BYTES`` of input, where the worker pays for itself).
    """
    if len({p.resolve() for p in paths}) != len(paths):
        raise ValidationFailed("the same file is named twice")
    sources = [open_source(p, chunk_rows) for p in paths]  # fail fast: missing, unknown type
    files = [Counts(file=s.name, format=s.format) for s in sources]
    if pipelined is None:
        pipelined = sum(p.stat().st_size for p in paths) >= PIPELINE_MIN_BYTES

    def work() -> Iterable[tuple[str, Iterable[Chunk], Counts]]:
        for source, counts in zip(sources, files, strict=True):
            if progress:
                progress.start(source.name, source.total, source.format)
            yield source.name, _tracked(source, counts), counts
            if progress:
                progress.finish()

    batch_id, totals, seconds = _run(
        engine,
        furnisher,
        ", ".join(s.name for s in sources),
        today,
        work(),
        progress,
        pipelined=pipelined,
        expected=expected_rows(sources),
    )
    return RunSummary(batch_id, furnisher, totals, files, seconds)


def _tracked(source: Source, counts: Counts) -> Iterator[Chunk]:
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
