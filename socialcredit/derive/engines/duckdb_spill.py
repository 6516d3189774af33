"""DuckDB's spill directories: one per engine, removed when the engine closes and, if its
process died before that, by the next engine that starts.

A run killed outright (SIGKILL, the kernel's out-of-memory killer) never removes its directory,
and at 100M events one held 32 GB: enough to fail the next large run for want of disk. Each
directory holds a lock file its engine keeps locked while it lives; an engine starting removes
every sibling whose lock it can take. Locks (not process ids) because they work across process
namespaces sharing one temporary directory, and die with their process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import IO

PREFIX = "socialcredit-duckdb-"
LOCK = "owner.lock"


class SpillDirectory:
    """A fresh spill directory, locked by this process until ``close``."""

    def __init__(self, parent: str | None = None) -> None:
        parent = parent or tempfile.gettempdir()
        sweep(parent)
        self.path = tempfile.mkdtemp(prefix=PREFIX, dir=parent)
        self._owner = os.getpid()
        try:
            self._lock = _locked_file(Path(self.path))
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            raise

    def close(self) -> None:
        # A forked child holding a copy of this object must not remove its parent's directory.
        if os.getpid() == self._owner and not self._lock.closed:
            _remove(Path(self.path))
        self._lock.close()


def _remove(directory: Path) -> None:
    """Remove a spill directory, its lock file last: cut short, what is left still carries
    the lock file, so the next sweep finishes the job."""
    for entry in directory.iterdir():
        if entry.name == LOCK:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
    with contextlib.suppress(OSError):
        (directory / LOCK).unlink()
    with contextlib.suppress(OSError):
        directory.rmdir()


def _locked_file(directory: Path) -> IO[str]:
    """The directory's lock file, locked before it appears under its name: a sweeper never
    sees it unlocked while its engine lives."""
    staging = directory / f".{LOCK}.{os.getpid()}"
    handle = staging.open("w")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    staging.rename(directory / LOCK)
    return handle


def _ours(directory: Path) -> bool:
    """A real directory of this user's (a shared temporary directory holds others')."""
    status = directory.lstat()
    return stat.S_ISDIR(status.st_mode) and status.st_uid == os.getuid()


def sweep(parent: str) -> list[str]:
    """Remove the spill directories under ``parent`` whose engines are gone; return them.
    A directory without a lock file (still being created, or left by a release before this
    one), another user's, or a symbolic link is left alone."""
    removed = []
    for directory in sorted(Path(parent).glob(f"{PREFIX}*")):
        try:
            if not _ours(directory):
                continue
            fd = os.open(directory / LOCK, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its engine is alive
        else:
            with contextlib.suppress(OSError):
                _remove(directory)
            removed.append(str(directory))
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
    return removed
