"""Initial schema: vessels, keys, users, positions, catch, raw frames, messages, grievances, alerts.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "raw_docs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_raw_docs")),
        sa.UniqueConstraint("sha256", name=op.f("uq_raw_docs_sha256")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=True),
        sa.Column("token_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_users_token_sha256")),
    )
    op.create_table(
        "vessels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("imei", sa.String(length=15), nullable=True),
        sa.Column("owner", sa.String(length=120), nullable=True),
        sa.Column("ircs", sa.String(length=16), nullable=True),
        sa.Column("imo", sa.String(length=16), nullable=True),
        sa.Column("mmsi", sa.String(length=9), nullable=True),
        sa.Column("registry_no", sa.String(length=40), nullable=True),
        sa.Column("flag", sa.String(length=3), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vessels")),
        sa.UniqueConstraint("name", name=op.f("uq_vessels_name")),
    )
    with op.batch_alter_table("vessels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vessels_imei"), ["imei"], unique=False)
        batch_op.create_index(batch_op.f("ix_vessels_imo"), ["imo"], unique=False)
        batch_op.create_index(batch_op.f("ix_vessels_ircs"), ["ircs"], unique=False)
        batch_op.create_index(batch_op.f("ix_vessels_mmsi"), ["mmsi"], unique=False)
        batch_op.create_index(batch_op.f("ix_vessels_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_vessels_registry_no"), ["registry_no"], unique=False)

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vessel_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["vessel_id"], ["vessels.id"], name=op.f("fk_alerts_vessel_id_vessels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_vessel_id"), ["vessel_id"], unique=False)

    op.create_table(
        "device_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vessel_id", sa.Integer(), nullable=False),
        sa.Column("kid", sa.LargeBinary(length=4), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["vessel_id"], ["vessels.id"], name=op.f("fk_device_keys_vessel_id_vessels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_keys")),
        sa.UniqueConstraint("public_key", name=op.f("uq_device_keys_public_key")),
    )
    with op.batch_alter_table("device_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_keys_kid"), ["kid"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_keys_vessel_id"), ["vessel_id"], unique=False)

    op.create_table(
        "positions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vessel_id", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("speed_kn", sa.Float(), nullable=True),
        sa.Column("course", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["vessel_id"], ["vessels.id"], name=op.f("fk_positions_vessel_id_vessels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint(
            "vessel_id", "time", "source", name=op.f("uq_positions_vessel_id_time_source")
        ),
    )
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.create_index("ix_positions_vessel_time", ["vessel_id", "time"], unique=False)

    op.create_table(
        "trips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vessel_id", sa.Integer(), nullable=False),
        sa.Column("trip_date", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["vessel_id"], ["vessels.id"], name=op.f("fk_trips_vessel_id_vessels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trips")),
        sa.UniqueConstraint("vessel_id", "trip_date", name=op.f("uq_trips_vessel_id_trip_date")),
    )
    with op.batch_alter_table("trips", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trips_vessel_id"), ["vessel_id"], unique=False)

    op.create_table(
        "catch_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("biz_step", sa.String(length=200), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("vessel_id", sa.Integer(), nullable=True),
        sa.Column("vessel_ref", sa.String(length=200), nullable=True),
        sa.Column("trip_id", sa.Integer(), nullable=True),
        sa.Column("trip_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unloading_port", sa.String(length=120), nullable=True),
        sa.Column("doc_id", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["doc_id"], ["raw_docs.id"], name=op.f("fk_catch_events_doc_id_raw_docs")
        ),
        sa.ForeignKeyConstraint(
            ["trip_id"], ["trips.id"], name=op.f("fk_catch_events_trip_id_trips")
        ),
        sa.ForeignKeyConstraint(
            ["vessel_id"], ["vessels.id"], name=op.f("fk_catch_events_vessel_id_vessels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catch_events")),
        sa.UniqueConstraint("event_key", name=op.f("uq_catch_events_event_key")),
    )
    with op.batch_alter_table("catch_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catch_events_doc_id"), ["doc_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_catch_events_event_time"), ["event_time"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_catch_events_trip_id"), ["trip_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_catch_events_type"), ["type"], unique=False)
        batch_op.create_index(batch_op.f("ix_catch_events_vessel_id"), ["vessel_id"], unique=False)

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vessel_id", sa.Integer(), nullable=False),
        sa.Column("device_key_id", sa.Integer(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_key_id"],
            ["device_keys.id"],
            name=op.f("fk_messages_device_key_id_device_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["vessel_id"], ["vessels.id"], name=op.f("fk_messages_vessel_id_vessels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("vessel_id", "seq", name=op.f("uq_messages_vessel_id_seq")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_messages_vessel_id"), ["vessel_id"], unique=False)

    op.create_table(
        "catch_lots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("epc_class", sa.String(length=300), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=True),
        sa.Column("uom", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["catch_events.id"], name=op.f("fk_catch_lots_event_id_catch_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catch_lots")),
    )
    with op.batch_alter_table("catch_lots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catch_lots_epc_class"), ["epc_class"], unique=False)
        batch_op.create_index(batch_op.f("ix_catch_lots_event_id"), ["event_id"], unique=False)

    op.create_table(
        "grievances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.Integer(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pos_lat", sa.Float(), nullable=True),
        sa.Column("pos_lon", sa.Float(), nullable=True),
        sa.Column("pos_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pos_age_s", sa.Float(), nullable=True),
        sa.Column("pos_uncertainty_m", sa.Float(), nullable=True),
        sa.Column("pos_source", sa.String(length=16), nullable=True),
        sa.Column("trip_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_grievances_message_id_messages")
        ),
        sa.ForeignKeyConstraint(
            ["trip_id"], ["trips.id"], name=op.f("fk_grievances_trip_id_trips")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grievances")),
        sa.UniqueConstraint("message_id", name=op.f("uq_grievances_message_id")),
    )
    with op.batch_alter_table("grievances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grievances_time"), ["time"], unique=False)

    op.create_table(
        "raw_frames",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("imei", sa.String(length=15), nullable=True),
        sa.Column("momsn", sa.Integer(), nullable=True),
        sa.Column("provider_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider_lat", sa.Float(), nullable=True),
        sa.Column("provider_lon", sa.Float(), nullable=True),
        sa.Column("provider_cep_km", sa.Float(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reject_reason", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_raw_frames_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_raw_frames")),
        sa.UniqueConstraint(
            "channel",
            "imei",
            "momsn",
            "sha256",
            name=op.f("uq_raw_frames_channel_imei_momsn_sha256"),
        ),
    )
    with op.batch_alter_table("raw_frames", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_raw_frames_imei"), ["imei"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_raw_frames_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_raw_frames_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_raw_frames_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("raw_frames", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_raw_frames_status"))
        batch_op.drop_index(batch_op.f("ix_raw_frames_sha256"))
        batch_op.drop_index(batch_op.f("ix_raw_frames_received_at"))
        batch_op.drop_index(batch_op.f("ix_raw_frames_imei"))

    op.drop_table("raw_frames")
    with op.batch_alter_table("grievances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grievances_time"))

    op.drop_table("grievances")
    with op.batch_alter_table("catch_lots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catch_lots_event_id"))
        batch_op.drop_index(batch_op.f("ix_catch_lots_epc_class"))

    op.drop_table("catch_lots")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_vessel_id"))

    op.drop_table("messages")
    with op.batch_alter_table("catch_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catch_events_vessel_id"))
        batch_op.drop_index(batch_op.f("ix_catch_events_type"))
        batch_op.drop_index(batch_op.f("ix_catch_events_trip_id"))
        batch_op.drop_index(batch_op.f("ix_catch_events_event_time"))
        batch_op.drop_index(batch_op.f("ix_catch_events_doc_id"))

    op.drop_table("catch_events")
    with op.batch_alter_table("trips", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trips_vessel_id"))

    op.drop_table("trips")
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.drop_index("ix_positions_vessel_time")

    op.drop_table("positions")
    with op.batch_alter_table("device_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_keys_vessel_id"))
        batch_op.drop_index(batch_op.f("ix_device_keys_kid"))

    op.drop_table("device_keys")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_vessel_id"))

    op.drop_table("alerts")
    with op.batch_alter_table("vessels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vessels_registry_no"))
        batch_op.drop_index(batch_op.f("ix_vessels_owner"))
        batch_op.drop_index(batch_op.f("ix_vessels_mmsi"))
        batch_op.drop_index(batch_op.f("ix_vessels_ircs"))
        batch_op.drop_index(batch_op.f("ix_vessels_imo"))
        batch_op.drop_index(batch_op.f("ix_vessels_imei"))

    op.drop_table("vessels")
    op.drop_table("users")
    op.drop_table("raw_docs")
