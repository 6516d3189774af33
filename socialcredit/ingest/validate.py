"""Row validation, a whole chunk at a time: every check is one array expression.

Each row gets at most one reason: the first failing check in ``CHECK_ORDER`` (documented in
docs/furnisher-format.md). Identifiers are checked once per distinct value. Checks against the
ledger (duplicates, record_conflict, record_unknown) follow in ``ledger_rules``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from socialcredit.ingest.identity import Identities, check_column
from socialcredit.ingest.rules import ACTION_ALIASES, ACTIONS, GROUNDS, NO_EXTENSION, Rules
from socialcredit.ingest.values import (
    full_years,
    parse_dates,
    parse_fen,
    parse_small_int,
    present,
    text,
    to_numpy_str,
)

Mask = NDArray[np.bool_]
Index = NDArray[np.intp]
MAX_KEY_CHARS = 128  # record_id and document_no columns

# The order in which a row's fields are judged; the first failure is the row's reason.
CHECK_ORDER: tuple[str, ...] = (
    "field_missing",
    "field_invalid",
    "action_invalid",
    "category_unknown",
    "furnisher_not_authorised",
    "date_invalid",
    "date_future",
    "amount_invalid",
    "extension_invalid",
    "ground_invalid",
    "legal_rep_invalid",
    "name_missing",
    "id_missing",
    "id_legacy",
    "id_invalid",
    "subject_kind_mismatch",
    "minor_subject",
)
IDENTITY_REASONS = frozenset({"id_missing", "id_legacy", "id_invalid"})


class Reasons:
    """The first reason of each row, with the field, its value and a sentence for the furnisher."""

    def __init__(self, size: int) -> None:
        self.open = np.ones(size, dtype=bool)
        self.code = np.full(size, None, dtype=object)
        self.field = np.full(size, None, dtype=object)
        self.message = np.full(size, None, dtype=object)

    def flag(
        self, failing: Mask, code: str, field: str, explain: Callable[[Index], Iterable[str]]
    ) -> None:
        rows = np.flatnonzero(failing & self.open)
        if not len(rows):
            return
        self.open[rows] = False
        self.code[rows] = code
        self.field[rows] = field
        self.message[rows] = list(explain(rows))


@dataclass(frozen=True)
class Checked:
    """A validated chunk: the parsed fields of every row, and each failing row's reason."""

    reasons: Reasons
    text: dict[str, NDArray[Any]]  # every column as trimmed text, for the quarantine's value
    record_id: NDArray[Any]
    action: NDArray[Any]
    category: NDArray[Any]
    decided_on: NDArray[Any]  # YYYY-MM-DD text
    document_no: NDArray[Any]
    subject_name: NDArray[Any]
    amount_fen: NDArray[Any]  # int or None
    extension_months: NDArray[Any]  # int or None
    ground: NDArray[Any]  # str or None
    legal_rep_id: NDArray[Any]  # normalised, or None
    note: NDArray[Any]  # str or None
    identity: Identities

    @property
    def ok(self) -> Mask:
        return self.reasons.open

    @property
    def subject_id(self) -> NDArray[Any]:
        return self.identity.normalised


def _optional(values: NDArray[Any], given: Mask) -> NDArray[Any]:
    out = values.astype(object)
    out[~given] = None
    return out


def validate(table: pa.Table, rules: Rules, today: dt.date) -> Checked:
    """Judge every row of a chunk (binding column names, string values)."""
    n = table.num_rows
    col = {name: text(table.column(name)) for name in table.column_names}
    folded = {
        name: text(table.column(name), fold=True)
        for name in ("category", "decided_on", "amount", "action", "extension_months", "ground")
    }
    reasons = Reasons(n)
    raw = {name: to_numpy_str(values) for name, values in col.items()}

    def fixed(sentence: str) -> Callable[[Index], list[str]]:
        return lambda rows: [sentence] * len(rows)

    # 1. required text fields, and the length the ledger keeps
    for name in ("record_id", "category", "decided_on", "document_no"):
        reasons.flag(~present(col[name]), "field_missing", name, fixed(f"{name} is empty"))
    for name in ("record_id", "document_no"):
        long = np.asarray(
            pc.greater(pc.utf8_length(col[name]), MAX_KEY_CHARS).to_numpy(zero_copy_only=False)
        )
        reasons.flag(
            long, "field_invalid", name, fixed(f"{name} is longer than {MAX_KEY_CHARS} characters")
        )

    # 2. action: empty means file; Chinese words accepted
    action_text = pc.utf8_lower(folded["action"])
    action = to_numpy_str(action_text)
    for word, meaning in ACTION_ALIASES.items():
        action[action == word] = meaning
    action[action == ""] = "file"
    reasons.flag(
        ~np.isin(action, ACTIONS),
        "action_invalid",
        "action",
        lambda rows: [
            f"action {raw['action'][i]!r} is not one of {', '.join(ACTIONS)}" for i in rows
        ],
    )

    # 3. category: in the catalogue, and this furnisher's to furnish
    category_text = pc.utf8_lower(folded["category"])
    cat = np.asarray(
        pc.fill_null(pc.index_in(category_text, rules.codes), -1).to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    known = cat >= 0
    category = to_numpy_str(category_text)
    reasons.flag(
        ~known,
        "category_unknown",
        "category",
        lambda rows: [
            f"category {raw['category'][i]!r} is not in the catalogue of "
            f"policy {rules.policy_version}"
            for i in rows
        ],
    )
    safe_cat = np.where(known, cat, 0)
    reasons.flag(
        known & ~rules.authorised[safe_cat],
        "furnisher_not_authorised",
        "category",
        lambda rows: [
            f"furnisher {rules.furnisher} is not authorised to furnish "
            f"{category[i]} (authorised: {', '.join(rules.authorised_codes())})"
            for i in rows
        ],
    )

    # 4. the decision date
    days, real = parse_dates(folded["decided_on"])
    reasons.flag(
        ~real,
        "date_invalid",
        "decided_on",
        lambda rows: [
            f"decided_on {raw['decided_on'][i]!r} is not a real date written YYYY-MM-DD"
            for i in rows
        ],
    )
    reasons.flag(
        real & (days > np.datetime64(today, "D")),
        "date_future",
        "decided_on",
        lambda rows: [f"decided_on {days[i]} is after today ({today})" for i in rows],
    )
    decided_on = _optional(to_numpy_str(folded["decided_on"]), real)

    # 5. amount in yuan -> fen
    fen, amount_ok = parse_fen(folded["amount"])
    has_amount = present(folded["amount"])
    reasons.flag(
        ~amount_ok,
        "amount_invalid",
        "amount",
        lambda rows: [
            f"amount {raw['amount'][i]!r} is not a number of yuan with at "
            "most 2 decimals (no separators or units)"
            for i in rows
        ],
    )

    # 6. extension in months, on categories whose list allows one
    months, months_ok = parse_small_int(folded["extension_months"])
    has_months = present(folded["extension_months"])
    limit = rules.max_extension_months[safe_cat]
    bad_months = has_months & (~months_ok | (limit == NO_EXTENSION) | (months > limit))
    reasons.flag(
        bad_months,
        "extension_invalid",
        "extension_months",
        lambda rows: [
            _extension_message(raw["extension_months"][i], category[i], int(limit[i])) for i in rows
        ],
    )

    # 7. ground, from the category's allowed set
    ground = to_numpy_str(pc.utf8_lower(folded["ground"]))
    has_ground = ground != ""
    pair = np.char.add(np.char.add(category.astype(str), "\x1f"), ground.astype(str))
    bad_ground = has_ground & ~np.isin(pair, list(rules.ground_pairs))
    reasons.flag(
        bad_ground,
        "ground_invalid",
        "ground",
        lambda rows: [_ground_message(raw["ground"][i], category[i]) for i in rows],
    )

    # 8. the legal representative: a valid resident ID, where the category names one
    rep = check_column(col["legal_rep_id"], today)
    rep_not_allowed = rep.given & ~rules.carries_legal_rep[safe_cat]
    rep_bad = rep.given & (~rep.valid | (rep.kind != "person"))
    reasons.flag(
        rep_not_allowed,
        "legal_rep_invalid",
        "legal_rep_id",
        lambda rows: [f"{category[i]} rows do not name a legal representative" for i in rows],
    )
    reasons.flag(
        rep_bad,
        "legal_rep_invalid",
        "legal_rep_id",
        lambda rows: [
            f"legal_rep_id {raw['legal_rep_id'][i]!r} is not a valid resident"
            f" ID: {rep.error[i] or 'it is a ' + str(rep.scheme[i])}"
            for i in rows
        ],
    )

    # 9. who the row is about: a name, and a valid identifier of an allowed kind and age
    reasons.flag(
        ~present(col["subject_name"]),
        "name_missing",
        "subject_name",
        fixed("subject_name is empty"),
    )
    who = check_column(col["subject_id"], today)
    reasons.flag(
        ~who.given,
        "id_missing",
        "subject_id",
        fixed("subject_id is empty: the row is held for review"),
    )
    reasons.flag(
        who.legacy,
        "id_legacy",
        "subject_id",
        lambda rows: [f"{who.error[i]}; the row is held for review" for i in rows],
    )
    reasons.flag(
        who.given & ~who.valid,
        "id_invalid",
        "subject_id",
        lambda rows: [f"{who.error[i]}; the row is held for review" for i in rows],
    )
    is_person, is_org = who.kind == "person", who.kind == "org"
    kind_ok = (is_person & rules.allows_person[safe_cat]) | (is_org & rules.allows_org[safe_cat])
    reasons.flag(
        who.valid & ~kind_ok,
        "subject_kind_mismatch",
        "subject_id",
        lambda rows: [
            f"{category[i]} is furnished about "
            f"{' or '.join(rules.category(int(cat[i])).subject_kinds)}; "
            f"{who.normalised[i]} is a {who.kind[i]}"
            for i in rows
        ],
    )
    min_age = rules.min_age[safe_cat]
    age = full_years(who.birth, days)
    minor = is_person & (min_age >= 0) & real & (age < min_age)
    reasons.flag(
        minor,
        "minor_subject",
        "subject_id",
        lambda rows: [
            f"the subject was {age[i]} on {decided_on[i]}; {category[i]} "
            f"may not be recorded about anyone under {min_age[i]}"
            for i in rows
        ],
    )

    note = raw["note"]
    return Checked(
        reasons=reasons,
        text=raw,
        record_id=raw["record_id"],
        action=action,
        category=category,
        decided_on=decided_on,
        document_no=raw["document_no"],
        subject_name=raw["subject_name"],
        amount_fen=_optional(fen.astype(object), has_amount),
        extension_months=_optional(months.astype(object), has_months),
        ground=_optional(ground, has_ground),
        legal_rep_id=_optional(rep.normalised, rep.given),
        note=_optional(note, note != ""),
        identity=who,
    )


def _extension_message(value: str, category: str, limit: int) -> str:
    if limit == NO_EXTENSION:
        return f"{category} rows take no extension_months (it was {value!r})"
    return f"extension_months {value!r} is not a whole number of months from 0 to {limit}"


def _ground_message(value: str, category: str) -> str:
    allowed = GROUNDS.get(category)
    if not allowed:
        return f"{category} rows take no ground (it was {value!r})"
    return f"ground {value!r} is not one of {', '.join(allowed)}"
