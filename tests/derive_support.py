"""Building small stores for the derivation tests: valid identifiers, a policy, ledger events.

Events go in through the real ledger (``store.ledger.append_events``) and subjects as ingestion
would register them; the derivation then reads the store like it reads any other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select
from stdnum.cn import ric, uscc

from socialcredit import ids
from socialcredit.policy.load import load_policy
from socialcredit.store.engine import make_engine, upgrade
from socialcredit.store.ledger import append_events
from socialcredit.store.policies import save_policy
from socialcredit.store.tables import ingest_batches, subjects

POLICY = Path(__file__).parent / "fixtures" / "derive_policy.toml"
D = dt.date


ADULT = D(1980, 1, 1)


def person(n: int, born: dt.date = ADULT) -> str:
    """A valid resident ID (Beijing Dongcheng), distinct for each ``n``."""
    body = f"110101{born:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum ignores the last character


def org(n: int) -> str:
    """A valid unified social credit code, distinct for each ``n``."""
    body = f"91110108{n:08d}X"
    body = body[:17]
    return body + uscc.calc_check_digit(body + "0")


@contextmanager
def store(url: str) -> Iterator[Engine]:
    """A short-lived engine: disposed on exit, so no connection outlives its use."""
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def make_store(url: str, policy: Path = POLICY) -> str:
    with store(url) as engine:
        upgrade(engine)
        save_policy(engine, load_policy(policy))
    return url


def _batch(engine: Engine) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(ingest_batches).values(
                    furnisher="test",
                    source="tests",
                    received_at=dt.datetime.now(dt.UTC),
                    status="done",
                )
            ).inserted_primary_key[0]
        )


def _register(engine: Engine, subject_ids: Iterable[str]) -> None:
    with engine.begin() as conn:
        known = set(conn.execute(select(subjects.c.subject_id)).scalars())
        for value in sorted(set(subject_ids) - known):
            check = ids.require_valid(value)
            conn.execute(
                insert(subjects).values(
                    subject_id=value,
                    scheme=check.scheme,
                    kind=check.kind,
                    name=f"name {value[-6:]}",
                    birth_date=check.birth_date,
                    sex=check.sex,
                    first_seen=dt.datetime.now(dt.UTC),
                )
            )


def event(
    furnisher: str,
    record_id: str,
    subject_id: str,
    category: str,
    decided_on: dt.date,
    action: str = "file",
    **extra: Any,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "furnisher": furnisher,
        "record_id": record_id,
        "action": action,
        "subject_id": subject_id,
        "subject_name": f"name {subject_id[-6:]}",
        "category": category,
        "decided_on": decided_on,
        "document_no": extra.pop("document_no", f"DOC-{record_id}"),
        "amount_fen": None,
        "ground": None,
        "extension_months": None,
        "legal_rep_id": None,
        "note": None,
    }
    row.update(extra)
    return row


def register_subjects(url: str, subject_ids: Iterable[str]) -> None:
    with store(url) as engine:
        _register(engine, subject_ids)


def add_events(url: str, rows: Iterable[Mapping[str, Any]], *, register: bool = True) -> None:
    """Append ``rows`` through the ledger, registering their subjects first (as ingestion
    does) unless ``register`` is false."""
    rows = list(rows)
    with store(url) as engine:
        if register:
            _register(
                engine,
                [r["subject_id"] for r in rows]
                + [r["legal_rep_id"] for r in rows if r.get("legal_rep_id")],
            )
        batch_id = _batch(engine)
        with engine.begin() as conn:
            append_events(conn, rows, batch_id=batch_id)
