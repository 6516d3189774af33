"""List entries and decisions: terms, extensions, no-term grounds, removal, expiry, legal reps.

Policy: tests/fixtures/derive_policy.toml. court_defaulters: 730-day term, extension by
extension_months capped at 1095 days, no term for ground ``ability_refusal``; its memoranda give
``flight`` (extended to an organisation's legal representative) and ``public_tender``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from derive_support import D, add_events, event, make_store, org, person, register_subjects

AS_OF = dt.date(2025, 6, 1)
DEFAULTER = "court.dishonest_defaulter"


def ago(days: int) -> dt.date:
    return AS_OF - dt.timedelta(days=days)


def report(run: Any, url: str, subject_id: str, *extra: str) -> dict[str, Any]:
    return dict(json.loads(run("report", subject_id, "--db", url, "--json", *extra).stdout))


def entries(data: dict[str, Any]) -> list[tuple[str, str, str | None, str]]:
    return [(e["list"], e["start_on"], e["end_on"], e["document_no"]) for e in data["list_entries"]]


def measures(data: dict[str, Any]) -> set[tuple[str, str, str | None, str | None]]:
    return {
        (m["measure"], m["list"], m["end_on"], m["via"] and m["via"]["subject_id"])
        for m in data["measures"]
    }


P = {
    name: person(i + 1)
    for i, name in enumerate(
        (
            "term",
            "extended",
            "extension_capped",
            "no_term",
            "fulfilled",
            "revoked",
            "ends_today",
            "amended",
            "two_records",
            "rep",
        )
    )
}
MINOR = person(50, born=D(2010, 1, 1))
LISTED_ORG = org(1)


def _scenario(url: str) -> None:
    make_store(url)
    add_events(
        url,
        [
            event("court", "term", P["term"], DEFAULTER, ago(100)),
            event("court", "ext", P["extended"], DEFAULTER, ago(100), extension_months=6),
            # base end 2025-06-02; 36 months on is 1096 days (2028 is a leap year): capped at 1095
            event(
                "court", "cap", P["extension_capped"], DEFAULTER, D(2023, 6, 3), extension_months=36
            ),
            event("court", "refusal", P["no_term"], DEFAULTER, ago(1000), ground="ability_refusal"),
            event("court", "paid", P["fulfilled"], DEFAULTER, ago(100)),
            event("court", "paid", P["fulfilled"], DEFAULTER, ago(50), action="fulfil"),
            event("court", "wrong", P["revoked"], DEFAULTER, ago(100)),
            event("court", "wrong", P["revoked"], DEFAULTER, ago(50), action="revoke"),
            event("court", "today", P["ends_today"], DEFAULTER, ago(730)),
            event("court", "amend", P["amended"], DEFAULTER, ago(100)),
            event(
                "court",
                "amend",
                P["amended"],
                DEFAULTER,
                ago(90),
                action="amend",
                document_no="(2025) corrected",
                extension_months=12,
            ),
            event(
                "court", "two-a", P["two_records"], DEFAULTER, ago(100), ground="ability_refusal"
            ),
            event("court", "two-b", P["two_records"], DEFAULTER, ago(200)),
            event("court", "minor", MINOR, DEFAULTER, D(2025, 1, 1)),
            event(
                "market", "reg", LISTED_ORG, "registration.basic", ago(900), legal_rep_id=P["rep"]
            ),
            event("court", "org", LISTED_ORG, DEFAULTER, ago(100)),
        ],
    )


def test_court_list_terms_extensions_grounds_and_removal(db_url: str, run: Any) -> None:
    _scenario(db_url)
    out = run("derive", "--db", db_url, "--as-of", AS_OF.isoformat(), "--json")
    summary = json.loads(out.stdout)
    assert summary["mode"] == "full" and summary["as_of"] == AS_OF.isoformat()
    # term, extended, capped, no_term, amended, two records, the organisation
    assert summary["lists"] == {"court_defaulters": 8}

    start = ago(100).isoformat()  # 2025-02-21
    assert entries(report(run, db_url, P["term"])) == [
        ("court_defaulters", start, "2027-02-21", "DOC-term")
    ]
    assert entries(report(run, db_url, P["extended"])) == [
        ("court_defaulters", start, "2027-08-21", "DOC-ext")
    ]
    assert entries(report(run, db_url, P["extension_capped"])) == [
        ("court_defaulters", "2023-06-03", "2028-06-01", "DOC-cap")
    ]
    assert entries(report(run, db_url, P["no_term"])) == [
        ("court_defaulters", ago(1000).isoformat(), None, "DOC-refusal")
    ]
    assert entries(report(run, db_url, P["amended"])) == [
        ("court_defaulters", start, "2028-02-21", "(2025) corrected")
    ]

    fulfilled = report(run, db_url, P["fulfilled"])
    assert fulfilled["list_entries"] == [] and fulfilled["measures"] == []
    assert [r["status_on"] for r in fulfilled["records"]["fulfilled"]] == [ago(50).isoformat()]
    revoked = report(run, db_url, P["revoked"])
    assert revoked["list_entries"] == [] and revoked["measures"] == []
    assert [r["record_id"] for r in revoked["records"]["revoked"]] == ["wrong"]
    # A 730-day term that ends on the as-of date is over on that date.
    ended = report(run, db_url, P["ends_today"])
    assert ended["list_entries"] == [] and ended["measures"] == []
    assert [r["record_id"] for r in ended["records"]["active"]] == ["today"]
    # A record about a minor never counts.
    minor = report(run, db_url, MINOR)
    assert all(not records for records in minor["records"].values())


def test_decisions_collapse_and_extend_to_the_legal_representative(db_url: str, run: Any) -> None:
    _scenario(db_url)
    run("derive", "--db", db_url, "--as-of", AS_OF.isoformat())
    org_end = "2027-02-21"
    assert measures(report(run, db_url, LISTED_ORG)) == {
        ("flight", "court_defaulters", org_end, None),
        ("public_tender", "court_defaulters", org_end, None),
    }
    rep = report(run, db_url, P["rep"])
    assert measures(rep) == {("flight", "court_defaulters", org_end, LISTED_ORG)}
    assert rep["records"]["active"] == []  # the measure comes from the organisation's listing
    # Two entries on one list make one decision: the earliest start, no end (no term wins).
    two = report(run, db_url, P["two_records"])
    assert {(m["measure"], m["start_on"], m["end_on"]) for m in two["measures"]} == {
        ("flight", ago(200).isoformat(), None),
        ("public_tender", ago(200).isoformat(), None),
    }
    assert all(
        m["basis"].endswith("Joint memorandum on dishonest defaulters")
        for m in two["measures"]
        if m["measure"] == "flight"
    )

    # A new legal representative, registered ten days ago: the decision moves to them from
    # that date (not from the organisation's listing); the former one has none.
    successor = person(30)
    add_events(
        db_url,
        [
            event(
                "market", "reg2", LISTED_ORG, "registration.basic", ago(10), legal_rep_id=successor
            )
        ],
    )
    run("derive", "--db", db_url, "--as-of", AS_OF.isoformat())
    assert measures(report(run, db_url, P["rep"])) == set()
    moved = report(run, db_url, successor)["measures"]
    assert [(m["measure"], m["start_on"], m["end_on"]) for m in moved] == [
        ("flight", ago(10).isoformat(), org_end)
    ]
    checked = json.loads(run("check", successor, "flight", "--db", db_url, "--json").stdout)
    assert [(e["start_on"], e["source_subject_id"]) for e in checked["entries"]] == [
        (ago(10).isoformat(), LISTED_ORG)
    ]
    replayed = report(run, db_url, successor, "--as-of", AS_OF.isoformat())["measures"]
    assert [(m["measure"], m["start_on"]) for m in replayed] == [("flight", ago(10).isoformat())]
    # An amendment of that registration names another: the decision moves on its date.
    third = person(31)
    amend = event(
        "market", "reg2", LISTED_ORG, "registration.basic", ago(3), "amend", legal_rep_id=third
    )
    add_events(db_url, [amend])
    run("derive", "--db", db_url, "--as-of", AS_OF.isoformat())
    assert measures(report(run, db_url, successor)) == set()
    moved = report(run, db_url, third)["measures"]
    assert [(m["measure"], m["start_on"]) for m in moved] == [("flight", ago(3).isoformat())]
    successor = third

    # The organisation pays: its entry ends, and with it the representative's restriction.
    add_events(db_url, [event("court", "org", LISTED_ORG, DEFAULTER, ago(5), action="fulfil")])
    summary = json.loads(
        run("derive", "--db", db_url, "--as-of", AS_OF.isoformat(), "--json").stdout
    )
    assert summary["mode"] == "incremental"
    assert measures(report(run, db_url, LISTED_ORG)) == set()
    assert measures(report(run, db_url, successor)) == set()
    assert measures(report(run, db_url, P["term"])) != set()  # untouched subjects keep theirs


def test_as_of_replay_gives_the_state_on_each_date(db_url: str, run: Any) -> None:
    _scenario(db_url)  # nothing derived: a replay reads only the ledger
    before = report(run, db_url, P["ends_today"], "--as-of", ago(731).isoformat())
    assert all(not records for records in before["records"].values())
    assert before["list_entries"] == [] and before["source"]["mode"] == "replay"
    last_day = report(run, db_url, P["ends_today"], "--as-of", ago(1).isoformat())
    assert entries(last_day) == [
        ("court_defaulters", ago(730).isoformat(), AS_OF.isoformat(), "DOC-today")
    ]
    assert {m["measure"] for m in last_day["measures"]} == {"flight", "public_tender"}
    on_end = report(run, db_url, P["ends_today"], "--as-of", AS_OF.isoformat())
    assert on_end["list_entries"] == [] and on_end["measures"] == []

    rep_then = report(run, db_url, P["rep"], "--as-of", AS_OF.isoformat())
    assert measures(rep_then) == {("flight", "court_defaulters", "2027-02-21", LISTED_ORG)}
    rep_before = report(run, db_url, P["rep"], "--as-of", ago(101).isoformat())
    assert rep_before["measures"] == []
    # The amendment counts only from its own date.
    amended_early = report(run, db_url, P["amended"], "--as-of", ago(95).isoformat())
    assert entries(amended_early) == [
        ("court_defaulters", ago(100).isoformat(), "2027-02-21", "DOC-amend")
    ]


def test_a_former_legal_representative_can_be_replayed(db_url: str, run: Any) -> None:
    """A legal representative known only from an organisation's registration (never a subject
    of a record) who held an extended measure on a past day: a replay of that day shows it,
    though they hold nothing now."""
    make_store(db_url)
    company, former, current = org(7), person(70), person(71)
    register_subjects(db_url, [company])
    add_events(
        db_url,
        [
            event("market", "r1", company, "registration.basic", ago(300), legal_rep_id=former),
            event("court", "d1", company, DEFAULTER, ago(200)),
            event("market", "r2", company, "registration.basic", ago(20), legal_rep_id=current),
        ],
        register=False,
    )
    run("derive", "--db", db_url, "--as-of", AS_OF.isoformat())
    assert run("report", former, "--db", db_url, ok=False).exit_code == 2  # holds nothing now
    then = report(run, db_url, former, "--as-of", ago(100).isoformat())
    assert measures(then) == {("flight", "court_defaulters", "2026-11-13", company)}
    assert then["subject"]["name"] is None and then["subject"]["kind"] == "person"


def test_a_registration_naming_the_same_representative_again_moves_nothing(
    db_url: str, run: Any
) -> None:
    make_store(db_url)
    company, rep, other = org(8), person(80), person(81)
    add_events(
        db_url,
        [
            event("market", "r1", company, "registration.basic", ago(300), legal_rep_id=rep),
            event("court", "d1", company, DEFAULTER, ago(200)),
            event("market", "r2", company, "registration.basic", ago(20), legal_rep_id=rep),
        ],
    )
    run("derive", "--db", db_url, "--as-of", AS_OF.isoformat())
    starts = [(m["measure"], m["start_on"]) for m in report(run, db_url, rep)["measures"]]
    assert starts == [("flight", ago(200).isoformat())]
    # Someone else in between breaks the run: back to the rep, from the registration that does.
    add_events(
        db_url,
        [
            event("market", "r3", company, "registration.basic", ago(15), legal_rep_id=other),
            event("market", "r4", company, "registration.basic", ago(10), legal_rep_id=rep),
        ],
    )
    run("derive", "--db", db_url, "--as-of", AS_OF.isoformat())
    starts = [(m["measure"], m["start_on"]) for m in report(run, db_url, rep)["measures"]]
    assert starts == [("flight", ago(10).isoformat())]
    assert report(run, db_url, other)["measures"] == []


def test_every_list_takes_every_category_and_kind_it_names(db_url: str, run: Any) -> None:
    """One record of each (list, category, kind) the policy names: each is on its list with
    the document number it was filed with (the details join reads only the filings of the
    categories lists take and registrations name: none may be missed)."""
    make_store(db_url)
    targets = [
        ("court_defaulters", "court", DEFAULTER, ("person", "org")),
        ("tax_major_violators", "tax", "tax.major_violation", ("person", "org")),
        ("tax_grade_a", "tax", "tax.grade_a", ("org",)),
    ]
    subjects: dict[tuple[str, str], str] = {}
    rows = []
    for n, (list_code, furnisher, category, kinds) in enumerate(targets):
        for kind in kinds:
            subject = person(n + 1) if kind == "person" else org(n + 1)
            subjects[(list_code, kind)] = subject
            rows.append(
                event(
                    furnisher,
                    f"{list_code}-{kind}",
                    subject,
                    category,
                    ago(10),
                    document_no=f"DOC {list_code} {kind}",
                )
            )
    add_events(db_url, rows)
    run("derive", "--db", db_url, "--as-of", AS_OF.isoformat())
    for (list_code, kind), subject in subjects.items():
        listed = [
            (e["list"], e["document_no"]) for e in report(run, db_url, subject)["list_entries"]
        ]
        assert (list_code, f"DOC {list_code} {kind}") in listed, (list_code, kind)


def test_deriving_as_of_an_earlier_date_says_it_replaces_the_stored_state(
    db_url: str, run: Any
) -> None:
    """``derive --as-of`` an earlier date than the last run's is allowed (a missed day run
    again), but the stored state ``check`` and ``report`` give is then that date's: it says so."""
    _scenario(db_url)
    run("derive", "--db", db_url, "--as-of", AS_OF.isoformat())
    again = run("derive", "--db", db_url, "--as-of", AS_OF.isoformat(), "--json")
    assert "before the last run" not in again.stderr
    earlier = run("derive", "--db", db_url, "--as-of", ago(30).isoformat(), "--json")
    assert json.loads(earlier.stdout)["previous_as_of"] == AS_OF.isoformat()
    said = " ".join(earlier.stderr.split())
    assert f"before the last run's {AS_OF.isoformat()}" in said
    assert "report ID --as-of" in said
    stored = report(run, db_url, P["term"])["source"]
    assert stored["mode"] == "stored" and stored["as_of"] == ago(30).isoformat()
