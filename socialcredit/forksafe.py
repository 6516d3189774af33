"""Forking a process whose own background threads use SQLite, safely.

A full derive on a SQLite store runs in a forked child (``derive/worker.py``). A fork copies
every lock as it is at that instant; if another thread of the parent was inside SQLite (which
takes its own global mutexes, for memory among others), the child's copy of that mutex stays
locked forever and the child's first SQLite call hangs. The service's background threads (the
store watcher, the audit writer) therefore do their SQLite work holding ``sqlite_work()``, and
every fork waits for it: a fork never happens while one of them is inside SQLite.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.RLock()


@contextmanager
def sqlite_work() -> Iterator[None]:
    """Hold this around a background thread's SQLite calls."""
    lock = _lock
    with lock:
        yield


def _before_fork() -> None:
    _lock.acquire()


def _after_fork_in_parent() -> None:
    _lock.release()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()  # the child's only thread is the one that forked: start afresh


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)
