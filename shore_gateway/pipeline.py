"""The frame pipeline: verify → store → dedupe → reassemble → decrypt → enrich → case → ack due.

One arrival is handled in ONE database transaction: the raw arrival, the new messages (UNIQUE
(vessel_id, seq) is the exactly-once guard, so several gateway processes may take any frame),
fragments, the opened grievance with its position and trip, the case (through the case desk
hook) and the device's ack/gap/chain state. A crash at any instant either keeps all of it or
none of it — and in the second case the provider was not yet told "received", so it sends again.

Forged, malformed, oversize or unknown-device frames are refused before anything is stored.

Decryption happens here when the gateway holds the shore sealing keys; otherwise crew messages
stay sealed in ``messages.sealed`` and a decrypt worker on another host opens them later with
:func:`open_pending` (encrypt-then-sign lets this host verify, dedupe and ack without the key).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, delete, func, select, update

from protocol import chain, frame
from protocol.errors import BadSignature, RemoteProtocolError, UnknownDevice
from protocol.keys import verify_key_from_raw
from protocol.messages import (
    Ack,
    CrewContent,
    CrewMessage,
    Fragment,
    Heartbeat,
    StatusRequest,
    UnknownMessage,
    UplinkMessage,
    Withdraw,
    decode_message,
)
from protocol.messages import (
    Grievance as GrievanceContent,
)
from protocol.messages import (
    Position as PositionMessage,
)
from protocol.shore import open_crew
from shore_gateway.context.epcis import trip_at
from shore_gateway.context.positions import Fix, position_at, store_fixes
from shore_gateway.db import Database
from shore_gateway.metrics import Metrics
from shore_gateway.models import (
    Alert,
    ChainClaim,
    DeviceKey,
    DeviceState,
    FragmentPart,
    Grievance,
    Message,
    Position,
    RawFrame,
    Vessel,
    utcnow,
)
from shore_gateway.pipeline_api import AcceptResult, ArrivalMeta, Outcome
from shore_gateway.registry import candidate_keys

log = logging.getLogger("flip.gateway.pipeline")

MAX_GAP_RANGES = 64
# Partial fragment sets held per vessel (durable reassembly). Beyond these the oldest sets are
# dropped: nothing of them was acknowledged, so an honest vessel sends them again, while a box
# that floods fragments cannot grow the table (or the per-arrival gap scan) without bound.
MAX_FRAGMENT_SETS = 8
MAX_FRAGMENT_ROWS = 256
FRAGMENT_TIMEOUT = dt.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class CaseHooks:
    """What the case desk does inside the pipeline's transaction (see shore_gateway.cases)."""

    on_grievance: Callable[[Session, Grievance, Vessel], None] | None = None
    on_withdraw: Callable[[Session, Vessel, int], None] | None = None
    on_status_request: Callable[[Session, Vessel, int], None] | None = None


def default_hooks() -> CaseHooks:
    """The built-in case desk's hooks, when it is installed."""
    try:
        from shore_gateway.cases import desk
    except ImportError:
        return CaseHooks()
    return CaseHooks(
        on_grievance=getattr(desk, "on_grievance", None),
        on_withdraw=getattr(desk, "on_withdraw", None),
        on_status_request=getattr(desk, "on_status_request", None),
    )


def _ts(unix: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(unix, dt.UTC)


def _vid(vessel: Vessel) -> int:
    assert vessel.id is not None
    return vessel.id


@dataclass(slots=True)
class _Batch:
    """Arrivals handled in one transaction (group commit), with per-vessel state locked once."""

    session: Session
    states: dict[int, DeviceState] = field(default_factory=dict)
    touched: dict[int, Vessel] = field(default_factory=dict)
    keys: dict[bytes, list[tuple[DeviceKey, Vessel]]] = field(default_factory=dict)
    # Per-vessel facts applied to device_state once per batch (not an UPDATE per frame).
    contacts: dict[int, dt.datetime] = field(default_factory=dict)
    depths: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Waiting:
    data: bytes
    meta: ArrivalMeta
    future: asyncio.Future[AcceptResult]


class Pipeline:
    """The gateway's :class:`~shore_gateway.pipeline_api.FrameSink`.

    Concurrent arrivals are committed together (group commit): each one runs inside its own
    savepoint, so a refused frame spoils nothing else, and the batch is durable as a whole
    before any adapter tells its provider "received". One fsync then serves many frames.
    """

    def __init__(
        self,
        db: Database,
        metrics: Metrics,
        *,
        seal_keys: list[X25519PrivateKey] | None = None,
        max_frame_bytes: int = frame.UPLINK_MAX,
        hooks: CaseHooks | None = None,
        max_batch: int = 64,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.seal_keys = seal_keys or []
        self.max_frame_bytes = max_frame_bytes
        self.hooks = hooks if hooks is not None else default_hooks()
        self.max_batch = max_batch
        self._waiting: dict[asyncio.AbstractEventLoop, list[_Waiting]] = {}
        self._draining: set[asyncio.AbstractEventLoop] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def accept(self, data: bytes, meta: ArrivalMeta) -> AcceptResult:
        """Take one arrival; the result is durable when it says STORED or DUPLICATE."""
        self.metrics.frame_received(meta.channel)
        start = utcnow()
        loop = asyncio.get_running_loop()
        waiting = _Waiting(data=data, meta=meta, future=loop.create_future())
        self._waiting.setdefault(loop, []).append(waiting)
        if loop not in self._draining:
            # A task of its own, so a cancelled caller never strands the others' results.
            self._draining.add(loop)
            task = loop.create_task(self._drain(loop))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        result = await asyncio.shield(waiting.future)
        self.metrics.observe_latency(meta.channel, (utcnow() - start).total_seconds())
        return result

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while self._waiting.get(loop):
                await asyncio.sleep(0)  # let arrivals that are already running join the batch
                queue = self._waiting[loop]
                batch, self._waiting[loop] = queue[: self.max_batch], queue[self.max_batch :]
                try:
                    results = await asyncio.to_thread(
                        self.ingest_many, [(w.data, w.meta) for w in batch]
                    )
                except Exception as exc:  # handed to every waiting caller
                    for w in batch:
                        if not w.future.done():
                            w.future.set_exception(exc)
                    continue
                for w, result in zip(batch, results, strict=True):
                    if not w.future.done():
                        w.future.set_result(result)
        finally:
            self._draining.discard(loop)
            if not self._waiting.get(loop):
                self._waiting.pop(loop, None)

    def ingest(self, data: bytes, meta: ArrivalMeta) -> AcceptResult:
        """One arrival, synchronously, in its own transaction (tests, recovery)."""
        return self.ingest_many([(data, meta)])[0]

    def ingest_many(self, items: list[tuple[bytes, ArrivalMeta]]) -> list[AcceptResult]:
        """Several arrivals in one transaction (group commit).

        Optimistic: frames refused at verification are answered without touching the store;
        if anything goes wrong deeper in (a frame that verifies but turns out malformed, or a
        database error), the whole batch rolls back and each arrival is taken again in its own
        transaction, so one troublesome frame never holds the others back or half-applies.
        """
        if len(items) > 1:
            try:
                with self.db.session() as session:
                    batch = _Batch(session=session)
                    results = [self._one(batch, data, meta) for data, meta in items]
                    self._finish(batch)
                return self._report(items, results)
            except Exception:
                log.info("batch rolled back; taking its arrivals one by one")
            return [self.ingest_many([item])[0] for item in items]
        data, meta = items[0]
        try:
            with self.db.session() as session:
                batch = _Batch(session=session)
                result = self._one(batch, data, meta)
                self._finish(batch)
        except RemoteProtocolError as exc:
            result = _refused(exc)
        return self._report(items, [result])

    def _finish(self, batch: _Batch) -> None:
        # Everything read here was written with Core statements: no ORM autoflush needed.
        with batch.session.no_autoflush:
            for vid, vessel in batch.touched.items():
                state = batch.states[vid]
                contact = batch.contacts[vid]
                if state.last_contact is None or contact > state.last_contact:
                    state.last_contact = contact
                if vid in batch.depths:
                    state.queue_depth = batch.depths[vid]
                state.ack_due = True
                self._advance(batch.session, vessel, state)
                batch.session.add(state)

    def _report(
        self, items: list[tuple[bytes, ArrivalMeta]], results: list[AcceptResult]
    ) -> list[AcceptResult]:
        for (_, meta), result in zip(items, results, strict=True):
            if result.outcome is Outcome.REJECTED:
                reason = (result.reason or "").split(":", 1)[0]
                self.metrics.frame_rejected(meta.channel, reason)
                log.info("frame refused", extra={"reason": reason, "channel": meta.channel})
            elif result.outcome is Outcome.DUPLICATE:
                self.metrics.dedupe_hit(meta.channel, "raw")
        return results

    def _one(self, batch: _Batch, data: bytes, meta: ArrivalMeta) -> AcceptResult:
        with batch.session.no_autoflush:  # reads of committed rows only
            try:
                key, vessel, sign1 = self._verify(batch, data)
                messages = frame.parse_uplink(sign1.payload)
            except RemoteProtocolError as exc:
                return _refused(exc)  # nothing was written for it
            self._state(batch, vessel)  # lock the vessel's row before writing for it
        return self._ingest(batch, key, vessel, sign1, messages, data, meta)

    # --- one arrival ------------------------------------------------------------------------

    def _ingest(
        self,
        batch: _Batch,
        key: DeviceKey,
        vessel: Vessel,
        sign1: frame.Sign1,
        messages: list[tuple[UplinkMessage, bytes]],
        data: bytes,
        meta: ArrivalMeta,
    ) -> AcceptResult:
        session = batch.session
        self._provider_position(session, vessel, meta)
        new_ids: list[int] = []
        # Positions first, so a grievance in the same frame is enriched with them.
        messages.sort(key=lambda m: not isinstance(m[0], PositionMessage))
        for msg, encoded in messages:
            row_id = self._take(batch, vessel, key, sign1.kid, msg, encoded, meta)
            if row_id is None:
                self.metrics.dedupe_hit(meta.channel, "message")
            else:
                new_ids.append(row_id)
        vid = _vid(vessel)
        batch.contacts[vid] = max(meta.received_at, batch.contacts.get(vid, meta.received_at))
        batch.touched[vid] = vessel
        raw_id = _insert_raw(session, data, meta, new_ids)
        self.metrics.vessel_contact(vessel.name, meta.received_at)
        if raw_id is None:  # the provider sent this very arrival before
            return AcceptResult(outcome=Outcome.DUPLICATE)
        return AcceptResult(outcome=Outcome.STORED, raw_frame_id=raw_id)

    @staticmethod
    def _provider_position(session: Session, vessel: Vessel, meta: ArrivalMeta) -> None:
        """The provider's fix of the session (DirectIP location IE, RockBLOCK iridium_*) as
        track context. It names no one: it is attached to the vessel whose signature verified."""
        if meta.lat is None or meta.lon is None or meta.channel == "cli":
            return
        when = meta.provider_time or meta.received_at
        cep = meta.cep_km * 1000 if meta.cep_km is not None else None
        store_fixes(
            session,
            [
                Fix(
                    vessel_id=_vid(vessel),
                    time=when,
                    lat=meta.lat,
                    lon=meta.lon,
                    source=meta.channel,
                    accuracy_m=cep,
                )
            ],
        )
        reenrich(session, vessel, when)

    def _verify(self, batch: _Batch, data: bytes) -> tuple[DeviceKey, Vessel, frame.Sign1]:
        sign1 = frame.parse(data, max_size=self.max_frame_bytes)
        candidates = batch.keys.get(sign1.kid)
        if candidates is None:
            candidates = batch.keys[sign1.kid] = candidate_keys(batch.session, sign1.kid)
        if not candidates:
            raise UnknownDevice(f"no live device key with kid {sign1.kid.hex()}")
        for key, vessel in candidates:
            try:
                frame.verify(sign1, verify_key_from_raw(key.public_key))
            except BadSignature:
                continue
            return key, vessel, sign1
        raise BadSignature(f"signature does not verify for kid {sign1.kid.hex()}")

    @staticmethod
    def _state(batch: _Batch, vessel: Vessel) -> DeviceState:
        """The vessel's state row, created if needed and locked for this transaction: arrivals
        for one vessel are processed one at a time across every gateway process."""
        vid = _vid(vessel)
        cached = batch.states.get(vid)
        if cached is not None:
            return cached
        session = batch.session
        session.connection().execute(
            _insert_for(session)(DeviceState.__table__)  # type: ignore[attr-defined]
            .values(
                vessel_id=vid,
                prefix=0,
                highest=0,
                chain_seq=0,
                chain_value=bytes(8),
                ack_due=False,
                missing="[]",
            )
            .on_conflict_do_nothing()
        )
        state = session.exec(
            select(DeviceState).where(DeviceState.vessel_id == vid).with_for_update()
        ).one()
        batch.states[vid] = state
        return state

    def _take(
        self,
        batch: _Batch,
        vessel: Vessel,
        key: DeviceKey,
        kid: bytes,
        msg: UplinkMessage,
        encoded: bytes,
        meta: ArrivalMeta,
    ) -> int | None:
        """Store one message; its id when new, None when a duplicate (or an unfinished set)."""
        assert msg.seq is not None
        digest = chain.digest(encoded)
        if isinstance(msg, Fragment):
            return self._take_fragment(batch, vessel, key, kid, msg, digest, meta)
        return self._store_message(batch, vessel, key, kid, msg, digest, meta)

    def _store_message(
        self,
        batch: _Batch,
        vessel: Vessel,
        key: DeviceKey,
        kid: bytes,
        msg: UplinkMessage,
        digest: bytes,
        meta: ArrivalMeta,
    ) -> int | None:
        session = batch.session
        values = _message_values(vessel, key, msg, digest, meta)
        content: CrewContent | None = None
        failure: RemoteProtocolError | None = None
        if isinstance(msg, CrewMessage) and self.seal_keys:
            # Open before storing, so the row is written once with ``opened_at`` set.
            try:
                content = open_crew(msg, kid, self.seal_keys)
                values["opened_at"] = utcnow()
            except RemoteProtocolError as exc:
                failure = exc
        row_id = _insert_ignore(session, Message, values, ["vessel_id", "seq"])
        if row_id is None:
            return None
        if failure is not None:
            _seal_alert(session, vessel, values["seq"], failure)
        elif content is not None:
            assert isinstance(msg, CrewMessage)
            apply_content(session, vessel, row_id, msg, content, self.hooks)
        else:
            self._apply(batch, vessel, msg)
        return row_id

    def _take_fragment(
        self,
        batch: _Batch,
        vessel: Vessel,
        key: DeviceKey,
        kid: bytes,
        frag: Fragment,
        digest: bytes,
        meta: ArrivalMeta,
    ) -> int | None:
        session = batch.session
        vid = _vid(vessel)
        done = session.exec(
            select(Message.id).where(Message.vessel_id == vid, Message.seq == frag.seq)
        ).first()
        if done is not None:
            return None
        part = {
            "vessel_id": vid,
            "seq": frag.seq,
            "first_seq": frag.first_seq,
            "idx": frag.index,
            "count": frag.count,
            "chunk": frag.chunk,
            "digest": digest,
            "received_at": meta.received_at,
        }
        if _insert_ignore(session, FragmentPart, part, ["vessel_id", "seq"]) is None:
            return None
        _bound_fragments(session, vid, frag.first_seq, meta.received_at)
        parts = session.exec(
            select(FragmentPart)
            .where(FragmentPart.vessel_id == vid, FragmentPart.first_seq == frag.first_seq)
            .order_by(col(FragmentPart.idx))
        ).all()
        if len(parts) < frag.count:
            return None
        if [p.idx for p in parts] != list(range(frag.count)) or any(
            p.count != frag.count for p in parts
        ):
            raise _Malformed("fragments of one message disagree")
        whole = decode_message(b"".join(p.chunk for p in parts))
        if getattr(whole, "seq", None) != frag.first_seq or isinstance(whole, Fragment):
            raise _Malformed("reassembled message does not carry its first fragment's seq")
        session.exec(
            delete(FragmentPart).where(
                col(FragmentPart.vessel_id) == vid, col(FragmentPart.first_seq) == frag.first_seq
            )
        )
        for p in parts[1:]:
            _insert_ignore(
                session,
                Message,
                {
                    "vessel_id": vid,
                    "device_key_id": key.id,
                    "seq": p.seq,
                    "kind": "fragment",
                    "received_at": meta.received_at,
                    "digest": p.digest,
                },
                ["vessel_id", "seq"],
            )
        assert isinstance(whole, (CrewMessage, Heartbeat, PositionMessage, UnknownMessage))
        return self._store_message(batch, vessel, key, kid, whole, parts[0].digest, meta)

    def _apply(self, batch: _Batch, vessel: Vessel, msg: UplinkMessage) -> None:
        """The effect of a new position or heartbeat."""
        session = batch.session
        match msg:
            case PositionMessage():
                fix = {
                    "vessel_id": _vid(vessel),
                    "time": _ts(msg.time),
                    "lat": msg.lat,
                    "lon": msg.lon,
                    "speed_kn": msg.speed_kn,
                    "course": float(msg.course_deg),
                    "source": "agent",
                    "received_at": utcnow(),
                }
                if _insert_ignore(session, Position, fix, ["vessel_id", "time", "source"]):
                    reenrich(session, vessel, _ts(msg.time))
            case Heartbeat():
                batch.depths[_vid(vessel)] = msg.queue_depth
                claim = {
                    "vessel_id": _vid(vessel),
                    "last_seq": msg.last_seq,
                    "chain": msg.chain,
                    "received_at": utcnow(),
                }
                _insert_ignore(session, ChainClaim, claim, ["vessel_id", "last_seq"])

    # --- device state: prefix, gaps, chain ---------------------------------------------------

    def _advance(self, session: Session, vessel: Vessel, state: DeviceState) -> None:
        vid = _vid(vessel)
        above = session.exec(
            select(Message.seq, Message.digest)
            .where(Message.vessel_id == vid, col(Message.seq) > min(state.prefix, state.chain_seq))
            .order_by(col(Message.seq))
        ).all()
        digests = dict(above)
        while state.prefix + 1 in digests:
            state.prefix += 1
        pending = set(
            session.exec(select(FragmentPart.seq).where(FragmentPart.vessel_id == vid)).all()
        )
        state.highest = max([state.highest, *digests, *pending])
        self._gaps(session, vessel, state, set(digests) | pending)
        self._chain(session, vessel, state, digests)

    def _gaps(self, session: Session, vessel: Vessel, state: DeviceState, have: set[int]) -> None:
        ranges: list[list[int]] = []
        seq = state.prefix + 1
        present = sorted(s for s in have if s > state.prefix)
        for s in present:
            if s > seq:
                ranges.append([seq, s - 1])
                if len(ranges) >= MAX_GAP_RANGES:
                    break
            seq = s + 1
        before = json.loads(state.missing)
        state.missing = json.dumps(ranges)
        if not ranges and not before:
            return  # the common case: nothing was missing, nothing is
        new = [r for r in ranges if not any(b[0] <= r[0] and r[1] <= b[1] for b in before)]
        if not ranges:
            session.execute(
                update(Alert)
                .where(
                    col(Alert.vessel_id) == _vid(vessel),
                    col(Alert.kind) == "gap",
                    col(Alert.resolved_at).is_(None),
                )
                .values(resolved_at=utcnow())
            )
            return
        if new:
            since = state.last_contact.isoformat() if state.last_contact else "?"
            text = ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in ranges)
            session.add(
                Alert(
                    vessel_id=_vid(vessel),
                    kind="gap",
                    detail=f"messages missing from vessel {vessel.name} "
                    f"(seq {text}; highest received {state.highest}, "
                    f"last contact {since})",
                )
            )

    def _chain(
        self, session: Session, vessel: Vessel, state: DeviceState, digests: dict[int, bytes | None]
    ) -> None:
        vid = _vid(vessel)
        claims = session.exec(
            select(ChainClaim).where(ChainClaim.vessel_id == vid).order_by(col(ChainClaim.last_seq))
        ).all()
        values = {state.chain_seq: state.chain_value}
        value, seq = state.chain_value, state.chain_seq
        wanted = {c.last_seq for c in claims}
        while seq + 1 in digests and digests[seq + 1] is not None:
            seq += 1
            value = chain.advance(value, seq, digests[seq])  # type: ignore[arg-type]
            if seq in wanted:
                values[seq] = value
        state.chain_seq, state.chain_value = seq, value
        for claim in claims:
            if claim.last_seq > seq:
                continue
            known = values.get(claim.last_seq)
            if known is None:
                known = recompute_chain(session, vid, claim.last_seq)
            if known is not None and known != claim.chain:
                session.add(
                    Alert(
                        vessel_id=vid,
                        kind="chain",
                        detail=f"hash chain of vessel {vessel.name} disagrees at seq "
                        f"{claim.last_seq}: a message differs from what was sent",
                    )
                )
            session.delete(claim)


class _Malformed(RemoteProtocolError):
    pass


def _message_values(
    vessel: Vessel, key: DeviceKey, msg: UplinkMessage, digest: bytes, meta: ArrivalMeta
) -> dict[str, Any]:
    kind = {
        CrewMessage: "crew",
        Heartbeat: "heartbeat",
        PositionMessage: "position",
        UnknownMessage: "unknown",
    }.get(type(msg), "unknown")
    time = getattr(msg, "time", None)
    assert msg.seq is not None  # uplink messages always carry one
    return {
        "vessel_id": _vid(vessel),
        "device_key_id": key.id,
        "seq": msg.seq,
        "kind": kind,
        "sent_at": _ts(time) if time is not None else None,
        "received_at": meta.received_at,
        "sealed": msg.sealed if isinstance(msg, CrewMessage) else None,
        "digest": digest,
    }


def _bound_fragments(session: Session, vessel_id: int, keep: int, now: dt.datetime) -> None:
    """Hold at most MAX_FRAGMENT_SETS partial sets / MAX_FRAGMENT_ROWS rows for a vessel,
    none older than FRAGMENT_TIMEOUT; the set being filled (``keep``) goes last."""
    session.exec(
        delete(FragmentPart).where(
            col(FragmentPart.vessel_id) == vessel_id,
            col(FragmentPart.received_at) < now - FRAGMENT_TIMEOUT,
        )
    )
    sets = session.exec(
        select(FragmentPart.first_seq, func.count(), func.min(FragmentPart.id))
        .where(FragmentPart.vessel_id == vessel_id)
        .group_by(col(FragmentPart.first_seq))
        .order_by(func.min(FragmentPart.id))
    ).all()
    rows = sum(n for _, n, _ in sets)
    drop: list[int] = []
    for first_seq, n, _ in sets:
        if len(sets) - len(drop) <= MAX_FRAGMENT_SETS and rows <= MAX_FRAGMENT_ROWS:
            break
        if first_seq == keep:
            continue
        drop.append(first_seq)
        rows -= n
    if drop:
        session.exec(
            delete(FragmentPart).where(
                col(FragmentPart.vessel_id) == vessel_id, col(FragmentPart.first_seq).in_(drop)
            )
        )


def _refused(exc: RemoteProtocolError) -> AcceptResult:
    return AcceptResult(outcome=Outcome.REJECTED, reason=f"{type(exc).__name__}: {exc}")


def _insert_raw(session: Session, data: bytes, meta: ArrivalMeta, new_ids: list[int]) -> int | None:
    """Record the arrival with its outcome; None when this very arrival was stored before.

    A row a previous sink left ``pending`` (see :func:`reprocess_pending`) is marked done.
    """
    digest = hashlib.sha256(data).digest()
    status = "accepted" if new_ids else "duplicate"
    row_id = _insert_ignore(
        session,
        RawFrame,
        {
            "channel": meta.channel,
            "imei": meta.imei,
            "momsn": meta.momsn,
            "provider_time": meta.provider_time,
            "provider_lat": meta.lat,
            "provider_lon": meta.lon,
            "provider_cep_km": meta.cep_km,
            "received_at": meta.received_at,
            "payload": data,
            "sha256": digest,
            "status": status,
            "message_id": new_ids[0] if new_ids else None,
        },
        ["channel", "imei", "momsn", "sha256"],
    )
    if row_id is None:
        session.execute(
            update(RawFrame)
            .where(
                col(RawFrame.channel) == meta.channel,
                col(RawFrame.imei) == meta.imei,
                col(RawFrame.momsn) == meta.momsn,
                col(RawFrame.sha256) == digest,
                col(RawFrame.status) == "pending",
            )
            .values(status=status)
        )
    return row_id


def _insert_for(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _insert_ignore(
    session: Session, model: Any, values: dict[str, Any], unique: list[str]
) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the new row's id, or None if a row with
    the same unique key exists (the exactly-once guard, in one statement on both databases).

    Runs on the session's connection as a Core statement: the ORM's unit of work and autoflush
    would cost more than the insert itself on this hot path.
    """
    dialect = session.get_bind().dialect.name
    key = (dialect, model.__tablename__, tuple(unique))
    stmt = _STATEMENTS.get(key)
    if stmt is None:  # built once: constructing statements costs more than running them
        table = model.__table__
        stmt = _STATEMENTS[key] = (
            _insert_for(session)(table)
            .on_conflict_do_nothing(index_elements=unique)
            .returning(table.c.id)
        )
    row_id: int | None = session.connection().execute(stmt, values).scalar_one_or_none()
    return row_id


_STATEMENTS: dict[tuple[str, str, tuple[str, ...]], Any] = {}


def recompute_chain(session: Session, vessel_id: int, upto: int) -> bytes | None:
    """The chain value at ``upto`` from genesis (None if a message up to it is missing)."""
    rows = session.exec(
        select(Message.seq, Message.digest)
        .where(Message.vessel_id == vessel_id, col(Message.seq) <= upto)
        .order_by(col(Message.seq))
    ).all()
    value = chain.GENESIS
    for expected, (seq, digest) in enumerate(rows, start=1):
        if seq != expected or digest is None:
            return None
        value = chain.advance(value, seq, digest)
    return value if len(rows) == upto else None


def open_message(
    session: Session,
    vessel: Vessel,
    kid: bytes,
    row: Message,
    msg: CrewMessage,
    seal_keys: list[X25519PrivateKey],
    hooks: CaseHooks,
) -> Grievance | None:
    """Decrypt one stored crew message and apply it (grievance + case, withdraw, status
    request). A body that does not open is kept sealed and raises an alert: the device signed
    it, so it is evidence of a fault or an attack, and staff should see it.
    """
    try:
        content = open_crew(msg, kid, seal_keys)
    except RemoteProtocolError as exc:
        _seal_alert(session, vessel, msg.seq, exc)
        return None
    row.opened_at = utcnow()
    session.add(row)
    assert row.id is not None
    return apply_content(session, vessel, row.id, msg, content, hooks)


def _seal_alert(session: Session, vessel: Vessel, seq: int, exc: Exception) -> None:
    session.add(
        Alert(
            vessel_id=_vid(vessel),
            kind="seal",
            detail=f"crew message seq {seq} from {vessel.name} does not open "
            f"({type(exc).__name__})",
        )
    )


def apply_content(
    session: Session,
    vessel: Vessel,
    message_id: int,
    msg: CrewMessage,
    content: CrewContent,
    hooks: CaseHooks,
) -> Grievance | None:
    """The effect of opened crew content, in the caller's transaction."""
    if isinstance(content, Withdraw):
        if hooks.on_withdraw:
            hooks.on_withdraw(session, vessel, content.ref_seq)
        return None
    if isinstance(content, StatusRequest):
        if hooks.on_status_request:
            hooks.on_status_request(session, vessel, content.ref_seq)
        return None
    assert isinstance(content, GrievanceContent)
    grievance = enrich(session, vessel, message_id, content, _ts(msg.time))
    session.add(grievance)
    session.flush()
    if hooks.on_grievance:
        hooks.on_grievance(session, grievance, vessel)
    return grievance


def enrich(
    session: Session, vessel: Vessel, message_id: int, content: GrievanceContent, when: dt.datetime
) -> Grievance:
    """A grievance row with the vessel's position at that time and the trip it belongs to."""
    estimate = position_at(session, _vid(vessel), when)
    trip = trip_at(session, _vid(vessel), when)
    return Grievance(
        message_id=message_id,
        category=content.category,
        lang=content.lang.tag,
        text=content.text,
        pseudonym=content.pseudonym,
        time=when,
        pos_lat=estimate.lat if estimate else None,
        pos_lon=estimate.lon if estimate else None,
        pos_time=estimate.time if estimate else None,
        pos_age_s=estimate.age_s if estimate else None,
        pos_uncertainty_m=estimate.uncertainty_m if estimate else None,
        pos_source=estimate.source if estimate else None,
        trip_id=trip.id if trip else None,
    )


def reenrich(session: Session, vessel: Vessel, fix_time: dt.datetime) -> int:
    """A new fix may place earlier grievances better (positions often arrive after them)."""
    window = dt.timedelta(hours=24)
    rows = session.exec(
        select(Grievance)
        .join(Message, col(Message.id) == col(Grievance.message_id))
        .where(
            Message.vessel_id == _vid(vessel),
            col(Grievance.time) >= fix_time - window,
            col(Grievance.time) <= fix_time + window,
        )
    ).all()
    changed = 0
    for g in rows:
        gap = abs((g.time - fix_time).total_seconds())
        if g.pos_age_s is not None and g.pos_age_s <= gap:
            continue
        estimate = position_at(session, _vid(vessel), g.time)
        if estimate is None:
            continue
        g.pos_lat, g.pos_lon, g.pos_time = estimate.lat, estimate.lon, estimate.time
        g.pos_age_s, g.pos_uncertainty_m = estimate.age_s, estimate.uncertainty_m
        g.pos_source = estimate.source
        session.add(g)
        changed += 1
    return changed


def open_pending(
    db: Database,
    seal_keys: list[X25519PrivateKey],
    *,
    limit: int = 500,
    hooks: CaseHooks | None = None,
) -> int:
    """Decrypt-worker step: open crew messages stored sealed; returns how many were opened.

    A message that does not open is alerted once and marked tried (``opened_at`` set, no
    grievance, ``sealed`` kept), so it is not retried on every pass.
    """
    from protocol.keys import key_id, verify_key_from_raw

    hooks = hooks if hooks is not None else default_hooks()
    opened = 0
    with db.session() as session:
        rows = session.exec(
            select(Message, Vessel, DeviceKey)
            .join(Vessel, col(Vessel.id) == col(Message.vessel_id))
            .join(DeviceKey, col(DeviceKey.id) == col(Message.device_key_id))
            .where(
                Message.kind == "crew",
                col(Message.opened_at).is_(None),
                col(Message.sealed).is_not(None),
            )
            .limit(limit)
        ).all()
        for row, vessel, key in rows:
            assert row.sealed is not None
            assert row.sent_at is not None
            msg = CrewMessage(seq=row.seq, time=int(row.sent_at.timestamp()), sealed=row.sealed)
            kid = key_id(verify_key_from_raw(key.public_key))
            open_message(session, vessel, kid, row, msg, seal_keys, hooks)
            if row.opened_at is None:
                # It does not open (alert raised): mark it tried so the worker does not pick it
                # again every pass, re-alerting and starving the rest. The sealed body stays.
                row.opened_at = utcnow()
                session.add(row)
            else:
                opened += 1
    return opened


def acks_for(session: Session, vessel_id: int, *, max_bitmaps: int = 4) -> list[Ack]:
    """Acks telling the vessel what arrived: the cumulative prefix and the newest seqs above it.

    Only seqs present in ``messages`` are claimed — an ack lets the vessel delete a message.
    """
    state = session.get(DeviceState, vessel_id)
    prefix = state.prefix if state else 0
    above = sorted(
        session.exec(
            select(Message.seq)
            .where(Message.vessel_id == vessel_id, col(Message.seq) > prefix)
            .order_by(col(Message.seq).desc())
            .limit(256 * max_bitmaps)
        ).all()
    )
    if not above:
        return [Ack(cum_seq=prefix)]
    acks: list[Ack] = []
    rest: list[int] = list(above)
    base = prefix + 1 if rest[0] - prefix <= 256 else rest[0]
    while rest and len(acks) < max_bitmaps:
        ack = Ack.of(prefix, rest, base=base)
        acks.append(ack)
        covered = set(ack.seqs())
        rest = [s for s in rest if s not in covered]
        if rest:
            base = rest[0]
    return acks


def reprocess_pending(pipeline: Pipeline, rows: Iterable[RawFrame]) -> int:
    """Run raw arrivals left ``pending`` (e.g. stored by an older sink) through the pipeline."""
    done = 0
    for raw in rows:
        meta = ArrivalMeta(
            channel=raw.channel,
            imei=raw.imei,
            momsn=raw.momsn,
            provider_time=raw.provider_time,
            lat=raw.provider_lat,
            lon=raw.provider_lon,
            cep_km=raw.provider_cep_km,
            received_at=raw.received_at,
        )
        pipeline.ingest(raw.payload, meta)
        done += 1
    return done
