"""The order of work in a run: chunks are written strictly in input order, prepared anywhere.

Without a reading worker every chunk is prepared and written in turn. With one, each chunk read
goes to the worker if it has room (fewer than ``LOOKAHEAD`` chunks in hand), else the writer
prepares it itself; prepared chunks wait in order for the ones before them, at most ``QUEUED``
of them, and the writer writes whatever is ready at the head. So neither process waits for the
other while there is work (in particular while the worker starts up), and memory stays bounded.

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
    prepared: Prepared | None  # None: the worker has it


class Feed:
    def __init__(
        self, write: Write, rules: Rules, today: dt.date, worker: Worker | None, *, image: bool
    ) -> None:
        self.write = write
        self.rules = rules
        self.today = today
        self.book = IdentityBook(today)
        self.worker = worker
        self.image = image
        self.slots: deque[_Slot] = deque()

    def add(self, chunk: Chunk, source: str, counts: Counts) -> None:
        worker = self.worker
        if worker is not None and worker.ready() and worker.in_flight < LOOKAHEAD:
            worker.send(chunk.table, chunk.row_no)
            self.slots.append(_Slot(chunk, source, counts, None))
        else:
            here = prepare(chunk, self.rules, self.today, self.book, image=self.image)
            self.slots.append(_Slot(chunk, source, counts, here))
        self._write(keep=QUEUED - 1)

    def drain(self) -> None:
        """Write every chunk read so far (waiting for the worker where needed)."""
        self._write(keep=0)

    def _write(self, *, keep: int) -> None:
        """Write the prepared chunks at the head; wait for the worker while more than ``keep``
        chunks are queued."""
        while self.slots:
            slot = self.slots[0]
            if slot.prepared is None:
                assert self.worker is not None
                if len(self.slots) <= keep and not self.worker.has_result():
                    return
                slot.prepared = Prepared(slot.chunk, *self.worker.receive())
            self.slots.popleft()
            self.write(slot.prepared, slot.source, slot.counts)
