"""The whole chain through the real CLI, as the README's first command runs it, on both stores:
synthesise -> init -> ingest every furnisher file -> derive -> report / check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def demo(run, db_url: str, tmp_path: Path) -> dict:  # type: ignore[no-untyped-def, type-arg]
    result = run(
        "demo",
        "--persons",
        "600",
        "--orgs",
        "60",
        "--seed",
        "7",
        "--dir",
        str(tmp_path / "demo"),
        "--db",
        db_url,
        "--no-serve",
        "--json",
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_demo_catches_every_bad_row_and_loses_nothing(demo: dict) -> None:  # type: ignore[type-arg]
    ingest = demo["ingest"]
    assert ingest["read"] == ingest["accepted"] + ingest["quarantined"] + ingest["duplicates"]
    assert ingest["read"] == sum(f["rows"] for f in demo["files"])
    truth = demo["truth"]
    assert truth["bad_rows"] > 0
    assert truth["caught_with_expected_reason"] == truth["bad_rows"]
    assert truth["missed"] == truth["good_rows_rejected"] == truth["caught_with_other_reason"] == 0
    assert demo["derive"]["decisions"] > 0 and demo["derive"]["lists"]["court_defaulters"] > 0


def test_demo_examples_answer(run, demo: dict, db_url: str) -> None:  # type: ignore[no-untyped-def, type-arg]
    by_why = {e["why"].split(" (")[0]: e for e in demo["examples"]}
    listed = next(e for e in demo["examples"] if e["why"].startswith("a person on the court"))
    report = json.loads(run("report", listed["subject_id"], "--db", db_url, "--json").stdout)
    assert any(e["list"] == "court_defaulters" for e in report["list_entries"])
    flight = json.loads(
        run("check", listed["subject_id"], "flight", "--db", db_url, "--json").stdout
    )
    assert flight["restricted"] is True and flight["known"] is True
    for example in demo["examples"]:
        if example["command"] != "check":
            continue
        answer = json.loads(
            run("check", example["subject_id"], example["measure"], "--db", db_url, "--json").stdout
        )
        expected = not example["why"].startswith("same name")
        assert answer["restricted"] is expected, (by_why, answer)


def test_the_printed_commands_run_as_printed(tmp_path: Path) -> None:
    """``scripts/demo`` runs ``.venv/bin/socialcredit`` from the checkout, with the environment
    not on PATH: the commands it prints must run when pasted there, as they are."""
    program = Path(sys.prefix) / "bin" / "socialcredit"
    checkout = Path(sys.prefix).parent
    env = {k: v for k, v in os.environ.items() if k != "SOCIALCREDIT_DB"}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != program.parent
    )
    small = ["--persons", "600", "--orgs", "60", "--seed", "7", "--no-serve", "--json"]
    demo = subprocess.run(
        [str(program), "demo", "--dir", str(tmp_path / "demo"), *small],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    commands = json.loads(demo.stdout)["commands"]
    assert len(commands) >= 2
    for line in commands:
        assert line.startswith(f"{program.relative_to(checkout)} "), line
        pasted = subprocess.run(line, shell=True, cwd=checkout, env=env, capture_output=True)
        assert pasted.returncode == 0, (line, pasted.stderr)


def test_demo_bands_run_from_best_to_worst(demo: dict) -> None:  # type: ignore[type-arg]
    """As the shipped policy ranks them, a new-subject band (tax grade M) between B and C."""
    from socialcredit.demo import bands_best_first
    from socialcredit.policy.load import load_default

    ranked = {r.code: bands_best_first(r) for r in load_default().policy.ratings}
    assert ranked == {
        "person_score": ["AAA", "AA", "A", "B", "C", "D"],
        "org_grade": ["A", "B", "M", "C", "D"],
    }
    for rating, by_band in demo["bands"].items():
        shown = list(by_band)
        assert shown == [band for band in ranked[rating] if band in shown], (rating, shown)
