"""DuckDB's spill directories: a derive removes those of engines whose process died, and leaves
those of live engines, and anything not plainly one of its own, alone."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from derive_support import add_events, event, make_store, person

from socialcredit.derive.engines.duckdb_spill import LOCK, PREFIX, SpillDirectory, sweep

AS_OF = dt.date(2025, 6, 1)

# A process that opens a spill directory, fills it a little, and is killed outright (as the
# kernel's out-of-memory killer would), so that it never closes it.
KILLED = """
import os, signal, sys
from socialcredit.derive.engines.duckdb_spill import SpillDirectory
spill = SpillDirectory(sys.argv[1])
with open(os.path.join(spill.path, "duckdb_temp_storage-0.tmp"), "wb") as f:
    f.write(b"x" * 4096)
print(spill.path, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_derive_sweeps_spill_directories_of_dead_engines_only(
    db_url: str, run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    killed = subprocess.run(
        [sys.executable, "-c", KILLED, str(temp)], capture_output=True, text=True, check=False
    )
    dead = Path(killed.stdout.strip())
    assert killed.returncode == -9 and (dead / LOCK).exists()

    alive = temp / f"{PREFIX}alive"  # an engine of another process, still running
    alive.mkdir()
    holder = (alive / LOCK).open("w")
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    legacy = temp / f"{PREFIX}legacy"  # no lock file: left alone
    legacy.mkdir()
    # A symbolic link under the prefix, to a directory whose lock nobody holds: not followed.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / LOCK).touch()
    link = temp / f"{PREFIX}link"
    link.symlink_to(elsewhere, target_is_directory=True)

    make_store(db_url)
    add_events(db_url, [event("court", "C-1", person(1), "court.dishonest_defaulter", AS_OF)])
    try:
        run("derive", "--db", db_url, "--as-of", AS_OF.isoformat(), "--full")
    finally:
        holder.close()

    # The dead engine's directory is gone; the live one's and the unlocked one stay; the run's
    # own directory went when its engine closed.
    assert sorted(os.listdir(temp)) == sorted([alive.name, legacy.name, link.name])
    assert (alive / LOCK).exists() and (elsewhere / LOCK).exists()


def _dead(parent: Path, name: str) -> Path:
    """A spill directory whose engine is gone: its lock file, unlocked, and some data."""
    directory = parent / f"{PREFIX}{name}"
    directory.mkdir()
    (directory / LOCK).touch()
    (directory / "duckdb_temp_block-1.block").write_bytes(b"x" * 4096)
    return directory


def test_sweep_skips_links_and_other_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = _dead(tmp_path, "target")
    link = tmp_path / f"{PREFIX}link"
    link.symlink_to(target, target_is_directory=True)
    monkeypatch.setattr(os, "getuid", lambda: os.geteuid() + 1)  # as if another user's
    assert sweep(str(tmp_path)) == []
    monkeypatch.undo()
    assert sweep(str(tmp_path)) == [str(target)]  # the link is never followed
    assert not target.exists() and link.is_symlink()


def test_a_forked_child_closing_its_copy_leaves_the_parent_directory(tmp_path: Path) -> None:
    spill = SpillDirectory(str(tmp_path))
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        spill.close()
        os._exit(0)
    os.waitpid(child, 0)
    assert (Path(spill.path) / LOCK).exists()
    assert sweep(str(tmp_path)) == []  # still locked by this process
    spill.close()
    assert not Path(spill.path).exists()
