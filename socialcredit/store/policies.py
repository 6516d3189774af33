"""Policy versions in the store, each kept verbatim so that any date can be replayed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, Engine, insert, select

from socialcredit.errors import Conflict, NotFound
from socialcredit.policy.load import LoadedPolicy, parse_policy
from socialcredit.store.tables import policy_versions


def save_policy(engine: Engine, loaded: LoadedPolicy) -> bool:
    """Record a policy version; True when new. The same version with other content is refused."""
    header = loaded.policy.policy
    with engine.begin() as conn:
        known = conn.execute(
            select(policy_versions.c.sha256).where(policy_versions.c.version == header.version)
        ).scalar_one_or_none()
        if known == loaded.sha256:
            return False
        if known is not None:
            raise Conflict(
                f"policy version {header.version!r} is already loaded with different content: "
                "publish a new version instead of changing a published one"
            )
        conn.execute(
            insert(policy_versions).values(
                version=header.version,
                effective_from=header.effective_from,
                name=header.name,
                sha256=loaded.sha256,
                source=loaded.source,
                loaded_at=dt.datetime.now(dt.UTC),
            )
        )
    return True


def stored_version(conn: Connection, version: str) -> LoadedPolicy | None:
    """A policy version exactly as it was loaded, or None if the store has no such version."""
    source = conn.execute(
        select(policy_versions.c.source).where(policy_versions.c.version == version)
    ).scalar_one_or_none()
    return None if source is None else parse_policy(source, file=f"store:policy_versions/{version}")


def policy_in_force(engine: Engine, as_of: dt.date) -> LoadedPolicy:
    """The version with the latest effective date on or before ``as_of``."""
    with engine.connect() as conn:
        row = conn.execute(
            select(policy_versions.c.version, policy_versions.c.source)
            .where(policy_versions.c.effective_from <= as_of)
            .order_by(policy_versions.c.effective_from.desc(), policy_versions.c.loaded_at.desc())
            .limit(1)
        ).first()
    if row is None:
        with engine.connect() as conn:
            earliest = conn.execute(
                select(policy_versions.c.effective_from)
                .order_by(policy_versions.c.effective_from)
                .limit(1)
            ).scalar()
        if earliest is None:
            raise NotFound("the store holds no policy: run `socialcredit init` first")
        raise NotFound(
            f"no policy in force on {as_of.isoformat()}: the store's earliest takes effect on "
            f"{earliest.isoformat()}; load one whose effective_from is on or before that date"
        )
    return parse_policy(row.source, file=f"store:policy_versions/{row.version}")


def list_versions(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                policy_versions.c.version,
                policy_versions.c.effective_from,
                policy_versions.c.name,
                policy_versions.c.sha256,
                policy_versions.c.loaded_at,
            ).order_by(policy_versions.c.effective_from)
        ).mappings()
        return [dict(r) for r in rows]
