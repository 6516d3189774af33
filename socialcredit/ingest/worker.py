"""The reading worker: a child process that prepares chunks while the writer stores earlier ones.

Preparing a chunk (validation, candidate events with keys, the staged copy of them) needs no
store, and is about half of the work of a run; the other half (judging against the ledger,
appending, registering subjects, quarantining) needs the run's transaction. With one process
per half, both cores work. A process, not a thread: the writer's driver calls hand the GIL
back and forth on every row, and a thread beside them slows both down.

The child is started with ``spawn`` (forking a process whose Arrow thread pools are running is
unsafe). It reports when it is ready; until then the writer prepares chunks itself, so the
start-up costs nothing. Chunks go to the child in order and come back in order; at most
``LOOKAHEAD`` are in flight, so memory stays bounded whatever the file size. An error in the
child comes back to the writer as the same exception; the writer's failure stops the child.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import pickle
import queue
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from socialcredit.ingest.identity import IdentityBook
from socialcredit.ingest.prepare import Invalid, prepare_table
from socialcredit.ingest.records import EVENT_TYPES, PEOPLE_TYPES, Candidates
from socialcredit.ingest.rules import Rules

LOOKAHEAD = 2  # chunks handed to the child and not yet back
POLL_SECONDS = 0.5  # how often a waiting writer checks that the child is still alive
STOP_SECONDS = 10.0


def _write_table(table: pa.Table, path: Path) -> str:
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)
    return str(path)


def _read_table(path: str) -> pa.Table:
    """A table written by ``_write_table``, memory-mapped (no copy); the file is removed."""
    table = pa.ipc.open_file(pa.memory_map(path)).read_all()
    os.unlink(path)
    return table


def _serve(
    tasks: Any, results: Any, ready: Any, rules: Rules, today: dt.date, image: bool, folder: str
) -> None:
    """The child's loop: chunk tables in, (Invalid, Candidates) out, until None."""
    book = IdentityBook(today)
    ready.set()
    while (task := tasks.get()) is not None:
        number, path, row_no = task
        try:
            invalid, cand = prepare_table(
                _read_table(path), row_no, rules, today, book, image=image
            )
            results.put(("ok", (invalid, _sent(cand, Path(folder), number))))
        except BaseException as exc:  # every failure goes back to the writer
            results.put(("error", _portable(exc)))
            return


# Chunks and candidates travel as files in the run's folder (on /dev/shm where there is one):
# the arrays are written once and memory-mapped by the reader, not pickled through a pipe.
Sent = tuple[NDArray[np.intp], NDArray[np.int64], str, str | None]


def _sent(cand: Candidates, folder: Path, number: int) -> Sent:
    table = pa.Table.from_arrays(
        [*cand.events.columns, *cand.people.columns],
        names=[*cand.events.column_names, *cand.people.column_names],
    )
    image = None
    if cand.image is not None:
        image = str(folder / f"{number}.sqlite")
        Path(image).write_bytes(cand.image)
    return cand.positions, cand.row_no, _write_table(table, folder / f"{number}.out"), image


def _received(sent: Sent) -> Candidates:
    positions, row_no, path, image_path = sent
    table = _read_table(path)
    image = None
    if image_path is not None:
        image = Path(image_path).read_bytes()
        os.unlink(image_path)
    events = table.select([name for name in table.column_names if name in EVENT_TYPES])
    return Candidates(positions, row_no, events, table.select(list(PEOPLE_TYPES)), image)


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else a RuntimeError saying what it was;
    the child's traceback is attached as a note either way."""
    exc.add_note("in the ingestion worker:\n" + "".join(traceback.format_exception(exc)))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # one that cannot travel is described instead
        plain = RuntimeError(f"{type(exc).__name__}: {exc}")
        for note in getattr(exc, "__notes__", []):
            plain.add_note(note)
        return plain
    return exc


class Worker:
    """The writer's handle on the child process (a context manager: leaving it stops the
    child, at once if the run failed)."""

    def __init__(self, rules: Rules, today: dt.date, *, image: bool) -> None:
        ctx = multiprocessing.get_context("spawn")
        shm = Path("/dev/shm")
        self._folder = Path(
            tempfile.mkdtemp(prefix="socialcredit-ingest-", dir=shm if shm.is_dir() else None)
        )
        self._sent = 0
        self._tasks = ctx.Queue()
        self._results = ctx.Queue()
        self._ready = ctx.Event()
        self._process = ctx.Process(
            target=_serve,
            args=(self._tasks, self._results, self._ready, rules, today, image, str(self._folder)),
            name="socialcredit-ingest-worker",
            daemon=True,
        )
        self._process.start()
        self.in_flight = 0

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        self.stop(failed=kind is not None)

    def ready(self) -> bool:
        return bool(self._ready.is_set())

    def send(self, table: pa.Table, row_no: NDArray[np.int64]) -> None:
        self._sent += 1
        path = _write_table(table, self._folder / f"{self._sent}.in")
        self._tasks.put((self._sent, path, row_no))
        self.in_flight += 1

    def has_result(self) -> bool:
        return not self._results.empty()

    def receive(self) -> tuple[Invalid, Candidates]:
        """The next prepared chunk, in the order sent."""
        while True:
            try:
                status, payload = self._results.get(timeout=POLL_SECONDS)
                break
            except queue.Empty:
                if not self._process.is_alive():
                    raise RuntimeError(
                        f"the ingestion worker stopped (exit code {self._process.exitcode})"
                    ) from None
        self.in_flight -= 1
        if status == "error":
            raise payload
        invalid, sent = payload
        return invalid, _received(sent)

    def stop(self, *, failed: bool) -> None:
        if not failed and self._process.is_alive():
            self._tasks.put(None)
            self._process.join(STOP_SECONDS)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(STOP_SECONDS)
        for channel in (self._tasks, self._results):
            channel.close()
            channel.cancel_join_thread()  # data the child will never read must not block exit
        shutil.rmtree(self._folder, ignore_errors=True)
