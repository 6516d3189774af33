"""The synthetic population and the subject pools records are drawn from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from socialcredit.synth import rates
from socialcredit.synth.orgs import Orgs
from socialcredit.synth.persons import Persons

# Minors who may appear in (bad) adverse rows are at most this old, so they are minors on every
# date of the last year, whatever date ingestion checks the age on.
MINOR_MAX_AGE = 16


@dataclass(frozen=True, slots=True)
class World:
    persons: Persons
    orgs: Orgs
    today: dt.date
    adults: NDArray[np.int64]  # persons who are certainly 18 on every date a record may carry
    adverse_adults: NDArray[np.int64]  # adults minus the clean halves of same-name pairs
    borrowers: NDArray[np.int64]  # adults carrying the loan bulk
    org_borrowers: NDArray[np.int64]
    minors: NDArray[np.int64]  # aged 10..MINOR_MAX_AGE

    @property
    def day(self) -> np.datetime64:
        return np.datetime64(self.today, "D")

    @property
    def window_start(self) -> np.datetime64:
        return self.day - np.timedelta64(rates.WINDOW_DAYS, "D")

    def pool(self, kind: str, *, adverse: bool, borrower: bool = False) -> NDArray[np.int64]:
        if kind == "org":
            return self.org_borrowers if borrower else np.arange(len(self.orgs))
        if borrower:
            return self.borrowers
        return self.adverse_adults if adverse else self.adults


def make_world(persons: Persons, orgs: Orgs, today: dt.date, rng: np.random.Generator) -> World:
    latest = np.datetime64(today, "D") - np.timedelta64(2, "D")
    adult = persons.adult_from <= latest
    adults = np.flatnonzero(adult)
    take = rng.random(len(adults)) < rates.BORROWER_SHARE_PERSON
    org_take = rng.random(len(orgs)) < rates.BORROWER_SHARE_ORG
    take[:1] = org_take[:1] = True  # tiny populations still have a borrower of each kind
    minors = np.flatnonzero((persons.age >= 10) & (persons.age <= MINOR_MAX_AGE))
    return World(
        persons,
        orgs,
        today,
        adults,
        np.flatnonzero(adult & ~persons.clean),
        adults[take],
        np.flatnonzero(org_take),
        minors,
    )
