"""Vessel side of the protocol: assign seqs, seal, choose what goes in each frame, retransmit,
and accept only shore-signed downlink.

Sans-IO: the agent persists what :meth:`VesselSession.queue_crew` and friends return (the
encoded, sealed message with its seq) *before* anything is sent, and feeds back frames and
``now``. Plaintext exists only in the call that seals it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from protocol import chain, frame, links
from protocol.category import is_urgent
from protocol.crew import CrewContent, Grievance, VoiceNote, encode_crew
from protocol.downlinks import Ack, CaseStatus, Config, KeyRotation, ShoreMessage
from protocol.errors import BadSignature, LocalProtocolError, WrongRecipient
from protocol.events import (
    CaseStatusReceived,
    ConfigReceived,
    MessagesAcked,
    ShoreKeyRotated,
    ShorePartReceived,
    VesselEvent,
)
from protocol.fragment import max_single, split
from protocol.keys import key_id, seal_public_from_raw, verify_key_from_raw
from protocol.limits import U32
from protocol.messages import (
    CrewMessage,
    Delivered,
    Heartbeat,
    LostRange,
    Message,
    Position,
    encode_message,
)
from protocol.seal import crew_info, seal


class Priority(IntEnum):
    """Lower goes first: urgent grievances, then crew messages by age, then routine reports."""

    URGENT = 0
    CREW = 1
    ROUTINE = 2


@dataclass(slots=True, kw_only=True)
class Outgoing:
    """One queued message, exactly as it goes on air (ciphertext for crew messages)."""

    seq: int
    encoded: bytes
    priority: Priority
    created: float
    attempts: int = 0
    next_try: float = 0.0


class SeqState(NamedTuple):
    """What the agent persists of a session with every message it queues, in the same
    transaction: the next seq to assign and the hash-chain value over every seq before it
    (:meth:`VesselSession.snapshot`, :meth:`VesselSession.restore`)."""

    next_seq: int = 1
    chain_value: bytes = chain.GENESIS


@dataclass(frozen=True, slots=True, kw_only=True)
class OutFrame:
    data: bytes
    seqs: tuple[int, ...]


def backoff(attempts: int, base: float = 600.0, cap: float = 6 * 3600.0) -> float:
    """Seconds to wait for an ack before sending a message again (doubling, capped)."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


class VesselSession:
    """Protocol state of one vessel device: the one owner of its seq counter, hash chain and
    queue of unacknowledged messages. The agent persists what it returns — the items and
    :meth:`snapshot` — and rebuilds it after a restart with :meth:`restore` and :meth:`reload`.

    ``shore_sign_pub``: the current shore signing key, or the keys kept after a rotation
    (current first); ``config_version`` / ``key_epoch``: the newest shore config and key
    rotation already applied (older ones are ignored).
    """

    def __init__(
        self,
        *,
        sign_key: Ed25519PrivateKey,
        shore_sign_pub: Ed25519PublicKey | Sequence[Ed25519PublicKey],
        shore_seal_pub: X25519PublicKey,
        next_seq: int = 1,
        chain_value: bytes = chain.GENESIS,
        limit: int = frame.UPLINK_MAX,
        config_version: int = -1,
        key_epoch: int = -1,
    ) -> None:
        self.sign_key = sign_key
        self.kid = key_id(sign_key.public_key())
        self.shore_sign_keys = (
            [shore_sign_pub]
            if isinstance(shore_sign_pub, Ed25519PublicKey)
            else list(shore_sign_pub)
        )
        self.shore_seal_pub = shore_seal_pub
        self.next_seq = next_seq
        self.chain_value = chain_value
        self.limit = limit
        self.outbox: dict[int, Outgoing] = {}
        self.config_version = config_version
        self.key_epoch = key_epoch

    # --- state the agent persists ---------------------------------------------------------

    def snapshot(self) -> SeqState:
        """The seq counter and chain value to persist with the messages just queued."""
        return SeqState(self.next_seq, self.chain_value)

    def restore(self, state: SeqState) -> None:
        """Take back a persisted :class:`SeqState`: another process sharing the outbox may have
        queued since this session last did, or storing what it queued failed. Queued items at
        or above the restored counter were never persisted; they leave the queue."""
        self.next_seq, self.chain_value = state
        for s in [s for s in self.outbox if s >= state.next_seq]:
            del self.outbox[s]

    def reload(self, items: Iterable[Outgoing]) -> None:
        """Put back unacknowledged messages read from durable storage (after a restart, or
        queued by another process). A seq already held keeps its in-memory timers."""
        for item in items:
            self.outbox.setdefault(item.seq, item)

    def forget(self, seqs: Iterable[int]) -> None:
        """Drop messages that left durable storage (acknowledged, or evicted unsent)."""
        for s in seqs:
            self.outbox.pop(s, None)

    def unsend(self, seqs: Iterable[int], now: float) -> None:
        """Messages :meth:`frames_to_send` packed that did not go after all (the link refused
        or dropped them): due again at ``now``, the attempt not counted."""
        for s in seqs:
            m = self.outbox.get(s)
            if m is not None:
                m.attempts, m.next_try = max(0, m.attempts - 1), now

    # --- queueing -------------------------------------------------------------------------

    def _assign(self, n: int) -> int:
        first = self.next_seq
        if first + n - 1 > U32:
            raise LocalProtocolError("sequence space of this device is exhausted")
        self.next_seq += n
        return first

    def _enqueue(self, msg: Message, priority: Priority, now: float) -> list[Outgoing]:
        """Encode, fragment if needed, advance the chain. Seqs are already assigned."""
        encoded = encode_message(msg)
        seq = getattr(msg, "seq")  # noqa: B009 — every uplink message has one
        if len(encoded) <= max_single(self.limit):
            parts = [(seq, encoded)]
        else:
            parts = [(f.seq, encode_message(f)) for f in split(encoded, seq, self.limit)]
            extra = len(parts) - 1
            if self.next_seq != seq + 1:
                raise LocalProtocolError("fragmenting a message that is not the newest")
            self._assign(extra)
        out = []
        for s, data in parts:
            self.chain_value = chain.advance(self.chain_value, s, chain.digest(data))
            item = Outgoing(seq=s, encoded=data, priority=priority, created=now, next_try=now)
            self.outbox[s] = item
            out.append(item)
        return out

    def queue_crew(self, content: CrewContent, now: int) -> list[Outgoing]:
        """Seal crew content and queue it: one item, or several fragments with consecutive seqs.

        The returned items are what the agent must persist before sending; the first item's seq
        is the crew message's own seq (the crew member's receipt refers to it).
        """
        body = encode_crew(content)  # refuses content it cannot carry before a seq is spent
        seq = self._assign(1)
        sealed = seal(body, self.shore_seal_pub, crew_info(self.kid, seq, now))
        urgent = isinstance(content, Grievance | VoiceNote) and is_urgent(content.category)
        msg = CrewMessage(seq=seq, time=now, sealed=sealed)
        return self._enqueue(msg, Priority.URGENT if urgent else Priority.CREW, now)

    def queue_position(
        self,
        *,
        time: int,
        lat: float,
        lon: float,
        speed_kn: float = 0.0,
        course_deg: int = 0,
        now: float,
    ) -> Outgoing:
        msg = Position(
            seq=self._assign(1),
            time=time,
            lat=lat,
            lon=lon,
            speed_kn=speed_kn,
            course_deg=course_deg,
        )
        return self._enqueue(msg, Priority.ROUTINE, now)[0]

    def queue_delivered(self, ids: Sequence[int], now: int) -> Outgoing:
        """Tell the shore that the shore messages ``ids`` are on board, whole (routine priority;
        it carries no crew content).

        Raises:
            LocalProtocolError: no ids, or more than a receiver accepts.
        """
        msg = Delivered(seq=self.next_seq, time=now, ids=tuple(ids))
        encode_message(msg)  # refused here, before a seq is used
        self._assign(1)
        return self._enqueue(msg, Priority.ROUTINE, now)[0]

    def queue_heartbeat(
        self,
        now: int,
        queue_depth: int | None = None,
        *,
        lost: Sequence[LostRange] = (),
        lost_count: int | None = None,
    ) -> Outgoing:
        """A heartbeat carrying the chain over every seq before its own.

        ``lost`` are seq ranges this vessel will never send (evicted, lost to outbox damage,
        skipped), at most :data:`protocol.messages.MAX_LOST_RANGES`, ascending and disjoint;
        ``lost_count`` is every seq it declares, listed or not (default: those listed).

        Raises:
            LocalProtocolError: ranges a receiver would refuse (too many, out of order, not
                below this heartbeat's seq, a count below the listed seqs).
        """
        depth = len(self.outbox) if queue_depth is None else queue_depth
        last, value = self.next_seq - 1, self.chain_value
        ranges = tuple(lost)
        count = sum(r.size for r in ranges) if lost_count is None else lost_count
        msg = Heartbeat(
            seq=self.next_seq,
            time=now,
            queue_depth=depth,
            last_seq=last,
            chain=value,
            lost_count=count,
            lost=ranges,
        )
        encode_message(msg)  # refused here, before a seq is used
        self._assign(1)
        return self._enqueue(msg, Priority.ROUTINE, now)[0]

    # --- sending --------------------------------------------------------------------------

    def due(self, now: float) -> list[Outgoing]:
        """Messages waiting to be (re)sent, in sending order."""
        ready = [m for m in self.outbox.values() if m.next_try <= now]
        ready.sort(key=lambda m: (m.priority, m.created, m.seq))
        return ready

    def frames_to_send(
        self,
        now: float,
        *,
        max_frames: int = 1,
        budget: int | None = None,
        limit: int | None = None,
    ) -> list[OutFrame]:
        """Pack due messages into signed frames of ≤ ``limit`` bytes (default: the SBD frame
        the queue was fragmented for), best first.

        First-fit in priority order fills each frame. On a link larger than an SBD frame, a
        fragmented message whose fragments are all due goes whole (:func:`protocol.links.
        collapse`). ``budget`` (bytes) stops routine and crew traffic when spent; urgent
        messages may exceed it. Messages put in a frame are marked sent (their retransmission
        timer starts).
        """
        limit = self.limit if limit is None else limit
        due = self.due(now)
        if limit > self.limit:
            units = [
                (u.encoded, [self.outbox[s] for s in u.seqs])
                for u in links.collapse([(m.seq, m.encoded) for m in due])
            ]
        else:
            units = [(m.encoded, [m]) for m in due]
        most = links.max_messages(limit)
        frames: list[OutFrame] = []
        spent = 0
        while units and len(frames) < max_frames:
            batch: list[tuple[bytes, list[Outgoing]]] = []
            rest: list[tuple[bytes, list[Outgoing]]] = []
            total = 0
            for unit in units:
                n, grown = len(batch) + 1, total + len(unit[0])
                if n <= most and frame.frame_size(frame.uplink_payload_len(n, grown)) <= limit:
                    batch.append(unit)
                    total = grown
                else:
                    rest.append(unit)
            size = frame.frame_size(frame.uplink_payload_size([len(u[0]) for u in batch]))
            urgent = any(m.priority is Priority.URGENT for u in batch for m in u[1])
            if budget is not None and spent + size > budget:
                if not urgent:
                    break
                batch = [u for u in batch if u[1][0].priority is Priority.URGENT]
                rest = [u for u in units if u not in batch]
            data = frame.sign(frame.uplink_payload([u[0] for u in batch]), self.sign_key, self.kid)
            spent += len(data)
            items = [m for u in batch for m in u[1]]
            for m in items:
                m.attempts += 1
                m.next_try = now + backoff(m.attempts)
            frames.append(OutFrame(data=data, seqs=tuple(m.seq for m in items)))
            units = rest
        return frames

    def get_timer(self) -> float | None:
        """When the next retransmission falls due (None with an empty outbox)."""
        return min((m.next_try for m in self.outbox.values()), default=None)

    # --- downlink -------------------------------------------------------------------------

    def handle_downlink(
        self, data: bytes, now: float, *, max_size: int = frame.DOWNLINK_MAX
    ) -> list[VesselEvent]:
        """Apply one downlink frame; only a frame the shore signed for this device counts.

        Raises:
            BadSignature: not signed by a current shore key (an ack forged on board is refused).
            WrongRecipient: signed by the shore but for another device.
            Oversize, Malformed, UnknownVersion: not a valid downlink frame (``max_size``: the
                largest frame of the link it came by, :mod:`protocol.links`).
        """
        sign1 = frame.parse(data, max_size=max_size)
        keys = [k for k in self.shore_sign_keys if key_id(k) == sign1.kid]
        if not keys:
            raise BadSignature(f"downlink kid {sign1.kid.hex()} is not a shore key")
        frame.verify(sign1, keys[0])
        to_kid, shore_time, messages = links.parse_downlink(sign1.payload)
        if to_kid != self.kid:
            raise WrongRecipient(f"downlink for device {to_kid.hex()}, this is {self.kid.hex()}")
        events: list[VesselEvent] = []
        for msg in messages:
            match msg:
                case Ack():
                    events.extend(self._apply_ack(msg))
                case CaseStatus():
                    events.append(CaseStatusReceived(status=msg, shore_time=shore_time))
                case Config() if msg.version > self.config_version:
                    self.config_version = msg.version
                    events.append(ConfigReceived(config=msg, shore_time=shore_time))
                case KeyRotation() if msg.epoch > self.key_epoch:
                    self._rotate(msg)
                    events.append(ShoreKeyRotated(rotation=msg))
                case ShoreMessage():
                    events.append(ShorePartReceived(part=msg, shore_time=shore_time))
        return events

    def _apply_ack(self, ack: Ack) -> list[VesselEvent]:
        seqs = tuple(sorted(s for s in self.outbox if ack.covers(s)))
        for s in seqs:
            del self.outbox[s]
        return [MessagesAcked(seqs=seqs, ack=ack)] if seqs else []

    def _rotate(self, rotation: KeyRotation) -> None:
        self.key_epoch = rotation.epoch
        new = verify_key_from_raw(rotation.sign_pub)
        # Keep the previous key for frames already in flight; drop older ones.
        self.shore_sign_keys = [new, self.shore_sign_keys[0]]
        self.shore_seal_pub = seal_public_from_raw(rotation.seal_pub)
