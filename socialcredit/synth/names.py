"""Hanzi names with pinyin, composed vectorised from Faker zh_CN vocabularies.

Faker supplies the vocabularies only: 399 surnames with their real frequency skew (王 7 %, 李 7 %,
张 6.7 % ...) and male/female given names, split here into characters so that two-character
given names combine freely. pypinyin runs once per *unique* surname and given name; the results
are mapped back with numpy indexing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from faker.providers.company.zh_CN import Provider as CompanyProvider
from faker.providers.person.zh_CN import Provider as PersonProvider
from numpy.typing import NDArray
from pypinyin import lazy_pinyin

# pypinyin reads characters, not surnames: these surnames are read differently as surnames.
SURNAME_READINGS: dict[str, str] = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "仇": "qiu",
    "朴": "piao",
    "查": "zha",
    "区": "ou",
    "盖": "ge",
    "乐": "yue",
    "覃": "qin",
    "缪": "miao",
    "翟": "zhai",
    "尉": "yu",
    "员": "yun",
    "柏": "bai",
    "秘": "bi",
    "种": "chong",
    "隗": "wei",
    "宓": "fu",
    "召": "shao",
    "繁": "po",
}
# Share of one-character given names, by birth cohort (they were more common before 1980).
SINGLE_CHAR_SHARE_BEFORE_1980 = 0.35
SINGLE_CHAR_SHARE_SINCE_1980 = 0.12


@dataclass(frozen=True, slots=True)
class Vocabulary:
    surnames: NDArray[np.str_]
    surname_p: NDArray[np.float64]
    surname_pinyin: NDArray[np.str_]
    male_chars: NDArray[np.str_]
    male_p: NDArray[np.float64]
    female_chars: NDArray[np.str_]
    female_p: NDArray[np.float64]
    trade_names: NDArray[np.str_]  # 超艺, 和泰 ...: company name cores
    industries: NDArray[np.str_]  # 科技, 网络 ...


def _char_weights(
    names: tuple[str, ...] | list[str],
) -> tuple[NDArray[np.str_], NDArray[np.float64]]:
    """Characters of the given names, weighted by the names' popularity rank (Faker's order)."""
    weight: dict[str, float] = {}
    for rank, name in enumerate(names):
        for char in name:
            weight[char] = weight.get(char, 0.0) + 1.0 / (rank + 5)
    chars = np.array(list(weight))
    p = np.array(list(weight.values()))
    return chars, p / p.sum()


def pinyin_of(text: str) -> str:
    return "".join(lazy_pinyin(text)).capitalize()


@functools.cache
def vocabulary() -> Vocabulary:
    surnames = np.array(list(PersonProvider.last_names))
    freq = np.array(list(PersonProvider.last_names.values()), dtype=np.float64)
    surname_pinyin = np.array(
        [
            SURNAME_READINGS[s].capitalize() if s in SURNAME_READINGS else pinyin_of(s)
            for s in surnames
        ]
    )
    male, male_p = _char_weights(PersonProvider.first_names_male)
    female, female_p = _char_weights(PersonProvider.first_names_female)
    trade = sorted({p for p in CompanyProvider.company_prefixes if "公司" not in p and len(p) <= 4})
    industries = sorted(
        {s.removesuffix("有限公司") for s in CompanyProvider.company_suffixes}
        | {
            "贸易",
            "建筑工程",
            "餐饮管理",
            "物流",
            "实业",
            "电子",
            "食品",
            "医药",
            "文化",
            "环保",
            "机械",
            "房地产开发",
            "商务服务",
            "农业",
            "新材料",
            "物业管理",
        }
    )
    return Vocabulary(
        surnames,
        freq / freq.sum(),
        surname_pinyin,
        male,
        male_p,
        female,
        female_p,
        np.array(trade),
        np.array(industries),
    )


def compose_names(
    male: NDArray[np.bool_], birth_year: NDArray[np.int64], rng: np.random.Generator
) -> tuple[NDArray[np.str_], NDArray[np.str_]]:
    """Hanzi names and their pinyin ("Wang Xiuying") for persons of the given sex and cohort."""
    vocab = vocabulary()
    n = len(male)
    surname = rng.choice(len(vocab.surnames), size=n, p=vocab.surname_p)
    first = np.where(
        male,
        vocab.male_chars[rng.choice(len(vocab.male_chars), n, p=vocab.male_p)],
        vocab.female_chars[rng.choice(len(vocab.female_chars), n, p=vocab.female_p)],
    )
    second = np.where(
        male,
        vocab.male_chars[rng.choice(len(vocab.male_chars), n, p=vocab.male_p)],
        vocab.female_chars[rng.choice(len(vocab.female_chars), n, p=vocab.female_p)],
    )
    single_share = np.where(
        birth_year < 1980, SINGLE_CHAR_SHARE_BEFORE_1980, SINGLE_CHAR_SHARE_SINCE_1980
    )
    single = (rng.random(n) < single_share) | (first == second)
    given = np.where(single, first, np.strings.add(first, second))
    unique_given, given_index = np.unique(given, return_inverse=True)
    given_pinyin = np.array([pinyin_of(g) for g in unique_given])
    names = np.strings.add(vocab.surnames[surname], given)
    pinyin = np.strings.add(
        np.strings.add(vocab.surname_pinyin[surname], " "), given_pinyin[given_index]
    )
    return names, pinyin
