"""One derive at a time per store: a full and an incremental run, or two full runs, must not
interleave (a full run swapping in its tables would erase what an incremental run committed
in between, and the runs' high-water marks would then claim work that was lost).

SQLite: an exclusive ``flock`` on ``FILE.derive.lock`` beside the store. PostgreSQL: a
session-level advisory lock held on a connection of its own for the length of the run. A run
that finds the lock taken waits for it (``derive_lock_wait_seconds``), then gives up with a
conflict rather than queue forever behind a run that hangs.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

from socialcredit.errors import Conflict
from socialcredit.store.engine import sqlite_file

# The advisory lock's key in each store database: a fixed number this application owns.
ADVISORY_KEY = 0x1F0C_5E3B_7A2D_4C61
POLL_SECONDS = 0.2

Progress = Callable[[str], None]


def _wait_for(take: Callable[[], bool], wait_seconds: float, progress: Progress) -> None:
    """Call ``take`` until it gets the lock, for up to ``wait_seconds``; then a conflict."""
    deadline = time.monotonic() + wait_seconds
    told = False
    while not take():
        if time.monotonic() >= deadline:
            raise Conflict(
                f"another derive is running on this store (waited {wait_seconds:g} s for it): "
                "try again when it has finished"
            )
        if not told:
            progress("waiting for another derive on this store")
            told = True
        time.sleep(POLL_SECONDS)


@contextmanager
def _file_lock(path: str, wait_seconds: float, progress: Progress) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def take() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    try:
        _wait_for(take, wait_seconds, progress)
        yield  # a forked worker shares the lock; it is released when this descriptor closes
    finally:
        os.close(fd)


@contextmanager
def _advisory_lock(engine: Engine, wait_seconds: float, progress: Progress) -> Iterator[None]:
    with engine.connect() as conn:

        def take() -> bool:
            taken = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar()
            )
            conn.commit()  # the lock is the session's, not the transaction's
            return taken

        _wait_for(take, wait_seconds, progress)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
            conn.commit()


@contextmanager
def derive_lock(engine: Engine, wait_seconds: float, progress: Progress) -> Iterator[None]:
    """Hold the store's derive lock for the block."""
    if engine.dialect.name == "sqlite":
        database = sqlite_file(engine.url.render_as_string(hide_password=False))
        if database is None:
            yield  # an in-memory store has one process by definition
            return
        with _file_lock(f"{database}.derive.lock", wait_seconds, progress):
            yield
    else:
        with _advisory_lock(engine, wait_seconds, progress):
            yield
