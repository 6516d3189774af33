"""Deliberately bad rows, each with exactly one defect, and exact re-sent duplicates.

A bad row starts as a good original of a fitting (furnisher, category, kind), drawn with the
same generator as the good rows and given its own fresh record id, and then gets one defect. Its
binding reason code is the one ingestion must quarantine it with. Furnishers are chosen
uniformly for each kind, so small files get their share too.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from socialcredit.synth.catalogue import CATALOGUE, FURNISHERS
from socialcredit.synth.codes import (
    USCC_ALPHABET,
    ric_check_matches,
    to_chars,
    to_strings,
    uscc_check_matches,
)
from socialcredit.synth.records import has_amount, originals
from socialcredit.synth.table import Rows, concat, iso_dates, put, take
from socialcredit.synth.world import World

BAD_KINDS: tuple[str, ...] = (
    "id_invalid",
    "id_legacy",
    "id_missing",
    "date_invalid",
    "date_future",
    "category_unknown",
    "furnisher_not_authorised",
    "amount_invalid",
    "action_invalid",
    "minor_subject",
    "record_unknown",
    "name_missing",
)
# Codes no catalogue has: typos, plausible inventions, and protected domains that must never be.
UNKNOWN_CATEGORIES = np.array(
    [
        "court.dishonest_debtor",
        "tax.evasion_suspected",
        "market.blacklist",
        "traffic.violation",
        "social.jaywalking",
        "online_speech.post",
        "religion.practice",
        "finance.late_payment",
    ]
)
INVALID_AMOUNTS = np.array(["12,3a", "1.2.3", "壹万元", "12a", "--5"])
INVALID_ACTIONS = np.array(["delete", "update", "cancel", "remove"])
# Month-day parts no calendar has, appended to the row's own year.
INVALID_MONTH_DAYS = np.array(
    ["-02-30", "-02-31", "-04-31", "-06-31", "-09-31", "-11-31", "-13-01", "-00-10"]
)
_RIC_CHARS = np.frombuffer(b"0123456789X", dtype=np.uint8)
_USCC_CHARS = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)

Combo = tuple[str, str, str]  # (furnisher, category, kind)


def kind_counts(n_bad: int) -> dict[str, int]:
    """An even split over the kinds, the remainder to the first ones."""
    base, extra = divmod(n_bad, len(BAD_KINDS))
    return {kind: base + (i < extra) for i, kind in enumerate(BAD_KINDS)}


def _combos(reason: str) -> list[Combo]:
    if reason == "minor_subject":
        return [("court", "court.dishonest_defaulter", "person")]
    combos: list[Combo] = [
        (f, code, kind)
        for code, spec in CATALOGUE.items()
        for f in spec.furnishers
        for kind in spec.kinds
        if not code.startswith("registration.")  # they carry a legal rep: a second thing to fail
    ]
    if reason in ("id_legacy", "id_missing"):
        combos = [c for c in combos if c[2] == "person"]
    if reason == "amount_invalid":
        combos = [c for c in combos if has_amount(c[1])]
    return combos


def _pick(reason: str, n: int, rng: np.random.Generator) -> dict[Combo, int]:
    """n combos: a furnisher uniformly, then one of its (category, kind) uniformly."""
    combos = _combos(reason)
    furnishers = [f for f in FURNISHERS if any(c[0] == f for c in combos)]
    per_furnisher = np.bincount(rng.integers(0, len(furnishers), n), minlength=len(furnishers))
    counts: dict[Combo, int] = {}
    for furnisher, count in zip(furnishers, per_furnisher, strict=True):
        own = [c for c in combos if c[0] == furnisher]
        drawn = np.bincount(rng.integers(0, len(own), int(count)), minlength=len(own))
        counts.update({combo: int(k) for combo, k in zip(own, drawn, strict=True) if k})
    return counts


def templates(world: World, reason: str, n: int, rng: np.random.Generator) -> Rows:
    """Good originals to be spoiled, ordered as ``_pick`` drew them."""
    parts = []
    for (furnisher, category, kind), count in _pick(reason, n, rng).items():
        subjects = None
        if reason == "minor_subject":
            subjects = world.minors[rng.integers(0, len(world.minors), count)]
        elif reason == "id_legacy":  # 15-digit numbers were only issued to the 19xx-born
            pool = world.pool("person", adverse=CATALOGUE[category].adverse)
            pool = pool[world.persons.birth[pool] < np.datetime64("2000-01-01")]
            subjects = pool[rng.integers(0, len(pool), count)]
        rows = originals(world, category, kind, count, rng, furnisher=furnisher, subjects=subjects)
        if reason == "minor_subject":  # within the last ~10 months: a minor on that day too
            days = rng.integers(1, 300, count).astype("timedelta64[D]")
            rows["decided_on"] = iso_dates(world.day - days)
            year = np.strings.slice(rows["decided_on"], 0, 4)  # the court case's year with it
            rows["document_no"] = np.strings.add(
                np.strings.add("(", year), np.strings.slice(rows["document_no"], 5, None)
            )
        parts.append(rows)
    return concat(parts)


def _spoil_check_char(ids: NDArray[np.str_], rng: np.random.Generator) -> NDArray[np.str_]:
    """Replace the check character so that the value is neither a valid RIC nor a valid USCC."""
    chars = to_chars(ids, 18)
    original = chars[:, 17].copy()
    is_ric = np.strings.isdigit(np.strings.slice(ids, 0, 17))
    todo = np.ones(len(ids), dtype=bool)
    while todo.any():
        ric = _RIC_CHARS[rng.integers(0, len(_RIC_CHARS), len(ids))]
        uscc = _USCC_CHARS[rng.integers(0, len(_USCC_CHARS), len(ids))]
        chars[todo, 17] = np.where(is_ric, ric, uscc)[todo]
        todo = (chars[:, 17] == original) | ric_check_matches(chars) | uscc_check_matches(chars)
    return to_strings(chars)


def spoil(world: World, reason: str, rows: Rows, rng: np.random.Generator) -> None:
    """Give every row the one defect named by reason (in place)."""
    n = len(rows["record_id"])
    everywhere = np.ones(n, dtype=bool)
    rows["_bad"] = np.full(n, reason)
    if reason == "id_invalid":
        rows["subject_id"] = _spoil_check_char(rows["subject_id"], rng)
    elif reason == "id_legacy":
        ids = rows["subject_id"]
        rows["subject_id"] = np.strings.add(
            np.strings.slice(ids, 0, 6), np.strings.slice(ids, 8, 17)
        )
    elif reason == "id_missing":
        rows["subject_id"] = np.full(n, "")
        pairs = world.persons.pairs
        twin = rng.random(n) < 0.5  # half carry a name two persons share: review offers both
        if len(pairs):
            names = world.persons.names[pairs[rng.integers(0, len(pairs), n), 0]]
            put(rows, "subject_name", twin, names[twin])
    elif reason == "date_invalid":
        year = np.strings.slice(rows["decided_on"], 0, 4)
        tail = INVALID_MONTH_DAYS[rng.integers(0, len(INVALID_MONTH_DAYS), n)]
        rows["decided_on"] = np.strings.add(year, tail)
    elif reason == "date_future":
        ahead = rng.integers(30, 400, n).astype("timedelta64[D]")
        rows["decided_on"] = iso_dates(world.day + ahead)
    elif reason == "category_unknown":
        rows["category"] = UNKNOWN_CATEGORIES[rng.integers(0, len(UNKNOWN_CATEGORIES), n)]
        rows["ground"], rows["extension_months"] = np.full(n, ""), np.full(n, "")
    elif reason == "furnisher_not_authorised":
        _foreign_category(rows, rng)
    elif reason == "amount_invalid":
        put(rows, "amount", everywhere, INVALID_AMOUNTS[rng.integers(0, len(INVALID_AMOUNTS), n)])
    elif reason == "action_invalid":
        rows["action"] = INVALID_ACTIONS[rng.integers(0, len(INVALID_ACTIONS), n)]
    elif reason == "record_unknown":  # its fresh record id was never filed by anyone
        rows["action"] = np.full(n, "fulfil")
        rows["note"] = np.full(n, "已履行")
    elif reason == "name_missing":
        rows["subject_name"] = np.full(n, "")
    # minor_subject: the template already names a minor; nothing else to spoil.


def _foreign_category(rows: Rows, rng: np.random.Generator) -> None:
    """A real category for the subject's kind that this furnisher is not authorised for."""
    category = rows["category"].astype("U40")
    for furnisher in np.unique(rows["_furnisher"]):
        for kind in ("person", "org"):
            mine = np.flatnonzero((rows["_furnisher"] == furnisher) & (rows["_kind"] == kind))
            foreign = np.array(
                [
                    code
                    for code, spec in CATALOGUE.items()
                    if furnisher not in spec.furnishers
                    and kind in spec.kinds
                    and not code.startswith("registration.")
                ]
            )
            category[mine] = foreign[rng.integers(0, len(foreign), len(mine))]
    rows["category"] = category
    rows["ground"] = np.full(len(category), "")
    rows["extension_months"] = np.full(len(category), "")
    priced = np.array([has_amount(c) for c in np.unique(category)])
    keep = np.isin(category, np.unique(category)[priced])
    rows["amount"] = np.where(keep, rows["amount"], "")


def duplicates(good: Rows, n: int, rng: np.random.Generator) -> Rows:
    """n exact copies of good originals that no later row changes, spread over the furnishers.

    Rows with a follow-up, and the forced same-name listings, are locked and never re-sent."""
    candidates = (good["action"] == "file") & ~good["_locked"]
    furnishers = np.unique(good["_furnisher"][candidates])
    if not len(furnishers):
        return take(good, np.array([], dtype=np.int64))
    per_furnisher = np.bincount(rng.integers(0, len(furnishers), n), minlength=len(furnishers))
    chosen = []
    for furnisher, count in zip(furnishers, per_furnisher, strict=True):
        pool = np.flatnonzero(candidates & (good["_furnisher"] == furnisher))
        chosen.append(rng.choice(pool, size=min(int(count), len(pool)), replace=False))
    rows = take(good, np.sort(np.concatenate(chosen)))  # a row is re-sent once at most
    rows["_dup"] = np.ones(len(rows["record_id"]), dtype=bool)
    return rows
