"""Messages carried in frames and their CBOR (docs/wire-format.md): the uplink messages here,
the downlink ones in :mod:`protocol.downlinks`, the crew content sealed inside a crew message in
:mod:`protocol.crew` (both re-exported here, so ``protocol.messages`` names every message).

Every message is a CBOR array whose first element is its :class:`MsgType`. Uplink messages
(vessel → shore) all carry their per-device sequence number second, so a receiver can
acknowledge a message type it does not know yet. Elements after the ones defined here are
future fields and are ignored; an unknown message type decodes to :class:`UnknownMessage`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeAlias

from protocol import cbor
from protocol.crew import (
    CrewContent,
    CrewKind,
    Grievance,
    Reply,
    StatusRequest,
    VoiceNote,
    Withdraw,
    Zawgyi,
    ZawgyiMode,
    decode_crew,
    encode_crew,
)
from protocol.downlinks import Ack, CaseState, CaseStatus, Config, KeyRotation, ShoreMessage
from protocol.errors import LocalProtocolError, Malformed
from protocol.limits import (
    CHAIN_LEN,
    MAX_CASE_REF,
    MAX_DELIVERED,
    MAX_FRAGMENTS,
    MAX_LOST_RANGES,
    MAX_SEALED,
    MAX_SHORE_CHUNK,
    MAX_SHORE_PARTS,
    MAX_TEXT_CHARS,
    REPLY_KEY_LEN,
    U32,
    ZAWGYI_ELEMENT,
)

# Every message and crew content type, and the wire limits, importable from here as before
# the split into protocol.crew, protocol.downlinks and protocol.limits (shore_gateway, flip and
# the scripts still import them so; new code imports them from their own modules).
__all__ = [
    "CHAIN_LEN",
    "MAX_CASE_REF",
    "MAX_DELIVERED",
    "MAX_FRAGMENTS",
    "MAX_LOST_RANGES",
    "MAX_SEALED",
    "MAX_SHORE_CHUNK",
    "MAX_SHORE_PARTS",
    "MAX_TEXT_CHARS",
    "REPLY_KEY_LEN",
    "U32",
    "ZAWGYI_ELEMENT",
    "Ack",
    "CaseState",
    "CaseStatus",
    "Config",
    "CrewContent",
    "CrewKind",
    "CrewMessage",
    "Delivered",
    "DownlinkMessage",
    "Fragment",
    "Grievance",
    "Heartbeat",
    "KeyRotation",
    "LossReason",
    "LostRange",
    "Message",
    "MsgType",
    "Position",
    "Reply",
    "ShoreMessage",
    "StatusRequest",
    "UnknownMessage",
    "UplinkMessage",
    "VoiceNote",
    "Withdraw",
    "Zawgyi",
    "ZawgyiMode",
    "decode_crew",
    "decode_message",
    "encode_crew",
    "encode_message",
    "message_from_item",
    "seq_of",
]


class MsgType(IntEnum):
    """Wire codes of message types. Uplink < 16 ≤ downlink."""

    CREW = 1
    HEARTBEAT = 2
    POSITION = 3
    DELIVERED = 4
    FRAGMENT = 15
    ACK = 16
    CASE_STATUS = 17
    CONFIG = 18
    KEY_ROTATION = 19
    SHORE_MESSAGE = 20


class LossReason(IntEnum):
    """Why a vessel will never send a seq (heartbeat element 6). Codes above these are kept as
    plain ints: a newer vessel may know more reasons than this receiver."""

    EVICTED = 1  # storage full: a routine report dropped unsent (docs/vessel-agent.md)
    DAMAGED = 2  # lost to outbox damage before it went on air (salvage)
    SKIPPED = 3  # never assigned: skipped after a salvage lost the seq counter


# --- uplink messages ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CrewMessage:
    """A sealed grievance, status request or withdrawal (HPKE, see :mod:`protocol.seal`)."""

    seq: int
    time: int
    sealed: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivered:
    """The shore messages ``ids`` (:class:`ShoreMessage` ``msg_id``) are on board, whole —
    stored sealed, not yet necessarily read. Carries no crew content, so it is not sealed."""

    seq: int
    time: int
    ids: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class LostRange:
    """Seqs ``first``..``last`` that the vessel says it will never send, and why."""

    first: int
    last: int
    reason: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat:
    """Queue depth and a hash-chain checkpoint over every seq before this one (protocol.chain).

    ``lost``/``lost_count`` (element 6, docs/wire-format.md §3): seq ranges the vessel declares
    it will never send — at most :data:`MAX_LOST_RANGES`, ascending and disjoint, all below
    ``seq`` — and how many seqs it declares in all, listed here or not (``lost_count`` ≥ the
    listed seqs). Sent only when ``lost_count`` > 0, so heartbeats without it encode as before.
    The shore can check none of it: it is the device's claim.
    """

    seq: int
    time: int
    queue_depth: int
    last_seq: int
    chain: bytes
    lost_count: int = 0
    lost: tuple[LostRange, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """A VMS GPS fix. Wire units: 1e-5 degree (≈1.1 m), 0.1 knot, whole degrees."""

    seq: int
    time: int
    lat: float
    lon: float
    speed_kn: float = 0.0
    course_deg: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Fragment:
    """Part ``index`` of ``count`` of an encoded message too long for one frame.

    Fragment ``i`` of a message whose own seq is ``s`` has seq ``s + i``: fragments are acked,
    retransmitted and gap-checked like any other message.
    """

    seq: int
    index: int
    count: int
    chunk: bytes

    @property
    def first_seq(self) -> int:
        return self.seq - self.index


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownMessage:
    """A message type from a newer protocol revision: acknowledged, otherwise ignored."""

    type: int
    seq: int | None = None


UplinkMessage: TypeAlias = (
    CrewMessage | Heartbeat | Position | Delivered | Fragment | UnknownMessage
)

DownlinkMessage: TypeAlias = Ack | CaseStatus | Config | KeyRotation | ShoreMessage | UnknownMessage
Message: TypeAlias = UplinkMessage | DownlinkMessage


def encode_message(msg: Message) -> bytes:
    """Deterministic CBOR of one message (what frames carry and hash chains cover)."""
    item: list[Any]
    match msg:
        case CrewMessage():
            item = [MsgType.CREW, msg.seq, msg.time, msg.sealed]
        case Heartbeat():
            item = [MsgType.HEARTBEAT, msg.seq, msg.time, msg.queue_depth, msg.last_seq, msg.chain]
            if msg.lost_count or msg.lost:
                ranges = [[r.first, r.last, r.reason] for r in msg.lost]
                item.append([msg.lost_count, ranges])
        case Position():
            item = [
                MsgType.POSITION,
                msg.seq,
                msg.time,
                round(msg.lat * 1e5),
                round(msg.lon * 1e5),
                round(msg.speed_kn * 10),
                msg.course_deg,
            ]
        case Delivered():
            item = [MsgType.DELIVERED, msg.seq, msg.time, list(msg.ids)]
        case Fragment():
            item = [MsgType.FRAGMENT, msg.seq, msg.index, msg.count, msg.chunk]
        case Ack():
            item = [MsgType.ACK, msg.cum_seq, msg.bitmap]
            if msg.base is not None:
                item.append(msg.base)
        case CaseStatus():
            item = [MsgType.CASE_STATUS, msg.ref_seq, msg.case_ref, msg.status, msg.note]
        case Config():
            item = [MsgType.CONFIG, msg.version, msg.airtime_bytes_per_day, msg.report_interval_s]
        case KeyRotation():
            item = [MsgType.KEY_ROTATION, msg.epoch, msg.sign_pub, msg.seal_pub]
        case ShoreMessage():
            item = [MsgType.SHORE_MESSAGE, msg.ref_seq, msg.msg_id, msg.part, msg.parts, msg.chunk]
        case UnknownMessage():
            raise LocalProtocolError("an unknown message cannot be encoded")
    data = cbor.dumps(item)
    try:
        decode_message(data)  # refuse to emit what a receiver would refuse
    except Malformed as exc:
        raise LocalProtocolError(f"cannot encode {type(msg).__name__}: {exc}") from exc
    return data


def decode_message(data: bytes) -> Message:
    """One message from its CBOR. Raises a :class:`Malformed` subclass."""
    return message_from_item(cbor.loads(data, what="message"))


def message_from_item(item: Any) -> Message:
    """One message from its decoded CBOR item (an array)."""
    m = cbor.expect_list(item, "message", 1)
    t = cbor.expect_int(m[0], "message type", 0, 0xFFFF)
    i = cbor.expect_int
    b = cbor.expect_bytes
    if t == MsgType.CREW:
        cbor.expect_list(m, "crew message", 4)
        return CrewMessage(
            seq=i(m[1], "seq", 1, U32),
            time=i(m[2], "time", 0, U32),
            sealed=b(m[3], "sealed body", MAX_SEALED, 48),
        )
    if t == MsgType.HEARTBEAT:
        cbor.expect_list(m, "heartbeat", 6)
        seq = i(m[1], "seq", 1, U32)
        count, lost = _lost_ranges(m[6], seq) if len(m) > 6 else (0, ())
        return Heartbeat(
            seq=seq,
            time=i(m[2], "time", 0, U32),
            queue_depth=i(m[3], "queue depth", 0, U32),
            last_seq=i(m[4], "last seq", 0, U32),
            chain=b(m[5], "chain", CHAIN_LEN, CHAIN_LEN),
            lost_count=count,
            lost=lost,
        )
    if t == MsgType.POSITION:
        cbor.expect_list(m, "position", 7)
        return Position(
            seq=i(m[1], "seq", 1, U32),
            time=i(m[2], "time", 0, U32),
            lat=i(m[3], "latitude", -9_000_000, 9_000_000) / 1e5,
            lon=i(m[4], "longitude", -18_000_000, 18_000_000) / 1e5,
            speed_kn=i(m[5], "speed", 0, 10_000) / 10,
            course_deg=i(m[6], "course", 0, 360),
        )
    if t == MsgType.DELIVERED:
        cbor.expect_list(m, "delivered", 4)
        ids = cbor.expect_list(m[3], "delivered ids", 1, MAX_DELIVERED)
        return Delivered(
            seq=i(m[1], "seq", 1, U32),
            time=i(m[2], "time", 0, U32),
            ids=tuple(i(x, "shore message id", 1, U32) for x in ids),
        )
    if t == MsgType.FRAGMENT:
        cbor.expect_list(m, "fragment", 5)
        count = i(m[3], "fragment count", 2, MAX_FRAGMENTS)
        index = i(m[2], "fragment index", 0, count - 1)
        seq = i(m[1], "seq", 1 + index, U32)
        return Fragment(seq=seq, index=index, count=count, chunk=b(m[4], "chunk", 512, 1))
    if t == MsgType.ACK:
        cbor.expect_list(m, "ack", 3)
        cum = i(m[1], "cumulative seq", 0, U32)
        base = i(m[3], "bitmap base", cum + 1, U32) if len(m) > 3 else None
        return Ack(cum_seq=cum, bitmap=b(m[2], "bitmap", 128), base=base)
    if t == MsgType.CASE_STATUS:
        cbor.expect_list(m, "case status", 5)
        return CaseStatus(
            ref_seq=i(m[1], "ref seq", 1, U32),
            case_ref=cbor.expect_text(m[2], "case ref", MAX_CASE_REF),
            status=i(m[3], "status", 0, 0xFF),
            note=i(m[4], "note", 0, 0xFFFF),
        )
    if t == MsgType.CONFIG:
        cbor.expect_list(m, "config", 4)
        return Config(
            version=i(m[1], "config version", 0, U32),
            airtime_bytes_per_day=i(m[2], "airtime budget", 0, U32),
            report_interval_s=i(m[3], "report interval", 60, 86_400 * 7),
        )
    if t == MsgType.KEY_ROTATION:
        cbor.expect_list(m, "key rotation", 4)
        return KeyRotation(
            epoch=i(m[1], "epoch", 0, U32),
            sign_pub=b(m[2], "sign key", 32, 32),
            seal_pub=b(m[3], "seal key", 32, 32),
        )
    if t == MsgType.SHORE_MESSAGE:
        cbor.expect_list(m, "shore message", 6)
        parts = i(m[4], "shore message parts", 1, MAX_SHORE_PARTS)
        return ShoreMessage(
            ref_seq=i(m[1], "ref seq", 1, U32),
            msg_id=i(m[2], "shore message id", 1, U32),
            part=i(m[3], "shore message part", 0, parts - 1),
            parts=parts,
            chunk=b(m[5], "shore message chunk", MAX_SHORE_CHUNK, 1),
        )
    unknown_seq: int | None = None
    if t < MsgType.ACK and len(m) > 1 and type(m[1]) is int and 1 <= m[1] <= U32:
        unknown_seq = m[1]
    return UnknownMessage(type=t, seq=unknown_seq)


def _lost_ranges(item: Any, seq: int) -> tuple[int, tuple[LostRange, ...]]:
    """Heartbeat element 6: ``[count, [[first, last, reason], …]]``, checked in full.

    Raises:
        Malformed: not that shape; a range empty, out of order, overlapping or not below the
            heartbeat's own seq; more than :data:`MAX_LOST_RANGES`; ``count`` zero (the element
            is then left out) or smaller than the seqs listed.
    """
    pair = cbor.expect_list(item, "lost seqs", 2, 2)
    count = cbor.expect_int(pair[0], "lost count", 1, U32)
    listed = cbor.expect_list(pair[1], "lost ranges", 0, MAX_LOST_RANGES)
    ranges: list[LostRange] = []
    floor = 1
    for entry in listed:
        r = cbor.expect_list(entry, "lost range", 3, 3)
        first = cbor.expect_int(r[0], "lost range first", floor, seq - 1)
        last = cbor.expect_int(r[1], "lost range last", first, seq - 1)
        reason = cbor.expect_int(r[2], "loss reason", 1, 0xFF)
        ranges.append(LostRange(first=first, last=last, reason=reason))
        floor = last + 1
    if sum(r.size for r in ranges) > count:
        raise Malformed(f"lost count {count} is below the {sum(r.size for r in ranges)} listed")
    return count, tuple(ranges)


def seq_of(msg: Message) -> int | None:
    """The uplink seq of a message (None for downlink messages)."""
    return getattr(msg, "seq", None)
