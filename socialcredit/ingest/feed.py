"""The order of work in a run: chunks are written strictly in input order, prepared anywhere.

Each chunk read goes to the reading worker if it has room (fewer than ``LOOKAHEAD`` chunks in
hand), so that it always has work; otherwise the writer writes the chunk at the head if it is
ready, else prepares the new chunk itself (while the worker starts up, or when it is behind),
else waits. Chunks read and not yet written are at most ``QUEUED``, so memory stays bounded.

The ledger rules look at earlier chunks through the ledger, so the writing order is what makes
a run's outcome independent of who prepared which chunk.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from socialcredit.ingest.chunk import Chunk
from socialcredit.ingest.identity import IdentityBook
from socialcredit.ingest.prepare import Prepared, prepare
from socialcredit.ingest.records import Stage
from socialcredit.ingest.rules import Rules
from socialcredit.ingest.summary import Counts
from socialcredit.ingest.worker import LOOKAHEAD, Worker

QUEUED = LOOKAHEAD + 2  # chunks read and not yet written, at most
Write = Callable[[Prepared, str, Counts], None]


@dataclass
class _Slot:
    chunk: Chunk
    source: str
    counts: Counts
    prepared: Prepared | None  # None: the worker has it still


class Feed:
    """The chunks of one run on their way to ``write`` (see the module docstring)."""

    def __init__(
        self,
        write: Write,
        rules: Rules,
        today: dt.date,
        worker: Worker | None,
        *,
        stage: Stage | None,
    ) -> None:
        self.write = write
        self.rules = rules
        self.today = today
        self.book = IdentityBook(today)
        self.worker = worker
        self.stage = stage  # for the chunks the writer prepares itself
        self.slots: deque[_Slot] = deque()  # read, not yet written, in input order
        self.at_worker: deque[_Slot] = deque()  # those the worker is preparing, in order

    def add(self, chunk: Chunk, source: str, counts: Counts) -> None:
        """Take on a chunk just read: hand it to the worker if it has room; else write what is
        ready; else prepare it here if the queue has room; else wait for the worker."""
        worker = self.worker
        while True:
            self._collect(wait=False)
            if worker is not None and worker.ready() and worker.in_flight < LOOKAHEAD:
                worker.send(chunk.table, chunk.row_no)
                slot = _Slot(chunk, source, counts, None)
                self.at_worker.append(slot)
                self.slots.append(slot)
                return
            if self.slots and self.slots[0].prepared is not None:
                self._write_head()
            elif len(self.slots) < QUEUED:
                here = prepare(chunk, self.rules, self.today, self.book, stage=self.stage)
                self.slots.append(_Slot(chunk, source, counts, here))
                return
            else:
                self._collect(wait=True)

    def drain(self) -> None:
        """Write every chunk read so far (waiting for the worker where needed)."""
        while self.slots:
            if self.slots[0].prepared is None:
                self._collect(wait=True)
            else:
                self._write_head()

    def _collect(self, *, wait: bool) -> None:
        """Take the chunks the worker has finished (with ``wait``, at least the next one)."""
        worker = self.worker
        while self.at_worker and worker is not None and (wait or worker.has_result()):
            slot = self.at_worker.popleft()
            slot.prepared = Prepared(slot.chunk, *worker.receive())
            wait = False

    def _write_head(self) -> None:
        slot = self.slots.popleft()
        assert slot.prepared is not None
        self.write(slot.prepared, slot.source, slot.counts)
