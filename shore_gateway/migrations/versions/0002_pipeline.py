"""Pipeline state: fragments, device state, chain claims, downlink queue, message digests.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("digest", sa.LargeBinary(length=32), nullable=True))
    with op.batch_alter_table("vessels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mt_url", sa.String(length=200), nullable=True))
    op.create_table(
        "fragments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vessel_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("chunk", sa.LargeBinary(), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["vessel_id"], ["vessels.id"], name=op.f("fk_fragments_vessel_id_vessels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fragments")),
        sa.UniqueConstraint("vessel_id", "seq", name=op.f("uq_fragments_vessel_id_seq")),
    )
    with op.batch_alter_table("fragments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fragments_vessel_id"), ["vessel_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fragments_first_seq"), ["first_seq"], unique=False)
    op.create_table(
        "device_state",
        sa.Column("vessel_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.BigInteger(), nullable=False),
        sa.Column("highest", sa.BigInteger(), nullable=False),
        sa.Column("chain_seq", sa.BigInteger(), nullable=False),
        sa.Column("chain_value", sa.LargeBinary(length=8), nullable=False),
        sa.Column("queue_depth", sa.Integer(), nullable=True),
        sa.Column("last_contact", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ack_due", sa.Boolean(), nullable=False),
        sa.Column("missing", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vessel_id"], ["vessels.id"], name=op.f("fk_device_state_vessel_id_vessels")
        ),
        sa.PrimaryKeyConstraint("vessel_id", name=op.f("pk_device_state")),
    )
    op.create_table(
        "chain_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vessel_id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("chain", sa.LargeBinary(length=8), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["vessel_id"], ["vessels.id"], name=op.f("fk_chain_claims_vessel_id_vessels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_claims")),
        sa.UniqueConstraint(
            "vessel_id", "last_seq", name=op.f("uq_chain_claims_vessel_id_last_seq")
        ),
    )
    with op.batch_alter_table("chain_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chain_claims_vessel_id"), ["vessel_id"], unique=False)
    op.create_table(
        "downlinks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vessel_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["vessel_id"], ["vessels.id"], name=op.f("fk_downlinks_vessel_id_vessels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_downlinks")),
    )
    with op.batch_alter_table("downlinks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_downlinks_vessel_id"), ["vessel_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_downlinks_confirmed_at"), ["confirmed_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("downlinks")
    op.drop_table("chain_claims")
    op.drop_table("device_state")
    op.drop_table("fragments")
    with op.batch_alter_table("vessels", schema=None) as batch_op:
        batch_op.drop_column("mt_url")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("digest")
