"""Ingesting a synthetic country: every deliberately bad row is quarantined with the reason code
the generator planted, at its row, and nothing else is; the re-sent rows are the duplicates."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from socialcredit.cli import app
from tests.ingest_support import ingest, init, rejected


@pytest.fixture(scope="module")
def country(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("country")
    result = CliRunner().invoke(
        app,
        [
            "synth",
            "--out",
            str(out),
            "--persons",
            "100",
            "--orgs",
            "30",
            "--bad-share",
            "0.1",
            "--seed",
            "7",
        ],
    )
    assert result.exit_code == 0, result.stderr
    return out


def test_the_planted_defects_are_found(run, db_url: str, country: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    manifest = json.loads((country / "manifest.json").read_text())
    duplicates = 0
    for spec in manifest["files"]:
        summary = ingest(run, db_url, country / spec["path"], furnisher=spec["furnisher"])
        assert summary["read"] == spec["rows"], spec["path"]
        duplicates += summary["duplicates"]
    with open(country / manifest["truth"], encoding="utf-8", newline="") as handle:
        truth = {(r["file"], int(r["row_no"])): r["reason_code"] for r in csv.DictReader(handle)}
    found = {
        (Path(r["file"]).name, int(r["row"])): r["reason_code"]
        for r in rejected(run, db_url, tmp_path / "q.csv")
    }
    assert len(truth) > 50
    assert found == truth
    assert duplicates == manifest["duplicates"]
