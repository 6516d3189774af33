"""API keys: issued once, stored only as a public prefix and the sha256 of the secret part.

A key reads ``sc_<prefix>_<secret>``. The prefix names the key in logs and in the audit trail;
the secret never leaves the caller after it is printed once. Every key has one role; furnisher
keys are bound to a furnisher code of the policy, subject keys to one validated subject ID, and
inquirer keys to the purposes their holder may state (``court_enforcement`` only when asked
for), under a name no other active inquirer key has: subjects' consents name inquirers by it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from socialcredit import ids
from socialcredit.errors import Conflict, NotFound, ValidationFailed
from socialcredit.services.inquiries import Purpose, active_inquirer, same_inquirer
from socialcredit.store.engine import stored_time
from socialcredit.store.tables import api_keys

KEY_PREFIX = "sc"
_PREFIX_BYTES = 6  # 12 hex characters: enough to be unique, short enough to read in a log
_SECRET_BYTES = 24


class Role(StrEnum):
    furnisher = "furnisher"
    inquirer = "inquirer"
    integrator = "integrator"
    subject = "subject"
    operator = "operator"


# Requests per minute per key unless the issuer says otherwise: integrators check at volume.
DEFAULT_RATE_PER_MINUTE: dict[Role, int] = {
    Role.furnisher: 600,
    Role.inquirer: 600,
    Role.integrator: 600_000,
    Role.subject: 120,
    Role.operator: 1_200,
}


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key as the service sees it (never the secret)."""

    key_id: int
    name: str
    role: Role
    prefix: str
    furnisher: str | None
    subject_id: str | None
    rate_per_minute: int
    key_hash: str
    revoked: bool
    purposes: tuple[Purpose, ...] = ()  # what an inquirer key may state; empty for other roles

    def public(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "role": self.role.value,
            "prefix": self.prefix,
            "furnisher": self.furnisher,
            "subject_id": self.subject_id,
            "rate_per_minute": self.rate_per_minute,
            "purposes": [p.value for p in self.purposes] if self.role is Role.inquirer else None,
            "revoked": self.revoked,
        }


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    """``sc_<prefix>_<secret>`` -> (prefix, secret); None for anything else."""
    parts = key.split("_")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    prefix, secret = parts[1], parts[2]
    if len(prefix) > 16 or len(secret) > 128 or not prefix.isalnum():
        return None
    return prefix, secret


def matches(key: ApiKey, secret: str) -> bool:
    """Constant-time comparison of the secret's hash with the stored one."""
    return hmac.compare_digest(hash_secret(secret), key.key_hash)


def _check_binding(
    role: Role,
    furnisher: str | None,
    subject_id: str | None,
    known_furnishers: frozenset[str] | None,
) -> str | None:
    if role is Role.furnisher:
        if not furnisher:
            raise ValidationFailed("a furnisher key must be bound to a furnisher (--furnisher)")
        if known_furnishers is not None and furnisher not in known_furnishers:
            raise ValidationFailed(
                f"unknown furnisher {furnisher!r}: the policy in force knows "
                f"{', '.join(sorted(known_furnishers))}",
                details={"furnisher": furnisher, "known": sorted(known_furnishers)},
            )
    elif furnisher:
        raise ValidationFailed(f"only furnisher keys name a furnisher, not {role.value} keys")
    if role is Role.subject:
        if not subject_id:
            raise ValidationFailed("a subject key must be bound to a subject ID (--subject)")
        return ids.require_valid(subject_id).normalised
    if subject_id:
        raise ValidationFailed(f"only subject keys are bound to a subject, not {role.value} keys")
    return None


# What an inquirer key may state unless its issuer names purposes: all but court enforcement,
# which shows records past their publication period and is for courts alone.
DEFAULT_PURPOSES = tuple(p for p in Purpose if p is not Purpose.court_enforcement)


def _purposes(role: Role, purposes: Sequence[Purpose | str] | None) -> tuple[Purpose, ...]:
    if role is not Role.inquirer:
        if purposes:
            raise ValidationFailed(f"only inquirer keys name purposes, not {role.value} keys")
        return ()
    if purposes is None:
        return DEFAULT_PURPOSES
    if not purposes:
        raise ValidationFailed(
            "an inquirer key states at least one purpose (leave purposes out for the default)"
        )
    chosen = set()
    for purpose in purposes:
        try:
            chosen.add(Purpose(purpose))
        except ValueError:
            raise ValidationFailed(
                f"unknown purpose {purpose!r}: one of {', '.join(p.value for p in Purpose)}",
                details={"purpose": purpose},
            ) from None
    return tuple(p for p in Purpose if p in chosen)


def _refuse_taken_name(conn: Connection, name: str) -> None:
    """An active inquirer key's name is the one its subjects' consents name: no other active
    inquirer key may hold it."""
    taken = active_inquirer(conn, name)
    if taken is not None:
        key_id, held, prefix = taken
        raise Conflict(
            f"an active inquirer key (prefix {prefix}, id {key_id}) is already named {held!r}: "
            "subjects' consents name inquirers by name, so revoke it first or choose another "
            "name",
            details={"key_id": key_id, "prefix": prefix, "name": held},
        )


def create_key(
    engine: Engine,
    *,
    role: Role | str,
    name: str,
    furnisher: str | None = None,
    subject_id: str | None = None,
    rate_per_minute: int | None = None,
    known_furnishers: frozenset[str] | None = None,
    purposes: Sequence[Purpose | str] | None = None,
) -> str:
    """Issue a key and return it; only its prefix and hash are stored, so this is the one chance
    to see it. ``known_furnishers`` (the policy's codes), when given, guards the binding;
    ``purposes`` (inquirer keys) default to ``DEFAULT_PURPOSES``."""
    try:
        role = Role(role)
    except ValueError:
        raise ValidationFailed(
            f"unknown role {role!r}: one of {', '.join(r.value for r in Role)}",
            details={"role": role},
        ) from None
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("a key needs a name of 1 to 200 characters (who holds it)")
    bound_subject = _check_binding(role, furnisher, subject_id, known_furnishers)
    allowed = _purposes(role, purposes)
    rate = DEFAULT_RATE_PER_MINUTE[role] if rate_per_minute is None else rate_per_minute
    if rate < 1:
        raise ValidationFailed("the rate limit must be at least 1 request per minute")
    prefix = secrets.token_hex(_PREFIX_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES).replace("_", "x").replace("-", "y")
    inquirer_name = same_inquirer(name) if role is Role.inquirer else None
    try:
        with engine.begin() as conn:
            if inquirer_name is not None:
                _refuse_taken_name(conn, name)
            conn.execute(
                insert(api_keys).values(
                    name=name,
                    role=role.value,
                    inquirer_name=inquirer_name,
                    furnisher=furnisher if role is Role.furnisher else None,
                    subject_id=bound_subject,
                    purposes=" ".join(p.value for p in allowed) if allowed else None,
                    prefix=prefix,
                    key_hash=hash_secret(secret),
                    rate_per_minute=rate,
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
    except IntegrityError:
        if inquirer_name is None:
            raise
        # Another key of this name was created between the check and the insert: the unique
        # index refused this one. Say which, as the check would have.
        with engine.connect() as conn:
            _refuse_taken_name(conn, name)
        # The other key was revoked meanwhile: still, this one was refused.
        raise Conflict(
            f"another inquirer key named {name!r} was being issued at the same time; try again",
            details={"name": name},
        ) from None
    return f"{KEY_PREFIX}_{prefix}_{secret}"


def _row_to_key(row: Any) -> ApiKey:
    return ApiKey(
        key_id=int(row.key_id),
        name=row.name,
        role=Role(row.role),
        prefix=row.prefix,
        furnisher=row.furnisher,
        subject_id=row.subject_id,
        rate_per_minute=int(row.rate_per_minute),
        key_hash=row.key_hash,
        revoked=row.revoked_at is not None,
        purposes=tuple(Purpose(p) for p in (row.purposes or "").split()),
    )


def find_key(conn: Connection, prefix: str) -> ApiKey | None:
    row = conn.execute(select(api_keys).where(api_keys.c.prefix == prefix)).first()
    return None if row is None else _row_to_key(row)


def active_keys(conn: Connection) -> dict[str, ApiKey]:
    """Every key not revoked, by prefix (the service keeps this in memory)."""
    rows = conn.execute(select(api_keys).where(api_keys.c.revoked_at.is_(None)))
    return {row.prefix: _row_to_key(row) for row in rows}


def keys_fingerprint(conn: Connection) -> tuple[Any, ...]:
    """Changes whenever a key is created or revoked."""
    row = conn.execute(
        select(func.count(), func.max(api_keys.c.key_id), func.count(api_keys.c.revoked_at))
    ).one()
    return tuple(row)


def _described(row: Any) -> dict[str, Any]:
    return {
        **_row_to_key(row).public(),
        "created_at": stored_time(row.created_at),
        "revoked_at": None if row.revoked_at is None else stored_time(row.revoked_at),
    }


def list_keys(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(api_keys).order_by(api_keys.c.key_id)).all()
    return [_described(r) for r in rows]


def describe_key(engine: Engine, prefix: str) -> dict[str, Any]:
    """One key as ``list_keys`` shows it (when issued, revoked; never the secret)."""
    with engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.prefix == prefix)).first()
    if row is None:
        raise NotFound(f"no API key {prefix!r}")
    return _described(row)


def _hand_on_name(conn: Connection, inquirer_name: str) -> None:
    """A revoked key's name to the oldest other active inquirer key of that name, if any: keys
    of one name issued before names were unique (migration 0007) stay active without it."""
    waiting = conn.execute(
        select(api_keys.c.key_id, api_keys.c.name)
        .where(
            api_keys.c.role == "inquirer",
            api_keys.c.revoked_at.is_(None),
            api_keys.c.inquirer_name.is_(None),
        )
        .order_by(api_keys.c.key_id)
    )
    heir = next((key_id for key_id, name in waiting if same_inquirer(name) == inquirer_name), None)
    if heir is not None:
        conn.execute(
            update(api_keys).where(api_keys.c.key_id == heir).values(inquirer_name=inquirer_name)
        )


def revoke_key(engine: Engine, key_ref: str) -> dict[str, Any]:
    """Revoke by prefix, key id or the whole key string; revoking twice is harmless."""
    parsed = split_key(key_ref)
    ref = parsed[0] if parsed else key_ref.strip()
    if not ref.isprintable():  # no prefix has a control character (nor can PostgreSQL text)
        raise NotFound(f"no API key {ref!r} (give its prefix or key id)")
    condition = api_keys.c.prefix == ref
    # ASCII digits only ("³".isdigit() is true, int("³") fails) and within a bigint.
    if ref.isascii() and ref.isdigit() and len(ref) <= 18:
        condition = or_(condition, api_keys.c.key_id == int(ref))
    with engine.begin() as conn:
        row = conn.execute(select(api_keys).where(condition)).first()
        if row is None:
            raise NotFound(f"no API key {ref!r} (give its prefix or key id)")
        already = row.revoked_at is not None
        if not already:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.key_id == row.key_id)
                .values(revoked_at=dt.datetime.now(dt.UTC), inquirer_name=None)
            )
            if row.inquirer_name is not None:
                _hand_on_name(conn, row.inquirer_name)
        now = conn.execute(select(api_keys).where(api_keys.c.key_id == row.key_id)).one()
    return {**_described(now), "already_revoked": already}
