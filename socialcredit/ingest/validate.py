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

from socialcredit.ingest.identity import Identities, IdentityBook
from socialcredit.ingest.rules import ACTION_ALIASES, ACTIONS, NO_EXTENSION, Rules
from socialcredit.ingest.values import (
    first_control,
    full_years,
    has_control,
    longer_than,
    member,
    parse_dates,
    parse_fen,
    parse_small_int,
    present,
    text,
    to_numpy_str,
)

Mask = NDArray[np.bool_]
Index = NDArray[np.intp]
Explain = Callable[[Index], Iterable[str]]
MAX_KEY_CHARS = 128  # record_id and document_no columns

# The order in which a row's fields are judged; the first failure is the row's reason.
CHECK_ORDER: tuple[str, ...] = (
    "field_missing", "field_invalid", "action_invalid", "category_unknown",
    "furnisher_not_authorised", "date_invalid", "date_future", "amount_invalid",
    "extension_invalid", "ground_invalid", "legal_rep_invalid", "name_missing", "id_missing",
    "id_legacy", "id_invalid", "subject_kind_mismatch", "minor_subject",
)  # fmt: skip
IDENTITY_REASONS = frozenset({"id_missing", "id_legacy", "id_invalid"})
FOLDED = ("category", "decided_on", "amount", "action", "extension_months", "ground")


class Reasons:
    """The first reason of each row, with the field and a sentence for the furnisher."""

    def __init__(self, size: int) -> None:
        self.open = np.ones(size, dtype=bool)
        self.code = np.full(size, None, dtype=object)
        self.field = np.full(size, None, dtype=object)
        self.message = np.full(size, None, dtype=object)

    def flag(self, failing: Mask, code: str, field: str, explain: Explain) -> None:
        rows = np.flatnonzero(failing & self.open)
        if not len(rows):
            return
        self.open[rows] = False
        self.code[rows] = code
        self.field[rows] = field
        self.message[rows] = list(explain(rows))


class Texts:
    """The chunk's columns as trimmed Arrow text, and as Python strings when asked for."""

    def __init__(self, table: pa.Table) -> None:
        self.arrow = {name: text(table.column(name)) for name in table.column_names}
        self.folded = {name: text(table.column(name), fold=True) for name in FOLDED}
        self._python: dict[str, NDArray[Any]] = {}

    def __getitem__(self, name: str) -> NDArray[Any]:
        if name not in self._python:
            self._python[name] = to_numpy_str(self.arrow[name])
        return self._python[name]


@dataclass(frozen=True)
class Checked:
    """A validated chunk: the parsed fields of every row, and each failing row's reason."""

    reasons: Reasons
    text: Texts  # every column as trimmed text, for the quarantine's value
    record_id: NDArray[Any]
    action: NDArray[Any]
    category: NDArray[Any]
    decided_on: NDArray[Any]  # YYYY-MM-DD text, None where not a real date
    document_no: NDArray[Any]
    subject_name: NDArray[Any]
    amount_fen: NDArray[Any]  # int or None
    extension_months: NDArray[Any]  # int or None
    ground: NDArray[Any]  # str or None
    legal_rep_id: NDArray[Any]  # normalised, or None
    note: NDArray[Any]  # str or None
    identity: Identities
    key_text: dict[str, pa.Array]  # event fields as they enter the event key ("" for none)

    @property
    def ok(self) -> Mask:
        return self.reasons.open

    @property
    def subject_id(self) -> NDArray[Any]:
        return self.identity.normalised


def optional(values: NDArray[Any], given: Mask) -> NDArray[Any]:
    out = values.astype(object)
    out[~given] = None
    return out


def fixed(sentence: str) -> Explain:
    return lambda rows: [sentence] * len(rows)


def validate(
    table: pa.Table, rules: Rules, today: dt.date, book: IdentityBook | None = None
) -> Checked:
    """Judge every row of a chunk (binding column names, string values); ``book`` carries the
    identifiers already checked in this run."""
    book = book or IdentityBook(today)
    texts = Texts(table)
    col, folded = texts.arrow, texts.folded
    reasons = Reasons(table.num_rows)

    # 1. required text fields, and the length the ledger keeps
    for name in ("record_id", "category", "decided_on", "document_no"):
        reasons.flag(~present(col[name]), "field_missing", name, fixed(f"{name} is empty"))
    for name in ("record_id", "document_no"):
        too_long = fixed(f"{name} is longer than {MAX_KEY_CHARS} characters")
        reasons.flag(longer_than(col[name], MAX_KEY_CHARS), "field_invalid", name, too_long)
    for name, values in col.items():
        reasons.flag(has_control(values), "field_invalid", name, _control_message(name, texts))

    action, action_text = _action(folded["action"], texts, reasons)
    cat, category, category_text = _category(folded["category"], rules, texts, reasons)
    safe_cat = np.where(cat >= 0, cat, 0)
    days, decided_on = _decided_on(folded["decided_on"], today, texts, reasons)

    # 5. amount in yuan -> fen
    fen, amount_ok = parse_fen(folded["amount"])
    reasons.flag(
        ~amount_ok, "amount_invalid", "amount",
        lambda rows: [f"amount {texts['amount'][i]!r} is not a number of yuan with at most 2 "
                      "decimals (no separators or units)" for i in rows],
    )  # fmt: skip

    # 6. extension in months, on categories whose list allows one
    months, months_ok = parse_small_int(folded["extension_months"])
    has_months = present(folded["extension_months"])
    limit = rules.max_extension_months[safe_cat]
    bad_months = has_months & (~months_ok | (limit == NO_EXTENSION) | (months > limit))
    reasons.flag(
        bad_months, "extension_invalid", "extension_months",
        lambda rows: [_extension_message(texts["extension_months"][i], category[i], int(limit[i]))
                      for i in rows],
    )  # fmt: skip

    ground, ground_text = _ground(folded["ground"], category_text, rules, texts, reasons)
    legal_rep = _legal_rep(col["legal_rep_id"], safe_cat, category, rules, book, texts, reasons)
    who = _subject(col, cat, safe_cat, category, days, decided_on, rules, book, reasons)

    return Checked(
        reasons=reasons,
        text=texts,
        record_id=texts["record_id"],
        action=action,
        category=category,
        decided_on=decided_on,
        document_no=texts["document_no"],
        subject_name=texts["subject_name"],
        amount_fen=optional(fen.astype(object), present(folded["amount"])),
        extension_months=optional(months.astype(object), has_months),
        ground=ground,
        legal_rep_id=legal_rep,
        note=optional(texts["note"], present(col["note"])),
        identity=who,
        key_text={
            "record_id": col["record_id"],
            "action": action_text,
            "subject_name": col["subject_name"],
            "category": category_text,
            "decided_on": folded["decided_on"],
            "document_no": col["document_no"],
            "amount_fen": _number_text(fen, present(folded["amount"])),
            "ground": ground_text,
            "extension_months": _number_text(months, has_months),
            "note": col["note"],
        },
    )


def _control_message(name: str, texts: Texts) -> Explain:
    def explain(rows: Index) -> list[str]:
        found = (first_control(texts[name][i]) for i in rows)
        return [f"{name} contains the control character U+{c:04X}, which no record may hold"
                for c in found]  # fmt: skip

    return explain


def _number_text(values: NDArray[np.int64], given: Mask) -> pa.Array:
    return pa.array(values, mask=~given, type=pa.int64()).cast(pa.string())


def _action(folded: pa.Array, texts: Texts, reasons: Reasons) -> tuple[NDArray[Any], pa.Array]:
    """2. empty means file; the Chinese words of ACTION_ALIASES are accepted."""
    lowered = pc.utf8_lower(folded)
    if pc.any(member(lowered, list(ACTION_ALIASES))).as_py():
        mapped = to_numpy_str(lowered)
        for word, meaning in ACTION_ALIASES.items():
            mapped[mapped == word] = meaning
        lowered = pa.array(mapped.tolist(), type=pa.string())
    ok = member(lowered, [*ACTIONS, ""])
    reasons.flag(
        ~ok, "action_invalid", "action",
        lambda rows: [f"action {texts['action'][i]!r} is not one of {', '.join(ACTIONS)}"
                      for i in rows],
    )  # fmt: skip
    lowered = pc.if_else(pc.equal(lowered, ""), "file", lowered)
    return to_numpy_str(lowered), lowered


def _category(
    folded: pa.Array, rules: Rules, texts: Texts, reasons: Reasons
) -> tuple[NDArray[np.int64], NDArray[Any], pa.Array]:
    """3. in the catalogue, and this furnisher's to furnish; (catalogue index or -1, code)."""
    lowered = pc.utf8_lower(folded)
    index = pc.fill_null(pc.index_in(lowered, rules.codes), -1)
    cat = np.asarray(index.to_numpy(zero_copy_only=False), dtype=np.int64)
    category = to_numpy_str(lowered)
    known = cat >= 0
    reasons.flag(
        ~known, "category_unknown", "category",
        lambda rows: [f"category {texts['category'][i]!r} is not in the catalogue of policy "
                      f"{rules.policy_version}" for i in rows],
    )  # fmt: skip
    authorised = ", ".join(rules.authorised_codes())
    reasons.flag(
        known & ~rules.authorised[np.where(known, cat, 0)], "furnisher_not_authorised",
        "category",
        lambda rows: [f"furnisher {rules.furnisher} is not authorised to furnish {category[i]} "
                      f"(authorised: {authorised})" for i in rows],
    )  # fmt: skip
    return cat, category, lowered


def _decided_on(
    folded: pa.Array, today: dt.date, texts: Texts, reasons: Reasons
) -> tuple[NDArray[np.datetime64], NDArray[Any]]:
    """4. a real calendar day, not after today; (days, YYYY-MM-DD text or None)."""
    days, real = parse_dates(folded)
    reasons.flag(
        ~real, "date_invalid", "decided_on",
        lambda rows: [f"decided_on {texts['decided_on'][i]!r} is not a real date written "
                      "YYYY-MM-DD" for i in rows],
    )  # fmt: skip
    reasons.flag(
        real & (days > np.datetime64(today, "D")), "date_future", "decided_on",
        lambda rows: [f"decided_on {days[i]} is after today ({today})" for i in rows],
    )  # fmt: skip
    return days, optional(to_numpy_str(folded), real)


def _ground(
    folded: pa.Array, category: pa.Array, rules: Rules, texts: Texts, reasons: Reasons
) -> tuple[NDArray[Any], pa.Array]:
    """7. from the category's allowed set (only the SPC defaulter list has grounds)."""
    lowered = pc.utf8_lower(folded)
    given = present(lowered)
    if not given.any():
        return np.full(len(given), None, dtype=object), lowered
    pairs = pc.binary_join_element_wise(category, lowered, "\x1f")
    codes = to_numpy_str(category)
    reasons.flag(
        given & ~member(pairs, sorted(rules.ground_pairs)), "ground_invalid", "ground",
        lambda rows: [_ground_message(texts["ground"][i], codes[i], rules) for i in rows],
    )  # fmt: skip
    return optional(to_numpy_str(lowered), given), lowered


def _legal_rep(
    column: pa.Array,
    safe_cat: NDArray[np.int64],
    category: NDArray[Any],
    rules: Rules,
    book: IdentityBook,
    texts: Texts,
    reasons: Reasons,
) -> NDArray[Any]:
    """8. a valid resident ID, on categories that name a legal representative."""
    rep = book.check(column)
    if not rep.given.any():
        return rep.normalised
    reasons.flag(
        rep.given & ~rules.carries_legal_rep[safe_cat], "legal_rep_invalid", "legal_rep_id",
        lambda rows: [f"{category[i]} rows do not name a legal representative" for i in rows],
    )  # fmt: skip
    reasons.flag(
        rep.given & (~rep.valid | (rep.kind != "person")), "legal_rep_invalid", "legal_rep_id",
        lambda rows: [f"legal_rep_id {texts['legal_rep_id'][i]!r} is not a valid resident ID: "
                      f"{rep.error[i] or 'it is a ' + str(rep.scheme[i])}" for i in rows],
    )  # fmt: skip
    return rep.normalised


def _subject(
    col: dict[str, pa.Array],
    cat: NDArray[np.int64],
    safe_cat: NDArray[np.int64],
    category: NDArray[Any],
    days: NDArray[np.datetime64],
    decided_on: NDArray[Any],
    rules: Rules,
    book: IdentityBook,
    reasons: Reasons,
) -> Identities:
    """9. a name, and a valid identifier of an allowed kind and age."""
    reasons.flag(
        ~present(col["subject_name"]),
        "name_missing",
        "subject_name",
        fixed("subject_name is empty"),
    )
    who = book.check(col["subject_id"])
    held = "; the row is held for review"
    reasons.flag(~who.given, "id_missing", "subject_id", fixed("subject_id is empty" + held))
    reasons.flag(
        who.legacy, "id_legacy", "subject_id", lambda rows: [f"{who.error[i]}{held}" for i in rows]
    )
    reasons.flag(
        who.given & ~who.valid,
        "id_invalid",
        "subject_id",
        lambda rows: [f"{who.error[i]}{held}" for i in rows],
    )
    is_person, is_org = who.kind == "person", who.kind == "org"
    kind_ok = (is_person & rules.allows_person[safe_cat]) | (is_org & rules.allows_org[safe_cat])
    reasons.flag(
        who.valid & ~kind_ok, "subject_kind_mismatch", "subject_id",
        lambda rows: [f"{category[i]} is furnished about "
                      f"{' or '.join(rules.category(int(cat[i])).subject_kinds)}; "
                      f"{who.normalised[i]} is a {who.kind[i]}" for i in rows],
    )  # fmt: skip
    min_age = rules.min_age[safe_cat]
    limited = np.flatnonzero(is_person & (min_age >= 0) & ~np.isnat(days) & reasons.open)
    age = np.zeros(len(days), dtype=np.int64)
    age[limited] = full_years(who.birth[limited], days[limited])
    minor = np.zeros(len(days), dtype=bool)
    minor[limited] = age[limited] < min_age[limited]
    reasons.flag(
        minor, "minor_subject", "subject_id",
        lambda rows: [f"the subject was {age[i]} on {decided_on[i]}; {category[i]} may not be "
                      f"recorded about anyone under {min_age[i]}" for i in rows],
    )  # fmt: skip
    return who


def _extension_message(value: str, category: str, limit: int) -> str:
    if limit == NO_EXTENSION:
        return f"{category} rows take no extension_months (it was {value!r})"
    return f"extension_months {value!r} is not a whole number of months from 0 to {limit}"


def _ground_message(value: str, category: str, rules: Rules) -> str:
    known = rules.policy_category(category)
    allowed = known.grounds if known else ()
    if not allowed:
        return f"{category} rows take no ground (it was {value!r})"
    return f"ground {value!r} is not one of {', '.join(allowed)}"
