"""Grievances: what the vessel said about Burmese typed in Zawgyi (grievance element 6).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("grievances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("zawgyi", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("zawgyi_p", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("zawgyi_other", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grievances", schema=None) as batch_op:
        batch_op.drop_column("zawgyi_other")
        batch_op.drop_column("zawgyi_p")
        batch_op.drop_column("zawgyi")
