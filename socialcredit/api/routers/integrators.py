"""The integrator surface: restriction checks answered from the in-memory decision index.

Bodies are written directly as JSON text (the results for unrestricted subjects are one template)
because a batch of a thousand subjects must cost well under a millisecond to encode.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from socialcredit import ids
from socialcredit.api.auth import require_roles
from socialcredit.api.deps import service_state
from socialcredit.api.schemas import (
    AUTH_ERRORS,
    CheckBatchResponse,
    CheckRequest,
    CheckResult,
    errors,
)
from socialcredit.errors import InvalidIdentifier, NotFound, ValidationFailed
from socialcredit.services.decision_index import DecisionIndex, Entry, Verdict
from socialcredit.services.keys import Role

router = APIRouter(
    prefix="/v1/checks",
    tags=["integrators"],
    dependencies=[Depends(require_roles(Role.integrator))],
    responses=AUTH_ERRORS,
)

_SHOWN_INVALID = 20  # invalid IDs named in one error


def _measure(index: DecisionIndex, measure: str, *, in_path: bool) -> None:
    if measure not in index.measure_bit:
        message = f"unknown measure {measure[:64]!r}; the policy in force has " + ", ".join(
            index.measures
        )
        details = {"measure": measure[:64], "known": list(index.measures)}
        raise (
            NotFound(message, details=details)
            if in_path
            else ValidationFailed(message, details=details)
        )


def _lookup_keys(index: DecisionIndex, raw: Sequence[str]) -> list[str]:
    """Normalised IDs to look up.

    The common case (upper-case ASCII IDs of the index's width) costs one join; the rest are
    normalised one by one. Any ID not found among known subjects is validated by ``ids.check``.
    """
    width = index.known.dtype.itemsize
    joined = "".join(raw)
    if joined.isascii() and len(joined) == width * len(raw):
        upper = joined.upper()
        return [upper[i * width : (i + 1) * width] for i in range(len(raw))]
    return [ids.normalise(s) for s in raw]


@dataclass(frozen=True, slots=True)
class Answers:
    """The normalised IDs, which are known, and the entries in effect (by position)."""

    subject_ids: list[str]
    known: list[bool]
    hits: dict[int, tuple[Entry, ...]]

    def verdict(self, i: int) -> Verdict:
        return Verdict(self.subject_ids[i], self.known[i], self.hits.get(i, ()))


def _answers(index: DecisionIndex, measure: str, raw: Sequence[str], on: dt.date) -> Answers:
    normalised = _lookup_keys(index, raw)
    keys = index.keys_of(normalised)
    known, hits = index.check(measure, keys, on)
    invalid: list[dict[str, object]] = []
    for i in (~known).nonzero()[0].tolist():  # never registered: validate before answering
        result = ids.check(raw[i])
        if not result.valid:
            invalid.append({"index": i, "value": raw[i][:64], "reason": result.error})
        elif result.normalised and result.normalised != normalised[i]:
            normalised[i] = result.normalised  # e.g. full-width digits: look up once more
            again = index.verdict(measure, result.normalised, on)
            known[i] = again.known
            if again.entries:
                hits[i] = again.entries
    if invalid:
        if len(raw) == 1:
            raise InvalidIdentifier(raw[0][:64], str(invalid[0]["reason"]))
        named = ", ".join(repr(d["value"]) for d in invalid[:_SHOWN_INVALID])
        raise ValidationFailed(
            f"{len(invalid)} invalid subject IDs: {named}", details=invalid[: _SHOWN_INVALID * 10]
        )
    return Answers(normalised, known.tolist(), hits)


def _hit_json(verdict: Verdict) -> str:
    end = verdict.end_on
    return json.dumps(
        {
            "subject_id": verdict.subject_id,
            "known": verdict.known,
            "restricted": verdict.restricted,
            "granted": verdict.granted,
            "end_on": end.isoformat() if end else None,
            "policy_version": verdict.entries[0].policy_version,
            "entries": [e.to_json() for e in verdict.entries],
        },
        ensure_ascii=False,
    )


def _results_json(answers: Answers, policy_version: str | None) -> list[str]:
    """One JSON object per subject. Subjects without an entry in effect (nearly all) share one
    template; validated IDs are [0-9A-Z] only, so they need no escaping."""
    version = json.dumps(policy_version)
    rest = f',"restricted":false,"granted":false,"end_on":null,"policy_version":{version}'
    rest += ',"entries":[]}'
    known_tail, unknown_tail = '","known":true' + rest, '","known":false' + rest
    hits = answers.hits
    return [
        _hit_json(answers.verdict(i))
        if i in hits
        else '{"subject_id":"' + sid + (known_tail if k else unknown_tail)
        for i, (sid, k) in enumerate(zip(answers.subject_ids, answers.known, strict=True))
    ]


def _answer(index: DecisionIndex, measure: str, answers: Answers, on: dt.date) -> str:
    head = json.dumps(
        {
            "measure": measure,
            "on": on.isoformat(),
            "policy_version": index.policy_version,
            "index_run_id": index.run_id,
        }
    )
    results = ",".join(_results_json(answers, index.policy_version))
    return f'{head[:-1]},"results":[{results}]}}'


@router.post(
    "",
    response_model=CheckBatchResponse,
    responses=errors(404),
    summary="Check 1 to 1,000 subjects against one measure",
)
async def check_batch(body: CheckRequest, request: Request) -> Response:
    state = service_state(request)  # not a dependency: this route is the hot path
    index = state.require_index()
    _measure(index, body.measure, in_path=False)
    today = dt.date.today()
    answers = _answers(index, body.measure, body.subjects, today)
    state.metrics.checked_subjects.labels(body.measure).inc(len(body.subjects))
    return Response(_answer(index, body.measure, answers, today), media_type="application/json")


@router.get(
    "/{measure}/{subject_id}",
    response_model=CheckResult,
    responses=errors(404),
    summary="Check one subject against one measure",
)
async def check_one(
    request: Request,
    measure: Annotated[str, Path(max_length=64)],
    subject_id: Annotated[str, Path(max_length=64)],
) -> Response:
    state = service_state(request)
    index = state.require_index()
    _measure(index, measure, in_path=True)
    answers = _answers(index, measure, [subject_id], dt.date.today())
    state.metrics.checked_subjects.labels(measure).inc()
    body = _results_json(answers, index.policy_version)[0]
    return Response(body, media_type="application/json")
