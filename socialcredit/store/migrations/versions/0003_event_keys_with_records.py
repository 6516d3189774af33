"""event keys as 16 bytes, unique with their record

Revision ID: 0003
Revises: 0002

An event's key was the sha256 of its content as 64 hex characters, with a unique index of its
own: random 64-character keys made that index the most expensive part of appending events. The
key is now the first 16 bytes of the same digest, and ``(furnisher, record_id, event_key)`` is
unique instead (the record index, which gains the key as its last column). Existing keys are
converted in place, so events stored before this revision are still recognised when re-sent.
Downgrading recomputes the 64-character keys from the events' content.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The event content as ``store.ledger`` keyed it at this revision: fields joined by U+001F,
# none as empty text, dates as YYYY-MM-DD, numbers in decimal.
FIELDS = (
    "furnisher", "record_id", "action", "subject_id", "subject_name", "category", "decided_on",
    "document_no", "amount_fen", "ground", "extension_months", "legal_rep_id", "note",
)  # fmt: skip


def _sqlite_functions(*functions: tuple[str, Any]) -> None:
    """Register Python functions on the migration's SQLite connection (3.40 has no unhex)."""
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    for name, function in functions:
        driver.create_function(name, 1, function, deterministic=True)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_functions(("sc_key16", lambda text: bytes.fromhex(text[:32])))
        op.execute("UPDATE events SET event_key = sc_key16(event_key)")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_events_event_key"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_events_record"))
        batch_op.alter_column(
            "event_key",
            existing_type=sa.VARCHAR(length=64),
            type_=sa.LargeBinary(length=16),
            existing_nullable=False,
            postgresql_using="decode(substr(event_key, 1, 32), 'hex')",
        )
        batch_op.create_index(
            "ix_events_record", ["furnisher", "record_id", "event_key"], unique=True
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    text = " || chr(31) || ".join(f"coalesce(CAST({f} AS TEXT), '')" for f in FIELDS)
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_record")
        batch_op.alter_column(
            "event_key",
            existing_type=sa.LargeBinary(length=16),
            type_=sa.VARCHAR(length=64),
            existing_nullable=False,
            postgresql_using=f"encode(sha256(convert_to({text}, 'UTF8')), 'hex')",
        )
    if dialect == "sqlite":
        _sqlite_functions(("sc_sha256", lambda value: hashlib.sha256(value.encode()).hexdigest()))
        op.execute(f"UPDATE events SET event_key = sc_sha256({text.replace('chr(', 'char(')})")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_events_record"), ["furnisher", "record_id"], unique=False
        )
        batch_op.create_unique_constraint(batch_op.f("uq_events_event_key"), ["event_key"])
