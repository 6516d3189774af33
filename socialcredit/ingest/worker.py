"""The reading worker: a child process that prepares chunks while the writer stores earlier ones.

Preparing a chunk (validation, candidate events with keys, the staged copy of them, which the
child writes with DuckDB: ``stage_duckdb``) needs no store, and is about half of the work of a
run; the other half (judging against the ledger, appending, registering subjects,
quarantining) needs the run's transaction. With one process
per half, both cores work. A process, not a thread: the writer's driver calls hand the GIL
back and forth on every row, and a thread beside them slows both down.

The child is a new interpreter (``python -m socialcredit.ingest.worker``; forking a process
whose Arrow thread pools run is unsafe, and this does not re-run the caller's main module as
``multiprocessing`` would). It reports when it is ready; until then the writer prepares chunks
itself, so the start-up costs little. The two talk over a socket pair in small messages: the
arrays travel as Arrow files in the run's folder (on /dev/shm when it has room), written
once and memory-mapped by the reader. Chunks come back in the order sent; at most ``LOOKAHEAD``
are at the child, so memory stays bounded. An error in the child comes back to the writer as
the same exception; the writer's failure, or its end, stops the child.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.abc
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tempfile
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from socialcredit.ingest.identity import IdentityBook
from socialcredit.ingest.prepare import Invalid, prepare_table
from socialcredit.ingest.records import EVENT_TYPES, PEOPLE_TYPES, Candidates
from socialcredit.ingest.rules import Rules
from socialcredit.ingest.stage_duckdb import DuckDBStager

LOOKAHEAD = 4  # chunks handed to the child and not yet back (one in hand, the rest waiting)
POLL_SECONDS = 0.5  # how often a waiting writer checks that the child is still alive
STOP_SECONDS = 10.0
ROW_NO, POSITION = "__row_no", "__position"  # extra columns of the files exchanged
SHM, SHM_MIN_FREE = "/dev/shm", 1 << 30  # a few chunks in flight take some 100-300 MB


def _write_table(table: pa.Table, path: Path) -> str:
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)
    return str(path)


def _read_table(path: str) -> pa.Table:
    """A table written by ``_write_table``, memory-mapped (no copy); the file is removed."""
    table = pa.ipc.open_file(pa.memory_map(path)).read_all()
    os.unlink(path)
    return table


def _numbers(table: pa.Table, name: str) -> NDArray[np.int64]:
    return np.asarray(table.column(name).to_numpy(), dtype=np.int64)


# -- the child --------------------------------------------------------------------------------


def _serve(conn: Connection) -> None:
    """The child's loop: the run's rules first, then chunk files in, prepared chunks out, until
    None (or the writer is gone)."""
    rules, today, image, folder = conn.recv()
    book = IdentityBook(today)
    stage = DuckDBStager(Path(folder)) if image else None
    conn.send("ready")
    try:
        while True:
            try:
                task = conn.recv()
            except EOFError:
                return
            if task is None:
                return
            number, path = task
            try:
                table = _read_table(path)
                row_no = _numbers(table, ROW_NO)
                invalid, cand = prepare_table(
                    table.drop_columns([ROW_NO]),
                    row_no,
                    rules,
                    today,
                    book,
                    stage=stage,
                )
                conn.send(("ok", invalid, _sent(cand, Path(folder), number)))
            except BaseException as exc:  # every failure goes back to the writer
                conn.send(("error", _portable(exc), None))
                return
    finally:
        if stage is not None:
            stage.close()


Sent = tuple[str, str | None]  # the candidates' file, the stage image's file


def _sent(cand: Candidates, folder: Path, number: int) -> Sent:
    columns = {**dict(zip(cand.events.column_names, cand.events.columns, strict=True))}
    columns.update(zip(cand.people.column_names, cand.people.columns, strict=True))
    columns[POSITION] = pa.array(cand.positions, type=pa.int64())
    columns[ROW_NO] = pa.array(cand.row_no, type=pa.int64())
    image = None
    if cand.image is not None:
        image = str(folder / f"{number}.sqlite")
        Path(image).write_bytes(cand.image)
    return _write_table(pa.table(columns), folder / f"{number}.out"), image


def _received(sent: Sent) -> Candidates:
    path, image_path = sent
    table = _read_table(path)
    image = None
    if image_path is not None:
        image = Path(image_path).read_bytes()
        os.unlink(image_path)
    events = table.select([name for name in table.column_names if name in EVENT_TYPES])
    people = table.select(list(PEOPLE_TYPES))
    positions = _numbers(table, POSITION).astype(np.intp)
    return Candidates(positions, _numbers(table, ROW_NO), events, people, image)


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


# -- the writer's side ------------------------------------------------------------------------


def _exchange_base() -> str | None:
    """/dev/shm when it has room (memory; a container's may be small), else the temp folder."""
    try:
        if shutil.disk_usage(SHM).free >= SHM_MIN_FREE:
            return SHM
    except OSError:  # no /dev/shm here
        pass
    return None


class Worker:
    """The writer's handle on the child process (a context manager: leaving it stops the
    child, at once if the run failed)."""

    def __init__(self, rules: Rules, today: dt.date, *, image: bool) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="socialcredit-ingest-", dir=_exchange_base()))
        ours, theirs = socket.socketpair()
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        self._conn = Connection(ours.detach())
        self._conn.send((rules, today, image, str(self._folder)))
        self._ready = False
        self._sent = 0
        self.in_flight = 0

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        self.stop(failed=kind is not None)

    def ready(self) -> bool:
        """Whether the child has started (it may never: then the writer does all the work)."""
        if not self._ready and self._process.poll() is None and self._conn.poll(0):
            with contextlib.suppress(EOFError, OSError):  # it stopped: not ready, ever
                self._ready = self._conn.recv() == "ready"
        return self._ready

    def send(self, table: pa.Table, row_no: NDArray[np.int64]) -> None:
        self._sent += 1
        numbered = table.append_column(ROW_NO, pa.array(row_no, type=pa.int64()))
        path = _write_table(numbered, self._folder / f"{self._sent}.in")
        try:
            self._conn.send((self._sent, path))
        except OSError:  # the child is gone
            raise self._stopped() from None
        self.in_flight += 1

    def has_result(self) -> bool:
        return bool(self.in_flight and self._conn.poll(0))

    def receive(self) -> tuple[Invalid, Candidates]:
        """The next prepared chunk, in the order sent."""
        if not self._ready:  # sent before ready() said so: its message comes first
            self._ready = self._next() == "ready"
        status, payload, sent = self._next()
        self.in_flight -= 1
        if status == "error":
            raise payload
        return payload, _received(sent)

    def _next(self) -> Any:
        try:
            while not self._conn.poll(POLL_SECONDS):
                if self._process.poll() is not None:
                    raise EOFError
            return self._conn.recv()
        except (EOFError, OSError):  # the child closed its end: it stopped
            raise self._stopped() from None

    def _stopped(self) -> RuntimeError:
        try:
            code = self._process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            code = self._process.wait()
        return RuntimeError(f"the ingestion worker stopped (exit code {code})")

    def stop(self, *, failed: bool) -> None:
        try:
            if not failed and self._process.poll() is None:
                self._conn.send(None)
                self._process.wait(STOP_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self._process.poll() is None:
                self._process.kill()
                self._process.wait()
            self._conn.close()
            shutil.rmtree(self._folder, ignore_errors=True)


class _WithoutPandas(importlib.abc.MetaPathFinder):
    """The worker never converts to or from pandas, but Arrow's first conversion of Python
    values imports it if it can (a second or more of the worker's start-up): it cannot here."""

    def find_spec(self, name: str, *_: object) -> None:
        if name.partition(".")[0] == "pandas":
            raise ImportError("pandas is not used by the ingestion worker")


def main(argv: list[str]) -> None:
    sys.meta_path.insert(0, _WithoutPandas())
    _serve(Connection(int(argv[1])))


if __name__ == "__main__":
    main(sys.argv)
