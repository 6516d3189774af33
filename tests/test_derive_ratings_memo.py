"""The ratings memo (``derive/engines/duckdb_ratings_memo.py``): a full run on a SQLite store
computes rating rows only for subjects whose signature is new, and keeps the rest. Its results
must be exactly those of a run that computes every row (the ledger copy turned off), whatever
changed: a record revoked behind a capped total (same score, other records), a decay step
crossed, a new-subject band outgrown, a forced band's records, a new policy."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pytest
from derive_scenarios import AS_OF, filings, follow_ups, registrations, snapshot
from derive_support import POLICY, add_events, event, make_store, org, person, store

from socialcredit.derive import ledger_mirror, scoring
from socialcredit.derive.engines.duckdb_ratings_memo import MEMO, STATE
from socialcredit.policy.load import load_policy
from socialcredit.store.policies import save_policy

D = dt.date


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def _memo_file(url: str) -> str:
    return ledger_mirror.mirror_path(url.removeprefix("sqlite:///"))


def _derive(run: Any, url: str, as_of: dt.date) -> dict[str, Any]:
    out = run("derive", "--db", url, "--as-of", as_of.isoformat(), "--full", "--json")
    return dict(json.loads(out.stdout))


def _whole(run: Any, url: str, as_of: dt.date, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The derived tables as a run that computes every rating gives them (no ledger copy, so
    no memo)."""
    with monkeypatch.context() as env:
        env.setenv("SOCIALCREDIT_LEDGER_MIRROR", "0")
        _derive(run, url, as_of)
    return snapshot(url)


def _memo_rows(url: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(_memo_file(url), read_only=True) as con:
        rows = con.execute(
            f"SELECT subject_id, rating, score, band, reasons FROM {MEMO} ORDER BY ALL"
        ).fetchall()
    return [tuple(row) for row in rows]


def _stored_ratings(url: str) -> list[tuple[Any, ...]]:
    with store(url) as engine, engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT subject_id, rating, score, band, reasons FROM ratings ORDER BY 1, 2"
        ).all()
    return [tuple(row) for row in rows]


def test_memoised_ratings_equal_ratings_computed_whole(
    sqlite_url: str, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_store(sqlite_url)
    capped, decaying = person(1), person(2)
    forced, newcomer = org(1), org(2)
    rng = random.Random(5)
    persons, orgs = [person(i + 10) for i in range(8)], [org(i + 10) for i in range(4)]
    first = [
        # Three defaulter records of -100 against a cap of -150: revoking one leaves the
        # capped total and the score as they were, but the reason names other records.
        *(
            event("court", f"cap{i}", capped, "court.dishonest_defaulter", AS_OF - dt.timedelta(i))
            for i in range(3)
        ),
        # Full points until a year old, then half.
        event("market", "dec", decaying, "admin.penalty_general", AS_OF - dt.timedelta(360)),
        # Two records forcing band D (score clamped at 0 either way).
        *(
            event("tax", f"force{i}", forced, "tax.major_violation", AS_OF - dt.timedelta(i + 1))
            for i in range(3)
        ),
        # Registered 300 days ago: band M for 65 more days.
        event("market", "reg", newcomer, "registration.basic", AS_OF - dt.timedelta(300)),
        *filings(rng, "a", persons, orgs, 40),
        *registrations(rng, "r", persons, orgs),
    ]
    add_events(url, first)
    steps: list[tuple[dt.date, list[dict[str, Any]]]] = [
        (AS_OF, []),
        (AS_OF, [event("court", "cap0", capped, "court.dishonest_defaulter", AS_OF, "revoke")]),
        (AS_OF + dt.timedelta(10), []),  # the penalty crosses its first decay step
        (
            AS_OF + dt.timedelta(10),
            [event("tax", "force0", forced, "tax.major_violation", AS_OF, "revoke")],
        ),
        (AS_OF + dt.timedelta(70), follow_ups(rng, first[9:])),  # the newcomer's M has ended
        (AS_OF + dt.timedelta(70), filings(rng, "b", persons, orgs, 5)),
    ]
    for as_of, events in steps:
        if events:
            add_events(url, events)
        _derive(run, url, as_of)
        memoised = snapshot(url)
        assert _memo_rows(url) == _stored_ratings(url)
        assert memoised == _whole(run, url, as_of, monkeypatch), as_of
    bands = {row[0]: row[3] for row in _stored_ratings(url)}
    assert bands[newcomer] != "M"  # the scenario did cross what it meant to
    reasons = {row[0]: json.loads(row[4]) for row in _stored_ratings(url)}
    assert reasons[capped][0]["records"] == ["court:cap1", "court:cap2"]


def _tamper(url: str, subject_id: str) -> None:
    with duckdb.connect(_memo_file(url)) as con:
        con.execute(f"UPDATE {MEMO} SET reasons = '[\"kept\"]' WHERE subject_id = ?", [subject_id])


def test_kept_rows_are_served_until_the_policy_or_the_memo_changes(
    sqlite_url: str, run: Any, tmp_path: Path
) -> None:
    url = make_store(sqlite_url)
    subject = person(1)
    add_events(url, [event("court", "c1", subject, "court.dishonest_defaulter", AS_OF)])
    _derive(run, url, AS_OF)
    # A kept row is served as kept while its signature holds: nothing recomputes it.
    _tamper(url, subject)
    _derive(run, url, AS_OF + dt.timedelta(1))
    assert dict((r[0], r[4]) for r in _stored_ratings(url))[subject] == '["kept"]'

    # A new policy in force (other reasons at most): every row is computed again.
    text = POLICY.read_text().replace('version = "derive-test-1"', 'version = "derive-test-2"')
    text = text.replace("effective_from = 2020-01-01", "effective_from = 2025-01-01")
    newer = tmp_path / "policy.toml"
    newer.write_text(text.replace("max_reasons = 2", "max_reasons = 1"))
    with store(url) as engine:
        save_policy(engine, load_policy(newer))
    _derive(run, url, AS_OF + dt.timedelta(2))
    assert '"kept"' not in dict((r[0], r[4]) for r in _stored_ratings(url))[subject]

    # A memo of another shape, or without its stamp, is not used (and is written afresh).
    _tamper(url, subject)
    with duckdb.connect(_memo_file(url)) as con:
        con.execute(f"DROP TABLE {STATE}")
    _derive(run, url, AS_OF + dt.timedelta(3))
    assert '"kept"' not in dict((r[0], r[4]) for r in _stored_ratings(url))[subject]
    _tamper(url, subject)
    with duckdb.connect(_memo_file(url)) as con:
        con.execute(f"ALTER TABLE {MEMO} ADD COLUMN extra INTEGER")
    _derive(run, url, AS_OF + dt.timedelta(4))
    assert '"kept"' not in dict((r[0], r[4]) for r in _stored_ratings(url))[subject]
    assert _memo_rows(url) == _stored_ratings(url)


def test_a_signature_ties_each_contribution_to_its_record_and_category() -> None:
    """Two records of two categories whose points after decay trade places are two different
    ratings (other category totals, other reasons): the signatures of the two sets must differ,
    though each set holds the same records, categories and points (DuckDB only XORs in the
    last field of a struct's hash, and an XOR of those over a set would lose the pairing)."""
    con = ibis.duckdb.connect()

    def signature(points: list[int]) -> int:
        contributions = ibis.memtable(
            {
                "subject_id": ["S", "S"],
                "file_seq": [11, 12],
                "point_id": [1, 2],
                "contribution": points,
            }
        )
        c = contributions
        parts = c.mutate(part=scoring._mixed(1, c.file_seq, c.point_id, c.contribution))
        return int(
            con.execute(parts.group_by("subject_id").agg(s=scoring._xor(parts.part)))["s"][0]
        )

    assert signature([-100, -50]) != signature([-50, -100])


def test_a_forced_band_follows_its_records_beyond_their_points(
    sqlite_url: str, run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records that force a band but carry no points (here: a policy giving the category 0)
    are in no contribution: when one such record gives way to another, the band stays and
    the score stays, yet the band's reason names other records, and the kept row must not be
    served."""
    text = POLICY.read_text().replace(
        'category = "tax.major_violation", points = -60, direct_band = "D"',
        'category = "tax.major_violation", points = 0, direct_band = "D"',
    )
    assert "points = 0," in text
    zero = tmp_path / "zero.toml"
    zero.write_text(text)
    url = make_store(sqlite_url, zero)
    forced = org(1)
    major = "tax.major_violation"
    add_events(url, [event("tax", f"f{i}", forced, major, AS_OF - dt.timedelta(i)) for i in (1, 2)])
    _derive(run, url, AS_OF)
    add_events(
        url,
        [
            event("tax", "f1", forced, major, AS_OF, "revoke"),
            event("tax", "f3", forced, major, AS_OF - dt.timedelta(3)),
        ],
    )
    _derive(run, url, AS_OF)
    memoised = snapshot(url)
    reasons = {row[0]: json.loads(row[4]) for row in _stored_ratings(url)}
    assert reasons[forced][0]["records"] == ["tax:f2", "tax:f3"]
    assert memoised == _whole(run, url, AS_OF, monkeypatch)


def test_a_store_replaced_under_the_same_name_gets_no_kept_rows(
    sqlite_url: str, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signatures name records by their filing's sequence number: in another store the same
    number is another record. A store replaced under the same file name (a backup restored, a
    new store) must not be served the old store's rows (reasons naming its records)."""
    url = make_store(sqlite_url)
    subject = person(1)
    defaulter = "court.dishonest_defaulter"
    add_events(url, [event("court", "old", subject, defaulter, AS_OF - dt.timedelta(1))])
    _derive(run, url, AS_OF)
    path = Path(url.removeprefix("sqlite:///"))
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)  # the ledger copy beside it stays
    url = make_store(sqlite_url)
    add_events(url, [event("court", "new", subject, defaulter, AS_OF - dt.timedelta(1))])
    _derive(run, url, AS_OF)
    reasons = {row[0]: json.loads(row[4]) for row in _stored_ratings(url)}
    assert reasons[subject][0]["records"] == ["court:new"]
    assert snapshot(url) == _whole(run, url, AS_OF, monkeypatch)
