"""Identifier schemes: validate, normalise, describe.

Wraps python-stdnum for the check characters (GB 11643 MOD 11-2, GB 32100 mod 31) and the
area-code table. Two rules differ from stdnum on purpose:

- an area code is real if it existed at *any* time: codes are assigned at registration (from
  1984 on), not at birth, so stdnum's "existed in the birth year" test rejects many real IDs of
  people born before the 1980s;
- a USCC's first two characters (department, category) may be letters (``Y1``, ``A1``), which
  GB 32100 allows and stdnum rejects.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any, Literal

from stdnum import numdb
from stdnum.cn import ric, uscc

from socialcredit.errors import InvalidIdentifier

Scheme = Literal["cn_ric", "cn_uscc"]
SubjectKind = Literal["person", "org"]

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# A USCC's first character, the registration-management department: 1 establishment, 5 civil
# affairs, 9 market regulation, Y other, and the further codes some sources list (2-8, A-G, N).
# Never 0: an all-zero "code" is what exports put where the identifier is unknown.
USCC_DEPARTMENTS = "123456789ABCDEFGNY"
NATIONAL_DIVISION = "100000"  # organisations registered by a national authority
_SEPARATORS = str.maketrans("", "", " -\t\u3000")
_EARLIEST_BIRTH = dt.date(1880, 1, 1)
# A number a spreadsheet showed in scientific notation ("1.10101199001011E+17"): Excel keeps 15
# significant digits, so an 18-digit ID stored as a number has lost its last ones for good.
_SCIENTIFIC = re.compile(r"[0-9](?:\.[0-9]+)?E\+?0?(?:1[5-9]|[2-9][0-9])")  # 16 digits or more


@dataclass(frozen=True, slots=True)
class IdCheck:
    """The outcome of checking one identifier, as printed by ``socialcredit ids check --json``."""

    input: str
    valid: bool
    scheme: Scheme | None
    normalised: str | None
    error: str | None
    legacy: bool = False
    kind: SubjectKind | None = None
    birth_date: dt.date | None = None
    sex: Literal["M", "F"] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["birth_date"] = self.birth_date.isoformat() if self.birth_date else None
        return data


def normalise(raw: str) -> str:
    """Full-width to ASCII (NFKC), separators removed, upper case: what real exports contain."""
    return unicodedata.normalize("NFKC", raw).strip().translate(_SEPARATORS).upper()


@functools.cache  # a few thousand codes; stdnum's table look-up costs 30-150 µs a call
def area_code_exists(code6: str) -> bool:
    """True when the county-level code appears in the national table at any time."""
    parts = numdb.get("cn/loc").info(code6)
    return any("county" in props for _, props in parts)


@functools.cache
def province_exists(code2: str) -> bool:
    """True when the two digits are a province-level code of the national table. A USCC's
    division may be a development zone or new area the table does not list (320594, Suzhou
    Industrial Park; 133100, Xiong'an), so only its province is required to exist."""
    parts = numdb.get("cn/loc").info(code2 + "0000")
    return any("province" in props for _, props in parts)


def _birth_date(digits8: str) -> dt.date | None:
    try:
        return dt.date(int(digits8[:4]), int(digits8[4:6]), int(digits8[6:8]))
    except ValueError:
        return None


def _check_ric(raw: str, value: str, today: dt.date) -> IdCheck:
    def bad(why: str) -> IdCheck:
        return IdCheck(raw, False, "cn_ric", None, why)

    if not value[:17].isdigit() or value[17] not in "0123456789X":
        return bad("resident ID: characters 1-17 must be digits and 18 a digit or X")
    born = _birth_date(value[6:14])
    if born is None:
        return bad(f"resident ID: birth date {value[6:14]} is not a real date")
    if born > today or born < _EARLIEST_BIRTH:
        return bad(f"resident ID: birth date {born.isoformat()} is out of range")
    expected = ric.calc_check_digit(value)
    if value[17] != expected:
        why = f"resident ID: check character is {value[17]}, expected {expected}"
        if value.endswith("000"):  # what is left of an ID a spreadsheet kept as a number
            why += "; it ends in 000, as an ID does when a spreadsheet kept it to 15 digits"
        return bad(why)
    if not area_code_exists(value[:6]):
        return bad(f"resident ID: area code {value[:6]} is not a county-level code")
    sex: Literal["M", "F"] = "M" if int(value[16]) % 2 else "F"
    return IdCheck(raw, True, "cn_ric", value, None, kind="person", birth_date=born, sex=sex)


def _check_legacy_ric(raw: str, value: str) -> IdCheck:
    """15-digit GB 11643-1989 numbers: recognised, reported, never silently upgraded."""
    born = _birth_date("19" + value[6:12])
    why = "legacy 15-digit resident ID (GB 11643-1989): the 18-digit number is required"
    if born is None:
        why += f"; its birth date 19{value[6:12]} is not a real date"
    return IdCheck(raw, False, "cn_ric", None, why, legacy=True, kind="person", birth_date=born)


def _check_uscc(raw: str, value: str) -> IdCheck:
    def bad(why: str) -> IdCheck:
        return IdCheck(raw, False, "cn_uscc", None, why)

    if any(c not in USCC_ALPHABET for c in value):
        odd = sorted({c for c in value if c not in USCC_ALPHABET})
        return bad(f"USCC: characters {''.join(odd)} are not allowed (no I, O, Z, S, V)")
    if value[0] not in USCC_DEPARTMENTS:
        return bad(
            f"USCC: character 1 ({value[0]}) is not a registration-management department code "
            f"(one of {' '.join(USCC_DEPARTMENTS)})"
        )
    if not value[2:8].isdigit():
        return bad("USCC: characters 3-8 (division code) must be digits")
    if value[2:8] != NATIONAL_DIVISION and not province_exists(value[2:4]):
        return bad(
            f"USCC: characters 3-8 ({value[2:8]}) are not an administrative division code "
            f"(no province {value[2:4]})"
        )
    expected = uscc.calc_check_digit(value)
    if value[17] != expected:
        return bad(f"USCC: check character is {value[17]}, expected {expected}")
    return IdCheck(raw, True, "cn_uscc", value, None, kind="org")


def _ric_shaped(value: str) -> bool:
    """17 digits, a digit or X, and a birth century of 18, 19 or 20 in characters 7-8."""
    return value[:17].isdigit() and value[17] in "0123456789X" and value[6:8] in ("18", "19", "20")


_ORG_CODE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _org_code_checks(code9: str) -> bool:
    """GB 11714 check character of the organisation code inside a USCC (positions 9-17)."""
    if any(c not in _ORG_CODE_ALPHABET for c in code9[:8]):
        return False
    total = sum(
        _ORG_CODE_ALPHABET.index(c) * w for c, w in zip(code9[:8], _ORG_CODE_WEIGHTS, strict=True)
    )
    expected = {10: "X", 11: "0"}.get(11 - total % 11, str(11 - total % 11))
    return code9[8] == expected


@functools.lru_cache(maxsize=1 << 18)
def _check_cached(raw: str, today: dt.date) -> IdCheck:
    value = normalise(raw)
    if not value:
        return IdCheck(raw, False, None, None, "empty identifier")
    if len(value) == 15 and value.isdigit():
        return _check_legacy_ric(raw, value)
    if _SCIENTIFIC.fullmatch(value):
        why = (
            f"written as a number in scientific notation ({raw.strip()}): a spreadsheet stored the "
            "identifier as a number and lost the digits after the 15th; furnish the column as text"
        )
        return IdCheck(raw, False, None, None, why)
    if len(value) != 18:
        return IdCheck(
            raw,
            False,
            None,
            None,
            f"length {len(value)}: resident IDs and USCCs have 18 characters",
        )
    if not _ric_shaped(value):
        return _check_uscc(raw, value)
    person = _check_ric(raw, value, today)
    if person.valid or _birth_date(value[6:14]) is not None:
        # A real birth date makes it a resident ID and only that: a mistyped resident ID must
        # never pass as an organisation's code by the chance of the USCC check. (A real USCC of
        # that rare shape fails here with a resident-ID reason and waits in the review queue.)
        return person
    # No real date: an all-digit USCC is accepted only when its embedded GB 11714
    # organisation code checks as well as its own check character.
    organisation = _check_uscc(raw, value)
    return organisation if organisation.valid and _org_code_checks(value[8:17]) else person


def check(raw: str, *, today: dt.date | None = None) -> IdCheck:
    """Check one identifier of any supported scheme; never raises for bad input."""
    return _check_cached(raw, today or dt.date.today())


def require_valid(raw: str, *, today: dt.date | None = None) -> IdCheck:
    """Check one identifier and raise InvalidIdentifier with the specific reason when it fails."""
    result = check(raw, today=today)
    if not result.valid:
        raise InvalidIdentifier(raw, result.error or "invalid")
    return result


def mask(value: str) -> str:
    """The published form of a person's ID: area and birth year visible, the rest hidden."""
    return value[:10] + "****" + value[14:16] + "**" if len(value) == 18 else "*" * len(value)
