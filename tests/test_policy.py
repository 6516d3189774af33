"""The policy loader and the shipped national policy, mostly through ``socialcredit policy``.

Bad policies are made from the shipped one by editing its TOML text (so each test breaks exactly
one thing in an otherwise valid, realistic policy), or read from ``fixtures/policies``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import socialcredit.policy.defaults
from socialcredit.errors import PolicyError
from socialcredit.policy.checks import published_fields
from socialcredit.policy.load import load_default, load_policy, parse_policy
from socialcredit.policy.schema import PROTECTED_DOMAINS

Run = Callable[..., Any]

DEFAULT = load_default()
TEXT = DEFAULT.source
DEFAULT_PATH = Path(socialcredit.policy.defaults.__file__).parent / "national.toml"
FIXTURES = Path(__file__).parent / "fixtures" / "policies"
DOCS = Path(__file__).parents[1] / "docs" / "policy.md"

# The binding codes every other part of the system relies on.
BINDING = {
    "furnishers": {
        "court",
        "tax",
        "market",
        "bank",
        "hrss",
        "emergency",
        "ecology",
        "procurement",
        "civil_affairs",
    },
    "categories": {
        "registration.basic",
        "registration.deregistered",
        "court.dishonest_defaulter",
        "court.consumption_restriction",
        "court.enforcement_case",
        "court.fraud_conviction",
        "admin.licence_granted",
        "admin.penalty_minor",
        "admin.penalty_general",
        "admin.penalty_serious",
        "safety.production_penalty",
        "env.pollution_penalty",
        "professional.qualification",
        "professional.qualification_revoked",
        "market.abnormal_operation",
        "market.serious_illegal",
        "tax.major_violation",
        "tax.arrears",
        "tax.grade_a",
        "labor.wage_arrears",
        "procurement.debarment",
        "contract.public_contract_breach",
        "finance.loan_default",
        "finance.loan_repaid",
        "commitment.made",
        "commitment.breached",
        "honor.contract_abiding",
        "honor.trustworthy_model",
        "voluntary.self_declared",
    },
    "lists": {
        "court_defaulters",
        "court_consumption_restricted",
        "tax_major_violators",
        "market_serious_illegal",
        "wage_arrears_severe",
        "procurement_debarred",
        "abnormal_operations",
        "contract_honouring",
        "tax_grade_a",
    },
    "measures": {
        "flight",
        "g_train",
        "soft_sleeper",
        "star_hotel",
        "real_estate",
        "private_school",
        "luxury_travel",
        "public_tender",
        "fiscal_subsidy",
        "legal_rep_post",
        "key_supervision",
        "fast_track",
        "reduced_inspection",
    },
    "memoranda": {
        "spc_consumption",
        "severe_list_procurement",
        "key_supervision",
        "market_legal_rep_bar",
        "honour_incentives",
    },
    "ratings": {"person_score", "org_grade"},
}
CONSUMPTION = (
    "flight",
    "g_train",
    "soft_sleeper",
    "star_hotel",
    "real_estate",
    "private_school",
    "luxury_travel",
)


# --- editing the shipped TOML ---------------------------------------------------------------------


def edit(table: str, code: str, key: str, value: str | None, text: str = TEXT) -> str:
    """Set (or, with None, delete) a one-line ``key = ...`` in the ``[[table]]`` with ``code``."""
    start = text.index(f'[[{table}]]\ncode = "{code}"\n')
    end = text.find("\n[", start + 1)
    end = len(text) if end < 0 else end
    block = text[start:end]
    replacement = "" if value is None else f"{key} = {value}\n"
    block, found = re.subn(rf"^{key} = .*\n", lambda _: replacement, block, count=1, flags=re.M)
    assert found == 1, f"{table} {code} has no one-line key {key}"
    return text[:start] + block + text[end:]


def toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def with_category(**fields: object) -> str:
    """The shipped policy plus one category (valid unless ``fields`` make it otherwise)."""
    entry: dict[str, object] = {
        "code": "extra.category",
        "name": "Extra category",
        "catalogue_class": 3,
        "domain": "administration",
        "legal_basis": "Administrative Penalty Law Art 48",
        "polarity": "negative",
        "severity": "general",
        "furnishers": ["market"],
        "subject_kinds": ["person", "org"],
        "publication_min_days": 90,
        "publication_max_days": 365,
        "retention_days": 1825,
    }
    entry.update(fields)
    body = "".join(f"{k} = {toml(v)}\n" for k, v in entry.items())
    return f"{TEXT}\n[[categories]]\n{body}"


def index_of(section: str, code: str) -> int:
    items = getattr(DEFAULT.policy, section)
    return next(i for i, item in enumerate(items) if item.code == code)


def write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(run: Run, path: Path) -> str:
    """Check ``path`` through the CLI; it must be refused with exit 2. Returns stderr."""
    result = run("policy", "check", str(path), ok=False)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert path.name in result.stderr
    return str(result.stderr)


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


def test_docs_carry_the_current_catalogue_tables(run: Run) -> None:
    tables = run("policy", "show", "--markdown").stdout
    assert "`court.dishonest_defaulter`" in tables and "Fa Shi [2013] No. 17" in tables
    assert tables in DOCS.read_text(encoding="utf-8"), (
        "docs/policy.md is out of date: paste `socialcredit policy show --markdown` between its "
        "GENERATED markers"
    )


# --- refusals ---------------------------------------------------------------------------------

NEW = len(DEFAULT.policy.categories)  # the index of a category appended to the shipped policy

PROTECTED_CASES = [
    *({"domain": domain} for domain in sorted(PROTECTED_DOMAINS)),
    {"name": "Political opinions of staff"},
    {"code": "conduct.religious_practice"},
    {"name_zh": "宗教信仰登记"},
    {"name_zh": "民族成分"},
    {"name": "Ethnic origin"},
    {"code": "health.records"},
    {"name": "Medical history"},
    {"name_zh": "健康状况"},
    {"legal_basis": "Local rules on sexual conduct"},
    {"name": "Trade union membership"},
    {"name_zh": "工会会员"},
    {"name": "Relatives and friends of debtors"},
    {"name_zh": "亲友关系"},
    {"name": "Internet comments"},
    {"name_zh": "网络言论"},
    {"domain": "online_posts"},
]
EXPECTED_DOMAIN = [
    *sorted(PROTECTED_DOMAINS),
    "political_opinion",
    "religion",
    "religion",
    "ethnicity",
    "ethnicity",
    "health",
    "health",
    "health",
    "sexual_life",
    "union_membership",
    "union_membership",
    "social_connections",
    "social_connections",
    "online_speech",
    "online_speech",
    "online_speech",
]


@pytest.mark.parametrize(
    ("fields", "domain"), list(zip(PROTECTED_CASES, EXPECTED_DOMAIN, strict=True))
)
def test_protected_domains_are_refused(
    run: Run, tmp_path: Path, fields: dict[str, str], domain: str
) -> None:
    code = fields.get("code", "extra.category")
    stderr = refused(run, write(tmp_path, with_category(**fields)))
    field = next(iter(fields))
    assert f"categories[{NEW}] (code={code!r}).{field}" in stderr
    assert f"category {code!r} is in a protected domain ({domain}): no category may record it" in (
        stderr
    )


def test_legal_phrases_are_not_mistaken_for_protected_domains(run: Run, tmp_path: Path) -> None:
    text = with_category(
        code="food.drug_safety_penalty",
        name="Food and drug safety penalty (wealth products)",
        name_zh="食品药品安全行政处罚信息",
        domain="food_and_drug_safety",
        legal_basis="Food Safety Law; Guiding Opinions of the State Council; the principle of "
        "good faith; trace records of postal parcels",
    )
    result = run("policy", "check", str(write(tmp_path, text)), "--json")
    assert json.loads(result.stdout)["counts"]["categories"] == NEW + 1


@pytest.mark.parametrize("value", [None, '""', '"   "'])
def test_measure_without_legal_basis_is_refused(
    run: Run, tmp_path: Path, value: str | None
) -> None:
    stderr = refused(run, write(tmp_path, edit("measures", "flight", "legal_basis", value)))
    assert (
        f"measures[{index_of('measures', 'flight')}] (code='flight').legal_basis: measure "
        "'flight' has no legal basis: every consequence must name one"
    ) in stderr


@pytest.mark.parametrize(
    ("section", "code", "noun"),
    [
        ("lists", "court_defaulters", "list"),
        ("memoranda", "spc_consumption", "memorandum"),
        ("ratings", "person_score", "rating"),
        ("categories", "tax.arrears", "category"),
    ],
)
def test_every_consequence_needs_a_legal_basis(
    run: Run, tmp_path: Path, section: str, code: str, noun: str
) -> None:
    stderr = refused(run, write(tmp_path, edit(section, code, "legal_basis", None)))
    assert f"{section}[{index_of(section, code)}] (code={code!r}).legal_basis" in stderr
    assert f"{noun} {code!r} has no legal basis" in stderr


def test_memorandum_naming_an_unknown_list_is_refused(run: Run, tmp_path: Path) -> None:
    text = edit("memoranda", "key_supervision", "lists", '["tax_major_violators", "no_such_list"]')
    stderr = refused(run, write(tmp_path, text))
    at = index_of("memoranda", "key_supervision")
    assert (
        f"memoranda[{at}] (code='key_supervision').lists[1]: memorandum 'key_supervision' "
        "names unknown list 'no_such_list'"
    ) in stderr


def test_toml_syntax_errors_name_the_line(run: Run, tmp_path: Path) -> None:
    stderr = refused(run, FIXTURES / "syntax_error.toml")
    assert "syntax_error.toml:line 5, column" in stderr and "TOML syntax error" in stderr

    lines = TEXT.splitlines(keepends=True)
    broken = next(i for i, line in enumerate(lines) if line.startswith('code = "g_train"'))
    lines[broken] = 'code = "g_train\n'  # unterminated string
    stderr = refused(run, write(tmp_path, "".join(lines)))
    assert f"line {broken + 1}, column" in stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"365"', "should be an integer (no quotes) (got '365')"),
        ("true", "should be an integer (no quotes) (got True)"),
        ("365.0", "should be an integer (no quotes) (got 365.0)"),
    ],
)
def test_wrong_types_name_the_category_and_key(
    run: Run, tmp_path: Path, value: str, expected: str
) -> None:
    text = edit("categories", "tax.arrears", "publication_max_days", value)
    stderr = refused(run, write(tmp_path, text))
    at = index_of("categories", "tax.arrears")
    assert f"categories[{at}] (code='tax.arrears').publication_max_days: {expected}" in stderr


def test_reward_triggered_by_a_black_list_is_refused(run: Run, tmp_path: Path) -> None:
    text = TEXT + (
        '\n[[memoranda]]\ncode = "reward_the_listed"\nname = "Wrong"\n'
        'legal_basis = "Guofa [2016] No. 33"\nlists = ["court_defaulters"]\n'
        'measures = ["fast_track"]\n'
    )
    stderr = refused(run, write(tmp_path, text))
    assert (
        f"memoranda[{len(DEFAULT.policy.memoranda)}] (code='reward_the_listed').measures[0]: "
        "memorandum 'reward_the_listed': reward measure 'fast_track' may only be triggered "
        "by red lists, but list 'court_defaulters' is a black list"
    ) in stderr


EDITS: list[tuple[str, Callable[[], str], str]] = [
    (
        "sanction from a red list",
        lambda: edit("memoranda", "honour_incentives", "measures", '["flight"]'),
        "sanction measure 'flight' may only be triggered by black or watch lists, but list "
        "'contract_honouring' is a red list",
    ),
    (
        "unknown measure",
        lambda: edit("memoranda", "key_supervision", "measures", '["key_supervision", "exile"]'),
        "memorandum 'key_supervision' names unknown measure 'exile'",
    ),
    (
        "unknown furnisher",
        lambda: edit("categories", "tax.arrears", "furnishers", '["tax", "police"]'),
        "category 'tax.arrears' names unknown furnisher 'police'",
    ),
    (
        "unknown list category",
        lambda: edit("lists", "tax_grade_a", "categories", '["tax.grade_aa"]'),
        "list 'tax_grade_a' names unknown category 'tax.grade_aa'",
    ),
    (
        "duplicate code",
        lambda: edit("measures", "g_train", "code", '"flight"'),
        "duplicate measure code 'flight' (first at measures[0])",
    ),
    (
        "unknown direct band",
        lambda: TEXT.replace('direct_band = "D"  # SAT', 'direct_band = "E"  # SAT'),
        "rating 'org_grade': direct_band 'E' is not one of its bands (A, B, C, D)",
    ),
    (
        "unknown new-subject registration category",
        lambda: TEXT.replace(
            'registration_category = "registration.basic"',
            'registration_category = "registration.none"',
        ),
        "rating 'org_grade': unknown category 'registration.none'",
    ),
    (
        "rating category of the wrong subject kind",
        lambda: TEXT.replace(
            'category = "professional.qualification_revoked"', 'category = "labor.wage_arrears"'
        ),
        "rating 'person_score': category 'labor.wage_arrears' does not apply to person subjects",
    ),
    (
        "red list of a negative category",
        lambda: edit("lists", "tax_grade_a", "categories", '["tax.arrears"]'),
        "a red list takes positive categories, but 'tax.arrears' is negative",
    ),
    (
        "term without expiry",
        lambda: edit("lists", "tax_grade_a", "removal", '["revoked"]'),
        "list 'tax_grade_a' has term_days = 365, so removal must include 'expired'",
    ),
    (
        "list outlasting its category",
        lambda: edit("lists", "tax_grade_a", "term_days", "730"),
        "an entry may last 730 days, longer than category 'tax.grade_a' stays in force",
    ),
    (
        "field that may not be published",
        lambda: edit("lists", "court_defaulters", "publish_fields", '["name", "photo"]'),
        "'photo' is not a publishable field",
    ),
    (
        "unknown key",
        lambda: edit("measures", "flight", "agency", '"CAAC"').replace(
            'agency = "CAAC"', 'agent = "CAAC"'
        ),
        "(code='flight').agent: unknown key",
    ),
    (
        "missing key",
        lambda: edit("measures", "flight", "agency", None),
        "(code='flight').agency: required key is missing",
    ),
    (
        "bad literal",
        lambda: edit("categories", "tax.arrears", "severity", '"grave"'),
        "(code='tax.arrears').severity: input should be 'none', 'minor', 'general', 'serious' or "
        "'severe' (got 'grave')",
    ),
    (
        "quoted date",
        lambda: TEXT.replace("effective_from = 2026-04-01", 'effective_from = "2026-04-01"'),
        "policy.effective_from: should be a date, written YYYY-MM-DD without quotes",
    ),
    (
        "periods out of order",
        lambda: edit("categories", "tax.arrears", "publication_min_days", "400"),
        "(code='tax.arrears'): publication_min_days is greater than publication_max_days",
    ),
    (
        "minor information published too long",
        lambda: edit("categories", "admin.penalty_minor", "publication_max_days", "180"),
        "minor information is published for at most 90 days",
    ),
]


@pytest.mark.parametrize(
    ("make", "expected"), [(m, e) for _, m, e in EDITS], ids=[name for name, _, _ in EDITS]
)
def test_inconsistent_policies_are_refused(
    run: Run, tmp_path: Path, make: Callable[[], str], expected: str
) -> None:
    assert expected in refused(run, write(tmp_path, make()))


def test_every_problem_is_reported_not_only_the_first(run: Run, tmp_path: Path) -> None:
    text = edit("categories", "tax.arrears", "furnishers", '["tax", "police"]')
    text = edit("memoranda", "key_supervision", "measures", '["exile"]', text=text)
    path = write(tmp_path, text)
    result = run("policy", "check", str(path), "--json", ok=False)
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert [e["message"] for e in report["errors"]] == [
        "category 'tax.arrears' names unknown furnisher 'police'",
        "memorandum 'key_supervision' names unknown measure 'exile'",
    ]
    assert report["message"].endswith("(and 1 more problem)")
    assert "unknown measure 'exile'" in result.stderr  # the human report lists them all too


def test_the_python_api_raises_one_policy_error_with_every_problem() -> None:
    text = edit("measures", "flight", "legal_basis", None)
    text = edit("measures", "g_train", "legal_basis", None, text=text)
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "edited.toml")
    error = caught.value
    assert (error.status, error.code, error.file) == (422, "policy_invalid", "edited.toml")
    assert error.location == "measures[0] (code='flight').legal_basis"
    assert str(error).startswith("edited.toml:measures[0] (code='flight').legal_basis: ")
    assert [e["location"] for e in error.details["errors"]] == [
        "measures[0] (code='flight').legal_basis",
        "measures[1] (code='g_train').legal_basis",
    ]


def test_unreadable_files_are_refused(run: Run, tmp_path: Path) -> None:
    assert "cannot read the policy file" in refused(run, tmp_path / "missing.toml")
    gbk = tmp_path / "gbk.toml"
    gbk.write_bytes('[policy]\nname = "国家政策"\n'.encode("gb18030"))
    assert "not UTF-8 text" in refused(run, gbk)


def test_load_policy_reads_what_parse_policy_reads(tmp_path: Path) -> None:
    path = write(tmp_path, TEXT)
    loaded = load_policy(path)
    assert loaded.policy == DEFAULT.policy
    assert (loaded.sha256, loaded.source, loaded.file) == (DEFAULT.sha256, TEXT, str(path))
