"""derived tables hold the current state; the run they reflect is in derive_runs

Revision ID: 0004
Revises: 0003

Ratings, list entries and decisions carried their run's ``policy_version``, ``as_of`` and
``run_id`` on every row. Every row then changed with every run, so a full run had to rewrite
all of them even when a day's new events changed a few thousand. The derived tables now hold
the current state alone, and the last *finished* run in ``derive_runs`` (finished in the same
transaction that writes its results) says as of which date, under which policy, they hold. A
full run writes only the rows that changed.

Downgrading puts the columns back, filled from the last finished run.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("ratings", "list_entries", "decisions")
RUN_COLUMNS = ("policy_version", "as_of", "run_id")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in RUN_COLUMNS:
                batch_op.drop_column(column)


def downgrade() -> None:
    bind = op.get_bind()
    runs = sa.table(
        "derive_runs",
        sa.column("run_id", sa.BigInteger()),
        sa.column("as_of", sa.Date()),
        sa.column("policy_version", sa.String()),
        sa.column("finished_at", sa.DateTime()),
    )
    last = bind.execute(
        sa.select(runs.c.run_id, runs.c.as_of, runs.c.policy_version)
        .where(runs.c.finished_at.is_not(None))
        .order_by(runs.c.run_id.desc())
        .limit(1)
    ).first()
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("policy_version", sa.String(length=64), nullable=True))
            batch_op.add_column(sa.Column("as_of", sa.Date(), nullable=True))
            batch_op.add_column(
                sa.Column(
                    "run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
                )
            )
        rows = sa.table(
            table,
            sa.column("policy_version", sa.String()),
            sa.column("as_of", sa.Date()),
            sa.column("run_id", sa.BigInteger()),
        )
        if last is not None:
            bind.execute(
                sa.update(rows).values(
                    policy_version=last.policy_version, as_of=last.as_of, run_id=last.run_id
                )
            )
        else:  # no finished run: rows without one cannot be explained; they are dropped
            bind.execute(sa.delete(rows))
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in RUN_COLUMNS:
                batch_op.alter_column(column, nullable=False)
