"""The whole chain through the real CLI, as the README's first command runs it, on both stores:
synthesise -> init -> ingest every furnisher file -> derive -> report / check."""

from __future__ import annotations

import json
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
