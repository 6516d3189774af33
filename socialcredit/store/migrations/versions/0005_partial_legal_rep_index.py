"""the legal-representative index holds only events that name one

Revision ID: 0005
Revises: 0004

``ix_events_legal_rep`` answers "which organisations does this person represent" (incremental
runs, publication). Most events name no legal representative, yet every one of them had an
entry (NULL) in the index, maintained on every append. The index is now partial: only events
with a ``legal_rep_id`` are in it. Look-ups by a representative still use it (an equality on
the column implies it is not null); appends skip it for most events, and the store is smaller.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NAMED = sa.text("legal_rep_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_events_legal_rep", table_name="events")
    op.create_index(
        "ix_events_legal_rep",
        "events",
        ["legal_rep_id"],
        sqlite_where=NAMED,
        postgresql_where=NAMED,
    )


def downgrade() -> None:
    op.drop_index("ix_events_legal_rep", table_name="events")
    op.create_index("ix_events_legal_rep", "events", ["legal_rep_id"])
