"""Ledger semantics of ingestion: exact re-sends are duplicates, a record is filed once, and
amend / revoke / fulfil need a filing of the same furnisher before them."""

from __future__ import annotations

from pathlib import Path

from socialcredit.store.event_keys import EVENT_FIELDS, event_key
from tests.ingest_support import (
    FIXTURES,
    ingest,
    init,
    query,
    read_fixture,
    rejected,
    write_csv,
)

HEADER = [
    "record_id",
    "subject_id",
    "subject_name",
    "category",
    "decided_on",
    "document_no",
    "amount",
    "action",
]
WANG = "220524196903020333"  # filed C-2024-002 (court.enforcement_case, 2024-04-12)
CHEN = "330106199001010667"  # filed C-2024-004 (court.dishonest_defaulter, 2024-06-01)
SHENZHEN = "91440300000000003P"  # filed C-2024-003 (court.consumption_restriction)
SHANGHAI = "913101150000000045"


def _ledger(db_url: str) -> list[tuple[object, ...]]:
    return query(db_url, "select seq, event_key, batch_id from events order by seq")


def test_ingesting_the_same_file_again_changes_nothing(run, db_url: str) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    first = ingest(run, db_url, FIXTURES / "court_good.csv", furnisher="court")
    ledger = _ledger(db_url)
    registry = query(db_url, "select * from subjects order by subject_id")
    second = ingest(run, db_url, FIXTURES / "court_good.csv", furnisher="court")
    assert (first["accepted"], first["duplicates"]) == (5, 0)
    assert (second["read"], second["accepted"], second["duplicates"], second["quarantined"]) == (
        5,
        0,
        5,
        0,
    )
    assert _ledger(db_url) == ledger and len(ledger) == 5
    assert query(db_url, "select * from subjects order by subject_id") == registry


def test_stored_events_carry_the_ledgers_own_key(run, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """Keys computed column-wise at ingestion are ``event_keys.event_key`` of the stored event, so
    events appended through ``append_events`` and through files recognise each other."""
    init(db_url)
    ingest(
        run, db_url, FIXTURES / "court_good.csv", FIXTURES / "market_zh.csv", furnisher="court"
    )  # market rows are refused; court rows carry amounts and grounds
    ingest(run, db_url, FIXTURES / "market_zh.csv", furnisher="market")  # a legal rep, a note
    names = ", ".join(EVENT_FIELDS)
    stored = query(db_url, f"select event_key, {names} from events")
    assert len(stored) == 8
    for key, *values in stored:
        assert key == event_key(dict(zip(EVENT_FIELDS, values, strict=True)))


def test_conflicts_and_unknown_records(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    ingest(run, db_url, FIXTURES / "court_good.csv", furnisher="court")
    enforcement, restriction = "court.enforcement_case", "court.consumption_restriction"
    rows = [
        [
            "C-2024-002",
            WANG,
            "王喜民",
            enforcement,
            "2024-04-12",
            "(2024)吉0524执77号",
            "1300",
            "file",
        ],
        [
            "C-2024-003",
            SHENZHEN,
            "深圳市某某科技有限公司",
            restriction,
            "2024-07-01",
            "(2024)粤0305执9号之一",
            "",
            "amend",
        ],
        [
            "C-2024-004",
            WANG,
            "王喜民",
            "court.dishonest_defaulter",
            "2024-08-01",
            "X-1",
            "",
            "revoke",
        ],
        ["C-2024-404", WANG, "王喜民", enforcement, "2024-08-01", "X-2", "", "fulfil"],
        ["C-2024-002", WANG, "王喜民", enforcement, "2024-01-01", "X-3", "", "amend"],
        ["N-1", CHEN, "陈静", enforcement, "2024-05-01", "N-DOC-1", "10", "file"],
        ["N-1", CHEN, "陈静", enforcement, "2024-05-02", "N-DOC-1R", "", "revoke"],
        ["N-2", CHEN, "陈静", enforcement, "2024-05-03", "N-DOC-2A", "", "amend"],
        ["N-2", CHEN, "陈静", enforcement, "2024-05-01", "N-DOC-2", "", "file"],
        ["N-1", CHEN, "陈静", enforcement, "2024-05-01", "N-DOC-1", "11", "file"],
    ]
    summary = ingest(run, db_url, write_csv(tmp_path / "f.csv", HEADER, rows), furnisher="court")
    assert (summary["accepted"], summary["quarantined"]) == (4, 6)
    codes = {
        int(r["row"]): r["reason_code"]
        for r in rejected(run, db_url, tmp_path / "q.csv", batch=summary["batch_id"])
    }
    assert codes == {
        1: "record_conflict",
        3: "record_conflict",
        4: "record_unknown",
        5: "record_conflict",
        8: "record_unknown",
        10: "record_conflict",
    }
    accepted = query(
        db_url,
        "select record_id, action from events where batch_id = :b order by seq",
        b=summary["batch_id"],
    )
    assert accepted == [
        ("C-2024-003", "amend"),
        ("N-1", "file"),
        ("N-1", "revoke"),
        ("N-2", "file"),
    ]


def test_follow_ups_only_for_the_furnishers_own_records(run, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    init(db_url)
    penalty = [
        "P-1",
        SHANGHAI,
        "上海某某贸易有限公司",
        "admin.penalty_general",
        "2024-03-15",
        "沪市监罚〔2024〕第21号",
        "50000",
        "file",
    ]
    revoke = [*penalty[:4], "2024-09-01", "沪市监罚撤〔2024〕第2号", "", "revoke"]
    filed = ingest(
        run, db_url, write_csv(tmp_path / "m.csv", HEADER, [penalty]), furnisher="market"
    )
    assert filed["accepted"] == 1
    # Tax may furnish this category, but P-1 is market's record: unknown to tax.
    by_tax = ingest(run, db_url, write_csv(tmp_path / "t.csv", HEADER, [revoke]), furnisher="tax")
    assert by_tax["reasons"] == {"record_unknown": 1}
    by_market = ingest(
        run, db_url, write_csv(tmp_path / "m2.csv", HEADER, [revoke]), furnisher="market"
    )
    assert by_market["accepted"] == 1
    # Record IDs are per furnisher: tax may file its own P-1.
    own = ingest(run, db_url, write_csv(tmp_path / "t2.csv", HEADER, [penalty]), furnisher="tax")
    assert own["accepted"] == 1
    assert query(db_url, "select furnisher, action from events order by seq") == [
        ("market", "file"),
        ("market", "revoke"),
        ("tax", "file"),
    ]


def test_a_chunk_boundary_changes_nothing(run, db_url: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Rows judged against earlier chunks of the same run behave as within one chunk."""
    init(db_url)
    header, rows = read_fixture("court_good.csv")
    doubled = write_csv(tmp_path / "twice.csv", header, rows + rows)
    monkeypatch.setenv("SOCIALCREDIT_INGEST_CHUNK_ROWS", "2")
    summary = ingest(run, db_url, doubled, furnisher="court")
    assert (summary["accepted"], summary["duplicates"], summary["quarantined"]) == (5, 5, 0)
