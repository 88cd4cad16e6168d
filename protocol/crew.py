"""Crew content: the plaintext sealed inside a crew message, and its CBOR (docs/wire-format.md §3).

It exists only in memory — on board in the call that seals it, ashore at the decrypting host.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeAlias

from protocol import cbor
from protocol.errors import LocalProtocolError, Malformed, Oversize
from protocol.lang import Lang, lang_from_code
from protocol.limits import (
    MAX_PSEUDONYM,
    MAX_SEALED,
    MAX_TEXT_CHARS,
    REPLY_KEY_LEN,
    U32,
    ZAWGYI_ELEMENT,
    check_seq,
)
from protocol.text import decode_text, encode_text
from protocol.voice import CODEC2, MAX_VOICE_BYTES, mode_from_code, pack, unpack


class CrewKind(IntEnum):
    """What a sealed crew message is; hidden from anyone without the shore key."""

    GRIEVANCE = 1
    STATUS_REQUEST = 2
    WITHDRAW = 3
    REPLY = 4
    VOICE = 5


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
        item += _optional(content.pseudonym, content.reply_pub)
        if content.zawgyi is not None:
            item += [None] * (ZAWGYI_ELEMENT - len(item))
            item.append(_zawgyi_item(content.zawgyi, content.text, content.lang))
        return cbor.dumps(item)
    if isinstance(content, Reply):
        check_seq(content.ref_seq)
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
    check_seq(content.ref_seq)
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
        pseudonym, reply_pub = _read_optional(item, 4)
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
    item += _optional(note.pseudonym, note.reply_pub)
    return cbor.dumps(item)


def _optional(pseudonym: str | None, reply_pub: bytes | None) -> list[Any]:
    """The optional trailing elements a grievance and a voice note share: pseudonym, reply key
    (the pseudonym's slot is kept, as null, when only a reply key follows)."""
    if pseudonym is not None and len(pseudonym) > MAX_PSEUDONYM:
        raise LocalProtocolError(f"pseudonym longer than {MAX_PSEUDONYM} characters")
    if reply_pub is None:
        return [] if pseudonym is None else [pseudonym]
    if len(reply_pub) != REPLY_KEY_LEN:
        raise LocalProtocolError(f"reply key must be {REPLY_KEY_LEN} bytes")
    return [pseudonym, reply_pub]


def _read_optional(item: list[Any], at: int) -> tuple[str | None, bytes | None]:
    """The pseudonym and reply key :func:`_optional` wrote, from element ``at`` on."""
    pseudonym = reply_pub = None
    if len(item) > at and item[at] is not None:
        pseudonym = cbor.expect_text(item[at], "pseudonym", MAX_PSEUDONYM)
    if len(item) > at + 1 and item[at + 1] is not None:
        reply_pub = cbor.expect_bytes(item[at + 1], "reply key", REPLY_KEY_LEN, REPLY_KEY_LEN)
    return pseudonym, reply_pub


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
    pseudonym, reply_pub = _read_optional(item, 7)
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
