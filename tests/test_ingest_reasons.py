"""Every reason code once, on the row that has it, and counts that add up (per file, per batch,
in the store)."""

from __future__ import annotations

import csv
import io
import json
import shlex
from pathlib import Path

from tests.ingest_support import FIXTURES, ingest, init, query, rejected, unfolded

BINDING_CODES = {
    "id_missing",
    "id_invalid",
    "id_legacy",
    "name_missing",
    "field_missing",
    "category_unknown",
    "furnisher_not_authorised",
    "subject_kind_mismatch",
    "date_invalid",
    "date_future",
    "amount_invalid",
    "action_invalid",
    "minor_subject",
    "record_conflict",
    "record_unknown",
    "legal_rep_invalid",
    "extension_invalid",
    "ground_invalid",
}
# reasons_court.csv: data row -> (reason, field); row 1 and 22 are good, row 21 repeats row 1.
COURT_ROWS = {
    2: ("field_missing", "record_id"),
    3: ("field_invalid", "document_no"),
    4: ("action_invalid", "action"),
    5: ("category_unknown", "category"),
    6: ("furnisher_not_authorised", "category"),
    7: ("date_invalid", "decided_on"),
    8: ("date_future", "decided_on"),
    9: ("amount_invalid", "amount"),
    10: ("extension_invalid", "extension_months"),
    11: ("ground_invalid", "ground"),
    12: ("legal_rep_invalid", "legal_rep_id"),
    13: ("name_missing", "subject_name"),
    14: ("id_missing", "subject_id"),
    15: ("id_legacy", "subject_id"),
    16: ("id_invalid", "subject_id"),
    17: ("minor_subject", "subject_id"),
    18: ("record_conflict", "record_id"),
    19: ("record_unknown", "record_id"),
    20: ("row_unreadable", "row"),
}
MARKET_ROWS = {2: ("subject_kind_mismatch", "subject_id"), 3: ("legal_rep_invalid", "legal_rep_id")}


def _check_invariant(figures: dict[str, int]) -> None:
    assert figures["read"] == figures["accepted"] + figures["quarantined"] + figures["duplicates"]
    assert figures["quarantined"] == sum(figures["reasons"].values())  # type: ignore[arg-type]


def test_every_reason_code_on_its_row(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    court = ingest(run, db_url, FIXTURES / "reasons_court.csv", furnisher="court")
    market = ingest(run, db_url, FIXTURES / "reasons_market.csv", furnisher="market")
    assert (court["read"], court["accepted"], court["duplicates"]) == (22, 2, 1)
    assert (market["read"], market["accepted"]) == (3, 1)
    _check_invariant(court)
    _check_invariant(market)
    assert court["review"] == 3  # id_missing, id_legacy, id_invalid

    report = rejected(run, db_url, tmp_path / "court.csv", batch=court["batch_id"])
    header = ["file", "row", "record_id", "field", "value", "reason_code", "reason"]
    assert list(report[0]) == header
    assert {int(r["row"]): (r["reason_code"], r["field"]) for r in report} == COURT_ROWS
    # The furnisher's own record id, as the row gave it (none given: empty).
    record_ids = {int(r["row"]): r["record_id"] for r in report}
    assert (record_ids[2], record_ids[3]) == ("", "R-03")
    # To standard output when no file is named: the same report, without the file's BOM.
    piped = run("quarantine", "export", "--db", db_url, "--batch", str(court["batch_id"]))
    assert list(csv.DictReader(io.StringIO(piped.stdout))) == report
    assert all(r["file"] == str(FIXTURES / "reasons_court.csv") and r["reason"] for r in report)
    values = {int(r["row"]): r["value"] for r in report}
    assert (values[7], values[9], values[15]) == ("2023-02-29", "12,000", "110101800101001")
    report = rejected(run, db_url, tmp_path / "market.csv", batch=market["batch_id"])
    assert {int(r["row"]): (r["reason_code"], r["field"]) for r in report} == MARKET_ROWS

    seen = {code for code, _ in [*COURT_ROWS.values(), *MARKET_ROWS.values()]}
    assert seen == BINDING_CODES | {"field_invalid", "row_unreadable"}
    # Sent again by hand: the summary says where its rejected and held rows are, naming the
    # store as given but never its password (PostgreSQL here trusts any).
    given = db_url.replace("://postgres@", "://postgres:s3cret@")
    again = run(
        "ingest", str(FIXTURES / "reasons_court.csv"), "--furnisher", "court", "--db", given
    )
    said = " ".join(again.stderr.split())
    shown = shlex.quote(given.replace(":s3cret@", ":***@"))
    assert f"quarantine export --batch {again_batch(db_url)} --db {shown}" in said
    assert f"review list --db {shown}" in said and "s3cret" not in said
    # Only the good row and its fulfilment reached the ledger.
    assert query(
        db_url, "select record_id, action from events where furnisher = 'court' order by seq"
    ) == [("R-01", "file"), ("R-01", "fulfil")]


def test_counts_per_file_and_per_batch_add_up(run, db_url: str) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    files = [FIXTURES / "court_good.csv", FIXTURES / "reasons_court.csv"]
    summary = ingest(run, db_url, *files, furnisher="court")
    assert [f["file"] for f in summary["files"]] == [str(f) for f in files]
    for figures in (summary, *summary["files"]):
        _check_invariant(figures)
    for name in ("read", "accepted", "quarantined", "duplicates", "review"):
        assert summary[name] == sum(f[name] for f in summary["files"]), name
    stored = query(
        db_url,
        "select status, read, accepted, quarantined, duplicates, review "
        "from ingest_batches where batch_id = :b",
        b=summary["batch_id"],
    )
    assert stored == [
        (
            "done",
            summary["read"],
            summary["accepted"],
            summary["quarantined"],
            summary["duplicates"],
            summary["review"],
        )
    ]
    assert query(db_url, "select count(*) from events") == [(summary["accepted"],)]
    assert query(db_url, "select count(*) from quarantine") == [(summary["quarantined"],)]
    assert query(db_url, "select count(*) from review_queue") == [(summary["review"],)]


def test_the_rejection_report_refuses_what_it_cannot_do(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An unknown batch, a folder that does not exist, a directory as the file: each a one-line
    error naming it, never a traceback, and no empty report left behind."""
    init(db_url)
    summary = ingest(run, db_url, FIXTURES / "reasons_court.csv", furnisher="court")
    assert len(rejected(run, db_url, tmp_path / "ok.csv", batch=summary["batch_id"])) > 0
    cases = [
        (["--out", str(tmp_path / "r.csv"), "--batch", "999"], "noingestbatch999"),
        (["--out", str(tmp_path / "absent" / "r.csv")], f"{tmp_path}/absent/r.csv:Nosuchfile"),
        (["--out", str(tmp_path)], f"{tmp_path}:Isadirectory"),
        (["--out", "/dev/full"], "/dev/full:Nospaceleftondevice"),
    ]
    for args, expected in cases:
        result = run("quarantine", "export", "--db", db_url, *args, ok=False)
        assert result.exit_code == 2, args
        assert expected in unfolded(result.stderr), (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "r.csv").exists()


def test_control_characters_are_refused_and_shown_escaped(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """No record holds a control character (PostgreSQL could not store a NUL, SQLite would):
    the row is quarantined on either store, its value shown escaped; tabs and line breaks in a
    note are text like any other."""
    init(db_url)
    good = {
        "subject_id": "220524196903020333",
        "subject_name": "王喜民",
        "category": "court.enforcement_case",
        "decided_on": "2024-04-12",
        "amount": "1200",
    }
    rows = [
        {**good, "record_id": "K-1", "document_no": "(2024)吉1号", "note": "bad\x00note"},
        {**good, "record_id": "K-2", "document_no": "(2024)吉2号", "subject_name": "王\x1b喜民"},
        {**good, "record_id": "K-3", "document_no": "(2024)吉\x7f3号"},
        {**good, "record_id": "K-4", "document_no": "(2024)吉4号", "note": "a\tb\nc\r\nd"},
        {**good, "record_id": "K-5", "document_no": "(2024)吉5号", "note": "\\u0000 or \x00"},
    ]
    path = tmp_path / "control.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    summary = ingest(run, db_url, path, furnisher="court")
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (5, 1, 4)
    assert summary["reasons"] == {"field_invalid": 4}
    report = rejected(run, db_url, tmp_path / "rejected.csv", batch=summary["batch_id"])
    assert [(r["row"], r["field"], r["value"]) for r in report] == [
        ("1", "note", "bad\\u0000note"),
        ("2", "subject_name", "王\\u001b喜民"),
        ("3", "document_no", "(2024)吉\\u007f3号"),
        ("5", "note", "\\\\u0000 or \\u0000"),  # furnished text told from an escape
    ]
    assert "U+0000" in report[0]["reason"] and "U+007F" in report[2]["reason"]
    assert query(db_url, "select record_id, note from events") == [("K-4", "a\tb\nc\r\nd")]


def again_batch(db_url: str) -> int:
    """The newest ingest batch."""
    return int(query(db_url, "select max(batch_id) from ingest_batches")[0][0])
