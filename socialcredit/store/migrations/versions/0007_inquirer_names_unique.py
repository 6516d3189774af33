"""one active inquirer key per name, held by the store itself

Revision ID: 0007
Revises: 0006

Subjects consent to an inquirer by name, so no two active inquirer keys may share one (case
and runs of spaces aside). ``create_key`` checked this before inserting, but two keys created
at the same moment could both pass the check. Each active inquirer key now holds its name as
compared (``inquirer_name``) under a unique index; revoking a key releases it (null, which a
unique index does not count). Keys of one name issued before names were unique stay active;
the oldest of them holds the name.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _compared(name: str) -> str:
    """As ``services.inquiries.same_inquirer``, frozen here: a migration must not change with
    the code after it."""
    return " ".join(name.split()).casefold()


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("inquirer_name", sa.Text(), nullable=True))
    keys = sa.table(
        "api_keys",
        sa.column("key_id", sa.BigInteger),
        sa.column("name", sa.Text),
        sa.column("role", sa.String),
        sa.column("revoked_at", sa.DateTime(timezone=True)),
        sa.column("inquirer_name", sa.Text),
    )
    conn = op.get_bind()
    active = conn.execute(
        sa.select(keys.c.key_id, keys.c.name)
        .where(keys.c.role == "inquirer", keys.c.revoked_at.is_(None))
        .order_by(keys.c.key_id)
    ).all()
    held: set[str] = set()
    for key_id, name in active:
        compared = _compared(name)
        if compared in held:
            continue
        held.add(compared)
        conn.execute(
            keys.update().where(keys.c.key_id == key_id).values(inquirer_name=compared)
        )
    op.create_index("ix_api_keys_inquirer_name", "api_keys", ["inquirer_name"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_api_keys_inquirer_name", table_name="api_keys")
    # Dropped in place (SQLite 3.35.5+, which Python's sqlite3 here ships, and PostgreSQL):
    # a batch copy of the table fails on SQLite once an inquiry references a key (the copy
    # drops the table its rows point to).
    op.drop_column("api_keys", "inquirer_name")
