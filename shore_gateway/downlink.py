"""Downlink sender: signed acks and queued messages to vessels, retried until confirmed.

What to send to whom is decided without sockets (:func:`plan`, :class:`RetrySchedule`): every
vessel whose ``device_state.ack_due`` is set or that has unconfirmed ``downlinks`` rows gets
the acks :func:`acks_for` computes now (always the latest truth) plus
the queued messages, signed with the shore key for the vessel's live device key
(:func:`protocol.shore.pack_downlink`, one frame per MT message: ≤ 270 bytes on SBD, ≤ 100,000
on IMT — :mod:`protocol.links`).

The I/O shell (:class:`DownlinkSender`) delivers each frame as a DirectIP MT message (SBD
Developers Guide §5.5–5.7; the confirmation's status ≥ 0 means the Iridium gateway queued it for
the modem) to ``Vessel.mt_url`` (``directip://host:port``) or the gateway-wide MT endpoint, or
publishes it on MQTT ``flip/v1/mt/{imei}`` (QoS 1; the PUBACK is the confirmation) when the
vessel's ``mt_url`` is ``mqtt`` or no DirectIP endpoint is configured. A vessel's frames are
confirmed all together or retried all together with exponential back-off; only then are
``ack_due`` cleared (unless a newer arrival set it again meanwhile) and ``confirmed_at`` set.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update
from sqlmodel import Session, col, select

from firmware_bridge.directip import (
    DirectIPReader,
    MTHeader,
    MTMessage,
    decode_mt_confirmation,
    encode_mt,
)
from firmware_bridge.errors import DirectIPError
from protocol import links, shorecore
from protocol.errors import ProtocolError
from protocol.keys import key_id
from protocol.messages import (
    Ack,
    CaseStatus,
    Config,
    DownlinkMessage,
    KeyRotation,
    ShoreMessage,
    decode_message,
)
from protocol.shore import pack_downlink
from shore_gateway import collisions
from shore_gateway.cloudloop import CloudloopError, CloudloopMT
from shore_gateway.db import Database
from shore_gateway.errors import LocalError, RemoteError
from shore_gateway.models import DeviceKey, DeviceState, Downlink, Message, Vessel, utcnow

log = logging.getLogger("flip.gateway.downlink")

Publish = Callable[[str, bytes], Awaitable[bool]]

# The largest downlink frame per route kind (wire format §1.1); SBD MT (270) for the others.
ROUTE_LIMITS = {"cloudloop": links.IMT.downlink, "ip": links.IP.downlink}


class DownlinkError(RemoteError):
    """A downlink could not be delivered (the message says why); it will be retried."""


class RouteError(LocalError, ValueError):
    """A ``mt_url`` that names no usable route."""


@dataclass(frozen=True, slots=True)
class Route:
    """Where a vessel's MT goes: DirectIP ``host:port``, MQTT (``host`` is empty), or the
    Cloudloop Data API for a RockBLOCK 9704 (``host`` is the Cloudloop Thing id)."""

    kind: str  # "directip" | "mqtt" | "cloudloop" | "ip" (the answer to a broadband post)
    host: str = ""
    port: int = 0


def parse_route(url: str) -> Route:
    """``directip://host:port`` · ``host:port`` · ``mqtt`` · ``cloudloop://THING`` →
    :class:`Route`. Raises RouteError."""
    text = url.strip()
    if text in ("mqtt", "mqtt:", "mqtt://"):
        return Route("mqtt")
    if text.startswith("cloudloop://"):
        thing = text.removeprefix("cloudloop://").strip("/")
        if not thing or "/" in thing or len(thing) > 128:
            raise RouteError(f"MT URL {url!r} is not cloudloop://THING")
        return Route("cloudloop", thing)
    parsed = urllib.parse.urlsplit(text if "://" in text else f"directip://{text}")
    if parsed.scheme != "directip" or not parsed.hostname or not parsed.port:
        raise RouteError(f"MT URL {url!r} is not directip://HOST:PORT or mqtt")
    return Route("directip", parsed.hostname, parsed.port)


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """Everything due for one vessel right now, signed and ready to send."""

    vessel_id: int
    imei: str
    route: Route
    frames: list[bytes]
    downlink_ids: list[int]
    ack_due: bool
    seen_contact: dt.datetime | None  # device_state.last_contact when planned (compare-and-clear)
    acks: list[Ack] = field(default_factory=list)


def acks_for(session: Session, vessel_id: int) -> list[Ack]:
    """Acks telling the vessel what arrived: the cumulative prefix and the newest seqs above it
    (:func:`protocol.shorecore.acks`).

    None while a seq collision alert is open for the vessel (:func:`collisions.held`): an ack
    names seqs, so the box could delete what never arrived. Only seqs present in ``messages``
    are claimed — an ack lets the vessel delete a message.
    """
    if collisions.held(session, vessel_id):
        return []
    state = session.get(DeviceState, vessel_id)
    prefix = state.prefix if state else 0
    above = sorted(
        session.exec(
            select(Message.seq)
            .where(Message.vessel_id == vessel_id, col(Message.seq) > prefix)
            .order_by(col(Message.seq).desc())
            .limit(shorecore.ACK_SEQS)
        ).all()
    )
    return shorecore.acks(prefix, above)


def due_vessels(session: Session, *, limit: int = 200) -> list[int]:
    """Vessels with an ack due or an unconfirmed downlink, lowest id first."""
    acks = session.exec(
        select(DeviceState.vessel_id).where(col(DeviceState.ack_due).is_(True)).limit(limit)
    ).all()
    queued = session.exec(
        select(Downlink.vessel_id).where(col(Downlink.confirmed_at).is_(None)).distinct()
    ).all()
    return sorted(set(acks) | set(queued))[:limit]


def plan(
    session: Session,
    vessel_ids: Sequence[int],
    *,
    sign_key: Ed25519PrivateKey,
    now: int,
    default_route: Route | None,
    only: Route | None = None,
    queued_too: bool = True,
) -> list[Batch]:
    """Build the signed frames for each vessel (sans-IO apart from reading the database), each
    frame of the size its route carries (:data:`ROUTE_LIMITS`).

    ``only`` sends every vessel by that route whatever its ``mt_url`` (the answer to a broadband
    post); ``queued_too=False`` leaves the queued messages out (acks only). A vessel without an
    IMEI, a live device key or any route is skipped (logged): nothing can reach it, and its acks
    stay due until something can.
    """
    shore_kid = key_id(sign_key.public_key())
    batches: list[Batch] = []
    for vid in vessel_ids:
        vessel = session.get(Vessel, vid)
        key = session.exec(
            select(DeviceKey)
            .where(DeviceKey.vessel_id == vid, col(DeviceKey.revoked_at).is_(None))
            .order_by(col(DeviceKey.created_at).desc(), col(DeviceKey.id).desc())
        ).first()
        if vessel is None or key is None or not vessel.imei:
            log.warning("downlink skipped: no IMEI or live key", extra={"vessel_id": vid})
            continue
        try:
            route = only or (parse_route(vessel.mt_url) if vessel.mt_url else default_route)
        except RouteError as exc:
            log.warning("downlink skipped: %s", exc, extra={"vessel_id": vid})
            continue
        if route is None:
            continue
        state = session.get(DeviceState, vid)
        queued = session.exec(
            select(Downlink)
            .where(Downlink.vessel_id == vid, col(Downlink.confirmed_at).is_(None))
            .order_by(col(Downlink.id))
            .limit(32 if queued_too else 0)
        ).all()
        messages: list[DownlinkMessage] = []
        ids: list[int] = []
        for row in queued:
            assert row.id is not None
            ids.append(row.id)
            try:
                msg = decode_message(row.body)
            except ProtocolError:
                msg = None
            if not isinstance(msg, Ack | CaseStatus | Config | KeyRotation | ShoreMessage):
                log.error("unusable downlink row dropped", extra={"downlink_id": row.id})
                continue
            messages.append(msg)
        acks = acks_for(session, vid)
        limit = ROUTE_LIMITS.get(route.kind, links.SBD.downlink)
        frames = pack_downlink(sign_key, shore_kid, key.kid, [*acks, *messages], now, limit)
        batches.append(
            Batch(
                vessel_id=vid,
                imei=vessel.imei,
                route=route,
                frames=frames,
                downlink_ids=ids,
                ack_due=bool(state and state.ack_due),
                seen_contact=state.last_contact if state else None,
                acks=acks,
            )
        )
    return batches


def answer_ip(
    session: Session, vessel_id: int, *, sign_key: Ed25519PrivateKey, now: int, fresh: bool
) -> list[bytes]:
    """The downlink frames for a vessel that has just posted a frame over broadband (wire
    format §1.1: up to 100,000 bytes each), recorded as delivered like a confirmed MT.

    ``fresh``: the post was a new arrival. A repeated one (a replay, or the vessel posting the
    same frame again) gets its acks only: queued messages wait for a new post or the satellite.
    """
    batches = plan(
        session,
        [vessel_id],
        sign_key=sign_key,
        now=now,
        default_route=None,
        only=Route("ip"),
        queued_too=fresh,
    )
    for batch in batches:
        mark_attempted(session, batch)
        mark_confirmed(session, batch)
    return [data for batch in batches for data in batch.frames]


def mark_attempted(session: Session, batch: Batch) -> None:
    if batch.downlink_ids:
        session.execute(
            update(Downlink)
            .where(col(Downlink.id).in_(batch.downlink_ids))
            .values(attempts=col(Downlink.attempts) + 1, sent_at=utcnow())
        )


def mark_confirmed(session: Session, batch: Batch) -> None:
    """Record a confirmed batch: downlinks confirmed; ``ack_due`` cleared unless a frame arrived
    after the acks were computed (then the next round acknowledges it too)."""
    now = utcnow()
    if batch.downlink_ids:
        session.execute(
            update(Downlink)
            .where(col(Downlink.id).in_(batch.downlink_ids), col(Downlink.confirmed_at).is_(None))
            .values(confirmed_at=now)
        )
    if batch.ack_due:
        stmt = update(DeviceState).where(col(DeviceState.vessel_id) == batch.vessel_id)
        if batch.seen_contact is None:
            stmt = stmt.where(col(DeviceState.last_contact).is_(None))
        else:
            stmt = stmt.where(col(DeviceState.last_contact) == batch.seen_contact)
        session.execute(stmt.values(ack_due=False))


@dataclass(slots=True)
class RetrySchedule:
    """Per-vessel exponential back-off (sans-IO: callers pass ``now``)."""

    initial_s: float = 2.0
    max_s: float = 300.0
    _next: dict[int, float] = field(default_factory=dict)
    _delay: dict[int, float] = field(default_factory=dict)

    def due(self, vessel_id: int, now: float) -> bool:
        return self._next.get(vessel_id, 0.0) <= now

    def failed(self, vessel_id: int, now: float) -> float:
        """Record a failure; returns the delay until the next try."""
        delay = min(self.max_s, self._delay.get(vessel_id, self.initial_s / 2) * 2)
        self._delay[vessel_id] = delay
        self._next[vessel_id] = now + delay
        return delay

    def succeeded(self, vessel_id: int) -> None:
        self._next.pop(vessel_id, None)
        self._delay.pop(vessel_id, None)


# --- I/O ---------------------------------------------------------------------------------------

_client_ids = itertools.count(int(time.time()) & 0xFFFFFF)


async def send_directip_mt(
    host: str, port: int, imei: str, payload: bytes, *, timeout_s: float = 10.0
) -> int:
    """Push one MT message and return the confirmation status (≥ 0: queued for the modem).

    Raises:
        DownlinkError: no connection, no confirmation, or a malformed one.
    """
    message = encode_mt(
        MTMessage(
            header=MTHeader(client_message_id=next(_client_ids) & 0xFFFFFFFF, imei=imei),
            payload=payload,
        )
    )
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError) as exc:
        raise DownlinkError(f"DirectIP MT {host}:{port} unreachable: {exc}") from exc
    try:
        writer.write(message)
        await writer.drain()
        framer = DirectIPReader(max_message=256)
        deadline = time.monotonic() + timeout_s
        while True:
            chunk = await asyncio.wait_for(reader.read(256), max(0.01, deadline - time.monotonic()))
            done = framer.receive_data(chunk or None)
            if done:
                return decode_mt_confirmation(done[0]).status
            if not chunk:
                raise DownlinkError("DirectIP MT connection closed without a confirmation")
    except (OSError, TimeoutError, DirectIPError) as exc:
        raise DownlinkError(f"DirectIP MT to {host}:{port} failed: {exc!r}") from exc
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


class DownlinkSender:
    """The background loop: plan, send, confirm, back off (one per gateway process)."""

    def __init__(
        self,
        db: Database,
        sign_key: Ed25519PrivateKey,
        *,
        default_route: Route | None = None,
        publish: Publish | None = None,
        mt_prefix: str = "flip/v1/mt",
        interval_s: float = 1.0,
        schedule: RetrySchedule | None = None,
        timeout_s: float = 10.0,
        cloudloop: CloudloopMT | None = None,
    ) -> None:
        self.db = db
        self.cloudloop = cloudloop
        self.sign_key = sign_key
        self.default_route = default_route
        self.publish = publish
        self.mt_prefix = mt_prefix.rstrip("/")
        self.interval_s = interval_s
        self.schedule = schedule or RetrySchedule()
        self.timeout_s = timeout_s
        self.sent_frames = 0
        self._resend_at = 0.0
        self.confirmed_batches = 0
        self.failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Send rounds until ``stop`` is set; errors are logged, never fatal."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception as exc:  # a database hiccup must not end the loop
                log.error("downlink round failed", extra={"error": type(exc).__name__})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)

    async def run_once(self) -> int:
        """One round over every due vessel; returns how many batches were confirmed."""
        now = time.monotonic()
        batches = await asyncio.to_thread(self._plan, now)
        results = await asyncio.gather(*(self._deliver(b) for b in batches))
        confirmed = [b for b, ok in zip(batches, results, strict=True) if ok]
        if batches:
            await asyncio.to_thread(self._record, batches, confirmed)
        self.confirmed_batches += len(confirmed)
        return len(confirmed)

    def _plan(self, now: float) -> list[Batch]:
        with self.db.session() as session:
            if now >= self._resend_at:  # questions to crew that never reached the vessel
                from shore_gateway.cases.conversation import resend_stale

                self._resend_at = now + 60.0
                for mid in resend_stale(session):
                    log.info("question sent again", extra={"case_message_id": mid})
            due = [v for v in due_vessels(session) if self.schedule.due(v, now)]
            if not due:
                return []
            return plan(
                session,
                due,
                sign_key=self.sign_key,
                now=int(time.time()),
                default_route=self.default_route or (Route("mqtt") if self.publish else None),
            )

    def _record(self, batches: list[Batch], confirmed: list[Batch]) -> None:
        with self.db.session() as session:
            for batch in batches:
                mark_attempted(session, batch)
            for batch in confirmed:
                mark_confirmed(session, batch)

    async def _deliver(self, batch: Batch) -> bool:
        try:
            for data in batch.frames:  # one MT message each (IMT: up to 100,000 bytes)
                await self._send(batch, data)
                self.sent_frames += 1
        except DownlinkError as exc:
            self.failures += 1
            delay = self.schedule.failed(batch.vessel_id, time.monotonic())
            log.info(
                "downlink not confirmed; retry in %.0f s: %s",
                delay,
                exc,
                extra={"vessel_id": batch.vessel_id},
            )
            return False
        self.schedule.succeeded(batch.vessel_id)
        log.info(
            "downlink confirmed",
            extra={"vessel_id": batch.vessel_id, "frames": len(batch.frames)},
        )
        return True

    async def _send(self, batch: Batch, data: bytes) -> None:
        route = batch.route
        if route.kind == "cloudloop":
            if self.cloudloop is None:
                raise DownlinkError("vessel routed to Cloudloop but FLIP_CLOUDLOOP_API is not set")
            try:
                await self.cloudloop.send(route.host, data)
            except CloudloopError as exc:
                raise DownlinkError(f"Cloudloop refused the MT: {exc}") from exc
            return
        if route.kind == "mqtt":
            if self.publish is None:
                raise DownlinkError("vessel routed to MQTT but the gateway has no MQTT broker")
            if not await self.publish(f"{self.mt_prefix}/{batch.imei}", data):
                raise DownlinkError("MQTT broker did not acknowledge the MT publish")
            return
        status = await send_directip_mt(
            route.host, route.port, batch.imei, data, timeout_s=self.timeout_s
        )
        if status < 0:
            raise DownlinkError(f"DirectIP MT refused with status {status}")
