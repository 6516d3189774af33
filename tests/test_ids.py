"""``socialcredit ids check`` through the CLI, with the fixtures of the reference rules."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from socialcredit import ids


def check_json(run, *values: str) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    result = run("ids", "check", *values, "--json", ok=False)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("raw", "scheme", "normalised"),
    [
        ("11010519491231002X", "cn_ric", "11010519491231002X"),  # GB 11643 appendix A
        ("11010519491231002x", "cn_ric", "11010519491231002X"),  # lower-case x
        (" 110105-1949 1231 002X ", "cn_ric", "11010519491231002X"),  # separators, whitespace
        ("１１０１０５１９４９１２３１００２Ｘ", "cn_ric", "11010519491231002X"),  # full width
        ("110105200002290013", "cn_ric", "110105200002290013"),  # leap day
        ("914403001922038216", "cn_uscc", "914403001922038216"),
        ("91100000100003962T", "cn_uscc", "91100000100003962T"),
        ("91110108MA01AB2C3T", "cn_uscc", "91110108MA01AB2C3T"),
        # Registered by a development zone or new area the division table does not list.
        ("91320594MA01AB2C3J", "cn_uscc", "91320594MA01AB2C3J"),  # Suzhou Industrial Park
        ("91133100MA01AB2C3L", "cn_uscc", "91133100MA01AB2C3L"),  # Xiong'an New Area
    ],
)
def test_valid_identifiers_are_normalised(run, raw: str, scheme: str, normalised: str) -> None:  # type: ignore[no-untyped-def]
    [out] = check_json(run, raw)
    described = ids.check(normalised)
    assert out == {
        "input": raw,
        "valid": True,
        "scheme": scheme,
        "normalised": normalised,
        "error": None,
        "legacy": False,
        "kind": "person" if scheme == "cn_ric" else "org",
        "birth_date": described.birth_date.isoformat() if described.birth_date else None,
        "sex": described.sex,
    }
    if normalised == "11010519491231002X":
        assert (out["birth_date"], out["sex"]) == ("1949-12-31", "F")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("110105199902300013", "not a real date"),
        ("91100000100003962A", "check character is A, expected T"),
        ("91110108717809965C", "check character"),
        ("9133010057462616XH", "check character"),
        ("11010519491231002", "length 17"),
        ("ABC", "length 3"),
        ("", "empty"),
        ("91I10108MA01AB2C3T", "not allowed"),
        ("999999199001011234", "check character"),
        ("2.20524196903020E+17", "scientific notation"),  # a number cell of a spreadsheet
        ("2.2052E+17", "lost the digits after the 15th"),  # as its CSV export shows it
        ("2.20524196903020E+017", "(2.20524196903020E+017)"),  # a 3-digit exponent, as given
        ("220524196903020000", "ends in 000"),  # the same number shown with all its digits
        ("1E5", "length 3"),  # too short to have lost digits
        # The check character passes, but what it checks is no organisation: the all-zero
        # placeholder of exports, a department 0, a division code that never existed.
        ("000000000000000000", "character 1 (0) is not a registration-management department"),
        ("01110108MA01AB2C34", "character 1 (0) is not a registration-management department"),
        ("91999900MA01AB2C3N", "(999900) are not an administrative division code (no province"),
    ],
)
def test_invalid_identifiers_say_why(run, raw: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    [out] = check_json(run, raw)
    assert out["valid"] is False and out["normalised"] is None
    assert reason in str(out["error"])


def test_legacy_15_digit_is_reported_not_accepted(run) -> None:  # type: ignore[no-untyped-def]
    [out] = check_json(run, "110105491231002")
    assert out["valid"] is False and out["legacy"] is True and out["scheme"] == "cn_ric"
    assert "15-digit" in str(out["error"])


def test_exit_code_and_table(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert run("ids", "check", "11010519491231002X").exit_code == 0
    bad = run("ids", "check", "11010519491231002X", "123", ok=False)
    assert bad.exit_code == 1
    assert "length 3" in bad.stdout
    # The normalised ID stays whole on one line in a narrow terminal (it is copied onwards).
    monkeypatch.setenv("COLUMNS", "50")
    narrow = run("ids", "check", " 11010519491231002x ", "91110119MAQ996T45C")
    lines = narrow.stdout.splitlines()
    for normalised in ("11010519491231002X", "91110119MAQ996T45C"):
        assert any(normalised in line for line in lines), narrow.stdout


def test_unknown_area_code_is_refused() -> None:
    body = "999999" + "19900101" + "123"
    value = body + ric.calc_check_digit(body + "0")
    result = ids.check(value)
    assert not result.valid and "area code 999999" in str(result.error)


def test_area_code_that_existed_before_birth_year_is_accepted() -> None:
    # 110103 (崇文区) was abolished in 2010; people registered there before keep their number.
    body = "110103" + "20120101" + "123"
    value = body + ric.calc_check_digit(body + "0")
    assert not ric.is_valid(value)  # stdnum's birth-year rule rejects it
    assert ids.check(value).valid


@settings(max_examples=200, deadline=None)
@given(
    st.dates(
        min_value=__import__("datetime").date(1920, 1, 1),
        max_value=__import__("datetime").date(2008, 12, 31),
    ),
    st.integers(min_value=0, max_value=999),
)
def test_agrees_with_stdnum_on_current_codes(born, seq: int) -> None:  # type: ignore[no-untyped-def]
    body = "110105" + born.strftime("%Y%m%d") + f"{seq:03d}"  # 朝阳区: a code since 1949
    value = body + ric.calc_check_digit(body + "0")
    assert ids.check(value).valid == ric.is_valid(value) is True
    wrong = body + ("0" if value[-1] != "0" else "1")
    assert not ids.check(wrong).valid  # never rescued as a USCC
    assert ids.check(wrong).scheme == "cn_ric"


@pytest.mark.parametrize(
    "value",
    [
        "91150823280104970K",  # digits 7-14 read as 2328-01-04: still an organisation
        "914403001922038216",  # ends in a digit and embeds a valid GB 11714 code (19220382-1)
    ],
)
def test_all_digit_usccs_are_not_mistaken_for_resident_ids(value: str) -> None:
    result = ids.check(value)
    assert result.valid and result.scheme == "cn_uscc"
