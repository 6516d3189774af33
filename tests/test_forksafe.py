"""A derive worker is never forked while one of the service's threads is inside SQLite: the
fork waits for ``sqlite_work`` (a child forked mid-call would inherit SQLite's mutex locked and
hang on its first SQLite call)."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

from socialcredit.derive.worker import run_in_child
from socialcredit.forksafe import sqlite_work

HOLD_SECONDS = 0.5


def _child_started(*, progress: Any) -> float:
    with sqlite3.connect(":memory:") as db:  # the first SQLite call in the child
        db.execute("SELECT 1").fetchone()
    return time.time()


def test_a_fork_waits_for_a_thread_inside_sqlite() -> None:
    entered, released = threading.Event(), []

    def busy() -> None:
        with sqlite_work():
            entered.set()
            time.sleep(HOLD_SECONDS)
            released.append(time.time())

    thread = threading.Thread(target=busy)
    thread.start()
    entered.wait()
    started = run_in_child(_child_started, progress=lambda _: None)
    thread.join()
    assert started >= released[0]
    with sqlite_work():  # the parent's lock is free again after the fork
        pass
