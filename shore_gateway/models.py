"""SQLModel tables of the shore gateway's pipeline: vessels, keys, users, frames, messages, …

They subclass :class:`shore_gateway.tables.GatewayModel` (the gateway's own metadata and naming
convention); the case desk's and the web login's tables live with their packages, and
:mod:`shore_gateway.schema` gathers every table for Alembic.

Exactly-once effect across several gateway processes sharing one PostgreSQL rests on unique
constraints, not on in-process state:

- ``raw_frames``: UNIQUE (channel, imei, momsn, sha256) — a provider retrying the *same* arrival
  (webhook retry, DirectIP re-send after a lost confirmation) is stored once; the same frame
  arriving by another channel is a second, legitimate arrival.
- ``messages``: UNIQUE (vessel_id, seq) — the dedupe of *messages* that the pipeline relies on.
- ``positions``: UNIQUE (vessel_id, time, source) — feeds re-sent by VMS providers are idempotent.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlmodel import Field

from shore_gateway.tables import GatewayModel, UtcDateTime, utcnow

# GatewayModel, UtcDateTime and utcnow are re-exported: much of the gateway imports them from here.
__all__ = [
    "ALERT_KINDS",
    "CHANNELS",
    "EVENT_TYPES",
    "ROLES",
    "Alert",
    "AlertKind",
    "CatchEvent",
    "CatchLot",
    "ChainClaim",
    "Channel",
    "DeviceKey",
    "DeviceState",
    "Downlink",
    "FragmentPart",
    "GatewayModel",
    "Grievance",
    "Message",
    "Position",
    "RawDoc",
    "RawFrame",
    "Role",
    "Trip",
    "User",
    "UtcDateTime",
    "Vessel",
    "utcnow",
]


class Role(StrEnum):
    """What a user may do (``users.role``)."""

    STAFF = "staff"
    OWNER = "owner"
    ADMIN = "admin"
    BUYER = "buyer"


class Channel(StrEnum):
    """How an arrival reached the gateway (``raw_frames.channel``)."""

    DIRECTIP = "directip"
    ROCKBLOCK = "rockblock"
    MQTT = "mqtt"
    CLI = "cli"
    CLOUDLOOP = "cloudloop"
    FRAMES = "frames"


class AlertKind(StrEnum):
    """What an ``alerts`` row is about (the stored value is the string)."""

    GAP = "gap"  # seqs missing from a vessel (device_state)
    CHAIN = "chain"  # the hash chain disagrees with a heartbeat's checkpoint (device_state)
    SILENCE = "silence"  # a vessel silent for longer than its usual intervals (silence.py)
    SEAL = "seal"  # a crew message whose seal does not open (pipeline)
    COLLISION = "collision"  # a second device reusing a vessel's seqs (pipeline)
    BROKER_DROP = "broker_drop"  # the MQTT broker dropped messages (gateway-wide, no vessel)


ROLES = tuple(Role)
CHANNELS = tuple(Channel)
EVENT_TYPES = ("fishing", "transshipment", "landing", "processing")
ALERT_KINDS = tuple(AlertKind)


def _time(*, index: bool = False, nullable: bool = False) -> Any:
    return Field(sa_column=Column(UtcDateTime(), index=index, nullable=nullable))


def _now_column(*, index: bool = False) -> Any:
    # Both defaults: the model's for ORM objects, the column's for Core inserts (hot path).
    column: Column[dt.datetime] = Column(UtcDateTime(), index=index, nullable=False, default=utcnow)
    return Field(default_factory=utcnow, sa_column=column)


def _blob(*, nullable: bool = False, length: int | None = None, index: bool = False) -> Any:
    return Field(sa_column=Column(LargeBinary(length), nullable=nullable, index=index))


class Vessel(GatewayModel, table=True):
    __tablename__: ClassVar[str] = "vessels"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=120)
    imei: str | None = Field(default=None, index=True, max_length=15)
    owner: str | None = Field(default=None, index=True, max_length=120)
    ircs: str | None = Field(default=None, index=True, max_length=16)
    imo: str | None = Field(default=None, index=True, max_length=16)
    mmsi: str | None = Field(default=None, index=True, max_length=9)
    registry_no: str | None = Field(default=None, index=True, max_length=40)
    flag: str | None = Field(default=None, max_length=3)
    # Where downlink for this vessel goes when not the gateway-wide default, e.g.
    # "directip://host:port" (an emulated modem's MT listener) or "mqtt".
    mt_url: str | None = Field(default=None, max_length=200)
    created_at: dt.datetime = _now_column()


class DeviceKey(GatewayModel, table=True):
    """An Ed25519 public key of a vessel's device; several per vessel over time (rotation)."""

    __tablename__: ClassVar[str] = "device_keys"
    # Unique among live keys: a revoked key may be registered again (migration 0005).
    __table_args__ = (
        Index(
            "uq_device_keys_live_public_key",
            "public_key",
            unique=True,
            sqlite_where=sql_text("revoked_at IS NULL"),
            postgresql_where=sql_text("revoked_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    vessel_id: int = Field(foreign_key="vessels.id", index=True)
    kid: bytes = _blob(length=4, index=True)
    public_key: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    created_at: dt.datetime = _now_column()
    revoked_at: dt.datetime | None = _time(nullable=True)


class User(GatewayModel, table=True):
    """A person or system calling the API. Only SHA-256 of the bearer token is kept."""

    __tablename__: ClassVar[str] = "users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=120)
    role: str = Field(max_length=16)
    owner: str | None = Field(default=None, max_length=120)
    token_sha256: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False, unique=True))
    created_at: dt.datetime = _now_column()
    disabled_at: dt.datetime | None = _time(nullable=True)


class Position(GatewayModel, table=True):
    __tablename__: ClassVar[str] = "positions"
    __table_args__ = (
        UniqueConstraint("vessel_id", "time", "source"),
        Index("ix_positions_vessel_time", "vessel_id", "time"),
    )

    id: int | None = Field(default=None, primary_key=True)
    vessel_id: int = Field(foreign_key="vessels.id")
    time: dt.datetime = _time()
    lat: float
    lon: float
    speed_kn: float | None = None
    course: float | None = None
    source: str = Field(max_length=16)  # naf | ais | nmea | directip | rockblock | agent
    accuracy_m: float | None = None
    received_at: dt.datetime = _now_column()


class RawDoc(GatewayModel, table=True):
    """A catch-data document as received (EPCIS JSON-LD), kept for audit."""

    __tablename__: ClassVar[str] = "raw_docs"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(unique=True, max_length=64)
    kind: str = Field(default="epcis", max_length=16)
    body: str = Field(sa_type=Text)
    received_at: dt.datetime = _now_column()


class Trip(GatewayModel, table=True):
    """A fishing trip: a vessel and its GDST ``vesselTripDate`` (the trip's start)."""

    __tablename__: ClassVar[str] = "trips"
    __table_args__ = (UniqueConstraint("vessel_id", "trip_date"),)

    id: int | None = Field(default=None, primary_key=True)
    vessel_id: int = Field(foreign_key="vessels.id", index=True)
    trip_date: dt.datetime = _time()


class CatchEvent(GatewayModel, table=True):
    """One EPCIS event of a GDST chain: fishing, transshipment, landing or processing."""

    __tablename__: ClassVar[str] = "catch_events"

    id: int | None = Field(default=None, primary_key=True)
    event_key: str = Field(unique=True, max_length=200)  # eventID, or a hash when absent
    event_id: str | None = Field(default=None, max_length=200)
    type: str = Field(max_length=16, index=True)
    biz_step: str | None = Field(default=None, max_length=200)
    event_time: dt.datetime | None = _time(nullable=True, index=True)
    vessel_id: int | None = Field(default=None, foreign_key="vessels.id", index=True)
    vessel_ref: str | None = Field(default=None, max_length=200)  # as named in the document
    trip_id: int | None = Field(default=None, foreign_key="trips.id", index=True)
    trip_date: dt.datetime | None = _time(nullable=True)
    unloading_port: str | None = Field(default=None, max_length=120)
    doc_id: int = Field(foreign_key="raw_docs.id", index=True)
    warnings: str = Field(default="[]", sa_type=Text)  # JSON list of strings


class CatchLot(GatewayModel, table=True):
    """An ``epcClass`` (lot) an event names; role: output (quantityList / outputs) or input."""

    __tablename__: ClassVar[str] = "catch_lots"

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="catch_events.id", index=True)
    epc_class: str = Field(max_length=300, index=True)
    role: str = Field(default="output", max_length=8)
    quantity: float | None = None
    uom: str | None = Field(default=None, max_length=16)


class RawFrame(GatewayModel, table=True):
    """One arrival of bytes from a provider channel, with the provider's (untrusted) metadata."""

    __tablename__: ClassVar[str] = "raw_frames"
    __table_args__ = (UniqueConstraint("channel", "imei", "momsn", "sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    imei: str | None = Field(default=None, max_length=15, index=True)
    momsn: int | None = None
    provider_time: dt.datetime | None = _time(nullable=True)
    provider_lat: float | None = None
    provider_lon: float | None = None
    provider_cep_km: float | None = None
    received_at: dt.datetime = _now_column(index=True)
    payload: bytes = _blob()
    sha256: bytes = _blob(length=32, index=True)
    # pending → accepted | duplicate | rejected (set by the pipeline)
    status: str = Field(default="pending", max_length=16, index=True)
    reject_reason: str | None = Field(default=None, max_length=64)
    message_id: int | None = Field(default=None, foreign_key="messages.id")


class Message(GatewayModel, table=True):
    """A verified message from a device. UNIQUE (vessel_id, seq) is the exactly-once guard."""

    __tablename__: ClassVar[str] = "messages"
    __table_args__ = (
        UniqueConstraint("vessel_id", "seq"),
        # A vessel's crew messages by time: the grievances a new fix may re-place (0011).
        Index(
            "ix_messages_crew_vessel_sent",
            "vessel_id",
            "sent_at",
            sqlite_where=sql_text("kind = 'crew'"),
            postgresql_where=sql_text("kind = 'crew'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    vessel_id: int = Field(foreign_key="vessels.id", index=True)
    device_key_id: int | None = Field(default=None, foreign_key="device_keys.id")
    seq: int = Field(sa_column=Column(BigInteger(), nullable=False))
    kind: str = Field(max_length=24)
    sent_at: dt.datetime | None = _time(nullable=True)
    received_at: dt.datetime = _now_column()
    sealed: bytes | None = _blob(nullable=True)  # HPKE ciphertext until opened
    opened_at: dt.datetime | None = _time(nullable=True)
    # SHA-256 of the message's exact encoding: what the device's hash chain covers.
    digest: bytes | None = _blob(nullable=True, length=32)


class Grievance(GatewayModel, table=True):
    """A grievance opened from a message, with the position snapshot at its time."""

    __tablename__: ClassVar[str] = "grievances"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id", unique=True)
    category: int
    lang: str = Field(max_length=8)
    text: str = Field(sa_type=Text)
    pseudonym: str | None = Field(default=None, max_length=64)
    # Burmese typed in Zawgyi (grievance element 6, docs/wire-format.md §3): "converted" (text
    # is the conversion, zawgyi_other the words as typed) or "unsure" (text as typed,
    # zawgyi_other a converted reading); the detector's P(Zawgyi) in thousandths.
    zawgyi: str | None = Field(default=None, max_length=16)
    zawgyi_p: int | None = None
    zawgyi_other: str | None = Field(default=None, sa_type=Text, nullable=True)
    # A voice note (crew kind 5): its Codec2 frames exactly as on the wire (protocol.voice bit
    # stream), the libcodec2 mode and the true length; ``text`` is then empty. Decoded to audio
    # only when staff listen, never stored decoded.
    voice: bytes | None = _blob(nullable=True)
    voice_mode: int | None = None
    voice_ms: int | None = None
    time: dt.datetime = _time(index=True)
    pos_lat: float | None = None
    pos_lon: float | None = None
    pos_time: dt.datetime | None = _time(nullable=True)
    pos_age_s: float | None = None
    pos_uncertainty_m: float | None = None
    pos_source: str | None = Field(default=None, max_length=16)
    trip_id: int | None = Field(default=None, foreign_key="trips.id")
    created_at: dt.datetime = _now_column()


class Alert(GatewayModel, table=True):
    __tablename__: ClassVar[str] = "alerts"

    id: int | None = Field(default=None, primary_key=True)
    #: None for an alert about the gateway itself (e.g. ``broker_drop``), not one vessel.
    vessel_id: int | None = Field(default=None, foreign_key="vessels.id", index=True)
    kind: str = Field(max_length=16)  # an AlertKind
    detail: str = Field(sa_type=Text)
    created_at: dt.datetime = _now_column()
    resolved_at: dt.datetime | None = _time(nullable=True)


class FragmentPart(GatewayModel, table=True):
    """A fragment of a long message, held until its set is complete (durable reassembly, so any
    gateway process may receive any fragment)."""

    __tablename__: ClassVar[str] = "fragments"
    __table_args__ = (UniqueConstraint("vessel_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    vessel_id: int = Field(foreign_key="vessels.id", index=True)
    seq: int = Field(sa_column=Column(BigInteger(), nullable=False))
    first_seq: int = Field(sa_column=Column(BigInteger(), nullable=False, index=True))
    idx: int
    count: int
    chunk: bytes = _blob()
    digest: bytes = _blob(length=32)
    received_at: dt.datetime = _now_column()


class DeviceState(GatewayModel, table=True):
    """Per-vessel protocol state derived from ``messages`` (a cache the pipeline keeps current).

    ``prefix``: every seq up to it has arrived (what a cumulative ack may claim).
    ``chain_seq``/``chain_value``: the device hash chain recomputed up to ``chain_seq``.
    """

    __tablename__: ClassVar[str] = "device_state"

    vessel_id: int = Field(foreign_key="vessels.id", primary_key=True)
    prefix: int = Field(default=0, sa_column=Column(BigInteger(), nullable=False))
    highest: int = Field(default=0, sa_column=Column(BigInteger(), nullable=False))
    chain_seq: int = Field(default=0, sa_column=Column(BigInteger(), nullable=False))
    chain_value: bytes = Field(default=bytes(8), sa_column=Column(LargeBinary(8), nullable=False))
    queue_depth: int | None = None
    last_contact: dt.datetime | None = _time(nullable=True)
    ack_due: bool = False
    # JSON [[first, last], ...] last alerted; [first, last, reason] where the vessel declared it
    missing: str = Field(default="[]", sa_type=Text)
    # JSON [[first, last, reason], ...]: seqs the vessel's heartbeats declared it will never send
    # (evicted, lost to outbox damage, skipped) — its claim, used to label gaps.
    declared: str = Field(default="[]", sa_type=Text)


class ChainClaim(GatewayModel, table=True):
    """A heartbeat's checkpoint (C_last_seq), kept until the chain reaches it."""

    __tablename__: ClassVar[str] = "chain_claims"
    __table_args__ = (UniqueConstraint("vessel_id", "last_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    vessel_id: int = Field(foreign_key="vessels.id", index=True)
    last_seq: int = Field(sa_column=Column(BigInteger(), nullable=False))
    chain: bytes = _blob(length=8)
    received_at: dt.datetime = _now_column()


class Downlink(GatewayModel, table=True):
    """A downlink message (case status, config, key rotation) waiting for the vessel.

    Acks are not stored here: they are computed from ``device_state``/``messages`` when a
    downlink frame is built, so they always say the latest truth.
    """

    __tablename__: ClassVar[str] = "downlinks"

    id: int | None = Field(default=None, primary_key=True)
    vessel_id: int = Field(foreign_key="vessels.id", index=True)
    kind: str = Field(max_length=16)
    body: bytes = _blob()  # the encoded protocol message
    created_at: dt.datetime = _now_column()
    sent_at: dt.datetime | None = _time(nullable=True)
    attempts: int = 0
    confirmed_at: dt.datetime | None = _time(nullable=True, index=True)
