"""Grievances: voice notes (crew kind 5) — the Codec2 frames as on the wire, mode and length.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("grievances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voice", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("voice_mode", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("voice_ms", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grievances", schema=None) as batch_op:
        batch_op.drop_column("voice_ms")
        batch_op.drop_column("voice_mode")
        batch_op.drop_column("voice")
