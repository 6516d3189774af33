"""Persons with valid GB 11643 resident IDs, names, pinyin and deliberate same-name pairs.

Everything is array-at-a-time: an ID is a row of an (n, 18) ASCII matrix (area code, birth date,
sequence with the sex in its parity, MOD 11-2 check), so a million persons take seconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from socialcredit.synth import rates
from socialcredit.synth.areas import area_table
from socialcredit.synth.codes import digits_to_chars, ric_check, to_strings
from socialcredit.synth.names import compose_names

# 18 years are at most 18 * 365 + 5 days; this margin makes "adult from" safe without calendars.
ADULT_DAYS = 18 * 366
# Legal representatives are at least this old (in days, with margin) when their org registers.
LEGAL_REP_DAYS = 22 * 366
_MAX_UNIQUE_ROUNDS = 50


@dataclass(frozen=True, slots=True)
class Persons:
    ids: NDArray[np.str_]
    names: NDArray[np.str_]
    pinyin: NDArray[np.str_]
    birth: NDArray[np.datetime64]  # datetime64[D]
    male: NDArray[np.bool_]
    area: NDArray[np.int64]  # index into the area table
    age: NDArray[np.int64]  # completed years on the as-of date
    pairs: NDArray[np.int64]  # (k, 2) same-name pairs: two persons, one name
    one_adverse: NDArray[np.int64]  # indexes into pairs: first member adverse, second clean
    clean: NDArray[np.bool_]  # never the subject of an adverse record

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def adult_from(self) -> NDArray[np.datetime64]:
        """The first day on which the person is certainly 18."""
        return self.birth + np.timedelta64(ADULT_DAYS, "D")

    @property
    def sex(self) -> NDArray[np.str_]:
        return np.where(self.male, "M", "F")


def _sample_ages(n: int, rng: np.random.Generator) -> NDArray[np.int64]:
    bands = np.array([(lo, hi) for lo, hi, _ in rates.AGE_BANDS])
    weight = np.array([w for _, _, w in rates.AGE_BANDS])
    band = rng.choice(len(bands), size=n, p=weight / weight.sum())
    ages = rng.integers(bands[band, 0], bands[band, 1] + 1)
    minor = rng.random(n) < rates.MINOR_SHARE
    return np.where(minor, rng.integers(10, 18, size=n), ages)


def _completed_years(birth: NDArray[np.datetime64], today: dt.date) -> NDArray[np.int64]:
    year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    month_day = (birth.astype("datetime64[M]").astype(np.int64) % 12 + 1) * 100 + (
        (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    )
    before_birthday = (today.month * 100 + today.day) < month_day
    return np.asarray(today.year - year - before_birthday.astype(np.int64), dtype=np.int64)


def _birth_dates(
    ages: NDArray[np.int64], today: dt.date, rng: np.random.Generator
) -> NDArray[np.datetime64]:
    """A birth date giving each sampled age on the as-of date."""
    days_old = (ages * 365.2425 + rng.random(len(ages)) * 365.0).astype(np.int64)
    birth = np.datetime64(today, "D") - days_old.astype("timedelta64[D]")
    # Rounding can push an age over the band by a day; pull those back by a year.
    over = _completed_years(birth, today) > ages
    return np.where(over, birth + np.timedelta64(365, "D"), birth)


def _yyyymmdd(birth: NDArray[np.datetime64]) -> NDArray[np.int64]:
    year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    month = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    return np.asarray(year * 10_000 + month * 100 + day, dtype=np.int64)


def _sequences(male: NDArray[np.bool_], rng: np.random.Generator) -> NDArray[np.int64]:
    """Three-digit sequence codes, their parity the sex: odd male 001-999, even female 002-998."""
    n = len(male)
    return np.where(male, 2 * rng.integers(0, 500, n) + 1, 2 * rng.integers(1, 500, n))


def make_ids(
    area_code: NDArray[np.int64],
    birth: NDArray[np.datetime64],
    male: NDArray[np.bool_],
    rng: np.random.Generator,
) -> NDArray[np.str_]:
    """Unique 18-character resident IDs; colliding sequence codes are redrawn until unique."""
    head = area_code * 100_000_000 + _yyyymmdd(birth)  # 14 digits
    seq = _sequences(male, rng)
    for _ in range(_MAX_UNIQUE_ROUNDS):
        key = head * 1000 + seq
        _, first = np.unique(key, return_index=True)
        repeat = np.ones(len(key), dtype=bool)
        repeat[first] = False
        if not repeat.any():
            break
        seq[repeat] = _sequences(male[repeat], rng)
    else:  # pragma: no cover - needs ~500 persons per area, day and sex
        raise RuntimeError("could not draw unique resident IDs: too many persons per area and day")
    chars = np.empty((len(key), 18), dtype=np.uint8)
    chars[:, :17] = digits_to_chars(key, 17)
    chars[:, 17] = ric_check(chars[:, :17])
    return to_strings(chars)


def _same_name_pairs(
    male: NDArray[np.bool_], eligible: NDArray[np.bool_], rng: np.random.Generator
) -> NDArray[np.int64]:
    """Pairs of distinct persons of the same sex (names are sex-typed): ~SAME_NAME_SHARE of all."""
    pairs = []
    for sex in (True, False):
        pool = np.flatnonzero(eligible & (male == sex))
        k = min(round(len(male) * rates.SAME_NAME_SHARE / 4), len(pool) // 2)
        chosen = rng.choice(pool, size=2 * k, replace=False)
        pairs.append(chosen.reshape(k, 2))
    return np.concatenate(pairs)


def generate_persons(n: int, today: dt.date, rng: np.random.Generator) -> Persons:
    areas = area_table()
    area = rng.choice(len(areas), size=n, p=areas.weights)
    birth = _birth_dates(_sample_ages(n, rng), today, rng)
    age = _completed_years(birth, today)
    male = rng.random(n) < 0.51
    ids = make_ids(areas.code.astype(np.int64)[area], birth, male, rng)
    names, pinyin = compose_names(male, birth.astype("datetime64[Y]").astype(np.int64) + 1970, rng)
    # Pairs only among persons who can carry records (certainly adult two days ago).
    adult = birth + np.timedelta64(ADULT_DAYS + 2, "D") <= np.datetime64(today, "D")
    pairs = _same_name_pairs(male, adult, rng)
    names[pairs[:, 1]] = names[pairs[:, 0]]
    pinyin[pairs[:, 1]] = pinyin[pairs[:, 0]]
    n_one_adverse = min(len(pairs), max(3, round(len(pairs) * rates.ONE_ADVERSE_PAIR_SHARE)))
    one_adverse = rng.choice(len(pairs), size=n_one_adverse, replace=False)
    clean = np.zeros(n, dtype=bool)
    clean[pairs[one_adverse, 1]] = True
    return Persons(ids, names, pinyin, birth, male, area, age, pairs, np.sort(one_adverse), clean)
