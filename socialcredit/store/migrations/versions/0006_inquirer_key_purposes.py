"""inquirer keys name the purposes they may state

Revision ID: 0006
Revises: 0005

An inquirer stated any purpose, court enforcement included (every record the store still
holds). Each inquirer key now names the purposes its holder may state. Keys issued before keep
every purpose but court enforcement; a court's key is issued again with
``--purpose court_enforcement``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

EARLIER_KEYS = "credit_decision tenancy employment business_partner procurement"


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("purposes", sa.Text(), nullable=True))
    keys = sa.table("api_keys", sa.column("role", sa.String), sa.column("purposes", sa.Text))
    op.execute(keys.update().where(keys.c.role == "inquirer").values(purposes=EARLIER_KEYS))


def downgrade() -> None:
    # Dropped in place (SQLite 3.35.5+, which Python's sqlite3 here ships, and PostgreSQL):
    # a batch copy of the table fails on SQLite once an inquiry references a key (the copy
    # drops the table its rows point to).
    op.drop_column("api_keys", "purposes")
