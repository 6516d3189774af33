"""Organisations with valid GB 32100 unified social credit codes, names and legal representatives.

A USCC is department+category code (91 enterprise, 92 individual business, 51 social group ...),
a real division code, a GB 11714 organisation code (8-character body + mod-11 check) and the
mod-31 check character. Bodies of orgs registered since the 2015 reform look like ``MA01AB2C``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from socialcredit.synth.areas import area_table
from socialcredit.synth.codes import (
    USCC_ALPHABET,
    digits_to_chars,
    org_check,
    to_strings,
    uscc_check,
)
from socialcredit.synth.names import vocabulary
from socialcredit.synth.persons import LEGAL_REP_DAYS, Persons
from socialcredit.synth.table import compact

# Department+category codes and their shares (enterprises dominate records of public credit).
ORG_KINDS: dict[str, float] = {
    "91": 0.72,
    "92": 0.12,
    "93": 0.03,
    "51": 0.03,
    "52": 0.04,
    "53": 0.005,
    "11": 0.025,
    "12": 0.03,
}
# Name endings per kind code; 91 combines an industry with a company form instead.
_ENDINGS: dict[str, tuple[str, ...]] = {
    "92": ("便利店", "餐馆", "商行", "五金店", "经营部", "服装店"),
    "93": ("种植专业合作社", "养殖专业合作社", "农机专业合作社"),
    "51": ("行业协会", "商会", "研究会"),
    "52": ("培训学校", "养老服务中心", "社会工作服务中心"),
    "53": ("慈善基金会", "公益基金会"),
    "11": (
        "教育局",
        "市场监督管理局",
        "人力资源和社会保障局",
        "住房和城乡建设局",
        "卫生健康委员会",
    ),
    "12": ("人民医院", "第一中学", "实验小学", "疾病预防控制中心", "档案馆"),
}
_COMPANY_FORMS = ("有限公司", "有限责任公司", "股份有限公司")
_COMPANY_FORM_P = (0.6, 0.3, 0.1)
USCC_REFORM = np.datetime64("2015-10-01")
# Registration ages: exponential with this mean (young firms dominate), at most this many years.
MEAN_YEARS_REGISTERED = 7.0
MAX_YEARS_REGISTERED = 30
_BODY_LETTERS = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
_MAX_UNIQUE_ROUNDS = 50


@dataclass(frozen=True, slots=True)
class Orgs:
    uscc: NDArray[np.str_]
    names: NDArray[np.str_]
    kind_code: NDArray[np.str_]  # "91" ...
    area: NDArray[np.int64]  # index into the area table
    registered_on: NDArray[np.datetime64]
    legal_rep: NDArray[np.int64]  # index into persons

    def __len__(self) -> int:
        return len(self.uscc)


def _bodies(new_style: NDArray[np.bool_], rng: np.random.Generator) -> NDArray[np.uint8]:
    """8-character GB 11714 bodies: 8 digits before the reform, 'MA' + 6 alphabet chars after."""
    n = len(new_style)
    body = digits_to_chars(rng.integers(10_000_000, 100_000_000, n), 8)
    modern = np.empty((n, 8), dtype=np.uint8)
    modern[:, 0], modern[:, 1] = ord("M"), ord("A")
    modern[:, 2:] = _BODY_LETTERS[rng.integers(0, len(_BODY_LETTERS), (n, 6))]
    return np.where(new_style[:, None], modern, body)


def make_usccs(
    kind_code: NDArray[np.str_],
    division: NDArray[np.str_],
    registered_on: NDArray[np.datetime64],
    rng: np.random.Generator,
) -> NDArray[np.str_]:
    n = len(kind_code)
    chars = np.empty((n, 18), dtype=np.uint8)
    chars[:, :2] = np.ascontiguousarray(kind_code.astype("S2")).view(np.uint8).reshape(n, 2)
    chars[:, 2:8] = np.ascontiguousarray(division.astype("S6")).view(np.uint8).reshape(n, 6)
    new_style = registered_on >= USCC_REFORM
    redraw = np.ones(n, dtype=bool)
    for _ in range(_MAX_UNIQUE_ROUNDS):
        chars[redraw, 8:16] = _bodies(new_style[redraw], rng)
        chars[:, 16] = org_check(chars[:, 8:16])
        # Organisation codes are unique nationally, whatever the division.
        bodies = np.ascontiguousarray(chars[:, 8:16]).view("S8").ravel()
        _, first = np.unique(bodies, return_index=True)
        redraw = _reads_as_resident_id(chars[:, :17])
        redraw[np.setdiff1d(np.arange(n), first)] = True
        if not redraw.any():
            break
    else:  # pragma: no cover
        raise RuntimeError("could not draw unique organisation codes")
    chars[:, 17] = uscc_check(chars[:, :17])
    return to_strings(chars)


def _reads_as_resident_id(first17: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """All 17 digits with a calendar date at characters 7-14: ``ids.check`` reads such a code
    as a (mistyped) resident ID, never as a USCC, so the generator does not issue one."""
    digits = ((first17 >= ord("0")) & (first17 <= ord("9"))).all(axis=1)
    value = first17.astype(np.int64) - ord("0")
    year = value[:, 6] * 1000 + value[:, 7] * 100 + value[:, 8] * 10 + value[:, 9]
    month = value[:, 10] * 10 + value[:, 11]
    day = value[:, 12] * 10 + value[:, 13]
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    last = month_days[np.clip(month, 0, 12)] + ((month == 2) & leap)
    valid = digits & (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= last)
    return np.asarray(valid, dtype=bool)


def _names(
    kind_code: NDArray[np.str_], area: NDArray[np.int64], rng: np.random.Generator
) -> NDArray[np.str_]:
    vocab, areas = vocabulary(), area_table()
    n = len(kind_code)
    city, county = areas.city[area], areas.name[area]
    trade = vocab.trade_names[rng.integers(0, len(vocab.trade_names), n)]
    industry = vocab.industries[rng.integers(0, len(vocab.industries), n)]
    form = np.array(_COMPANY_FORMS)[rng.choice(len(_COMPANY_FORMS), n, p=_COMPANY_FORM_P)]
    names = np.strings.add(np.strings.add(np.strings.add(city, trade), industry), form)
    names = names.astype("U64")  # room for the longer endings assigned below
    for code, endings in _ENDINGS.items():
        mine = kind_code == code
        ending = np.array(endings)[rng.integers(0, len(endings), int(mine.sum()))]
        # Government organs and public institutions are named after their county, not a trade.
        stem = county[mine] if code in ("11", "12") else np.strings.add(city[mine], trade[mine])
        names[mine] = np.strings.add(stem, ending)
    return compact(names)


def generate_orgs(m: int, today: dt.date, persons: Persons, rng: np.random.Generator) -> Orgs:
    areas = area_table()
    codes = np.array(list(ORG_KINDS))
    share = np.array(list(ORG_KINDS.values()))
    kind_code = codes[rng.choice(len(codes), m, p=share / share.sum())]
    current = np.flatnonzero(areas.current)
    area = current[rng.integers(0, len(current), m)]
    latest = np.datetime64(today, "D") - np.timedelta64(2, "D")
    reps_pool = np.flatnonzero(persons.birth + np.timedelta64(LEGAL_REP_DAYS, "D") <= latest)
    legal_rep = reps_pool[rng.integers(0, len(reps_pool), m)]
    years = rng.exponential(MEAN_YEARS_REGISTERED, m)
    years = np.where(years < MAX_YEARS_REGISTERED, years, rng.uniform(0, MAX_YEARS_REGISTERED, m))
    registered = latest - (years * 365.25).astype(np.int64).astype("timedelta64[D]")
    # Nobody represents an organisation before being an adult of some standing.
    rep_ready = persons.birth[legal_rep] + np.timedelta64(LEGAL_REP_DAYS, "D")
    registered = np.minimum(np.maximum(registered, rep_ready), latest)
    uscc = make_usccs(kind_code, areas.code[area], registered, rng)
    return Orgs(uscc, _names(kind_code, area, rng), kind_code, area, registered, legal_rep)
