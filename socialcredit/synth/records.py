"""Original ("file") records: how many per category, and the rows themselves, vectorised.

``plan`` turns the rate table into row counts for a row budget; ``originals`` draws the rows of
one (category, subject kind) at a time: subjects from the right pool, a decision date after the
subject could carry the record (adult, registered) and never in the future, the furnisher, a
document number, an amount, and the court's ground and extension where they apply.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from socialcredit.synth import rates
from socialcredit.synth.catalogue import CATALOGUE
from socialcredit.synth.documents import amounts, document_numbers
from socialcredit.synth.table import Rows, compact, iso_dates, new_rows
from socialcredit.synth.world import World

BULK = "finance.loan_repaid"
REGISTRATION = "registration.basic"
Key = tuple[str, str]  # (category, subject kind)


def follow_up_share(category: str) -> float:
    rate = rates.RATES.get(category)
    return 0.0 if rate is None else rate.fulfil + rate.revoke + rate.amend


def plan(world: World, good_rows: int) -> dict[Key, int]:
    """Originals per (category, kind) so that originals + follow-ups + the bulk = good_rows.

    Registration is one row per org, always. The rated categories keep their rates unless the
    budget is too small for them, when they shrink pro rata; the loan bulk takes the rest.
    """
    n_adults, n_orgs = len(world.adults), len(world.orgs)
    counts: dict[Key, float] = {}
    for category, rate in rates.RATES.items():
        if rate.person:
            counts[(category, "person")] = rate.person * n_adults
        if rate.org:
            counts[(category, "org")] = rate.org * n_orgs
    weighted = sum(n * (1 + follow_up_share(c)) for (c, _), n in counts.items())
    room = max(0, good_rows - n_orgs)
    scale = min(1.0, room / weighted) if weighted else 0.0
    planned = {key: math.floor(n * scale) for key, n in counts.items()}
    pairs = len(world.persons.one_adverse)
    if pairs and scale > 0:  # the adverse halves of same-name pairs each get a listing
        key = ("court.dishonest_defaulter", "person")
        planned[key] = max(planned.get(key, 0), pairs)
    return {(REGISTRATION, "org"): n_orgs, **planned}


def _dates(
    world: World, since: NDArray[np.datetime64], rng: np.random.Generator
) -> NDArray[np.datetime64]:
    """Uniform in [max(window start, since), yesterday]: follow-ups then still fit before today."""
    hi = world.day - np.timedelta64(1, "D")
    lo = np.minimum(np.maximum(world.window_start, since), hi)
    span = (hi - lo).astype(np.int64) + 1
    offset = (rng.random(len(since)) * span).astype(np.int64).astype("timedelta64[D]")
    return np.asarray(lo + offset, dtype="datetime64[D]")


def _furnishers(category: str, n: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Index into the category's furnishers, per row, by the rate table's weights."""
    spec, rate = CATALOGUE[category], rates.RATES.get(category)
    if len(spec.furnishers) == 1:
        return np.zeros(n, dtype=np.int64)
    weights = np.array(
        rate.furnisher_weights if rate and rate.furnisher_weights else [1.0] * len(spec.furnishers)
    )
    return rng.choice(len(spec.furnishers), n, p=weights / weights.sum())


def _amount_median(category: str, kind: str) -> float | None:
    if category == BULK:
        return rates.LOAN_REPAID_AMOUNT[kind == "org"]
    rate = rates.RATES.get(category)
    return None if rate is None or rate.amount is None else rate.amount[kind == "org"]


def has_amount(category: str) -> bool:
    return category == BULK or _amount_median(category, "person") is not None


def _grounds(n: int, rng: np.random.Generator) -> tuple[NDArray[np.str_], NDArray[np.str_]]:
    names = np.array(list(rates.GROUND_WEIGHTS))
    p = np.array(list(rates.GROUND_WEIGHTS.values()))
    ground = names[rng.choice(len(names), n, p=p / p.sum())]
    extended = (ground != "ability_refusal") & (rng.random(n) < rates.EXTENSION_SHARE)
    months = rng.integers(1, 37, n).astype("U2")
    return ground, np.where(extended, months, "")


def originals(
    world: World,
    category: str,
    kind: str,
    n: int,
    rng: np.random.Generator,
    *,
    furnisher: str | None = None,
    subjects: NDArray[np.int64] | None = None,
) -> Rows:
    """n 'file' rows of one category about subjects of one kind (record_id left blank)."""
    spec = CATALOGUE[category]
    if subjects is None:
        pool = world.pool(kind, adverse=spec.adverse, borrower=category == BULK)
        subjects = pool[rng.integers(0, len(pool), n)]
    persons, orgs = world.persons, world.orgs
    if kind == "person":
        ids, names, area = persons.ids[subjects], persons.names[subjects], persons.area[subjects]
        since = persons.adult_from[subjects]
    else:
        ids, names, area = orgs.uscc[subjects], orgs.names[subjects], orgs.area[subjects]
        since = orgs.registered_on[subjects] + np.timedelta64(1, "D")
    day = orgs.registered_on[subjects] if category == REGISTRATION else _dates(world, since, rng)
    decided = iso_dates(day)
    year = np.strings.slice(decided, 0, 4)
    choices = spec.furnishers.index(furnisher) if furnisher else _furnishers(category, n, rng)
    which = np.broadcast_to(np.asarray(choices, dtype=np.int64), (n,))
    rows = new_rows(
        n,
        subject_id=ids,
        subject_name=names,
        category=category,
        decided_on=decided,
        action="file",
        _furnisher=np.array(spec.furnishers)[which],
        _kind=kind,
        _subject=subjects,
        _day=day.astype(np.int64),
    )
    document = np.empty(n, dtype="U40")
    for i, code in enumerate(spec.furnishers):
        mine = which == i
        if mine.any():
            document[mine] = document_numbers(code, category, kind, year[mine], area[mine], rng)
    rows["document_no"] = compact(document)
    median = _amount_median(category, kind)
    if median is not None:
        rows["amount"] = amounts(median, rates.AMOUNT_SIGMA, n, rng)
    if category == "court.dishonest_defaulter":
        rows["ground"], rows["extension_months"] = _grounds(n, rng)
    if category == REGISTRATION:
        rows["legal_rep_id"] = persons.ids[orgs.legal_rep[subjects]]
    return rows


def generate(world: World, planned: dict[Key, int], rng: np.random.Generator) -> Iterator[Rows]:
    """The planned originals, one (category, kind) batch at a time."""
    for (category, kind), n in planned.items():
        if n == 0:
            continue
        if category == REGISTRATION:
            yield originals(world, category, kind, n, rng, subjects=np.arange(len(world.orgs)))
            continue
        subjects = None
        forced = world.persons.pairs[world.persons.one_adverse, 0][:n]
        if (category, kind) == ("court.dishonest_defaulter", "person") and len(forced):
            pool = world.pool(kind, adverse=True)
            subjects = pool[rng.integers(0, len(pool), n)]
            subjects[: len(forced)] = forced
        rows = originals(world, category, kind, n, rng, subjects=subjects)
        if subjects is not None:
            rows["_locked"][: len(forced)] = True  # never revoked, never a template
        yield rows


def bulk(world: World, n: int, rng: np.random.Generator) -> Iterator[Rows]:
    """The finance.loan_repaid bulk, split between persons and orgs by borrower counts."""
    n_person = len(world.borrowers)
    share = n_person / max(1, n_person + len(world.org_borrowers))
    person_rows = round(n * share)
    for kind, count in (("person", person_rows), ("org", n - person_rows)):
        if count:
            yield originals(world, BULK, kind, count, rng)
