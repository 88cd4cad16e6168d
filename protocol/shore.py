"""Shore side of the protocol: the in-memory store over :mod:`protocol.shorecore`, and downlink.

Sans-IO: :meth:`ShoreSession.receive_frame` takes bytes and ``now`` and returns events. The
logic — verify, dedupe and collisions, reassembly, prefix, labelled gaps, chain, acks — is
:mod:`protocol.shorecore`'s, the same functions the gateway runs over SQL
(:mod:`shore_gateway.device_state`); this module only keeps their state in dicts. Decrypting
is :func:`open_crew` (possibly on another host). Device keys come from an injected lookup
(kid → candidate keys), so rotation and revocation are the registry's business.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import chain, frame, links, shorecore
from protocol.errors import LocalProtocolError
from protocol.events import (
    ChainMismatched,
    ChainVerified,
    CollisionDetected,
    DuplicateReceived,
    FragmentsExpired,
    FragmentStored,
    GapDetected,
    GapsResolved,
    MessageReceived,
    ShoreEvent,
)
from protocol.keys import key_id
from protocol.messages import (
    Ack,
    CrewContent,
    CrewMessage,
    DownlinkMessage,
    Fragment,
    Heartbeat,
    UplinkMessage,
    decode_crew,
    encode_message,
)
from protocol.seal import crew_info, open_sealed
from protocol.seqranges import Declared
from protocol.shorecore import Stored, Verdict

KeyLookup = Callable[[bytes], Sequence[tuple[str, Ed25519PublicKey]]]
_TIMEOUT = shorecore.FRAGMENT_TIMEOUT


def verify_frame(
    data: bytes, lookup: KeyLookup, *, max_size: int = frame.UPLINK_MAX
) -> tuple[str, frame.Sign1]:
    """Parse and verify an uplink frame: (device, frame). Cheap checks first.

    Raises:
        Oversize, Malformed, Truncated: not a frame flip-sync would send.
        UnknownDevice: no registered key has this kid.
        BadSignature: none of the keys under this kid signed it.
    """
    sign1 = frame.parse(data, max_size=max_size)
    device, _ = shorecore.verify(sign1, lookup(sign1.kid), lambda c: c[1])
    return device, sign1


def open_crew(msg: CrewMessage, kid: bytes, keys: list[X25519PrivateKey]) -> CrewContent:
    """Decrypt a crew message sealed under header (kid, seq, time).

    Raises:
        SealBroken: tampered, moved to another header, or sealed to another key.
        Malformed: opened but not valid crew content.
    """
    plaintext = open_sealed(msg.sealed, keys, crew_info(kid, msg.seq, msg.time))
    return decode_crew(plaintext)


@dataclass(frozen=True, slots=True)
class Part:
    """A fragment held until its set is complete (a ``fragment_parts`` row)."""

    seq: int
    idx: int
    count: int
    chunk: bytes
    digest: bytes
    received: float
    id: int  # arrival order, as the gateway's row ids


@dataclass(slots=True)
class DeviceState:
    """What the in-memory store holds for one device: the gateway's tables, per device."""

    progress: shorecore.Progress = field(default_factory=shorecore.Progress)
    messages: dict[int, bytes] = field(default_factory=dict)  # seq → chain digest (stored)
    above: set[int] = field(default_factory=set)  # stored seqs above the prefix
    parts: dict[int, dict[int, Part]] = field(default_factory=dict)  # first seq → seq → part
    claims: dict[int, bytes] = field(default_factory=dict)  # heartbeat checkpoints waiting
    collision: bool = False  # a collision alert is open: acks held
    gap_alert: tuple[tuple[int, ...], ...] = ()  # the open gap alert's ranges
    queue_depth: int | None = None
    last_contact: float | None = None

    def pending(self) -> set[int]:
        """Seqs of the fragments held (not missing, not yet acknowledgeable)."""
        return {s for held in self.parts.values() for s in held}


@dataclass(slots=True)
class _Frame:
    """One frame's work on a device, undone whole if the frame is refused."""

    device: str
    kid: bytes
    state: DeviceState
    now: float
    events: list[ShoreEvent] = field(default_factory=list)
    added: dict[int, bytes | None] = field(default_factory=dict)  # new seq → digest
    declared: list[Declared] = field(default_factory=list)
    stored: list[int] = field(default_factory=list)  # undo log
    claims: list[int] = field(default_factory=list)  # undo log
    fragments: bool = False


class ShoreSession:
    """The in-memory shore store over :mod:`protocol.shorecore`, the gateway's logic.

    It decides what the gateway decides for the same frames — stored, duplicate or collision,
    durable reassembly and its bounds, prefix, labelled gaps, chain checks and acks (a
    conformance suite runs both) — with dicts where the gateway has tables. A frame is taken
    whole or not at all, like the gateway's transaction.
    """

    def __init__(
        self,
        *,
        sign_key: Ed25519PrivateKey,
        lookup: KeyLookup,
    ) -> None:
        self.sign_key = sign_key
        self.kid = key_id(sign_key.public_key())
        self.lookup = lookup
        self.devices: dict[str, DeviceState] = {}
        self._ids = 0

    def device(self, name: str) -> DeviceState:
        state = self.devices.get(name)
        if state is None:
            state = self.devices[name] = DeviceState()
        return state

    def receive_frame(
        self, data: bytes, now: float, *, max_size: int = frame.UPLINK_MAX
    ) -> tuple[str, bytes, list[ShoreEvent]]:
        """Verify and take in one uplink frame: (device, kid, events).

        ``max_size`` is the largest frame of the link it came by (:mod:`protocol.links`). Raises
        a :class:`RemoteProtocolError` subclass for a frame to refuse as a whole (then
        nothing of it is kept); once the signature verifies, a single bad message inside
        refuses the frame too (a device that signs garbage is broken or compromised).
        """
        device, sign1 = verify_frame(data, self.lookup, max_size=max_size)
        messages = links.parse_uplink(sign1.payload)
        state = self.device(device)
        f = _Frame(device, sign1.kid, state, now)
        saved = (state.collision, dict(state.parts), state.queue_depth)
        try:
            plain = [(m, e) for m, e in messages if not isinstance(m, Fragment)]
            self._store(f, [(m, chain.digest(e), e) for m, e in plain])
            for msg, encoded in messages:
                if isinstance(msg, Fragment):
                    self._fragment(f, msg, chain.digest(encoded))
        except Exception:
            for seq in f.stored:
                state.messages.pop(seq, None)
                state.above.discard(seq)
            for last in f.claims:
                state.claims.pop(last, None)
            state.collision, state.parts, state.queue_depth = saved
            raise
        if state.last_contact is None or now > state.last_contact:
            state.last_contact = now
        self._finish(f)
        return device, sign1.kid, f.events

    def _store(self, f: _Frame, entries: list[tuple[UplinkMessage, bytes, bytes]]) -> None:
        """Messages under their seqs (the unique key): new, duplicate or collision."""
        state = f.state
        fresh: list[tuple[UplinkMessage, bytes, bytes]] = []
        clashed: list[int] = []
        for msg, digest, encoded in entries:
            seq = msg.seq
            assert seq is not None  # parse_uplink guarantees it
            taken = seq in state.messages
            fate = shorecore.classify(state.messages.get(seq), digest, taken=taken)
            if fate is Stored.NEW:
                state.messages[seq] = digest
                state.above.add(seq)
                f.stored.append(seq)
                f.added[seq] = digest
                fresh.append((msg, digest, encoded))
            elif fate is Stored.DUPLICATE:
                f.events.append(DuplicateReceived(device=f.device, seq=seq))
            else:
                clashed.append(seq)
        if clashed and not state.collision:
            state.collision = True
            f.events.append(CollisionDetected(device=f.device, seqs=tuple(clashed)))
        for msg, _digest, encoded in fresh:
            self._effect(f, msg, encoded)

    def _effect(
        self, f: _Frame, msg: UplinkMessage, encoded: bytes, seqs: tuple[int, ...] = ()
    ) -> None:
        assert msg.seq is not None
        if isinstance(msg, Heartbeat):
            f.state.queue_depth = msg.queue_depth
            f.declared.extend((r.first, r.last, r.reason) for r in msg.lost)
            if msg.last_seq not in f.state.claims:
                f.state.claims[msg.last_seq] = msg.chain
                f.claims.append(msg.last_seq)
        f.events.append(
            MessageReceived(
                device=f.device,
                kid=f.kid,
                seq=msg.seq,
                message=msg,
                encoded=encoded,
                fragment_seqs=seqs,
            )
        )

    def _fragment(self, f: _Frame, frag: Fragment, digest: bytes) -> None:
        """Hold a fragment; when its set is complete, store the whole message."""
        state = f.state
        f.fragments = True
        seq = frag.seq
        if seq in state.messages or any(seq in held for held in state.parts.values()):
            f.events.append(DuplicateReceived(device=f.device, seq=seq))
            return
        self._ids += 1
        held = dict(state.parts.get(frag.first_seq, {}))  # a new dict: the saved one stays
        held[seq] = Part(seq, frag.index, frag.count, frag.chunk, digest, f.now, self._ids)
        state.parts[frag.first_seq] = held
        self._bound(state, frag.first_seq, f.now)
        parts = sorted(state.parts[frag.first_seq].values(), key=lambda p: p.idx)
        done = shorecore.join(
            frag.first_seq, frag.count, [(p.idx, p.count, p.chunk) for p in parts]
        )
        if done is None:
            f.events.append(FragmentStored(device=f.device, seq=seq, first_seq=frag.first_seq))
            return
        whole, encoded = done
        del state.parts[frag.first_seq]
        for p in parts[1:]:
            if p.seq not in state.messages:
                state.messages[p.seq] = p.digest
                state.above.add(p.seq)
                f.stored.append(p.seq)
        before = len(f.events)
        self._store(f, [(whole, parts[0].digest, encoded)])
        seqs = tuple(p.seq for p in parts)
        f.events[before:] = [
            MessageReceived(
                device=e.device,
                kid=e.kid,
                seq=e.seq,
                message=e.message,
                encoded=e.encoded,
                fragment_seqs=seqs,
            )
            if isinstance(e, MessageReceived)
            else e
            for e in f.events[before:]
        ]

    @staticmethod
    def _expire(state: DeviceState, now: float) -> list[int]:
        """Drop parts held longer than the timeout; first seqs of the sets that went whole."""
        gone: list[int] = []
        for first in list(state.parts):
            fresh = {s: p for s, p in state.parts[first].items() if p.received >= now - _TIMEOUT}
            if len(fresh) < len(state.parts[first]):
                state.parts[first] = fresh
            if not fresh:
                del state.parts[first]
                gone.append(first)
        return gone

    def _bound(self, state: DeviceState, keep: int, now: float) -> None:
        self._expire(state, now)
        # oldest first: by the earliest part each set still holds (the gateway's row ids)
        sets = sorted(state.parts.items(), key=lambda kv: min(p.id for p in kv[1].values()))
        for first in shorecore.fragment_sets_to_drop([(k, len(v)) for k, v in sets], keep):
            del state.parts[first]

    def _finish(self, f: _Frame) -> None:
        state, p = f.state, f.state.progress

        def history(after: int) -> tuple[dict[int, bytes | None], set[int]]:
            pool = state.above if after >= p.prefix else state.messages
            return {s: state.messages[s] for s in sorted(pool) if s > after}, state.pending()

        def recompute(upto: int) -> bytes | None:
            rows = ((s, state.messages[s]) for s in sorted(s for s in state.messages if s <= upto))
            return shorecore.chain_from(rows, upto)

        out = shorecore.advance(
            p,
            f.added,
            complete=not f.fragments,
            history=history,
            recompute=recompute,
            declared=f.declared,
            claims=list(state.claims.items()),
        )
        state.above = {s for s in state.above if s > p.prefix} if state.above else state.above
        if out.gaps_resolved:
            if state.gap_alert:
                f.events.append(GapsResolved(device=f.device))
            state.gap_alert = ()
        if out.gap_alert is not None:
            ranges = tuple(tuple(r) for r in out.gap_alert)
            state.gap_alert = ranges
            missing = [s for r in ranges for s in range(r[0], min(r[1], r[0] + 256) + 1)][:256]
            f.events.append(
                GapDetected(
                    device=f.device, missing=tuple(missing), highest=p.highest, ranges=ranges
                )
            )
        for last_seq, verdict in out.checked:
            del state.claims[last_seq]
            if verdict is Verdict.VERIFIED:
                f.events.append(ChainVerified(device=f.device, upto=last_seq))
            elif verdict is Verdict.MISMATCHED:
                f.events.append(ChainMismatched(device=f.device, upto=last_seq))

    def resolve_collision(self, device: str) -> None:
        """Staff registered the box properly: acks flow again (the gateway's alert resolved)."""
        self.device(device).collision = False

    def handle_timer(self, now: float) -> list[ShoreEvent]:
        """Drop fragments held longer than the gateway keeps them (it drops them at the
        vessel's next fragment); their senders retransmit, nothing of them was acked."""
        return [
            FragmentsExpired(device=name, first_seq=first)
            for name, state in self.devices.items()
            for first in self._expire(state, now)
        ]

    def get_timer(self) -> float | None:
        times = [
            p.received + _TIMEOUT
            for state in self.devices.values()
            for held in state.parts.values()
            for p in held.values()
        ]
        return min(times, default=None)

    # --- downlink -------------------------------------------------------------------------

    def acks_for(self, device: str) -> list[Ack]:
        """Acks covering the device's prefix and the newest seqs stored above it (none while a
        collision is open) — :func:`protocol.shorecore.acks`, as the gateway sends them."""
        state = self.device(device)
        above = sorted(state.above)[-shorecore.ACK_SEQS :]
        return shorecore.acks(state.progress.prefix, above, held=state.collision)

    def downlink(self, to_kid: bytes, messages: Sequence[DownlinkMessage], now: int) -> list[bytes]:
        """Sign ``messages`` for the device ``to_kid`` into as few ≤ 270-byte frames as fit."""
        return pack_downlink(self.sign_key, self.kid, to_kid, messages, now)


def pack_downlink(
    key: Ed25519PrivateKey,
    kid: bytes,
    to_kid: bytes,
    messages: Sequence[DownlinkMessage],
    now: int,
    limit: int = frame.DOWNLINK_MAX,
) -> list[bytes]:
    """Greedy in-order packing of downlink messages into signed frames of ≤ ``limit`` bytes."""
    frames: list[bytes] = []
    batch: list[bytes] = []
    for msg in messages:
        encoded = encode_message(msg)
        trial = [*batch, encoded]
        size = frame.frame_size(frame.downlink_payload_size(now, [len(e) for e in trial]))
        if size > limit:
            if not batch:
                raise LocalProtocolError(f"{type(msg).__name__} alone exceeds {limit} bytes")
            frames.append(frame.sign(frame.downlink_payload(to_kid, now, batch), key, kid))
            batch = [encoded]
        else:
            batch = trial
    if batch:
        frames.append(frame.sign(frame.downlink_payload(to_kid, now, batch), key, kid))
    return frames
