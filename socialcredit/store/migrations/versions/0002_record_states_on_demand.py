"""record states computed on demand; list entries carry ground and amount

Revision ID: 0002
Revises: 0001

``derive`` no longer writes one ``record_states`` row per record (it was most of a full run's
writing); ``report`` computes a subject's record states from its events. The published lists
took the ground and amount from there, so list entries now carry them: rows written before this
revision have them empty until the next ``derive``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("record_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_states_subject"))

    op.drop_table("record_states")
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ground", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("amount_fen", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.drop_column("amount_fen")
        batch_op.drop_column("ground")

    op.create_table(
        "record_states",
        sa.Column("furnisher", sa.VARCHAR(length=32), nullable=False),
        sa.Column("record_id", sa.VARCHAR(length=128), nullable=False),
        sa.Column("subject_id", sa.VARCHAR(length=32), nullable=False),
        sa.Column("category", sa.VARCHAR(length=64), nullable=False),
        sa.Column("decided_on", sa.DATE(), nullable=False),
        sa.Column("document_no", sa.VARCHAR(length=128), nullable=False),
        sa.Column("amount_fen", sa.BIGINT(), nullable=True),
        sa.Column("ground", sa.VARCHAR(length=64), nullable=True),
        sa.Column("status", sa.VARCHAR(length=16), nullable=False),
        sa.Column("status_on", sa.DATE(), nullable=True),
        sa.Column("publish_until", sa.DATE(), nullable=True),
        sa.Column("restorable_from", sa.DATE(), nullable=True),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("furnisher", "record_id", name=op.f("pk_record_states")),
    )
    with op.batch_alter_table("record_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_record_states_subject"), ["subject_id"], unique=False)
