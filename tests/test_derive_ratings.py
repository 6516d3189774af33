"""Ratings: decay steps, truncation, caps, clamping, band boundaries, direct and new-subject bands.

Policy: tests/fixtures/derive_policy.toml. person_score: base 1000, decay 100 % under 365 days,
50 % under 730, 25 % under 1095, then 0; court.dishonest_defaulter -100 (cap -150),
admin.penalty_general -30 (cap -50), tax.major_violation -200; bands AAA 1050, AA 1030, A 960,
B 850, C 600, D 0. org_grade: base 100, max 120, bands A 90, B 70, C 40, D 0, max 2 reasons;
tax.major_violation -60 forcing band D; new-subject band M (registered < 365 days, score >= 70).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from derive_support import POLICY, add_events, event, make_store, org, person

AS_OF = dt.date(2025, 6, 1)


def ago(days: int) -> dt.date:
    return AS_OF - dt.timedelta(days=days)


def rating_of(run: Any, url: str, subject_id: str) -> dict[str, Any]:
    report = json.loads(run("report", subject_id, "--db", url, "--json").stdout)
    (rating,) = report["ratings"]
    return dict(rating)


PERSONS = {
    # name: (events as (category, age in days), expected score, band)
    "boundary_exact": (
        [("court.dishonest_defaulter", 800), ("admin.penalty_general", 400)],
        1000 - 25 - 15,
        "A",
    ),
    "boundary_below": (
        [
            ("court.dishonest_defaulter", 800),
            ("admin.penalty_general", 400),
            ("admin.penalty_general", 1094),
        ],
        1000 - 25 - 15 - 7,
        "B",
    ),
    "step_edges": (
        [("admin.penalty_general", 364), ("admin.penalty_general", 365)],
        1000 - 30 - 15,
        "B",
    ),
    # Eleven records, filed in the order of their keys' numbers: "capped-10" sorts before
    # "capped-2", so the reason's records are listed sorted, not in filing order.
    "capped": ([("admin.penalty_general", 10 * (k + 1)) for k in range(11)], 1000 - 50, "B"),
    "decayed_out": ([("court.dishonest_defaulter", 1100)], 1000, "A"),
    "floored": ([("tax.major_violation", d) for d in (1, 2, 3, 4, 5, 6)], 0, "D"),
    "clean": ([], 1000, "A"),
}


def test_person_scores_decay_caps_and_band_boundaries(db_url: str, run: Any) -> None:
    make_store(db_url)
    ids = {name: person(i + 1) for i, name in enumerate(PERSONS)}
    rows = [
        event("court" if c.startswith("court") else "tax", f"{name}-{k}", ids[name], c, ago(age))
        for name, (records, _, _) in PERSONS.items()
        for k, (c, age) in enumerate(records)
    ]
    rows.append(event("tax", "clean-0", ids["clean"], "admin.penalty_general", ago(2000)))
    add_events(db_url, rows)
    run("derive", "--db", db_url, "--as-of", AS_OF.isoformat(), "--full")

    for name, (_, score, band) in PERSONS.items():
        rating = rating_of(run, db_url, ids[name])
        assert (rating["score"], rating["band"]) == (score, band), name

    below = rating_of(run, db_url, ids["boundary_below"])
    # -15 (50 %) and -7 (25 % of -30 is -7.5, truncated toward zero) sum to -22.
    assert below["reasons"] == [
        {"code": "court.dishonest_defaulter", "points": -25, "records": ["court:boundary_below-0"]},
        {
            "code": "admin.penalty_general",
            "points": -22,
            "records": ["tax:boundary_below-1", "tax:boundary_below-2"],
        },
    ]
    capped = rating_of(run, db_url, ids["capped"])
    assert capped["reasons"] == [
        {
            "code": "admin.penalty_general",
            "points": -50,
            "records": sorted(f"tax:capped-{k}" for k in range(11)),
        }
    ]
    assert rating_of(run, db_url, ids["decayed_out"])["reasons"] == []


def test_org_grades_direct_band_new_subject_band_and_reason_limit(db_url: str, run: Any) -> None:
    make_store(db_url)
    rep = person(90)
    o = {name: org(i + 1) for i, name in enumerate(("direct", "new", "new_low", "old", "plain"))}
    add_events(
        db_url,
        [
            event("tax", "T-direct", o["direct"], "tax.major_violation", ago(10)),
            event("market", "R-new", o["new"], "registration.basic", ago(100), legal_rep_id=rep),
            event("market", "P-new", o["new"], "admin.penalty_general", ago(10)),
            event(
                "market", "R-low", o["new_low"], "registration.basic", ago(100), legal_rep_id=rep
            ),
            event("court", "C-low", o["new_low"], "court.dishonest_defaulter", ago(10)),
            event("market", "R-old", o["old"], "registration.basic", ago(400), legal_rep_id=rep),
            event("tax", "A-old", o["old"], "tax.grade_a", ago(10)),
            event("market", "H1-old", o["old"], "honor.contract_abiding", ago(10)),
            event("market", "H2-old", o["old"], "honor.contract_abiding", ago(12)),
            event("market", "P-old", o["old"], "admin.penalty_general", ago(10)),
            event(
                "market", "R-plain", o["plain"], "registration.basic", ago(365), legal_rep_id=rep
            ),
        ],
    )
    run("derive", "--db", db_url, "--as-of", AS_OF.isoformat())

    direct = rating_of(run, db_url, o["direct"])
    assert (direct["score"], direct["band"]) == (40, "D")  # the score alone would give C
    assert direct["reasons"][0] == {"code": "direct_band", "band": "D", "records": ["tax:T-direct"]}
    new = rating_of(run, db_url, o["new"])
    assert (new["score"], new["band"]) == (85, "M")
    assert new["reasons"][0] == {
        "code": "new_subject_band",
        "band": "M",
        "records": ["market:R-new"],
    }
    low = rating_of(run, db_url, o["new_low"])
    assert (low["score"], low["band"]) == (50, "C")  # registered recently but scores under 70
    old = rating_of(run, db_url, o["old"])
    # +10 grade A, +14 contract-abiding capped at +10, -15 penalty; two reasons at most, by
    # absolute points and then code.
    assert (old["score"], old["band"]) == (105, "A")
    assert [r["code"] for r in old["reasons"]] == [
        "admin.penalty_general",
        "honor.contract_abiding",
    ]
    assert old["reasons"][1]["points"] == 10
    plain = rating_of(run, db_url, o["plain"])  # registered exactly 365 days ago: not new
    assert (plain["score"], plain["band"]) == (100, "A")


SECOND_PERSON_RATING = """
[[ratings]]
code = "person_tax"
name = "Person tax score"
subject_kind = "person"
legal_basis = "Test rating basis"
base = 100
min_score = 0
max_score = 100
decay = [ { until_days = 1000000, percent = 100 } ]
points = [
  { category = "tax.major_violation", points = -20 },
  { category = "admin.penalty_general", points = -10 },
]
bands = [ { band = "OK", min_score = 90 }, { band = "BAD", min_score = 0 } ]

"""


def test_two_ratings_of_one_kind_score_apart(db_url: str, run: Any, tmp_path: Path) -> None:
    """A second person rating listed first, with an even number of point categories and a
    decay step past the calendar's start: each rating counts only its own categories, each
    with its own decay."""
    text = POLICY.read_text(encoding="utf-8")
    first = text.index("[[ratings]]")
    policy = tmp_path / "two_person_ratings.toml"
    policy.write_text(text[:first] + SECOND_PERSON_RATING + text[first:], encoding="utf-8")
    make_store(db_url, policy)
    someone = person(7)
    add_events(
        db_url,
        [
            event("court", "c1", someone, "court.dishonest_defaulter", ago(10)),
            event("market", "m1", someone, "admin.penalty_general", ago(1000)),
        ],
    )
    run("derive", "--db", db_url, "--as-of", AS_OF.isoformat(), "--full")
    report = json.loads(run("report", someone, "--db", db_url, "--json").stdout)
    ratings = {r["rating"]: r for r in report["ratings"]}
    assert (ratings["person_score"]["score"], ratings["person_score"]["band"]) == (893, "B")
    assert ratings["person_score"]["reasons"] == [
        {"code": "court.dishonest_defaulter", "points": -100, "records": ["court:c1"]},
        {"code": "admin.penalty_general", "points": -7, "records": ["market:m1"]},  # 25 %
    ]
    assert (ratings["person_tax"]["score"], ratings["person_tax"]["band"]) == (90, "OK")
    assert ratings["person_tax"]["reasons"] == [
        {"code": "admin.penalty_general", "points": -10, "records": ["market:m1"]}
    ]
