"""An index of each vessel's crew messages by their time (re-placing grievances near new fixes).

A new fix re-places the vessel's grievances within a day of it. Looked up through
``grievances.time`` alone, that read every grievance of the whole fleet in the window, for each
vessel of every batch that carried a position (on PostgreSQL a 100,000-frame backlog slowed to
under 40 frames/s as it grew). Partial (crew messages only): positions and heartbeats, nine in
ten messages, do not pay for it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_CREW = sa.text("kind = 'crew'")


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_crew_vessel_sent",
            ["vessel_id", "sent_at"],
            unique=False,
            sqlite_where=_CREW,
            postgresql_where=_CREW,
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_crew_vessel_sent")
