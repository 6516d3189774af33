"""Run a derivation step in a child process, forwarding its progress and its result.

Why: DuckDB's SQLite scanner links its own copy of SQLite. Two SQLite libraries in one process
do not see each other's POSIX locks (locks are per process), so when one closes the file it can
drop the other's locks or reset the WAL index under it ("disk I/O error", or worse). A full run
on a SQLite store therefore attaches it from a child process, which locks like any other
process. The child is forked where possible (no re-import of the stack), spawned elsewhere.
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_module
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import socialcredit.forksafe  # noqa: F401  (registers its at-fork hooks on import)
from socialcredit import errors

# Error classes whose constructor takes just the message, so they can cross back as themselves.
_PORTABLE = {
    cls.__name__: cls
    for cls in (
        errors.ConfigError,
        errors.StoreError,
        errors.NotFound,
        errors.ValidationFailed,
        errors.Conflict,
    )
}


def _child(outbox: Any, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result = func(*args, progress=lambda message: outbox.put(("progress", message)))
        outbox.put(("done", result))
    except errors.SocialCreditError as exc:
        outbox.put(("error", type(exc).__name__, exc.message))
    except BaseException as exc:  # reported to the parent, which raises
        outbox.put(
            ("error", type(exc).__name__, f"{exc}\n{''.join(traceback.format_exception(exc)[-3:])}")
        )


def _context() -> Any:
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


def run_in_child(func: Callable[..., Any], *args: Any, progress: Callable[[str], None]) -> Any:
    """``func(*args, progress=...)`` in a child process; its return value must pickle."""
    ctx = _context()
    outbox = ctx.Queue()
    child = ctx.Process(target=_child, args=(outbox, func, args), daemon=True)
    with warnings.catch_warnings():
        # Python 3.12+ warns when forking a process that has threads (DuckDB's pool counts).
        # The child only opens fresh DuckDB and SQLite connections; our own threads that use
        # SQLite hold ``forksafe.sqlite_work`` while they do, and a fork waits for it.
        warnings.simplefilter("ignore", DeprecationWarning)
        child.start()
    try:
        while True:
            try:
                message = outbox.get(timeout=0.5)
            except queue_module.Empty:
                if not child.is_alive():
                    raise errors.StoreError(
                        f"the derive worker stopped unexpectedly (exit code {child.exitcode})"
                    ) from None
                continue
            if message[0] == "progress":
                progress(message[1])
            elif message[0] == "done":
                return message[1]
            else:
                kind, text = message[1], message[2]
                raise _PORTABLE.get(kind, errors.StoreError)(
                    text if kind in _PORTABLE else f"derive worker failed ({kind}): {text}"
                )
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
        outbox.close()
