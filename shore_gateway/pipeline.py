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
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from protocol import chain, frame
from protocol.errors import BadSignature, RemoteProtocolError, UnknownDevice
from protocol.messages import (
    Ack,
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
from shore_gateway.pipeline_api import AcceptResult, ArrivalMeta, Outcome, store_raw
from shore_gateway.registry import candidate_keys

log = logging.getLogger("flip.gateway.pipeline")

MAX_GAP_RANGES = 64


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


class Pipeline:
    """The gateway's :class:`~shore_gateway.pipeline_api.FrameSink`."""

    def __init__(
        self,
        db: Database,
        metrics: Metrics,
        *,
        seal_keys: list[X25519PrivateKey] | None = None,
        max_frame_bytes: int = frame.UPLINK_MAX,
        hooks: CaseHooks | None = None,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.seal_keys = seal_keys or []
        self.max_frame_bytes = max_frame_bytes
        self.hooks = hooks if hooks is not None else default_hooks()

    async def accept(self, data: bytes, meta: ArrivalMeta) -> AcceptResult:
        """Take one arrival; the result is durable when it says STORED or DUPLICATE."""
        self.metrics.frame_received(meta.channel)
        start = utcnow()
        result = await asyncio.to_thread(self.ingest, data, meta)
        self.metrics.observe_latency(meta.channel, (utcnow() - start).total_seconds())
        return result

    def ingest(self, data: bytes, meta: ArrivalMeta) -> AcceptResult:
        """Synchronous body of :meth:`accept` (also used by tests, benchmarks, recovery)."""
        try:
            with self.db.session() as session:
                return self._ingest(session, data, meta)
        except RemoteProtocolError as exc:
            reason = type(exc).__name__
            self.metrics.frame_rejected(meta.channel, reason)
            log.info("frame refused", extra={"reason": reason, "channel": meta.channel})
            return AcceptResult(outcome=Outcome.REJECTED, reason=f"{reason}: {exc}")

    # --- one arrival ------------------------------------------------------------------------

    def _ingest(self, session: Session, data: bytes, meta: ArrivalMeta) -> AcceptResult:
        key, vessel, sign1 = self._verify(session, data)
        messages = frame.parse_uplink(sign1.payload)
        state = self._state(session, vessel)
        raw, created = store_raw(session, data, meta)
        if not created and raw.status != "pending":
            self.metrics.dedupe_hit(meta.channel, "raw")
            return AcceptResult(outcome=Outcome.DUPLICATE, raw_frame_id=raw.id)
        self._provider_position(session, vessel, meta)
        new_ids: list[int] = []
        # Positions first, so a grievance in the same frame is enriched with them.
        messages.sort(key=lambda m: not isinstance(m[0], PositionMessage))
        for msg, encoded in messages:
            row = self._take(session, vessel, key, sign1.kid, msg, encoded, meta)
            if row is None:
                self.metrics.dedupe_hit(meta.channel, "message")
            elif row.id is not None:
                new_ids.append(row.id)
        state.last_contact = meta.received_at
        state.ack_due = True
        self._advance(session, vessel, state)
        raw.status = "accepted" if new_ids else "duplicate"
        raw.message_id = new_ids[0] if new_ids else None
        session.add(raw)
        session.add(state)
        self.metrics.vessel_contact(vessel.name, meta.received_at)
        outcome = Outcome.STORED if created else Outcome.DUPLICATE
        return AcceptResult(outcome=outcome, raw_frame_id=raw.id)

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

    def _verify(self, session: Session, data: bytes) -> tuple[DeviceKey, Vessel, frame.Sign1]:
        sign1 = frame.parse(data, max_size=self.max_frame_bytes)
        candidates = candidate_keys(session, sign1.kid)
        if not candidates:
            raise UnknownDevice(f"no live device key with kid {sign1.kid.hex()}")
        from protocol.keys import verify_key_from_raw

        for key, vessel in candidates:
            try:
                frame.verify(sign1, verify_key_from_raw(key.public_key))
            except BadSignature:
                continue
            return key, vessel, sign1
        raise BadSignature(f"signature does not verify for kid {sign1.kid.hex()}")

    @staticmethod
    def _state(session: Session, vessel: Vessel) -> DeviceState:
        """The vessel's state row, created if needed and locked for this transaction: arrivals
        for one vessel are processed one at a time across every gateway process."""
        vid = _vid(vessel)
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(
            insert(DeviceState)
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
        return session.exec(
            select(DeviceState).where(DeviceState.vessel_id == vid).with_for_update()
        ).one()

    def _insert(self, session: Session, row: Message) -> Message | None:
        """Insert a message row; None when (vessel, seq) is already there (a duplicate)."""
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            return None
        return row

    def _take(
        self,
        session: Session,
        vessel: Vessel,
        key: DeviceKey,
        kid: bytes,
        msg: UplinkMessage,
        encoded: bytes,
        meta: ArrivalMeta,
    ) -> Message | None:
        assert msg.seq is not None
        digest = chain.digest(encoded)
        if isinstance(msg, Fragment):
            return self._take_fragment(session, vessel, key, kid, msg, digest, meta)
        row = self._insert(session, _message_row(vessel, key, msg, digest, meta))
        if row is not None:
            self._apply(session, vessel, kid, row, msg)
        return row

    def _take_fragment(
        self,
        session: Session,
        vessel: Vessel,
        key: DeviceKey,
        kid: bytes,
        frag: Fragment,
        digest: bytes,
        meta: ArrivalMeta,
    ) -> Message | None:
        vid = _vid(vessel)
        done = session.exec(
            select(Message.id).where(Message.vessel_id == vid, Message.seq == frag.seq)
        ).first()
        if done is not None:
            return None
        part = FragmentPart(
            vessel_id=vid,
            seq=frag.seq,
            first_seq=frag.first_seq,
            idx=frag.index,
            count=frag.count,
            chunk=frag.chunk,
            digest=digest,
        )
        try:
            with session.begin_nested():
                session.add(part)
        except IntegrityError:
            return None
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
        first: Message | None = None
        for p in parts:
            if p.idx == 0:
                row = _message_row(vessel, key, whole, p.digest, meta)  # type: ignore[arg-type]
            else:
                row = Message(
                    vessel_id=vid,
                    device_key_id=key.id,
                    seq=p.seq,
                    kind="fragment",
                    received_at=meta.received_at,
                    digest=p.digest,
                )
            inserted = self._insert(session, row)
            if p.idx == 0:
                first = inserted
        if first is not None:
            self._apply(session, vessel, kid, first, whole)  # type: ignore[arg-type]
        return first

    def _apply(
        self, session: Session, vessel: Vessel, kid: bytes, row: Message, msg: UplinkMessage
    ) -> None:
        """The effect of a new message: grievance + case, position, chain claim."""
        match msg:
            case CrewMessage():
                if self.seal_keys:
                    open_message(session, vessel, kid, row, msg, self.seal_keys, self.hooks)
            case PositionMessage():
                try:
                    with session.begin_nested():
                        session.add(
                            Position(
                                vessel_id=_vid(vessel),
                                time=_ts(msg.time),
                                lat=msg.lat,
                                lon=msg.lon,
                                speed_kn=msg.speed_kn,
                                course=float(msg.course_deg),
                                source="agent",
                            )
                        )
                except IntegrityError:
                    return
                reenrich(session, vessel, _ts(msg.time))
            case Heartbeat():
                state = self._state(session, vessel)
                state.queue_depth = msg.queue_depth
                try:
                    with session.begin_nested():
                        session.add(
                            ChainClaim(
                                vessel_id=_vid(vessel), last_seq=msg.last_seq, chain=msg.chain
                            )
                        )
                except IntegrityError:
                    pass

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
        new = [r for r in ranges if not any(b[0] <= r[0] and r[1] <= b[1] for b in before)]
        open_alerts = session.exec(
            select(Alert).where(
                Alert.vessel_id == _vid(vessel),
                Alert.kind == "gap",
                col(Alert.resolved_at).is_(None),
            )
        ).all()
        if not ranges:
            for alert in open_alerts:
                alert.resolved_at = utcnow()
                session.add(alert)
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


def _message_row(
    vessel: Vessel, key: DeviceKey, msg: UplinkMessage, digest: bytes, meta: ArrivalMeta
) -> Message:
    kind = {
        CrewMessage: "crew",
        Heartbeat: "heartbeat",
        PositionMessage: "position",
        UnknownMessage: "unknown",
    }.get(type(msg), "unknown")
    time = getattr(msg, "time", None)
    assert msg.seq is not None  # uplink messages always carry one
    return Message(
        vessel_id=_vid(vessel),
        device_key_id=key.id,
        seq=msg.seq,
        kind=kind,
        sent_at=_ts(time) if time is not None else None,
        received_at=meta.received_at,
        sealed=msg.sealed if isinstance(msg, CrewMessage) else None,
        digest=digest,
    )


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
    """Decrypt one crew message and apply it (grievance + case, withdraw, status request).

    A body that does not open is kept sealed and raises an alert: the device signed it, so it
    is evidence of a fault or an attack, and staff should see it.
    """
    try:
        content = open_crew(msg, kid, seal_keys)
    except RemoteProtocolError as exc:
        session.add(
            Alert(
                vessel_id=_vid(vessel),
                kind="seal",
                detail=f"crew message seq {msg.seq} from {vessel.name} does not open "
                f"({type(exc).__name__})",
            )
        )
        return None
    row.opened_at = utcnow()
    session.add(row)
    if isinstance(content, Withdraw):
        if hooks.on_withdraw:
            hooks.on_withdraw(session, vessel, content.ref_seq)
        return None
    if isinstance(content, StatusRequest):
        if hooks.on_status_request:
            hooks.on_status_request(session, vessel, content.ref_seq)
        return None
    assert isinstance(content, GrievanceContent)
    grievance = enrich(session, vessel, row, content, _ts(msg.time))
    session.add(grievance)
    session.flush()
    if hooks.on_grievance:
        hooks.on_grievance(session, grievance, vessel)
    return grievance


def enrich(
    session: Session, vessel: Vessel, row: Message, content: GrievanceContent, when: dt.datetime
) -> Grievance:
    """A grievance row with the vessel's position at that time and the trip it belongs to."""
    estimate = position_at(session, _vid(vessel), when)
    trip = trip_at(session, _vid(vessel), when)
    assert row.id is not None
    return Grievance(
        message_id=row.id,
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
