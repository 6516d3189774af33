"""The installed ``socialcredit`` program: a script that asks for ``--json`` gets every
failure as JSON on stdout, usage errors Click reports before any command runs included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAM = Path(sys.executable).parent / "socialcredit"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROGRAM), *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("args", "message", "parameter"),
    [
        (("ids", "check", "--json", "--bogus"), "No such option: --bogus", "--bogus"),
        (("derive", "--as-of", "2020-13-01", "--json"), "is not a real date", "--as-of"),
        (("report", "--json"), "Missing argument", "subject_id"),
        # Click knows no command here: the words before the first option name it.
        (("derive", "--json", "--as-of"), "requires an argument", "--as-of"),
    ],
)
def test_usage_errors_are_json_when_json_was_asked_for(
    args: tuple[str, ...], message: str, parameter: str
) -> None:
    done = _run(*args)
    assert done.returncode == 2
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "usage_error"
    assert message in error["message"]
    assert error["details"]["parameter"] == parameter
    assert error["details"]["command"] == "socialcredit " + args[0] + (
        " check" if args[0] == "ids" else ""
    )
    assert "usage_error" in done.stderr and "--help" in done.stderr


def test_without_json_usage_errors_stay_human_and_commands_keep_their_exit_codes() -> None:
    done = _run("ids", "check", "--bogus")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "No such option: --bogus" in done.stderr
    valid = _run("ids", "check", "11010519491231002X", "--json")
    assert valid.returncode == 0
    assert json.loads(valid.stdout)[0]["valid"] is True
    invalid = _run("ids", "check", "110105194912310021", "--json")
    assert invalid.returncode == 1
    assert json.loads(invalid.stdout)[0]["valid"] is False


def test_a_usage_error_is_one_line_of_json() -> None:
    """Click lays out some messages over several lines (the choices of an option)."""
    done = _run("keys", "create", "--json")
    error = json.loads(done.stdout)["error"]
    assert done.returncode == 2 and "\n" not in error["message"] and "\t" not in error["message"]
    assert "furnisher, inquirer" in error["message"]
    assert error["details"] == {"command": "socialcredit keys create", "parameter": "--role"}
