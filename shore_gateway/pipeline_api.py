"""The seam between ingest adapters and the frame pipeline.

Every ingest channel (DirectIP TCP, RockBLOCK webhook, MQTT, CLI) turns what it received into
payload bytes plus an :class:`ArrivalMeta` and awaits ``sink.accept(frame, meta)``. The sink owns
everything after that: durable storage of the raw arrival, signature check, dedupe, reassembly,
decryption, enrichment. An adapter answers its provider *after* ``accept`` returns (DirectIP's
confirmation and the webhook's 200 both mean "durably stored", not "processed").

Provider metadata (IMEI, MOMSN, provider position) is recorded but never trusted for identity:
the device is whoever signed the frame.

:class:`StoreRawSink` is the sink of a gateway started without shore keys: it stores the
arrival in ``raw_frames`` with status ``pending`` (the pipeline takes those rows on the next
start with keys) and reports whether it was new.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import hashlib
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from protocol import links
from shore_gateway.db import Database
from shore_gateway.metrics import Metrics
from shore_gateway.models import CHANNELS, Channel, RawFrame, utcnow

# Channels whose link messages are larger than an SBD message (docs/wire-format.md §1.1): the
# Cloudloop webhook (IMT, RockBLOCK 9704) and frames posted over a broadband window.
LARGE_FRAMES = {Channel.CLOUDLOOP.value: links.IMT.uplink, Channel.FRAMES.value: links.IP.uplink}


def frame_limit(channel: str, sbd_limit: int) -> int:
    """The largest frame an arrival on ``channel`` may be: the link's, else SBD's
    (``sbd_limit``, the gateway's ``max_frame_bytes``)."""
    return LARGE_FRAMES.get(channel, sbd_limit)


class Outcome(enum.Enum):
    """What became of one arrival."""

    STORED = "stored"  # new arrival, durably stored (processing may continue asynchronously)
    DUPLICATE = "duplicate"  # this exact arrival was stored before (a provider retry)
    REJECTED = "rejected"  # refused (oversize, malformed, forged…); see ``reason``


@dataclass(frozen=True, slots=True, kw_only=True)
class ArrivalMeta:
    """Provider metadata of one arrival (untrusted for identity; kept beside the frame)."""

    channel: str  # one of models.CHANNELS
    imei: str | None = None
    momsn: int | None = None
    provider_time: dt.datetime | None = None
    lat: float | None = None
    lon: float | None = None
    cep_km: float | None = None
    received_at: dt.datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptResult:
    """The sink's answer; ``raw_frame_id`` is the stored arrival's row, when there is one."""

    outcome: Outcome
    raw_frame_id: int | None = None
    reason: str | None = None

    @property
    def durable(self) -> bool:
        """True when the provider may be told "received" (stored now or before)."""
        return self.outcome in (Outcome.STORED, Outcome.DUPLICATE)


class FrameSink(Protocol):
    """Where ingest adapters hand frames. Implementations must be safe to call concurrently."""

    async def accept(self, frame: bytes, meta: ArrivalMeta) -> AcceptResult: ...


def store_raw(session: Session, frame: bytes, meta: ArrivalMeta) -> tuple[RawFrame, bool]:
    """Insert the arrival into ``raw_frames``; returns (row, created).

    Idempotent on UNIQUE (channel, imei, momsn, sha256): a retried arrival returns the row
    stored the first time. Uses a SAVEPOINT so the caller's transaction survives the conflict.
    """
    digest = hashlib.sha256(frame).digest()
    row = RawFrame(
        channel=meta.channel,
        imei=meta.imei,
        momsn=meta.momsn,
        provider_time=meta.provider_time,
        provider_lat=meta.lat,
        provider_lon=meta.lon,
        provider_cep_km=meta.cep_km,
        received_at=meta.received_at,
        payload=frame,
        sha256=digest,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = session.exec(
            select(RawFrame).where(
                RawFrame.channel == meta.channel,
                RawFrame.imei == meta.imei,
                RawFrame.momsn == meta.momsn,
                RawFrame.sha256 == digest,
            )
        ).first()
        if existing is None:
            raise
        return existing, False
    return row, True


class StoreRawSink:
    """A :class:`FrameSink` that only stores raw arrivals (until the pipeline replaces it)."""

    def __init__(self, db: Database, metrics: Metrics, *, max_frame_bytes: int = 340) -> None:
        self.db = db
        self.metrics = metrics
        self.max_frame_bytes = max_frame_bytes

    async def accept(self, frame: bytes, meta: ArrivalMeta) -> AcceptResult:
        self.metrics.frame_received(meta.channel, len(frame))
        if not frame:
            self.metrics.frame_rejected(meta.channel, "empty")
            return AcceptResult(outcome=Outcome.REJECTED, reason="empty frame")
        limit = frame_limit(meta.channel, self.max_frame_bytes)
        if len(frame) > limit:
            self.metrics.frame_rejected(meta.channel, "oversize")
            return AcceptResult(
                outcome=Outcome.REJECTED, reason=f"frame of {len(frame)} bytes exceeds {limit}"
            )
        start = utcnow()
        row_id, created = await asyncio.to_thread(self._store, frame, meta)
        self.metrics.observe_latency(meta.channel, (utcnow() - start).total_seconds())
        if not created:
            self.metrics.dedupe_hit(meta.channel, "raw")
            return AcceptResult(outcome=Outcome.DUPLICATE, raw_frame_id=row_id)
        return AcceptResult(outcome=Outcome.STORED, raw_frame_id=row_id)

    def _store(self, frame: bytes, meta: ArrivalMeta) -> tuple[int | None, bool]:
        with self.db.session() as session:
            row, created = store_raw(session, frame, meta)
            session.flush()
            return row.id, created
