"""The frame pipeline: verify → store → dedupe → reassemble → decrypt → enrich → case → ack due.

Concurrent arrivals are handled together in ONE database transaction (group commit): the raw
arrivals, the new messages (UNIQUE (vessel_id, seq) is the exactly-once guard, so several
gateway processes may take any frame), fragments, the opened grievances with their position and
trip, the cases (through the case desk hook) and the devices' ack/gap/chain state. A crash at
any instant either keeps all of it or none of it — and in the second case no provider was yet
told "received", so they send again.

The batch is worked in stages, each one statement (or a few) for all its arrivals: the device
keys of every kid, the state rows of every vessel (locked in id order), every new message (one
INSERT … ON CONFLICT DO NOTHING RETURNING), the grievances' positions and trips, the grievances,
the raw arrivals, the state rows again. Per-row round trips through the ORM cost far more than
the signature check and decryption on this path; they remain only where rows are rare
(fragments, heartbeat checkpoints, alerts, re-enrichment).

Forged, malformed, oversize or unknown-device frames are refused before anything is stored.

Decryption happens here when the gateway holds the shore sealing keys; otherwise crew messages
stay sealed in ``messages.sealed`` and a decrypt worker on another host opens them later with
:func:`open_pending` (encrypt-then-sign lets this host verify, dedupe and ack without the key).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlmodel import Session, col, delete, func, select, update

from protocol import chain, frame, links, shorecore, voice
from protocol.errors import RemoteProtocolError
from protocol.keys import key_id, verify_key_from_raw
from protocol.messages import (
    Ack,
    CrewContent,
    CrewMessage,
    Delivered,
    Fragment,
    Heartbeat,
    Reply,
    StatusRequest,
    UnknownMessage,
    UplinkMessage,
    VoiceNote,
    Withdraw,
)
from protocol.messages import (
    Grievance as GrievanceContent,
)
from protocol.messages import (
    Position as PositionMessage,
)
from protocol.shore import open_crew
from protocol.shorecore import Stored
from shore_gateway import device_state
from shore_gateway.bulk import insert_rows
from shore_gateway.context.positions import Fix, store_fixes
from shore_gateway.db import Database
from shore_gateway.enrichment import NewGrievance, reenrich, store_grievances
from shore_gateway.metrics import Metrics
from shore_gateway.models import (
    Alert,
    AlertKind,
    ChainClaim,
    Channel,
    DeviceKey,
    DeviceState,
    FragmentPart,
    Grievance,
    Message,
    RawFrame,
    Vessel,
    utcnow,
)
from shore_gateway.pipeline_api import AcceptResult, ArrivalMeta, Outcome, frame_limit
from shore_gateway.registry import Candidate, candidate_keys

log = logging.getLogger("flip.gateway.pipeline")

# Partial fragment sets held per vessel (durable reassembly): the core's bounds.
FRAGMENT_TIMEOUT = dt.timedelta(seconds=shorecore.FRAGMENT_TIMEOUT)


@dataclass(frozen=True, slots=True)
class CaseHooks:
    """What the case desk does inside the pipeline's transaction (see shore_gateway.cases)."""

    on_grievance: Callable[[Session, Grievance, Vessel], object] | None = None
    #: The same for a batch's grievances at once, in order (preferred when set).
    on_grievances: Callable[[Session, list[tuple[Grievance, Vessel]]], object] | None = None
    on_withdraw: Callable[[Session, Vessel, int], None] | None = None
    on_status_request: Callable[[Session, Vessel, int], None] | None = None


def default_hooks() -> CaseHooks:
    """The built-in case desk's hooks, when it is installed."""
    try:
        from shore_gateway.cases import desk, intake
    except ImportError:
        return CaseHooks()
    return CaseHooks(
        on_grievance=getattr(desk, "on_grievance", None),
        on_grievances=getattr(intake, "on_grievances", None),
        on_withdraw=getattr(desk, "on_withdraw", None),
        on_status_request=getattr(desk, "on_status_request", None),
    )


def _ts(unix: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(unix, dt.UTC)


def _vid(vessel: Vessel) -> int:
    assert vessel.id is not None
    return vessel.id


@dataclass(slots=True)
class _Arrival:
    """One arrival whose signature verified, on its way through a batch."""

    index: int  # position in the batch
    data: bytes
    meta: ArrivalMeta
    device: Candidate  # the key that verified, and its vessel
    kid: bytes
    messages: list[tuple[UplinkMessage, bytes]]
    new_ids: list[int] = field(default_factory=list)  # messages this arrival stored first
    clashed: bool = False  # carried a seq already stored with other content


@dataclass(slots=True)
class _Entry:
    """One message of an arrival, with its chain digest and its (vessel id, seq)."""

    arrival: _Arrival
    msg: UplinkMessage
    digest: bytes
    key: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        assert self.msg.seq is not None  # uplink messages always carry one
        self.key = (self.arrival.device.vessel_id, self.msg.seq)


@dataclass(slots=True)
class _Batch:
    """Arrivals handled in one transaction (group commit), with per-vessel state locked once."""

    session: Session
    keys: dict[bytes, list[Candidate]] = field(default_factory=dict)
    vessels: dict[int, str] = field(default_factory=dict)  # id → name
    states: dict[int, device_state.State] = field(default_factory=dict)
    depths: dict[int, int] = field(default_factory=dict)  # from heartbeats
    declared: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)  # lost seqs
    added: dict[int, dict[int, bytes | None]] = field(default_factory=dict)  # vessel→seq→digest
    unsettled: set[int] = field(default_factory=set)  # fragments moved: read the state back
    fixes: dict[int, list[dt.datetime]] = field(default_factory=dict)  # new fixes to re-enrich


@dataclass(slots=True)
class _Waiting:
    data: bytes
    meta: ArrivalMeta
    future: asyncio.Future[AcceptResult]


class Pipeline:
    """The gateway's :class:`~shore_gateway.pipeline_api.FrameSink`.

    Concurrent arrivals are committed together (group commit): the batch is durable as a whole
    before any adapter tells its provider "received", and one fsync serves many frames.
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
        parallel: int | None = None,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.seal_keys = seal_keys or []
        self.max_frame_bytes = max_frame_bytes
        self.hooks = hooks if hooks is not None else default_hooks()
        self.max_batch = max_batch
        # Batches worked at once, each in its own transaction and thread (safe: the same as
        # several gateway processes, which the state-row locks serialise per vessel). One by
        # default: two on PostgreSQL measured no better on a loaded 2-core machine (median
        # ingest/bound 0.35 against 0.44 in 4 interleaved pairs each; BENCHMARKS.md).
        self.parallel = max(1, parallel or 1)
        self._waiting: dict[asyncio.AbstractEventLoop, list[_Waiting]] = {}
        self._draining: dict[asyncio.AbstractEventLoop, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def accept(self, data: bytes, meta: ArrivalMeta) -> AcceptResult:
        """Take one arrival; the result is durable when it says STORED or DUPLICATE."""
        self.metrics.frame_received(meta.channel, len(data))
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        waiting = _Waiting(data=data, meta=meta, future=loop.create_future())
        self._waiting.setdefault(loop, []).append(waiting)
        if self._draining.get(loop, 0) < self.parallel:
            # A task of its own, so a cancelled caller never strands the others' results (a
            # cancelled caller cancels only its own future, which the drain then skips).
            self._draining[loop] = self._draining.get(loop, 0) + 1
            task = loop.create_task(self._drain(loop))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        result = await waiting.future
        self.metrics.observe_latency(meta.channel, time.perf_counter() - start)
        return result

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while self._waiting.get(loop):
                await asyncio.sleep(0)  # let arrivals that are already running join the batch
                queue = self._waiting.get(loop)
                if not queue:  # another drain took them meanwhile
                    break
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
            left = self._draining.pop(loop, 1) - 1
            if left:
                self._draining[loop] = left
            elif not self._waiting.get(loop):
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
                    results = self._batch(session, items)
                return self._report(items, results)
            except Exception:
                log.info("batch rolled back; taking its arrivals one by one")
            return [self.ingest_many([item])[0] for item in items]
        try:
            with self.db.session() as session:
                results = self._batch(session, items)
        except RemoteProtocolError as exc:
            results = [_refused(exc)]
        return self._report(items, results)

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

    # --- one batch, in stages ---------------------------------------------------------------

    def _batch(
        self, session: Session, items: list[tuple[bytes, ArrivalMeta]]
    ) -> list[AcceptResult]:
        batch = _Batch(session=session)
        results: list[AcceptResult | None] = [None] * len(items)
        arrivals = self._verify_all(batch, items, results)
        if arrivals:
            self._take_all(batch, arrivals)
            self._finish(batch)
            self._record(batch, arrivals, results)
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _verify_all(
        self,
        batch: _Batch,
        items: list[tuple[bytes, ArrivalMeta]],
        results: list[AcceptResult | None],
    ) -> list[_Arrival]:
        """Parse and verify every arrival; refused ones are answered, nothing is written."""
        parsed: list[tuple[int, frame.Sign1]] = []
        for i, (data, meta) in enumerate(items):
            try:
                limit = frame_limit(meta.channel, self.max_frame_bytes)
                parsed.append((i, frame.parse(data, max_size=limit)))
            except RemoteProtocolError as exc:
                results[i] = _refused(exc)
        if parsed:
            batch.keys = candidate_keys(batch.session, {s.kid for _, s in parsed})
        arrivals: list[_Arrival] = []
        for i, sign1 in parsed:
            data, meta = items[i]
            try:
                device = _verify(batch, sign1)
                messages = links.parse_uplink(sign1.payload)
            except RemoteProtocolError as exc:
                results[i] = _refused(exc)
                continue
            arrivals.append(_Arrival(i, data, meta, device, sign1.kid, messages))
        return arrivals

    def _take_all(self, batch: _Batch, arrivals: list[_Arrival]) -> None:
        session = batch.session
        for a in arrivals:
            batch.vessels[a.device.vessel_id] = a.device.vessel_name
        # Lock every vessel's state before writing anything for it.
        batch.states = device_state.lock(session, batch.vessels)
        for a in arrivals:
            state = batch.states[a.device.vessel_id]
            if state.last_contact is None or a.meta.received_at > state.last_contact:
                state.last_contact = a.meta.received_at
        _provider_fixes(batch, arrivals)
        plain: list[_Entry] = []
        fragments: list[_Entry] = []
        for a in arrivals:
            for msg, encoded in a.messages:
                entry = _Entry(a, msg, chain.digest(encoded))
                (fragments if isinstance(msg, Fragment) else plain).append(entry)
        self._store(batch, plain)
        for entry in fragments:
            self._take_fragment(batch, entry)

    def _store(self, batch: _Batch, entries: list[_Entry]) -> None:
        """Store messages (one statement for all) and apply the new ones' effects."""
        fresh: dict[tuple[int, int], _Entry] = {}
        again: list[_Entry] = []  # a seq twice in this batch: a duplicate, or a collision
        for e in entries:
            if e.key in fresh:
                again.append(e)
            else:
                fresh[e.key] = e
        opened: dict[tuple[int, int], CrewContent | RemoteProtocolError] = {}
        rows = []
        for k, e in fresh.items():
            values = _message_values(e)
            if isinstance(e.msg, CrewMessage) and self.seal_keys:
                # Open before storing, so the row is written once with ``opened_at`` set.
                try:
                    opened[k] = open_crew(e.msg, e.arrival.kid, self.seal_keys)
                    values["opened_at"] = utcnow()
                except RemoteProtocolError as exc:
                    opened[k] = exc
            rows.append(values)
        ids = {
            (vid, seq): row_id
            for row_id, vid, seq in _insert_ignore(
                batch.session, Message, rows, ("vessel_id", "seq"), ("id", "vessel_id", "seq")
            )
        }
        _clashes(batch.session, [e for k, e in fresh.items() if k not in ids] + again)
        for e in again:
            if not e.arrival.clashed:
                self.metrics.dedupe_hit(e.arrival.meta.channel, "message")
        new: list[tuple[_Entry, int]] = []
        for k, e in fresh.items():
            row_id = ids.get(k)
            if row_id is None:
                if not e.arrival.clashed:
                    self.metrics.dedupe_hit(e.arrival.meta.channel, "message")
                continue
            e.arrival.new_ids.append(row_id)
            batch.added.setdefault(k[0], {})[k[1]] = e.digest
            new.append((e, row_id))
        self._effects(batch, new, opened)

    def _effects(
        self,
        batch: _Batch,
        new: list[tuple[_Entry, int]],
        opened: dict[tuple[int, int], CrewContent | RemoteProtocolError],
    ) -> None:
        """What new messages do: positions and heartbeats first (so grievances stored with
        them are enriched with the newest track), then crew messages in order."""
        session = batch.session
        fixes: list[Fix] = []
        crew: list[tuple[_Entry, int]] = []
        for e, row_id in new:
            vid = e.key[0]
            match e.msg:
                case PositionMessage() as p:
                    fix = Fix(
                        vessel_id=vid,
                        time=_ts(p.time),
                        lat=p.lat,
                        lon=p.lon,
                        source="agent",
                        speed_kn=p.speed_kn,
                        course=float(p.course_deg),
                    )
                    fixes.append(fix)
                    batch.fixes.setdefault(vid, []).append(fix.time)
                case Heartbeat() as hb:
                    batch.depths[vid] = hb.queue_depth
                    if hb.lost:  # element 6: labels gaps; no statement of its own
                        batch.declared.setdefault(vid, []).extend(
                            (r.first, r.last, r.reason) for r in hb.lost
                        )
                    claim = {"vessel_id": vid, "last_seq": hb.last_seq, "chain": hb.chain}
                    _insert_ignore(session, ChainClaim, [claim], ("vessel_id", "last_seq"))
                case Delivered() as d:  # shore questions whole on board (conversation)
                    _conversation().delivered(session, vid, d.ids)
                case CrewMessage():
                    crew.append((e, row_id))
        store_fixes(session, fixes)
        for vid, times in batch.fixes.items():
            reenrich(session, vid, times)
        batch.fixes.clear()
        grievances: list[NewGrievance] = []
        for e, row_id in crew:
            vid, seq = e.key
            content = opened.get(e.key)
            assert isinstance(e.msg, CrewMessage)
            if isinstance(content, RemoteProtocolError):
                _seal_alert(session, vid, e.arrival.device.vessel_name, seq, content)
            elif isinstance(content, GrievanceContent | VoiceNote):
                _remember_reply_key(session, vid, seq, content)
                grievances.append(_new_grievance(vid, row_id, e.msg, content))
            elif content is not None:  # withdraw / status request: after the grievances so far
                hand_grievances(session, grievances, self.hooks)
                grievances = []
                vessel = session.get(Vessel, vid)
                assert vessel is not None
                apply_content(session, vessel, row_id, e.msg, content, self.hooks)
        hand_grievances(session, grievances, self.hooks)

    def _take_fragment(self, batch: _Batch, entry: _Entry) -> None:
        """Keep a fragment durably; when its set is complete, store the whole message."""
        session = batch.session
        frag = entry.msg
        assert isinstance(frag, Fragment)
        vid, seq = entry.key
        batch.unsettled.add(vid)
        done = session.exec(
            select(Message.id).where(Message.vessel_id == vid, Message.seq == seq)
        ).first()
        if done is not None:
            self.metrics.dedupe_hit(entry.arrival.meta.channel, "message")
            return
        part = {
            "vessel_id": vid,
            "seq": seq,
            "first_seq": frag.first_seq,
            "idx": frag.index,
            "count": frag.count,
            "chunk": frag.chunk,
            "digest": entry.digest,
            "received_at": entry.arrival.meta.received_at,
        }
        if not _insert_ignore(session, FragmentPart, [part], ("vessel_id", "seq")):
            self.metrics.dedupe_hit(entry.arrival.meta.channel, "message")
            return
        _bound_fragments(session, vid, frag.first_seq, entry.arrival.meta.received_at)
        parts = session.exec(
            select(FragmentPart)
            .where(FragmentPart.vessel_id == vid, FragmentPart.first_seq == frag.first_seq)
            .order_by(col(FragmentPart.idx))
        ).all()
        joined = shorecore.join(
            frag.first_seq, frag.count, [(p.idx, p.count, p.chunk) for p in parts]
        )
        if joined is None:
            return
        whole = joined[0]
        session.exec(
            delete(FragmentPart).where(
                col(FragmentPart.vessel_id) == vid, col(FragmentPart.first_seq) == frag.first_seq
            )
        )
        rest = [
            {
                "vessel_id": vid,
                "device_key_id": entry.arrival.device.key_id,
                "seq": p.seq,
                "kind": "fragment",
                "received_at": entry.arrival.meta.received_at,
                "digest": p.digest,
            }
            for p in parts[1:]
        ]
        _insert_ignore(session, Message, rest, ("vessel_id", "seq"))
        assert isinstance(whole, (CrewMessage, Heartbeat, PositionMessage, UnknownMessage))
        self._store(batch, [_Entry(entry.arrival, whole, parts[0].digest)])

    def _finish(self, batch: _Batch) -> None:
        """Advance every touched vessel's prefix, gaps and chain; write the states back."""
        session = batch.session
        claims = device_state.claims_for(session, batch.vessels)
        for vid, name in sorted(batch.vessels.items()):
            state = batch.states[vid]
            if vid in batch.depths:
                state.queue_depth = batch.depths[vid]
            device_state.advance(
                session,
                vid,
                name,
                state,
                claims.get(vid, []),
                batch.added.get(vid, {}),
                complete=vid not in batch.unsettled,  # fragments moved: read the state back
                declared=batch.declared.get(vid, ()),
            )
        device_state.save(session, batch.states.values())

    def _record(
        self, batch: _Batch, arrivals: list[_Arrival], results: list[AcceptResult | None]
    ) -> None:
        """The raw arrivals with their outcome (one statement); a row a previous sink left
        ``pending`` (see :func:`reprocess_pending`) is marked done."""
        session = batch.session
        rows: list[dict[str, Any]] = []
        owners: list[tuple[tuple[Any, ...], _Arrival]] = []
        seen: set[tuple[Any, ...]] = set()
        for a in arrivals:
            self.metrics.vessel_contact(a.device.vessel_name, a.meta.received_at)
            row = _raw_values(a)
            key = (row["channel"], row["imei"], row["momsn"], row["sha256"])
            if a.meta.momsn is not None and key in seen:  # the provider's retry, in this batch
                results[a.index] = AcceptResult(outcome=Outcome.DUPLICATE)
                continue
            seen.add(key)
            rows.append(row)
            owners.append((key, a))
        stored: dict[tuple[Any, ...], list[int]] = {}
        for row_id, *columns in _insert_ignore(
            session,
            RawFrame,
            rows,
            ("channel", "imei", "momsn", "sha256"),
            ("id", "channel", "imei", "momsn", "sha256"),
        ):
            stored.setdefault(tuple(columns), []).append(row_id)
        for (key, a), row in zip(owners, rows, strict=True):
            ids = stored.get(key)
            if ids:  # identical rows (no MOMSN) are interchangeable: take them in any order
                results[a.index] = AcceptResult(outcome=Outcome.STORED, raw_frame_id=ids.pop(0))
                continue
            # This very arrival was stored before (by us, or pending by an older sink).
            session.execute(
                update(RawFrame)
                .where(
                    col(RawFrame.channel) == row["channel"],
                    col(RawFrame.imei) == row["imei"],
                    col(RawFrame.momsn) == row["momsn"],
                    col(RawFrame.sha256) == row["sha256"],
                    col(RawFrame.status) == "pending",
                )
                .values(status=row["status"])
            )
            results[a.index] = AcceptResult(outcome=Outcome.DUPLICATE)


def _verify(batch: _Batch, sign1: frame.Sign1) -> Candidate:
    candidates = batch.keys.get(sign1.kid, [])
    return shorecore.verify(sign1, candidates, lambda c: verify_key_from_raw(c.public_key))


def _clashes(session: Session, conflicts: list[_Entry]) -> None:
    """Messages whose (vessel, seq) is taken: a duplicate when the stored digest is the same;
    otherwise a *collision* — the same seq with other content, e.g. a replacement box that
    restarted its seqs under a rotated key. It cannot be stored (the seq is taken), and acks
    would claim it (acks name seqs), so the box would delete what never arrived. Staff get one
    alert per vessel and :func:`acks_for` holds the vessel's acks while it is open: the box keeps
    everything until someone registers it properly (docs/operations.md)."""
    if not conflicts:
        return
    vids = {e.key[0] for e in conflicts}
    stored = {
        (vid, seq): digest
        for vid, seq, digest in session.exec(
            select(Message.vessel_id, Message.seq, Message.digest).where(
                col(Message.vessel_id).in_(vids),
                col(Message.seq).in_({e.key[1] for e in conflicts}),
            )
        ).all()
    }
    clashes: dict[int, list[_Entry]] = {}
    for e in conflicts:
        taken = e.key in stored
        if shorecore.classify(stored.get(e.key), e.digest, taken=taken) is Stored.COLLISION:
            e.arrival.clashed = True
            clashes.setdefault(e.key[0], []).append(e)
    if not clashes:
        return
    open_ = set(
        session.exec(
            select(Alert.vessel_id).where(
                col(Alert.vessel_id).in_(list(clashes)),
                Alert.kind == AlertKind.COLLISION,
                col(Alert.resolved_at).is_(None),
            )
        ).all()
    )
    for vid, entries in clashes.items():
        log.warning("seq collision", extra={"vessel_id": vid, "seqs": len(entries)})
        if vid in open_:
            continue
        name, kid = entries[0].arrival.device.vessel_name, entries[0].arrival.kid.hex()
        seqs = ", ".join(str(e.key[1]) for e in entries[:8]) + (", …" if len(entries) > 8 else "")
        session.add(
            Alert(
                vessel_id=vid,
                kind=AlertKind.COLLISION,
                detail=f"vessel {name} sent seq {seqs} with content other than the messages "
                f"already stored under those seqs (signed by key {kid}). "
                "They are not duplicates and cannot be stored; acks to this vessel are held "
                "while this alert is open, so the box deletes nothing. A replacement box that "
                "restarted its seqs must be registered as a new vessel, and this key revoked "
                "here (docs/operations.md).",
            )
        )


def _provider_fixes(batch: _Batch, arrivals: list[_Arrival]) -> None:
    """The provider's fix of each session (DirectIP location IE, RockBLOCK iridium_*) as track
    context. It names no one: it is attached to the vessel whose signature verified."""
    fixes: list[Fix] = []
    for a in arrivals:
        meta = a.meta
        if meta.lat is None or meta.lon is None or meta.channel == Channel.CLI:
            continue
        when = meta.provider_time or meta.received_at
        cep = meta.cep_km * 1000 if meta.cep_km is not None else None
        fixes.append(
            Fix(
                vessel_id=a.device.vessel_id,
                time=when,
                lat=meta.lat,
                lon=meta.lon,
                source=meta.channel,
                accuracy_m=cep,
            )
        )
        batch.fixes.setdefault(a.device.vessel_id, []).append(when)
    store_fixes(batch.session, fixes)


def _message_values(e: _Entry) -> dict[str, Any]:
    msg = e.msg
    kind = {
        CrewMessage: "crew",
        Heartbeat: "heartbeat",
        PositionMessage: "position",
        Delivered: "delivered",
        UnknownMessage: "unknown",
    }.get(type(msg), "unknown")
    time = getattr(msg, "time", None)
    vid, seq = e.key
    return {
        "vessel_id": vid,
        "device_key_id": e.arrival.device.key_id,
        "seq": seq,
        "kind": kind,
        "sent_at": _ts(time) if time is not None else None,
        "received_at": e.arrival.meta.received_at,
        "sealed": msg.sealed if isinstance(msg, CrewMessage) else None,
        "digest": e.digest,
        "opened_at": None,
    }


def _raw_values(a: _Arrival) -> dict[str, Any]:
    meta = a.meta
    return {
        "channel": meta.channel,
        "imei": meta.imei,
        "momsn": meta.momsn,
        "provider_time": meta.provider_time,
        "provider_lat": meta.lat,
        "provider_lon": meta.lon,
        "provider_cep_km": meta.cep_km,
        "received_at": meta.received_at,
        "payload": a.data,
        "sha256": hashlib.sha256(a.data).digest(),
        "status": "conflict" if a.clashed else "accepted" if a.new_ids else "duplicate",
        "message_id": a.new_ids[0] if a.new_ids else None,
    }


def _bound_fragments(session: Session, vessel_id: int, keep: int, now: dt.datetime) -> None:
    """Hold at most the core's bound of partial sets and rows for a vessel
    (:func:`protocol.shorecore.fragment_sets_to_drop`), none older than FRAGMENT_TIMEOUT; the
    set being filled (``keep``) goes last."""
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
    drop = shorecore.fragment_sets_to_drop([(first, n) for first, n, _ in sets], keep)
    if drop:
        session.exec(
            delete(FragmentPart).where(
                col(FragmentPart.vessel_id) == vessel_id, col(FragmentPart.first_seq).in_(drop)
            )
        )


def _refused(exc: RemoteProtocolError) -> AcceptResult:
    return AcceptResult(outcome=Outcome.REJECTED, reason=f"{type(exc).__name__}: {exc}")


def _insert_ignore(
    session: Session,
    model: Any,
    rows: Sequence[dict[str, Any]],
    unique: tuple[str, ...],
    returning: tuple[str, ...] = ("id",),
) -> list[tuple[Any, ...]]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING for many rows in one statement: the
    ``returning`` columns of the rows that were new (a row whose unique key exists — the
    exactly-once guard — returns nothing). Same on SQLite and PostgreSQL (:func:`insert_rows`).
    """
    return insert_rows(
        session.connection(), model.__table__, rows, conflict=unique, returning=returning
    )


def _new_grievance(
    vessel_id: int, message_id: int, msg: CrewMessage, content: GrievanceContent | VoiceNote
) -> NewGrievance:
    if isinstance(content, VoiceNote):  # stored as Codec2 frames; decoded only when heard
        mode = voice.MODES[content.mode]
        return NewGrievance(
            vessel_id=vessel_id,
            message_id=message_id,
            time=_ts(msg.time),
            category=content.category,
            lang=content.lang.tag,
            text="",
            pseudonym=content.pseudonym,
            voice=voice.pack(mode, content.frames),
            voice_mode=mode.code,
            voice_ms=content.duration_ms,
        )
    return NewGrievance(
        vessel_id=vessel_id,
        message_id=message_id,
        time=_ts(msg.time),
        category=content.category,
        lang=content.lang.tag,
        text=content.text,
        pseudonym=content.pseudonym,
        zawgyi=content.zawgyi.mode.name.lower() if content.zawgyi else None,
        zawgyi_p=content.zawgyi.probability if content.zawgyi else None,
        zawgyi_other=content.zawgyi.other if content.zawgyi else None,
    )


def hand_grievances(
    session: Session, grievances: Sequence[NewGrievance], hooks: CaseHooks
) -> list[int]:
    """Store opened grievances (enriched) and hand them to the case desk, in order (all at
    once when the desk takes a batch)."""
    ids = store_grievances(session, grievances)
    if (hooks.on_grievances or hooks.on_grievance) and ids:
        rows = session.exec(select(Grievance).where(col(Grievance.id).in_(ids))).all()
        by_id = {g.id: g for g in rows}
        vids = {g.vessel_id for g in grievances}
        vessels = {v.id: v for v in session.exec(select(Vessel).where(col(Vessel.id).in_(vids)))}
        items = [(by_id[gid], vessels[g.vessel_id]) for g, gid in zip(grievances, ids, strict=True)]
        if hooks.on_grievances:
            hooks.on_grievances(session, items)
        elif hooks.on_grievance:
            for grievance, vessel in items:
                hooks.on_grievance(session, grievance, vessel)
    return ids


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
        _seal_alert(session, _vid(vessel), vessel.name, msg.seq, exc)
        return None
    row.opened_at = utcnow()
    session.add(row)
    assert row.id is not None
    return apply_content(session, vessel, row.id, msg, content, hooks)


def _seal_alert(session: Session, vessel_id: int, name: str, seq: int, exc: Exception) -> None:
    session.add(
        Alert(
            vessel_id=vessel_id,
            kind=AlertKind.SEAL,
            detail=f"crew message seq {seq} from {name} does not open ({type(exc).__name__})",
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
    if isinstance(content, Reply):
        _conversation().take_reply(session, vessel, message_id, content)
        return None
    assert isinstance(content, GrievanceContent | VoiceNote)
    _remember_reply_key(session, _vid(vessel), msg.seq, content)
    new = _new_grievance(_vid(vessel), message_id, msg, content)
    (gid,) = hand_grievances(session, [new], hooks)
    return session.get(Grievance, gid)


def _conversation() -> Any:
    from shore_gateway.cases import conversation  # the case desk's tables; imported late

    return conversation


def _remember_reply_key(
    session: Session, vessel_id: int, seq: int, content: GrievanceContent | VoiceNote
) -> None:
    pub = getattr(content, "reply_pub", None)
    if pub is not None:
        _conversation().remember_key(session, vessel_id, seq, pub)


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


def acks_for(
    session: Session, vessel_id: int, *, max_bitmaps: int = shorecore.MAX_ACK_BITMAPS
) -> list[Ack]:
    """Acks telling the vessel what arrived: the cumulative prefix and the newest seqs above it.

    None while a seq collision alert is open for the vessel (see :func:`_clashes`).

    Only seqs present in ``messages`` are claimed — an ack lets the vessel delete a message
    (:func:`protocol.shorecore.acks`).
    """
    held = session.exec(
        select(Alert.id).where(
            Alert.vessel_id == vessel_id,
            Alert.kind == AlertKind.COLLISION,
            col(Alert.resolved_at).is_(None),
        )
    ).first()
    if held is not None:
        return []  # seqs collide (see _clashes): an ack could make the box delete unstored ones
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
    return shorecore.acks(prefix, above)


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
