"""Later rows about earlier records: fulfilled, revoked or amended (same record_id, later date).

The shares come from ``rates.RATES``. A follow-up copies its original, changes the action and
note, and is decided 1 day to 2 years later, never after the as-of date. An amendment extends a
termed defaulter listing, corrects an amount, or corrects the note.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from socialcredit.synth import rates
from socialcredit.synth.documents import yuan
from socialcredit.synth.table import Rows, concat, iso_dates, take

MAX_GAP_DAYS = 720
_FULFIL_NOTE: dict[str, str] = {
    "finance.loan_default": "已结清",
    "tax.arrears": "已缴清欠税",
    "market.abnormal_operation": "已改正，申请移出经营异常名录",
    "labor.wage_arrears": "已支付拖欠工资",
}


def _later(
    days: NDArray[np.int64], today: np.datetime64, rng: np.random.Generator
) -> NDArray[np.int64]:
    """Days after the originals' (given as days since 1970), at most today."""
    gap = np.minimum(today.astype(np.int64) - days, MAX_GAP_DAYS)  # >= 1: originals end yesterday
    return np.asarray(days + 1 + (rng.random(len(days)) * gap).astype(np.int64), dtype=np.int64)


def _amend(rows: Rows, rng: np.random.Generator) -> None:
    n = len(rows["record_id"])
    termed = (rows["category"] == "court.dishonest_defaulter") & (
        rows["ground"] != "ability_refusal"
    )
    priced = ~termed & (rows["amount"] != "")
    months = rng.integers(6, 37, n).astype("U2")
    rows["extension_months"] = np.where(termed, months, rows["extension_months"])
    amount = np.where(priced, rows["amount"], "0.00").astype(np.float64)
    corrected = yuan(
        np.maximum(100, np.round(amount * 100 * rng.uniform(0.5, 0.95, n))).astype(np.int64)
    )
    rows["amount"] = np.where(priced, corrected, rows["amount"])
    rows["note"] = np.where(termed, "延长公布期限", np.where(priced, "更正金额", "更正记载事项"))


Choice = tuple[str, str, NDArray[np.int64]]  # (category, action, indexes of originals)


def choose(originals: Rows, rng: np.random.Generator) -> list[Choice]:
    """Which originals get which follow-up (decided before record ids exist, to plan the bulk)."""
    choices: list[Choice] = []
    free = ~originals["_locked"]
    for category, rate in rates.RATES.items():
        candidates = np.flatnonzero((originals["category"] == category) & free)
        chosen = rng.permutation(candidates)
        start = 0
        for action, share in (
            ("fulfil", rate.fulfil),
            ("revoke", rate.revoke),
            ("amend", rate.amend),
        ):
            count = round(len(candidates) * share)
            if count:
                choices.append((category, action, chosen[start : start + count]))
                start += count
    return choices


def follow_ups(
    originals: Rows, choices: list[Choice], today: np.datetime64, rng: np.random.Generator
) -> Rows:
    """The chosen follow-up rows (originals must already carry their record ids)."""
    parts: list[Rows] = []
    for category, action, index in choices:
        rows = take(originals, index)
        count = len(index)
        rows["action"] = np.full(count, action)
        rows["_day"] = _later(rows["_day"], today, rng)
        rows["decided_on"] = iso_dates(rows["_day"].astype("datetime64[D]"))
        if action == "fulfil":
            rows["note"] = np.full(count, _FULFIL_NOTE.get(category, "已履行"))
        elif action == "revoke":
            rows["note"] = np.full(count, "原决定已依法撤销")
        else:
            _amend(rows, rng)
        parts.append(rows)
    return concat(parts)
