"""What the policy loader refuses, through ``socialcredit policy check``.

Bad policies are made from the shipped one by editing its TOML text (so each test breaks exactly
one thing in an otherwise valid, realistic policy), or read from ``fixtures/policies``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from socialcredit.errors import PolicyError
from socialcredit.policy.load import load_default, parse_policy
from socialcredit.policy.schema import PROTECTED_DOMAINS

Run = Callable[..., Any]

DEFAULT = load_default()
TEXT = DEFAULT.source
FIXTURES = Path(__file__).parent / "fixtures" / "policies"


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


# --- refusals ---------------------------------------------------------------------------------

NEW = len(DEFAULT.policy.categories)  # the index of a category appended to the shipped policy

PROTECTED_CASES: list[tuple[dict[str, str], str]] = [
    *(({"domain": domain}, domain) for domain in sorted(PROTECTED_DOMAINS)),
    ({"name": "Political opinions of staff"}, "political_opinion"),
    ({"code": "conduct.religious_practice"}, "religion"),
    ({"name_zh": "宗教信仰登记"}, "religion"),
    ({"name_zh": "民族成分"}, "ethnicity"),
    ({"name": "Ethnic origin"}, "ethnicity"),
    ({"code": "health.records"}, "health"),
    ({"name": "Medical history"}, "health"),
    ({"name_zh": "健康状况"}, "health"),
    ({"legal_basis": "Local rules on sexual conduct"}, "sexual_life"),
    ({"name": "Trade union membership"}, "union_membership"),
    ({"name_zh": "工会会员"}, "union_membership"),
    ({"name": "Relatives and friends of debtors"}, "social_connections"),
    ({"name_zh": "亲友关系"}, "social_connections"),
    ({"name": "Internet comments"}, "online_speech"),
    ({"name_zh": "网络言论"}, "online_speech"),
    ({"domain": "online_posts"}, "online_speech"),
]


@pytest.mark.parametrize(("fields", "domain"), PROTECTED_CASES)
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


def test_a_no_term_ground_must_be_a_ground_of_the_category(run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from socialcredit.policy.load import load_default

    text = load_default().source.replace(
        'no_term_grounds = ["ability_refusal"]', 'no_term_grounds = ["ability_refusal", "bribery"]'
    )
    bad = tmp_path / "grounds.toml"
    bad.write_text(text, encoding="utf-8")
    result = run("policy", "check", str(bad), ok=False)
    assert result.exit_code == 2
    assert "ground 'bribery' is not among the grounds of category" in result.output
