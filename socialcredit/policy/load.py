"""Read a policy TOML file into a validated ``Policy``, or refuse it with precise reasons.

    load_policy(Path("my.toml"))   a file
    load_default()                 the shipped national policy (defaults/national.toml)
    load_configured(settings.policy)  either, as Settings says
    parse_policy(text, file)       text already read (``file`` names it in messages)

Every refusal is one ``PolicyError``: its message names the file, the exact table and key of the
first problem (``national.toml:categories[3] (code='tax.arrears').publication_max_days: ...``) and
how many more there are; ``details["errors"]`` lists them all as ``{"location", "message"}``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from socialcredit.errors import PolicyError
from socialcredit.policy import defaults
from socialcredit.policy.checks import (
    Problem,
    format_location,
    no_legal_basis,
    policy_problems,
)
from socialcredit.policy.protected import protected_problems
from socialcredit.policy.schema import Policy

DEFAULT_FILE = "national.toml"


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    source: str  # the TOML text as loaded, stored with the version for replay
    sha256: str  # of the UTF-8 source text
    file: str  # where it came from (a path, or "national.toml" for the shipped default)


def load_policy(path: Path) -> LoadedPolicy:
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read the policy file: {exc.strerror or exc}", file=file) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(
            f"not UTF-8 text (bad byte at offset {exc.start}); TOML files are UTF-8", file=file
        ) from exc
    return parse_policy(text, file)


@functools.cache
def load_default() -> LoadedPolicy:
    """The shipped national policy; read once per process (it is immutable)."""
    text = importlib.resources.files(defaults).joinpath(DEFAULT_FILE).read_text(encoding="utf-8")
    return parse_policy(text, DEFAULT_FILE)


def load_configured(path: Path | None) -> LoadedPolicy:
    """``Settings.policy``: a file, or the shipped default when None."""
    return load_default() if path is None else load_policy(path)


def parse_policy(text: str, file: str) -> LoadedPolicy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(exc, file) from exc
    problems = protected_problems(data)
    policy: Policy | None = None
    try:
        # Strict: TOML has real integers, booleans and dates, so "365" or 1 for true is a mistake
        # to report, not to coerce. Arrays become tuples, which strict mode wants.
        policy = Policy.model_validate(_tuples(data), strict=True)
    except ValidationError as exc:
        problems += _schema_problems(exc, data)
    if policy is not None:
        problems += policy_problems(policy)
    if problems or policy is None:
        raise _refusal(problems, data, file)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return LoadedPolicy(policy=policy, source=text, sha256=digest, file=file)


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


_TOML_POSITION = re.compile(r"\s*\(at (line \d+, column \d+|end of document)\)$")


def _syntax_error(exc: tomllib.TOMLDecodeError, file: str) -> PolicyError:
    # Python 3.11's TOMLDecodeError has no lineno attribute: the position ends the message.
    message = str(exc)
    found = _TOML_POSITION.search(message)
    location = found.group(1) if found else ""
    reason = message[: found.start()] if found else message
    error = PolicyError(f"TOML syntax error: {reason}", file=file, location=location)
    error.details["errors"] = [{"location": location, "message": f"TOML syntax error: {reason}"}]
    return error


def _refusal(problems: list[Problem], data: Mapping[str, Any], file: str) -> PolicyError:
    rendered = [
        {"location": format_location(p.location, data), "message": p.message} for p in problems
    ]
    first = rendered[0]
    more = len(rendered) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    error = PolicyError(first["message"] + suffix, file=file, location=first["location"])
    error.details["errors"] = rendered
    return error


# --- pydantic errors in the words of a TOML author -------------------------------------------

_EXPECTED = {
    "tuple_type": "should be an array",
    "list_type": "should be an array",
    "model_type": "should be a table",
    "dict_type": "should be a table",
    "model_attributes_type": "should be a table",
    "int_type": "should be an integer (no quotes)",
    "string_type": "should be a string",
    "bool_type": "should be true or false",
    "date_type": "should be a date, written YYYY-MM-DD without quotes",
    "missing": "required key is missing",
    "extra_forbidden": "unknown key: this table has no such key (see docs/policy.md)",
}
_LIST_SECTIONS = ("furnishers", "categories", "ratings", "lists", "measures", "memoranda")


def _schema_problems(exc: ValidationError, data: Mapping[str, Any]) -> list[Problem]:
    errors = exc.errors(include_url=False)
    problems = []
    for error in errors:
        loc = tuple(error["loc"])
        # A tuple with a bad item also reports itself "too short"; the item's error says it all.
        if error["type"] == "too_short" and any(
            len(e["loc"]) > len(loc) and tuple(e["loc"][: len(loc)]) == loc for e in errors
        ):
            continue
        problems.append(Problem(loc, _message(error, data)))
    return problems


def _message(error: ErrorDetails, data: Mapping[str, Any]) -> str:
    loc = error["loc"]
    kind = error["type"]
    if (
        loc
        and loc[-1] == "legal_basis"
        and kind in ("missing", "string_too_short")
        and (len(loc) == 3 and loc[0] in _LIST_SECTIONS)
    ):
        return no_legal_basis(str(loc[0]), _code_at(data, str(loc[0]), loc[1]))
    if kind in _EXPECTED:
        text = _EXPECTED[kind]
    else:
        text = error["msg"].removeprefix("Value error, ")
        text = text[0].lower() + text[1:] if text else text
    if kind not in ("missing", "extra_forbidden") and not isinstance(error["input"], dict | tuple):
        text += f" (got {_short(error['input'])})"
    return text


def _code_at(data: Mapping[str, Any], section: str, index: object) -> object:
    items = data.get(section)
    if isinstance(items, list) and isinstance(index, int) and 0 <= index < len(items):
        item = items[index]
        return item.get("code") if isinstance(item, dict) else None
    return None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
