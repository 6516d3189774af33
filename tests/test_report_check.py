"""``report`` and ``check`` through the CLI: output, and every error case with its exit code."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from derive_support import add_events, event, make_store, org, person
from ingest_support import unfolded

TODAY = dt.date.today()


def _store(url: str) -> tuple[str, str, str]:
    subject, rep, company = person(1), person(2), org(1)
    make_store(url)
    add_events(
        url,
        [
            event(
                "market",
                "reg",
                company,
                "registration.basic",
                TODAY - dt.timedelta(days=800),
                legal_rep_id=rep,
            ),
            event(
                "court",
                "c-org",
                company,
                "court.dishonest_defaulter",
                TODAY - dt.timedelta(days=10),
                amount_fen=123456,
            ),
            event("tax", "t1", subject, "admin.penalty_general", TODAY - dt.timedelta(days=2000)),
            event("tax", "t2", subject, "tax.major_violation", TODAY - dt.timedelta(days=20)),
        ],
    )
    return subject, rep, company


def test_report_shows_records_ratings_entries_and_measures(db_url: str, run: Any) -> None:
    subject, rep, company = _store(db_url)
    derived = json.loads(run("derive", "--db", db_url, "--json").stdout)

    data = json.loads(run("report", company, "--db", db_url, "--json").stdout)
    assert data["source"] == {
        "mode": "stored",
        "run_id": derived["run_id"],
        "as_of": TODAY.isoformat(),
        "policy_version": "derive-test-1",
    }
    assert data["subject"]["kind"] == "org" and data["subject"]["subject_id"] == company
    (court,) = data["records"]["active"][1:]
    assert court["amount"] == "1234.56" and court["document_no"] == "DOC-c-org"
    assert (
        court["publish_until"]
        == (TODAY - dt.timedelta(days=10) + dt.timedelta(days=1825)).isoformat()
    )
    assert court["restorable_from"] == (TODAY + dt.timedelta(days=355)).isoformat()
    assert "restorable_from" not in data["records"]["active"][0]  # registration: not adverse
    assert [(r["rating"], r["score"], r["band"]) for r in data["ratings"]] == [
        ("org_grade", 50, "C")
    ]
    assert [e["list"] for e in data["list_entries"]] == ["court_defaulters"]

    person_report = json.loads(run("report", subject, "--db", db_url, "--json").stdout)
    assert [r["record_id"] for r in person_report["records"]["expired"]] == ["t1"]
    assert [r["record_id"] for r in person_report["records"]["active"]] == ["t2"]
    assert {m["measure"] for m in person_report["measures"]} == {"public_tender"}

    rep_report = json.loads(run("report", rep, "--db", db_url, "--json").stdout)
    assert [(m["measure"], m["via"]["subject_id"]) for m in rep_report["measures"]] == [
        ("flight", company)
    ]
    human = run("report", rep, "--db", db_url).stdout
    assert "flight" in human and "measures in force" in human
    assert company in "".join(ch for ch in human if ch.isalnum())  # long cells fold, never cut


def test_check_answers_restricted_granted_and_unknown(db_url: str, run: Any) -> None:
    subject, _, company = _store(db_url)
    run("derive", "--db", db_url)
    answer = json.loads(run("check", company, "flight", "--db", db_url, "--json").stdout)
    assert answer["restricted"] is True and answer["known"] is True
    assert answer["entries"][0]["document_no"] == "DOC-c-org"
    assert answer["policy_version"] == "derive-test-1" and answer["as_of"] == TODAY.isoformat()
    free = json.loads(run("check", subject, "flight", "--db", db_url, "--json").stdout)
    assert free == {**free, "restricted": False, "effect": None, "entries": [], "known": True}
    stranger = person(77)
    unknown = run("check", stranger, "flight", "--db", db_url, "--json")
    assert unknown.exit_code == 0
    assert json.loads(unknown.stdout)["known"] is False
    assert json.loads(unknown.stdout)["restricted"] is False

    add_events(db_url, [event("tax", "grade", company, "tax.grade_a", TODAY)])
    run("derive", "--db", db_url)
    reward = json.loads(run("check", company, "fast_track", "--db", db_url, "--json").stdout)
    assert reward["effect"] == "granted" and reward["restricted"] is False
    assert "restricted" in run("check", company, "flight", "--db", db_url).stdout


def test_errors_exit_2_with_the_specific_reason(db_url: str, run: Any) -> None:
    subject, _, _ = _store(db_url)
    run("derive", "--db", db_url)
    bad_id = subject[:-1] + ("0" if subject[-1] != "0" else "1")

    result = run("check", subject, "teleport", "--db", db_url, ok=False)
    assert result.exit_code == 2
    assert "unknown measure 'teleport'" in result.stderr
    assert "fast_track, flight, public_tender" in result.stderr

    for args in (("check", bad_id, "flight"), ("report", bad_id)):
        result = run(*args, "--db", db_url, ok=False)
        assert result.exit_code == 2, args
        assert "check character" in result.stderr, args

    result = run("report", "12345", "--db", db_url, ok=False)
    assert result.exit_code == 2 and "length 5" in result.stderr

    result = run("report", person(88), "--db", db_url, ok=False)
    assert result.exit_code == 2 and result.stderr.count("unknown_subject") == 1
    assert f"{person(88)} is not in the store" in result.stderr


def test_derive_refuses_an_uninitialised_store(db_url: str, run: Any) -> None:
    result = run("derive", "--db", db_url, ok=False)
    assert result.exit_code == 2 and "socialcredit init" in result.stderr


def test_a_missing_store_is_named_and_never_created(run: Any, tmp_path: Any) -> None:
    """SQLite would create an empty file for any command: only ``init`` may. A URI filename
    names its file too, and a path with brackets is shown as it is (not as markup)."""
    for missing, url in (
        (tmp_path / "store.db", f"sqlite:///{tmp_path / 'store.db'}"),
        (tmp_path / "run[b]" / "store.db", f"sqlite:///{tmp_path / 'run[b]' / 'store.db'}"),
        (tmp_path / "uri.db", f"sqlite:///file:{tmp_path / 'uri.db'}?mode=ro&uri=true"),
    ):
        for args in (
            ("derive",),
            ("check", person(1), "flight"),
            ("report", person(1)),
            ("review", "list"),
            ("quarantine", "export", "--out", str(tmp_path / "q.csv")),
        ):
            result = run(*args, "--db", url, ok=False)
            assert result.exit_code == 2, args
            # Rich wraps long lines anywhere, even inside a path: compare without whitespace.
            assert unfolded(f"no store at {missing}: run `socialcredit init") in unfolded(
                result.stderr
            ), args
            assert not missing.exists(), args


def test_a_read_only_uri_store_is_used(run: Any, tmp_path: Any) -> None:
    path = tmp_path / "store.db"
    _store(f"sqlite:///{path}")
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    answer = json.loads(run("check", person(1), "flight", "--db", url, "--json").stdout)
    assert answer["known"] is True


def test_report_on_an_uninitialised_store_is_one_line(db_url: str, run: Any) -> None:
    """SQLite: no file, so none is made; PostgreSQL: a database without the schema."""
    for args in (("report", person(1)), ("check", person(1), "flight")):
        result = run(*args, "--db", db_url, ok=False)
        assert result.exit_code in (1, 2) and "Traceback" not in result.stderr, args
        message = unfolded(result.stderr)
        assert "socialcreditinit" in message or "cannotusethestore" in message, message


def test_an_unreachable_store_is_a_one_line_error(run: Any) -> None:
    url = "postgresql://nobody@127.0.0.1:1/none"  # nothing listens on port 1
    for args in (("derive",), ("check", person(1), "flight"), ("report", person(1))):
        result = run(*args, "--db", url, ok=False)
        assert result.exit_code == 1, args
        assert "cannot use the store" in result.stderr and "Traceback" not in result.stderr


def test_dates_that_do_not_exist_are_named(db_url: str, run: Any) -> None:
    subject, _, _ = _store(db_url)
    for args in (("derive",), ("report", subject)):
        result = run(*args, "--as-of", "2026-02-30", "--db", db_url, ok=False)
        assert result.exit_code == 2, args
        assert "2026-02-30 is not a real date" in " ".join(result.stderr.split()), args
        for malformed in ("2026-2-3", "２０２６-０５-０１"):  # full-width digits are not ASCII
            result = run(*args, "--as-of", malformed, "--db", db_url, ok=False)
            panel = unfolded(result.stderr).replace("│", "")  # Typer's error panel
            assert "isnotadateintheformYYYY-MM-DD" in panel, args


def test_a_date_before_every_policy_names_the_earliest(db_url: str, run: Any) -> None:
    """An initialised store: the advice is the policy's start, not ``init``."""
    subject, _, _ = _store(db_url)
    result = run("report", subject, "--as-of", "2019-12-31", "--db", db_url, ok=False)
    message = " ".join(result.stderr.split())
    assert result.exit_code == 2
    assert "no policy in force on 2019-12-31: the store's earliest takes effect on 2020-01-01" in (
        message
    )
    assert "socialcredit init" not in message


def test_check_says_when_a_restriction_is_lifted(db_url: str, run: Any) -> None:
    """``end_on`` is the first day out of force: the text says "lifted on" that day."""
    _, _, company = _store(db_url)
    run("derive", "--db", db_url)
    answer = json.loads(run("check", company, "flight", "--db", db_url, "--json").stdout)
    (entry,) = answer["entries"]
    human = " ".join(run("check", company, "flight", "--db", db_url).stdout.split())
    lifted = f"lifted on {entry['end_on']}" if entry["end_on"] else "no fixed term"
    assert f"from {entry['start_on']}, {lifted}" in human
    assert " until " not in human


def test_errors_under_json_are_json_too(db_url: str, run: Any) -> None:
    """A script reading ``--json`` gets the error as JSON on stdout, with the same exit code."""
    _store(db_url)
    run("derive", "--db", db_url)
    stranger = person(88)
    result = run("report", stranger, "--db", db_url, "--json", ok=False)
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "unknown_subject"
    assert error["message"] == f"{stranger} is not in the store"
    result = run("check", person(1), "teleport", "--db", db_url, "--json", ok=False)
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["details"]["measure"] == "teleport"
    plain = run("report", stranger, "--db", db_url, ok=False)
    assert plain.exit_code == 2 and plain.stdout == ""
