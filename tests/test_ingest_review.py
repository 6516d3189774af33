"""Identity safety: a row without a valid identifier restricts no one; it waits in the review
queue with the registered subjects of the same name (and sound) until a human decides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ingest_support import FIXTURES, ingest, init, query, unfolded, write_csv

HEADER = ["record_id", "subject_id", "subject_name", "category", "decided_on", "document_no"]
WANG_DEHUI, WANG_HUINAN = "220183196205180215", "220524196903020333"
SHANGHAI = "913101150000000045"
NEWCOMER = "110101198001010010"


def _reviews(run, db_url: str, status: str = "open") -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    return json.loads(run("review", "list", "--db", db_url, "--status", status, "--json").stdout)  # type: ignore[no-any-return]


def test_same_name_is_never_the_same_person(
    run, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    ingest(run, db_url, FIXTURES / "court_good.csv", furnisher="court")
    assert query(db_url, "select count(*) from subjects where name = '王喜民'") == [(2,)]
    held = [
        ["H-1", "", "王喜民", "court.dishonest_defaulter", "2024-10-01", "(2024)新01执1号"],
        ["H-2", "220183196205180216", "汪喜民", "court.enforcement_case", "2024-10-01", "H-DOC-2"],
        ["H-3", "220183620518021", "王喜民", "court.enforcement_case", "2024-10-01", "H-DOC-3"],
    ]
    summary = ingest(run, db_url, write_csv(tmp_path / "h.csv", HEADER, held), furnisher="court")
    assert summary["review"] == 3
    assert summary["reasons"] == {"id_missing": 1, "id_invalid": 1, "id_legacy": 1}
    reviews = _reviews(run, db_url)
    assert [r["record_id"] for r in reviews] == ["H-1", "H-2", "H-3"]
    exact = [(c["subject_id"], c["match"]) for c in reviews[0]["candidates"]]  # type: ignore[union-attr]
    assert exact == [(WANG_DEHUI, "name"), (WANG_HUINAN, "name")]
    assert reviews[0]["candidates"][0]["birth_date"] == "1962-05-18"  # type: ignore[index]
    sound = [(c["subject_id"], c["match"]) for c in reviews[1]["candidates"]]  # type: ignore[union-attr]
    assert sound == [(WANG_DEHUI, "pinyin"), (WANG_HUINAN, "pinyin")]  # 汪 and 王 sound alike
    assert reviews[1]["subject_id_given"] == "220183196205180216"
    # Nothing about the held rows is in the ledger, and no subject was made from a name.
    assert query(db_url, "select count(*) from events where record_id like 'H-%'") == [(0,)]
    assert query(db_url, "select count(*) from subjects") == [(4,)]

    # A later file registers a third 王喜民: the open reviews offer them too, and the text
    # table (the command's answer) is on stdout.
    later = [["N-1", NEWCOMER, "王喜民", "court.enforcement_case", "2024-10-02", "N-DOC-1"]]
    ingest(run, db_url, write_csv(tmp_path / "n.csv", HEADER, later), furnisher="court")
    offered = [c["subject_id"] for c in _reviews(run, db_url)[0]["candidates"]]  # type: ignore[union-attr]
    assert offered == sorted([WANG_DEHUI, WANG_HUINAN, NEWCOMER])
    listed = run("review", "list", "--db", db_url)
    assert "open" in listed.stdout and "王喜民" in listed.stdout
    # Whole on one line each, even in a narrow terminal: a clerk copies them into resolve.
    monkeypatch.setenv("COLUMNS", "60")
    lines = run("review", "list", "--db", db_url).stdout.splitlines()
    for subject_id in [*offered, "220183196205180216"]:
        assert any(subject_id in line for line in lines), subject_id


def test_resolve_and_reject(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    ingest(run, db_url, FIXTURES / "market_zh.csv", furnisher="market")
    held = [
        ["A-1", "", "上海某某贸易有限公司", "market.abnormal_operation", "2024-10-01", "沪异1号"],
        ["A-2", "", "上海某某贸易有限公司", "market.abnormal_operation", "2024-10-02", "沪异2号"],
    ]
    summary = ingest(run, db_url, write_csv(tmp_path / "a.csv", HEADER, held), furnisher="market")
    first, second = (r["review_id"] for r in _reviews(run, db_url))
    assert [c["subject_id"] for c in _reviews(run, db_url)[0]["candidates"]] == [SHANGHAI]  # type: ignore[union-attr]

    def resolve(subject: str, ok: bool = True):  # type: ignore[no-untyped-def]
        return run(
            "review",
            "resolve",
            str(first),
            "--subject",
            subject,
            "--by",
            "Clerk Wu",
            "--db",
            db_url,
            "--json",
            ok=ok,
        )

    refused = resolve("913101150000000046", ok=False)  # bad check character
    assert refused.exit_code != 0 and "invalid_identifier" in unfolded(refused.stderr)
    refused = resolve(WANG_DEHUI, ok=False)  # a person, where the category is about orgs
    assert refused.exit_code != 0 and "subject_kind_mismatch" in unfolded(refused.stderr)
    assert query(db_url, "select count(*) from events where record_id = 'A-1'") == [(0,)]

    done = json.loads(resolve(SHANGHAI).stdout)
    assert done["status"] == "resolved" and done["subject_id"] == SHANGHAI
    assert query(
        db_url, "select subject_id, category, batch_id from events where record_id = 'A-1'"
    ) == [(SHANGHAI, "market.abnormal_operation", done["batch_id"])]
    # The resolution is a batch of its own, so the original batch's counts stay as reported.
    assert query(
        db_url,
        "select read, accepted, status from ingest_batches where batch_id = :b",
        b=done["batch_id"],
    ) == [(1, 1, "done")]
    assert query(
        db_url,
        "select accepted, review from ingest_batches where batch_id = :b",
        b=summary["batch_id"],
    ) == [(0, 2)]
    again = resolve(SHANGHAI, ok=False)
    assert again.exit_code != 0 and "alreadyresolved" in unfolded(again.stderr)

    run(
        "review",
        "reject",
        str(second),
        "--by",
        "Clerk Wu",
        "--reason",
        "not our case",
        "--db",
        db_url,
    )
    rejected = _reviews(run, db_url, "rejected")
    assert [(r["review_id"], r["note"], r["resolved_by"]) for r in rejected] == [
        (second, "not our case", "Clerk Wu")
    ]
    assert _reviews(run, db_url) == []
    assert query(db_url, "select count(*) from events where record_id = 'A-2'") == [(0,)]


def test_furnished_text_is_shown_as_text_and_never_as_a_formula(
    run, db_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A furnished name that looks like terminal markup is printed as it is (and does not
    break the listing); a cell of the rejection report that a spreadsheet would run as a
    formula is written after an apostrophe."""
    init(db_url)
    rows = [
        ["H-1", "", "[/]x [bold]y", "court.enforcement_case", "2024-10-01", "DOC-1"],
        ["=1+2", "220183196205180215", "王喜民", "no.such_category", "2024-10-01", "@SUM(A1)"],
    ]
    marked = write_csv(tmp_path / "[bold]m.csv", [*HEADER, "[/]x"], [[*r, ""] for r in rows])
    human = run("ingest", str(marked), "--furnisher", "court", "--db", db_url)
    assert "[/]x" in human.stderr and "[bold]m.csv" in unfolded(human.stderr)
    summary = ingest(run, db_url, write_csv(tmp_path / "m.csv", HEADER, rows), furnisher="court")
    assert summary["review"] == 1 and summary["quarantined"] == 2
    listed = run("review", "list", "--db", db_url)
    assert "[/]x [bold]y" in listed.stdout
    report = run("quarantine", "export", "--db", db_url).stdout
    rejected = [line for line in report.splitlines() if "category_unknown" in line]
    assert rejected and rejected[0].split(",")[2] == "'=1+2"
