"""The shipped national policy and ``socialcredit policy check/show`` on valid policies.

Refusals of bad policies are tested in ``test_policy_refusals.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import socialcredit.policy.defaults
from socialcredit.policy.checks import published_fields
from socialcredit.policy.load import load_default, load_policy

Run = Callable[..., Any]

DEFAULT = load_default()
TEXT = DEFAULT.source
DEFAULT_PATH = Path(socialcredit.policy.defaults.__file__).parent / "national.toml"
FIXTURES = Path(__file__).parent / "fixtures" / "policies"
DOCS = Path(__file__).parents[1] / "docs" / "policy.md"


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# The binding codes every other part of the system relies on.
BINDING = {
    "furnishers": set(
        words("court tax market bank hrss emergency ecology procurement civil_affairs")
    ),
    "categories": set(
        words("""
        registration.basic registration.deregistered court.dishonest_defaulter
        court.consumption_restriction court.enforcement_case court.fraud_conviction
        admin.licence_granted admin.penalty_minor admin.penalty_general admin.penalty_serious
        safety.production_penalty env.pollution_penalty professional.qualification
        professional.qualification_revoked market.abnormal_operation market.serious_illegal
        tax.major_violation tax.arrears tax.grade_a labor.wage_arrears procurement.debarment
        contract.public_contract_breach finance.loan_default finance.loan_repaid commitment.made
        commitment.breached honor.contract_abiding honor.trustworthy_model voluntary.self_declared
        """)
    ),
    "lists": set(
        words("""
        court_defaulters court_consumption_restricted tax_major_violators market_serious_illegal
        wage_arrears_severe procurement_debarred abnormal_operations contract_honouring tax_grade_a
        """)
    ),
    "measures": set(
        words("""
        flight g_train soft_sleeper star_hotel real_estate private_school luxury_travel
        public_tender fiscal_subsidy legal_rep_post key_supervision fast_track reduced_inspection
        """)
    ),
    "memoranda": set(
        words("""
        spc_consumption severe_list_procurement key_supervision market_legal_rep_bar
        honour_incentives
        """)
    ),
    "ratings": {"person_score", "org_grade"},
}
CONSUMPTION = words(
    "flight g_train soft_sleeper star_hotel real_estate private_school luxury_travel"
)


# --- the shipped policy ---------------------------------------------------------------------------


def test_shipped_policy_has_every_binding_code() -> None:
    policy = DEFAULT.policy
    for section, codes in BINDING.items():
        assert {item.code for item in getattr(policy, section)} == codes, section
    assert policy.version == "CN-2026.1"
    assert policy.policy.effective_from.isoformat() == "2026-04-01"


def test_shipped_policy_follows_the_real_rules() -> None:
    policy = DEFAULT.policy
    tiers = {"general": (90, 365), "serious": (365, 1095)}
    for cat in policy.categories:
        assert len(cat.legal_basis) > 20, cat.code  # a real citation, not a placeholder
        if cat.polarity == "negative":
            assert cat.retention_days >= 1825, cat.code  # 5 years (Credit Reporting Reg. Art 16)
        if cat.severity == "minor":
            assert not cat.publish and cat.publication_max_days <= 90
        if cat.severity in tiers and cat.publish:
            assert cat.publication_min_days == tiers[cat.severity][0], cat.code
    for code in ("court.dishonest_defaulter", "court.consumption_restriction"):
        assert policy.category(code).min_subject_age == 18  # type: ignore[union-attr]
    assert policy.category("registration.basic").carries_legal_rep  # type: ignore[union-attr]

    court = policy.list_rule("court_defaulters")
    assert court is not None
    assert (court.kind, court.term_days, court.max_extension_days) == ("black", 730, 1095)
    assert court.no_term_grounds == ("ability_refusal",)
    assert set(court.removal) == {"fulfilled", "revoked", "expired"}
    assert court.removal_sla_working_days == 3
    assert policy.list_rule("court_consumption_restricted").term_days is None  # type: ignore[union-attr]
    for rule in policy.lists:
        if rule.kind != "red":
            assert "两书同达" in rule.notice and "Restoration" in rule.notice, rule.code
    assert published_fields(court, "person") == (
        "name",
        "masked_id",
        "document_no",
        "decided_on",
        "furnisher",
        "ground",
    )
    assert {"subject_id", "legal_rep_name"} <= set(published_fields(court, "org"))

    assert {m.code for m in policy.measures if m.kind == "reward"} == {
        "fast_track",
        "reduced_inspection",
    }
    spc = next(m for m in policy.memoranda if m.code == "spc_consumption")
    assert spc.measures == CONSUMPTION and spc.extends_to_legal_representative
    assert set(spc.lists) == {"court_defaulters", "court_consumption_restricted"}
    procurement = next(m for m in policy.memoranda if m.code == "severe_list_procurement")
    assert set(procurement.lists) == {r.code for r in policy.lists if r.kind == "black"}

    person, org = (
        next(r for r in policy.ratings if r.code == c) for c in ("person_score", "org_grade")
    )
    assert (person.base, person.min_score, person.max_score) == (1000, 0, 1200)
    assert [(b.band, b.min_score) for b in person.bands] == [
        ("AAA", 1050),
        ("AA", 1030),
        ("A", 960),
        ("B", 850),
        ("C", 600),
        ("D", 0),
    ]
    assert [(s.until_days, s.percent) for s in person.decay] == [(365, 100), (730, 50), (1095, 25)]
    assert (org.base, org.min_score, org.max_score) == (100, 0, 120)
    assert [(b.band, b.min_score) for b in org.bands] == [("A", 90), ("B", 70), ("C", 40), ("D", 0)]
    assert {p.category for p in org.points if p.direct_band == "D"} == {
        "tax.major_violation",
        "market.serious_illegal",
    }
    assert org.new_subject_band is not None
    assert (
        org.new_subject_band.band,
        org.new_subject_band.registered_within_days,
        org.new_subject_band.min_score,
        org.new_subject_band.registration_category,
    ) == ("M", 365, 70, "registration.basic")
    assert all(r.advisory for r in policy.ratings)


def test_check_accepts_the_shipped_policy(run: Run) -> None:
    result = run("policy", "check", str(DEFAULT_PATH), "--json")
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert report["version"] == "CN-2026.1"
    assert report["effective_from"] == "2026-04-01"
    assert report["counts"] == {section: len(codes) for section, codes in BINDING.items()}
    assert report["sha256"] == hashlib.sha256(DEFAULT_PATH.read_bytes()).hexdigest()

    human = run("policy", "check", str(DEFAULT_PATH))
    assert "valid policy CN-2026.1" in human.stdout and "2026-04-01" in human.stdout


def test_check_accepts_a_minimal_policy(run: Run) -> None:
    result = run("policy", "check", str(FIXTURES / "minimal.toml"))
    assert "valid policy minimal-1" in result.stdout


def test_show_prints_the_default_or_a_given_file(run: Run) -> None:
    shown = json.loads(run("policy", "show", "--json").stdout)
    assert shown["version"] == "CN-2026.1"
    assert {c["code"] for c in shown["policy"]["categories"]} == BINDING["categories"]
    assert shown["sha256"] == DEFAULT.sha256

    minimal = json.loads(
        run("policy", "show", "--file", str(FIXTURES / "minimal.toml"), "--json").stdout
    )
    assert minimal["version"] == "minimal-1"
    assert minimal["counts"]["memoranda"] == 1

    tables = run("policy", "show").stdout
    for code in ("court.dishonest_defaulter", "court_defaulters", "spc_consumption", "org_grade"):
        assert code in tables


def test_show_gives_the_version_in_force_in_a_store(run: Run, tmp_path: Path) -> None:
    """``--db``: the version a store holds in force today, or ``--as-of`` a date (what
    ``derive`` uses then)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    run("init", "--db", url, "--policy", str(FIXTURES / "minimal.toml"))  # from 2026-01-01
    run("init", "--db", url)  # the shipped default, in force from 2026-04-01
    shown = json.loads(run("policy", "show", "--db", url, "--json").stdout)
    assert shown["version"] == "CN-2026.1" and shown["sha256"] == DEFAULT.sha256
    earlier = run("policy", "show", "--db", url, "--as-of", "2026-02-01", "--json").stdout
    assert json.loads(earlier)["version"] == "minimal-1"
    assert "minimal-1" in run("policy", "show", "--db", url, "--as-of", "2026-02-01").stdout

    before_any = run("policy", "show", "--db", url, "--as-of", "2025-12-31", ok=False)
    assert before_any.exit_code != 0 and "no policy in force on 2025-12-31" in before_any.output
    both = run("policy", "show", "--db", url, "--file", str(FIXTURES / "minimal.toml"), ok=False)
    assert both.exit_code == 2 and "give one" in both.output
    dated = run("policy", "show", "--as-of", "2026-02-01", ok=False)
    assert dated.exit_code == 2 and "give --db" in dated.output
    missing = run("policy", "show", "--db", f"sqlite:///{tmp_path / 'none.db'}", ok=False)
    assert missing.exit_code != 0 and "no store at" in missing.output
    assert not (tmp_path / "none.db").exists()
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    junk = run("policy", "show", "--db", f"sqlite:///{tmp_path / 'junk.db'}", ok=False)
    assert junk.exit_code == 1 and "cannot use the store" in junk.output
    assert "Traceback" not in junk.output


def test_docs_carry_the_current_catalogue_tables(run: Run) -> None:
    tables = run("policy", "show", "--markdown").stdout
    assert "`court.dishonest_defaulter`" in tables and "Fa Shi [2013] No. 17" in tables
    assert tables in DOCS.read_text(encoding="utf-8"), (
        "docs/policy.md is out of date: paste `socialcredit policy show --markdown` between its "
        "GENERATED markers"
    )


def test_load_policy_reads_what_parse_policy_reads(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(TEXT, encoding="utf-8")
    loaded = load_policy(path)
    assert loaded.policy == DEFAULT.policy
    assert (loaded.sha256, loaded.source, loaded.file) == (DEFAULT.sha256, TEXT, str(path))


def test_decision_bases_cite_each_document_once() -> None:
    """A decision's basis is its measure's and its memorandum's, which often cite the same
    document (the incentives of Guofa [2016] No. 33): each citation appears once."""
    from socialcredit.derive.policy_tables import policy_tables

    rows = policy_tables(load_default().policy).memo_measures.to_pylist()
    assert rows
    for row in rows:
        parts = [part.strip() for part in row["decision_basis"].split(";")]
        assert len(parts) == len(set(parts)), row
    fast_track = [row for row in rows if row["measure"] == "fast_track"]
    assert fast_track and all(
        row["decision_basis"].count("Guofa [2016] No. 33") == 1 for row in fast_track
    )
