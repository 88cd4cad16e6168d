"""Case desk: crew withdrawals that arrived before the grievance they name.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "early_withdrawals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vessel_id", sa.Integer(), nullable=False),
        sa.Column("ref_seq", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["vessel_id"], ["vessels.id"], name=op.f("fk_early_withdrawals_vessel_id_vessels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_early_withdrawals")),
        sa.UniqueConstraint(
            "vessel_id", "ref_seq", name=op.f("uq_early_withdrawals_vessel_id_ref_seq")
        ),
    )
    with op.batch_alter_table("early_withdrawals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_early_withdrawals_vessel_id"), ["vessel_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("early_withdrawals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_early_withdrawals_vessel_id"))
    op.drop_table("early_withdrawals")
