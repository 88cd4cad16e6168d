"""The batch stages: one transaction's arrivals, worked a stage at a time.

:func:`run` takes the arrivals :class:`~shore_gateway.pipeline.Pipeline` gathered into one
transaction (group commit) and works them in stages, each one statement (or a few) for all its
arrivals: the device keys of every kid, the state rows of every vessel (locked in id order),
every new message (one INSERT … ON CONFLICT DO NOTHING RETURNING — UNIQUE (vessel_id, seq) is
the exactly-once guard), the grievances' positions and trips, the grievances, the raw arrivals,
the state rows again. Per-row round trips through the ORM cost far more than the signature
check and decryption on this path; they remain only where rows are rare (fragments, heartbeat
checkpoints, alerts, re-enrichment).

What each stage decides is :mod:`protocol.shorecore`'s (the same functions
:class:`protocol.shore.ShoreSession` runs in memory); the stages hand out the rest:
:mod:`shore_gateway.collisions` (a seq taken with other content), :mod:`shore_gateway.fragments`
(durable reassembly), :mod:`shore_gateway.decrypt` (what crew content does),
:mod:`shore_gateway.device_state` (prefix, gaps, chain). Forged, malformed, oversize or
unknown-device frames are refused before anything is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlmodel import Session, col, update

from protocol import chain, frame, links, shorecore
from protocol.errors import RemoteProtocolError
from protocol.keys import verify_key_from_raw
from protocol.messages import (
    CrewContent,
    CrewMessage,
    Delivered,
    Fragment,
    Heartbeat,
    UnknownMessage,
    UplinkMessage,
)
from protocol.messages import Position as PositionMessage
from protocol.shore import open_crew
from shore_gateway import collisions, decrypt, device_state, fragments
from shore_gateway.bulk import insert_together
from shore_gateway.context.positions import Fix, store_fixes
from shore_gateway.db import insert_ignore
from shore_gateway.enrichment import reenrich
from shore_gateway.fragments import Held
from shore_gateway.hooks import CaseHooks
from shore_gateway.metrics import Metrics
from shore_gateway.models import ChainClaim, Channel, Message, RawFrame, utcnow
from shore_gateway.pipeline_api import AcceptResult, ArrivalMeta, Outcome, frame_limit
from shore_gateway.registry import Candidate, candidate_keys


class Sink(Protocol):
    """What the stages read from the pipeline that runs them (read at each batch)."""

    metrics: Metrics
    seal_keys: list[X25519PrivateKey]
    hooks: CaseHooks
    max_frame_bytes: int


def _ts(unix: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(unix, dt.UTC)


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
    sink: Sink
    keys: dict[bytes, list[Candidate]] = field(default_factory=dict)
    vessels: dict[int, str] = field(default_factory=dict)  # id → name
    states: dict[int, device_state.State] = field(default_factory=dict)
    depths: dict[int, int] = field(default_factory=dict)  # from heartbeats
    declared: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)  # lost seqs
    added: dict[int, dict[int, bytes | None]] = field(default_factory=dict)  # vessel→seq→digest
    unsettled: set[int] = field(default_factory=set)  # fragments moved: read the state back
    fixes: dict[int, list[dt.datetime]] = field(default_factory=dict)  # new fixes to re-enrich


def run(session: Session, items: list[tuple[bytes, ArrivalMeta]], sink: Sink) -> list[AcceptResult]:
    """Work ``items`` in ``session`` (the caller commits): one result per arrival, in order.

    Raises whatever a stage raises past verification (a frame that verifies but is malformed
    deeper in, a database error); the caller rolls the transaction back.
    """
    batch = _Batch(session=session, sink=sink)
    results: list[AcceptResult | None] = [None] * len(items)
    arrivals = _verify_all(batch, items, results)
    if arrivals:
        _take_all(batch, arrivals)
        _finish(batch)
        _record(batch, arrivals, results)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def _verify_all(
    batch: _Batch,
    items: list[tuple[bytes, ArrivalMeta]],
    results: list[AcceptResult | None],
) -> list[_Arrival]:
    """Parse and verify every arrival; refused ones are answered, nothing is written."""
    parsed: list[tuple[int, frame.Sign1]] = []
    for i, (data, meta) in enumerate(items):
        try:
            limit = frame_limit(meta.channel, batch.sink.max_frame_bytes)
            parsed.append((i, frame.parse(data, max_size=limit)))
        except RemoteProtocolError as exc:
            results[i] = refused(exc)
    if parsed:
        batch.keys = candidate_keys(batch.session, {s.kid for _, s in parsed})
    arrivals: list[_Arrival] = []
    for i, sign1 in parsed:
        data, meta = items[i]
        try:
            device = _verify(batch, sign1)
            messages = links.parse_uplink(sign1.payload)
        except RemoteProtocolError as exc:
            results[i] = refused(exc)
            continue
        arrivals.append(_Arrival(i, data, meta, device, sign1.kid, messages))
    return arrivals


def _take_all(batch: _Batch, arrivals: list[_Arrival]) -> None:
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
    _store(batch, plain)
    for entry in fragments:
        _take_fragment(batch, entry)


def _store(batch: _Batch, entries: list[_Entry]) -> None:
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
        if isinstance(e.msg, CrewMessage) and batch.sink.seal_keys:
            # Open before storing, so the row is written once with ``opened_at`` set.
            try:
                opened[k] = open_crew(e.msg, e.arrival.kid, batch.sink.seal_keys)
                values["opened_at"] = utcnow()
            except RemoteProtocolError as exc:
                opened[k] = exc
        rows.append(values)
    ids = {
        (vid, seq): row_id
        for row_id, vid, seq in insert_ignore(
            batch.session, Message, rows, ("vessel_id", "seq"), ("id", "vessel_id", "seq")
        )
    }
    _clashes(batch.session, [e for k, e in fresh.items() if k not in ids] + again)
    for e in again:
        if not e.arrival.clashed:
            batch.sink.metrics.dedupe_hit(e.arrival.meta.channel, "message")
    new: list[tuple[_Entry, int]] = []
    for k, e in fresh.items():
        row_id = ids.get(k)
        if row_id is None:
            if not e.arrival.clashed:
                batch.sink.metrics.dedupe_hit(e.arrival.meta.channel, "message")
            continue
        e.arrival.new_ids.append(row_id)
        batch.added.setdefault(k[0], {})[k[1]] = e.digest
        new.append((e, row_id))
    _effects(batch, new, opened)


def _effects(
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
                for (claim_id,) in insert_ignore(
                    session, ChainClaim, [claim], ("vessel_id", "last_seq")
                ):  # the state keeps its checkpoints current (device_state.lock)
                    batch.states[vid].claimed(claim_id, hb.last_seq, hb.chain)
            case Delivered() as d:  # shore questions whole on board (conversation)
                decrypt.conversation().delivered(session, vid, d.ids)
            case CrewMessage():
                crew.append((e, row_id))
    store_fixes(session, fixes)
    reenrich(session, batch.fixes)
    batch.fixes.clear()
    crew_opened = [
        decrypt.Opened(e.key[0], e.arrival.device.vessel_name, row_id, e.msg, content)
        for e, row_id in crew
        if isinstance(e.msg, CrewMessage) and (content := opened.get(e.key)) is not None
    ]  # a message not opened here (no sealing keys) waits for the decrypt worker
    decrypt.apply(session, crew_opened, batch.sink.hooks)


def _take_fragment(batch: _Batch, entry: _Entry) -> None:
    """Keep a fragment durably (:func:`shore_gateway.fragments.take`); when its set is
    complete, store the whole message."""
    assert isinstance(entry.msg, Fragment)
    vid = entry.key[0]
    batch.unsettled.add(vid)
    a = entry.arrival
    held = fragments.take(
        batch.session, vid, a.device.key_id, entry.msg, entry.digest, a.meta.received_at
    )
    if held is Held.DUPLICATE:
        batch.sink.metrics.dedupe_hit(a.meta.channel, "message")
    elif isinstance(held, fragments.Whole):
        _store(batch, [_Entry(a, held.message, held.digest)])


def _finish(batch: _Batch) -> None:
    """Advance every touched vessel's prefix, gaps and chain (the states are written back with
    the raw arrivals, :func:`_record`)."""
    session = batch.session
    for vid, name in sorted(batch.vessels.items()):
        state = batch.states[vid]
        if vid in batch.depths:
            state.queue_depth = batch.depths[vid]
        device_state.advance(
            session,
            vid,
            name,
            state,
            batch.added.get(vid, {}),
            complete=vid not in batch.unsettled,  # fragments moved: read the state back
            declared=batch.declared.get(vid, ()),
        )


def _record(batch: _Batch, arrivals: list[_Arrival], results: list[AcceptResult | None]) -> None:
    """The raw arrivals with their outcome, and the vessels' states written back (one statement
    on PostgreSQL, :func:`shore_gateway.bulk.insert_together`); a row a previous sink left
    ``pending`` (see :func:`shore_gateway.pipeline.reprocess_pending`) is marked done."""
    session = batch.session
    rows: list[dict[str, Any]] = []
    owners: list[tuple[tuple[Any, ...], _Arrival]] = []
    seen: set[tuple[Any, ...]] = set()
    for a in arrivals:
        batch.sink.metrics.vessel_contact(a.device.vessel_name, a.meta.received_at)
        row = _raw_values(a)
        key = (row["channel"], row["imei"], row["momsn"], row["sha256"])
        if a.meta.momsn is not None and key in seen:  # the provider's retry, in this batch
            results[a.index] = AcceptResult(outcome=Outcome.DUPLICATE)
            continue
        seen.add(key)
        rows.append(row)
        owners.append((key, a))
    stored: dict[tuple[Any, ...], list[int]] = {}
    for row_id, *columns in insert_together(
        session.connection(),
        [(_RAW, rows)],
        returning=("id", "channel", "imei", "momsn", "sha256"),
        updates=[device_state.saved(batch.states.values())],
        conflict=("channel", "imei", "momsn", "sha256"),
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
    """Mark the arrivals whose message collides with a stored one and alert staff
    (:mod:`shore_gateway.collisions`); the rest of ``conflicts`` are duplicates."""
    found = collisions.collided(session, [(e.key, e.digest) for e in conflicts])
    clashes: dict[int, collisions.Clash] = {}
    for i in found:
        e = conflicts[i]
        e.arrival.clashed = True
        device = e.arrival.device
        clash = clashes.setdefault(e.key[0], collisions.Clash(device.vessel_name, e.arrival.kid))
        clash.seqs.append(e.key[1])
    collisions.alert(session, clashes)


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


_RAW: Any = RawFrame.__table__  # type: ignore[attr-defined]


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


def refused(exc: RemoteProtocolError) -> AcceptResult:
    return AcceptResult(outcome=Outcome.REJECTED, reason=f"{type(exc).__name__}: {exc}")
