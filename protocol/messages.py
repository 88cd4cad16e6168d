"""Messages carried in frames, and the crew content sealed inside them (docs/wire-format.md).

Every message is a CBOR array whose first element is its :class:`MsgType`. Uplink messages
(vessel → shore) all carry their per-device sequence number second, so a receiver can
acknowledge a message type it does not know yet. Elements after the ones defined here are
future fields and are ignored; an unknown message type decodes to :class:`UnknownMessage`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeAlias

from protocol import cbor
from protocol.errors import LocalProtocolError, Malformed, Oversize
from protocol.lang import Lang, lang_from_code
from protocol.text import decode_text, encode_text
from protocol.voice import CODEC2, MAX_VOICE_BYTES, mode_from_code, pack, unpack

U32 = 0xFFFF_FFFF
MAX_TEXT_CHARS = 2000
MAX_PSEUDONYM = 32
MAX_CASE_REF = 16
CHAIN_LEN = 8
MAX_SEALED = 8192
MAX_FRAGMENTS = 32
MAX_LOST_RANGES = 8
ZAWGYI_ELEMENT = 6  # grievance element of the Zawgyi note (after pseudonym and reply key)
REPLY_KEY_LEN = 32
MAX_SHORE_PARTS = 16
MAX_SHORE_CHUNK = 256
MAX_DELIVERED = 16


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


class CrewKind(IntEnum):
    """What a sealed crew message is; hidden from anyone without the shore key."""

    GRIEVANCE = 1
    STATUS_REQUEST = 2
    WITHDRAW = 3
    REPLY = 4
    VOICE = 5


class CaseState(IntEnum):
    """Status codes a case update carries to the crew member's receipt on board."""

    RECEIVED = 1
    OPENED = 2
    ACKNOWLEDGED = 3
    INVESTIGATING = 4
    REMEDIATION_IN_PROGRESS = 5
    REMEDIATED = 6
    CLOSED = 7
    REFERRED = 8
    WITHDRAWN = 9


# --- crew content (plaintext, exists only in memory on board and at the decrypting host) ----


class ZawgyiMode(IntEnum):
    """How a grievance's ``text`` relates to what the crew member typed (element 6)."""

    CONVERTED = 1  # ``text`` is the Unicode conversion; ``other`` is exactly what was typed
    UNSURE = 2  # ``text`` is exactly what was typed; ``other`` is a converted reading of it


@dataclass(frozen=True, slots=True, kw_only=True)
class Zawgyi:
    """Grievance element 6: the text was — or may have been — typed in the Zawgyi encoding.

    ``probability`` is the detector's P(Zawgyi) in thousandths (0..1000). ``other`` is the
    other reading (see :class:`ZawgyiMode`): non-empty and different from ``text``, so the
    words the crew member typed always reach the shore exactly (docs/wire-format.md §3).
    """

    mode: ZawgyiMode
    probability: int
    other: str

    def describe(self) -> dict[str, object]:
        """The note for people and JSON (the gateway's API, ``flip packet open``): ``mode``,
        ``probability`` (0..1) and ``typed`` (converted) or ``reading`` (unsure)."""
        converted = self.mode == ZawgyiMode.CONVERTED
        return {
            "mode": "converted" if converted else "unsure",
            "probability": self.probability / 1000,
            "typed" if converted else "reading": self.other,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Grievance:
    """``reply_pub`` (element 5, optional): the raw X25519 key the shore seals its questions
    about this grievance to (:mod:`protocol.conversation`); absent, the grievance encodes as
    before."""

    category: int
    lang: Lang
    text: str = ""
    pseudonym: str | None = None
    reply_pub: bytes | None = None
    zawgyi: Zawgyi | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusRequest:
    ref_seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Withdraw:
    ref_seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """The crew member's answer in the conversation about the grievance ``ref_seq``."""

    ref_seq: int
    lang: Lang
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceNote:
    """A grievance spoken, not written: Codec2 frames (:mod:`protocol.voice`), each as the codec
    hands it out. ``duration_ms`` is the audio's true length; the last frame is padded."""

    category: int
    lang: Lang
    mode: int  # libcodec2 mode number (protocol.voice.MODES)
    duration_ms: int
    frames: tuple[bytes, ...]
    pseudonym: str | None = None
    reply_pub: bytes | None = None  # element 8, as grievance element 5 (protocol.conversation)
    codec: int = CODEC2


CrewContent: TypeAlias = Grievance | VoiceNote | StatusRequest | Withdraw | Reply


def encode_crew(content: CrewContent) -> bytes:
    """Plaintext CBOR of crew content (sealed right after; never stored).

    Raises:
        LocalProtocolError: out-of-range fields or text too long.
    """
    if isinstance(content, VoiceNote):
        return _encode_voice(content)
    if isinstance(content, Grievance):
        if not 0 <= content.category <= 0xFF:
            raise LocalProtocolError("category must fit one byte")
        if len(content.text) > MAX_TEXT_CHARS:
            raise LocalProtocolError(f"text longer than {MAX_TEXT_CHARS} characters")
        item: list[Any] = [
            CrewKind.GRIEVANCE,
            content.category,
            int(content.lang),
            encode_text(content.text, content.lang),
        ]
        if content.pseudonym is not None and len(content.pseudonym) > MAX_PSEUDONYM:
            raise LocalProtocolError(f"pseudonym longer than {MAX_PSEUDONYM} characters")
        if content.pseudonym is not None or content.reply_pub is not None:
            item.append(content.pseudonym)
        if content.reply_pub is not None:
            if len(content.reply_pub) != REPLY_KEY_LEN:
                raise LocalProtocolError(f"reply key must be {REPLY_KEY_LEN} bytes")
            item.append(content.reply_pub)
        if content.zawgyi is not None:
            item += [None] * (ZAWGYI_ELEMENT - len(item))
            item.append(_zawgyi_item(content.zawgyi, content.text, content.lang))
        return cbor.dumps(item)
    if isinstance(content, Reply):
        _check_seq(content.ref_seq)
        if len(content.text) > MAX_TEXT_CHARS:
            raise LocalProtocolError(f"text longer than {MAX_TEXT_CHARS} characters")
        return cbor.dumps(
            [
                CrewKind.REPLY,
                content.ref_seq,
                int(content.lang),
                encode_text(content.text, content.lang),
            ]
        )
    kind = CrewKind.STATUS_REQUEST if isinstance(content, StatusRequest) else CrewKind.WITHDRAW
    _check_seq(content.ref_seq)
    return cbor.dumps([kind, content.ref_seq])


def decode_crew(data: bytes) -> CrewContent:
    """Crew content from opened plaintext. Raises a :class:`Malformed` subclass."""
    item = cbor.expect_list(cbor.loads(data, what="crew content"), "crew content", 2)
    kind = cbor.expect_int(item[0], "crew kind", 0, 0xFF)
    if kind == CrewKind.VOICE:
        return _decode_voice(item)
    if kind == CrewKind.GRIEVANCE:
        cbor.expect_list(item, "grievance", 4)
        lang = lang_from_code(cbor.expect_int(item[2], "language", 0, 0xFF))
        text = decode_text(
            cbor.expect_bytes(item[3], "text", MAX_SEALED, 1), lang, max_chars=MAX_TEXT_CHARS
        )
        pseudonym = None
        if len(item) > 4 and item[4] is not None:
            pseudonym = cbor.expect_text(item[4], "pseudonym", MAX_PSEUDONYM)
        reply_pub = None
        if len(item) > 5 and item[5] is not None:
            reply_pub = cbor.expect_bytes(item[5], "reply key", REPLY_KEY_LEN, REPLY_KEY_LEN)
        zawgyi = None
        if len(item) > ZAWGYI_ELEMENT and item[ZAWGYI_ELEMENT] is not None:
            zawgyi = _zawgyi(item[ZAWGYI_ELEMENT], text, lang)
        return Grievance(
            category=cbor.expect_int(item[1], "category", 0, 0xFF),
            lang=lang,
            text=text,
            pseudonym=pseudonym,
            reply_pub=reply_pub,
            zawgyi=zawgyi,
        )
    ref = cbor.expect_int(item[1], "ref seq", 1, U32)
    if kind == CrewKind.REPLY:
        cbor.expect_list(item, "reply", 4)
        lang = lang_from_code(cbor.expect_int(item[2], "language", 0, 0xFF))
        text = decode_text(
            cbor.expect_bytes(item[3], "text", MAX_SEALED, 1), lang, max_chars=MAX_TEXT_CHARS
        )
        return Reply(ref_seq=ref, lang=lang, text=text)
    if kind == CrewKind.STATUS_REQUEST:
        return StatusRequest(ref_seq=ref)
    if kind == CrewKind.WITHDRAW:
        return Withdraw(ref_seq=ref)
    raise Malformed(f"unknown crew message kind {kind}")


def _encode_voice(note: VoiceNote) -> bytes:
    """``[5, category, lang, codec, mode, duration_ms, frames, ? pseudonym, ? reply_pub]``."""
    if not 0 <= note.category <= 0xFF:
        raise LocalProtocolError("category must fit one byte")
    if note.codec != CODEC2:
        raise LocalProtocolError(f"unknown voice codec {note.codec}")
    try:
        mode = mode_from_code(note.mode)
    except Malformed as exc:
        raise LocalProtocolError(str(exc)) from None
    if not 1 <= note.duration_ms <= mode.max_duration_ms:
        raise LocalProtocolError(
            f"voice note of {note.duration_ms / 1000:.1f} s; {mode.name} notes are 0.001 to "
            f"{mode.max_duration_ms / 1000:g} s"
        )
    if len(note.frames) != mode.frame_count(note.duration_ms):
        raise LocalProtocolError(
            f"{len(note.frames)} frames for {note.duration_ms} ms of {mode.name} "
            f"(expected {mode.frame_count(note.duration_ms)})"
        )
    item: list[Any] = [
        CrewKind.VOICE,
        note.category,
        int(note.lang),
        note.codec,
        note.mode,
        note.duration_ms,
        pack(mode, note.frames),
    ]
    if note.pseudonym is not None and len(note.pseudonym) > MAX_PSEUDONYM:
        raise LocalProtocolError(f"pseudonym longer than {MAX_PSEUDONYM} characters")
    if note.pseudonym is not None or note.reply_pub is not None:
        item.append(note.pseudonym)
    if note.reply_pub is not None:
        if len(note.reply_pub) != REPLY_KEY_LEN:
            raise LocalProtocolError(f"reply key must be {REPLY_KEY_LEN} bytes")
        item.append(note.reply_pub)
    return cbor.dumps(item)


def _decode_voice(item: list[Any]) -> VoiceNote:
    """Raises :class:`Malformed` (wrong shape, unknown codec or mode, frames that disagree with
    the duration) or :class:`Oversize` (longer than the mode allows)."""
    cbor.expect_list(item, "voice note", 7)
    codec = cbor.expect_int(item[3], "voice codec", 0, 0xFF)
    if codec != CODEC2:
        raise Malformed(f"unknown voice codec {codec}")
    mode = mode_from_code(cbor.expect_int(item[4], "Codec2 mode", 0, 0xFF))
    duration = cbor.expect_int(item[5], "voice duration", 1, U32)
    if duration > mode.max_duration_ms:
        raise Oversize(
            f"voice note of {duration / 1000:.1f} s; {mode.name} notes are at most "
            f"{mode.max_duration_ms / 1000:g} s"
        )
    if type(item[6]) is bytes and len(item[6]) > MAX_VOICE_BYTES:
        raise Oversize(f"voice frames of {len(item[6])} bytes (at most {MAX_VOICE_BYTES})")
    data = cbor.expect_bytes(item[6], "voice frames", MAX_VOICE_BYTES, 1)
    pseudonym = None
    if len(item) > 7 and item[7] is not None:
        pseudonym = cbor.expect_text(item[7], "pseudonym", MAX_PSEUDONYM)
    reply_pub = None
    if len(item) > 8 and item[8] is not None:
        reply_pub = cbor.expect_bytes(item[8], "reply key", REPLY_KEY_LEN, REPLY_KEY_LEN)
    return VoiceNote(
        category=cbor.expect_int(item[1], "category", 0, 0xFF),
        lang=lang_from_code(cbor.expect_int(item[2], "language", 0, 0xFF)),
        codec=codec,
        mode=mode.code,
        duration_ms=duration,
        frames=unpack(mode, data, mode.frame_count(duration)),
        pseudonym=pseudonym,
        reply_pub=reply_pub,
    )


def _zawgyi_item(note: Zawgyi, text: str, lang: Lang) -> list[Any]:
    """Element 6 of a grievance: ``[mode, probability, other]``, refused as a receiver would."""
    if not isinstance(note.mode, int) or note.mode not in set(ZawgyiMode):
        raise LocalProtocolError(f"unknown Zawgyi mode {note.mode!r}")
    if not 0 <= note.probability <= 1000:
        raise LocalProtocolError("Zawgyi probability must be in thousandths, 0..1000")
    if not note.other or note.other == text:
        raise LocalProtocolError("the other reading must be non-empty and differ from the text")
    if len(note.other) > MAX_TEXT_CHARS:
        raise LocalProtocolError(f"other reading longer than {MAX_TEXT_CHARS} characters")
    return [int(note.mode), note.probability, encode_text(note.other, lang)]


def _zawgyi(value: Any, text: str, lang: Lang) -> Zawgyi:
    """Decode element 6. Raises :class:`Malformed` for any other shape or value."""
    note = cbor.expect_list(value, "Zawgyi note", 3, 3)
    mode = cbor.expect_int(note[0], "Zawgyi mode", ZawgyiMode.CONVERTED, ZawgyiMode.UNSURE)
    probability = cbor.expect_int(note[1], "Zawgyi probability", 0, 1000)
    other = decode_text(
        cbor.expect_bytes(note[2], "other reading", MAX_SEALED, 2), lang, max_chars=MAX_TEXT_CHARS
    )
    if not other or other == text:
        raise Malformed("a Zawgyi note's other reading is empty or equal to the text")
    return Zawgyi(mode=ZawgyiMode(mode), probability=probability, other=other)


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

# --- downlink messages ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack:
    """Every seq ≤ ``cum_seq`` arrived, and so did seq ``base + i`` for every bit ``i`` set in
    ``bitmap`` (LSB of byte 0 first). ``base`` defaults to ``cum_seq + 1``; a later base lets the
    shore acknowledge recent messages beyond a long-standing gap.
    """

    cum_seq: int
    bitmap: bytes = b""
    base: int | None = None

    @property
    def bitmap_base(self) -> int:
        return self.cum_seq + 1 if self.base is None else self.base

    def covers(self, seq: int) -> bool:
        if seq <= self.cum_seq:
            return True
        i = seq - self.bitmap_base
        return 0 <= i < 8 * len(self.bitmap) and bool(self.bitmap[i // 8] >> (i % 8) & 1)

    def seqs(self) -> list[int]:
        """The seqs above ``cum_seq`` that the bitmap acknowledges."""
        base = self.bitmap_base
        return [base + i for i in range(8 * len(self.bitmap)) if self.bitmap[i // 8] >> (i % 8) & 1]

    @classmethod
    def of(
        cls, cum_seq: int, above: Iterable[int], *, base: int | None = None, max_bytes: int = 32
    ) -> Ack:
        """An ack from the cumulative point and seqs received above it (those that fit)."""
        start = cum_seq + 1 if base is None else base
        bits = bytearray(max_bytes)
        for seq in above:
            i = seq - start
            if 0 <= i < 8 * max_bytes:
                bits[i // 8] |= 1 << (i % 8)
        return cls(
            cum_seq=cum_seq,
            bitmap=bytes(bits).rstrip(b"\0"),
            base=None if start == cum_seq + 1 else start,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseStatus:
    """Case progress for the crew message ``ref_seq``; ``note`` indexes localized notes."""

    ref_seq: int
    case_ref: str
    status: int
    note: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    version: int
    airtime_bytes_per_day: int
    report_interval_s: int


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRotation:
    """New shore keys, announced under the current shore signature."""

    epoch: int
    sign_pub: bytes
    seal_pub: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ShoreMessage:
    """Part ``part`` of ``parts`` of a text the shore sealed to the reply key of the grievance
    ``ref_seq`` (:mod:`protocol.conversation`); the chunks concatenate to the sealed body.
    ``msg_id`` is the shore's id of the text, bound into the seal."""

    ref_seq: int
    msg_id: int
    part: int
    parts: int
    chunk: bytes


DownlinkMessage: TypeAlias = Ack | CaseStatus | Config | KeyRotation | ShoreMessage | UnknownMessage
Message: TypeAlias = UplinkMessage | DownlinkMessage


def _check_seq(seq: int) -> None:
    if not 1 <= seq <= U32:
        raise LocalProtocolError(f"seq {seq} outside 1..{U32}")


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
