"""Device keys: a public key is unique among *live* keys only.

A key revoked on one vessel may be registered again (for instance on the right vessel after a
replacement box was rotated onto the wrong one); its revoked row stays as the history of what
it signed there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_LIVE = sa.text("revoked_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("device_keys", schema=None) as batch_op:
        batch_op.drop_constraint("uq_device_keys_public_key", type_="unique")
        batch_op.create_index(
            "uq_device_keys_live_public_key",
            ["public_key"],
            unique=True,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        )


def downgrade() -> None:
    with op.batch_alter_table("device_keys", schema=None) as batch_op:
        batch_op.drop_index("uq_device_keys_live_public_key")
        batch_op.create_unique_constraint("uq_device_keys_public_key", ["public_key"])
