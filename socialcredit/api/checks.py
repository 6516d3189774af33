"""Restriction checks answered from the decision index, as JSON bytes ready to send.

Shared by the FastAPI routes (``routers/integrators.py``: the contract, odd inputs) and the
fast path (``hot.py``: well-formed requests). Bodies are assembled, not serialised: the result
of a subject without an entry in effect (nearly all) is one template, so a batch is a numpy
byte matrix with the identifiers copied into one column range; the few subjects with entries
are spliced in, built from the index's pre-serialised fragments.

Identifiers are normalised first. A subject the registry knows needs no further validation (the
registry holds validated identifiers only); the others are validated, all at once where
``id_batch.surely_valid`` can tell and by ``ids.check`` otherwise, before anything is answered.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import orjson

from socialcredit import ids
from socialcredit.api.id_batch import surely_valid
from socialcredit.errors import InvalidIdentifier, NotFound, ValidationFailed
from socialcredit.services.decision_index import (
    ID_WIDTH,
    NO_END,
    DecisionIndex,
    IntArray,
    from_day_number,
    json_text,
    keys_of_chars,
)

SHOWN_INVALID = 20  # invalid IDs named in one error message
_ZERO, _A = ord("0"), ord("A")


def require_measure(index: DecisionIndex, measure: str, *, in_path: bool) -> None:
    """A measure of the policy in force: 404 when named in the path, 422 in a body."""
    if measure in index.measure_bit:
        return
    message = f"unknown measure {measure[:64]!r}; the policy in force has " + ", ".join(
        index.measures
    )
    details = {"measure": measure[:64], "known": list(index.measures)}
    raise (
        NotFound(message, details=details)
        if in_path
        else ValidationFailed(message, details=details)
    )


# --- one result -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 14)
def _date_json(day: int) -> str:
    value = from_day_number(day)
    return "null" if value is None else f'"{value.isoformat()}"'


def _source_json(index: DecisionIndex, source: int) -> str:
    return "null" if source < 0 else json_text(index.sources[source].decode())


def _plain_result(index: DecisionIndex, subject_id: str, known: bool) -> str:
    """A subject with no entry in effect (``subject_id`` is plain: no escaping)."""
    return (
        f'{{"subject_id":"{subject_id}","known":{"true" if known else "false"},'
        '"restricted":false,"granted":false,"end_on":null,'
        f'"policy_version":{index.policy_version_json},"entries":[]}}'
    )


def _gather(column: npt.NDArray[Any], rows: IntArray | list[int]) -> list[int]:
    if isinstance(rows, list):  # a handful, for one subject: no array round trip
        return [int(column[r]) for r in rows]
    return list(column[rows].tolist())


def hit_results(
    index: DecisionIndex,
    subject_ids: Sequence[str],
    known: Sequence[bool],
    rows: IntArray | list[int],
    bounds: Sequence[int],
) -> list[str]:
    """The ``CheckResult`` of each subject with entries in effect: ``rows`` are the group rows
    in effect, those of ``subject_ids[i]`` at ``bounds[i]:bounds[i + 1]``.

    Restricted or granted when an entry says so; ``end_on`` is when the last entry ends (null
    when one has no fixed term); the policy version is the run's, as on every entry. Entries are
    in the order of ``schemas.CheckEntry``, from pre-serialised parts (gathered once per
    batch)."""
    details = _gather(index.detail_idx, rows)
    ends = _gather(index.end, rows)
    entries = [
        f'{{"list_code":{index.list_json[list_code]},{index.detail_json[detail]},'
        f'"start_on":{_date_json(start)},"end_on":{_date_json(end)},'
        f'"source_subject_id":{_source_json(index, source)},{index.prov_json}}}'
        for list_code, detail, start, end, source in zip(
            _gather(index.list_idx, rows),
            details,
            _gather(index.start, rows),
            ends,
            _gather(index.source, rows),
            strict=True,
        )
    ]
    results = []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        effects = {index.details[d][0] for d in details[a:b]}
        last_end = NO_END if NO_END in ends[a:b] else max(ends[a:b])
        results.append(
            f'{{"subject_id":"{subject_ids[i]}","known":{"true" if known[i] else "false"},'
            f'"restricted":{"true" if "restricted" in effects else "false"},'
            f'"granted":{"true" if "granted" in effects else "false"},'
            f'"end_on":{_date_json(last_end)},'
            f'"policy_version":{index.version_json},'
            f'"entries":[{",".join(entries[a:b])}]}}'
        )
    return results


def _plain(subject_id: str) -> bool:
    """18 characters 0-9 and A-Z: the form of every valid normalised identifier."""
    return len(subject_id) == ID_WIDTH and subject_id.isascii() and subject_id.isalnum()


class CheckAnswer(NamedTuple):
    """A check's response body, and the normalised identifiers of the subjects it is about
    (as the audit log records them, whatever spelling the caller sent)."""

    body: bytes
    subject_ids: list[str]


def answer_one(index: DecisionIndex, measure: str, raw: str, on: dt.date) -> CheckAnswer:
    """The ``CheckResult`` of one subject (the measure is known)."""
    subject_id = raw.upper() if len(raw) == ID_WIDTH and raw.isascii() else ids.normalise(raw)
    plain = _plain(subject_id)
    known, slot = index.locate_one(subject_id) if plain else (False, -1)
    if not known:  # never registered: validate before answering
        result = ids.check(raw, today=on)
        if not result.valid or result.normalised is None:
            raise InvalidIdentifier(raw[:64], result.error or "invalid")
        if result.normalised != subject_id:  # e.g. separators: look up the normalised form
            subject_id = result.normalised
            known, slot = index.locate_one(subject_id)
    rows = index.live_rows_one(measure, slot, on)
    if not rows:
        return CheckAnswer(_plain_result(index, subject_id, known).encode(), [subject_id])
    body = hit_results(index, [subject_id], [known], rows, [0, len(rows)])[0].encode()
    return CheckAnswer(body, [subject_id])


# --- a batch --------------------------------------------------------------------------------


def _normalised_chars(raw: Sequence[str]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """The normalised identifiers as an (n, 18) byte matrix, and which rows are plain (the
    others, zeros in the matrix, cannot be valid)."""
    n = len(raw)
    # The common case in a few whole-batch steps: joined with NUL (which no plain identifier
    # holds), n plain 18-character identifiers give rows of 18 plain bytes, each then a NUL;
    # and only they do, as every NUL must then be a separator.
    joined = "\0".join(raw) + "\0"
    if joined.isascii() and len(joined) == (ID_WIDTH + 1) * n:
        flat = np.frombuffer(joined.encode().upper(), np.uint8)
        rows = flat.reshape(n, ID_WIDTH + 1)
        if _plain_count(flat) == ID_WIDTH * n and not rows[:, ID_WIDTH].any():
            return np.ascontiguousarray(rows[:, :ID_WIDTH]), np.ones(n, dtype=bool)
    chars = np.zeros((n, ID_WIDTH), dtype=np.uint8)  # the general case, one by one
    plain = np.zeros(n, dtype=bool)
    for i, s in enumerate(raw):
        value = s.upper() if len(s) == ID_WIDTH and s.isascii() else ids.normalise(s)
        if _plain(value):
            chars[i] = np.frombuffer(value.encode(), np.uint8)
            plain[i] = True
    return chars, plain


def _plain_count(chars: npt.NDArray[np.uint8]) -> int:
    """How many bytes are 0-9 or A-Z."""
    return int(np.count_nonzero(((chars - np.uint8(_ZERO)) <= 9) | ((chars - np.uint8(_A)) <= 25)))


def _validate(
    raw: Sequence[str],
    chars: npt.NDArray[np.uint8],
    plain: npt.NDArray[np.bool_],
    unknown: IntArray,
    on: dt.date,
) -> IntArray:
    """Validate the rows not known to the registry; raise for invalid ones. Rows whose
    normalised form differs from the matrix's are rewritten; their positions are returned."""
    unsure = unknown[~plain[unknown]]
    candidates = unknown[plain[unknown]]
    if len(candidates):
        unsure = np.union1d(unsure, candidates[~surely_valid(chars[candidates], on)])
    invalid: list[dict[str, object]] = []
    rewritten: list[int] = []
    for i in unsure.tolist():
        result = ids.check(raw[i], today=on)
        if not result.valid or result.normalised is None:
            invalid.append({"index": i, "value": raw[i][:64], "reason": result.error})
        elif not plain[i]:
            chars[i] = np.frombuffer(result.normalised.encode(), np.uint8)
            rewritten.append(i)
    if invalid:
        if len(raw) == 1:
            raise InvalidIdentifier(raw[0][:64], str(invalid[0]["reason"]))
        named = ", ".join(repr(d["value"]) for d in invalid[:SHOWN_INVALID])
        raise ValidationFailed(
            f"{len(invalid)} invalid subject IDs: {named}", details=invalid[: SHOWN_INVALID * 10]
        )
    return np.array(rewritten, dtype=np.int64)


def _plain_results(
    index: DecisionIndex, chars: npt.NDArray[np.uint8], known: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.uint8], int]:
    """One ``CheckResult`` per row, each followed by a comma, for subjects with no entry in
    effect: a template repeated. ``true`` is padded with a space to the width of ``false``
    (JSON allows it), so every row has the same width, which is returned too."""
    head = b'{"subject_id":"'
    middle = b'","known":'
    tail = (
        b',"restricted":false,"granted":false,"end_on":null,"policy_version":'
        + index.policy_version_json.encode()
        + b',"entries":[]},'
    )
    template = np.frombuffer(head + b"X" * ID_WIDTH + middle + b"true " + tail, np.uint8)
    rows = np.empty((len(chars), len(template)), dtype=np.uint8)
    rows[:] = template
    rows[:, len(head) : len(head) + ID_WIDTH] = chars
    at = len(head) + ID_WIDTH + len(middle)
    rows[~known, at : at + 5] = np.frombuffer(b"false", np.uint8)
    return rows, len(template)


def answer_batch(
    index: DecisionIndex, measure: str, raw: Sequence[str], on: dt.date
) -> CheckAnswer:
    """The ``CheckBatchResponse`` for 1 to 1,000 subjects (the measure is known)."""
    chars, plain = _normalised_chars(raw)
    known, slot = index.locate(keys_of_chars(chars))
    known &= plain
    slot[~plain] = -1
    unknown = np.flatnonzero(~known)
    if len(unknown):
        again = _validate(raw, chars, plain, unknown, on)
        if len(again):  # valid once normalised by ids.check (e.g. separators): look up now
            known[again], slot[again] = index.locate(keys_of_chars(chars[again]))
    owner, rows = index.live_rows(measure, slot, on)
    table, width = _plain_results(index, chars, known)
    flat = memoryview(table.data).cast("B")
    parts: list[bytes | memoryview] = [
        orjson.dumps(
            {
                "measure": measure,
                "on": on.isoformat(),
                "policy_version": index.policy_version,
                "index_run_id": index.run_id,
            }
        )[:-1]
        + b',"results":['
    ]
    done = 0
    if len(owner):
        bounds = [0, *(np.flatnonzero(np.diff(owner)) + 1).tolist(), len(owner)]
        hits = owner[bounds[:-1]].tolist()
        subject_ids = [chars[i].tobytes().decode() for i in hits]  # plain: no escaping
        fragments = hit_results(index, subject_ids, known[hits].tolist(), rows, bounds)
        for i, fragment in zip(hits, fragments, strict=True):
            parts += [flat[done * width : i * width], fragment.encode() + b","]
            done = i + 1
    rest = flat[done * width :]
    if len(rest):
        parts.append(rest[:-1])  # without the last result's comma
    else:
        parts[-1] = parts[-1][:-1]
    parts.append(b"]}")
    normalised = chars.tobytes().decode()  # every row valid and plain by now
    subject_ids = [normalised[i : i + ID_WIDTH] for i in range(0, len(normalised), ID_WIDTH)]
    return CheckAnswer(b"".join(parts), subject_ids)
