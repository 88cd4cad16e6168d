"""Shore → crew messages about one grievance, sealed to the grievance's reply key.

A crew member's grievance may carry a reply key (``Grievance.reply_pub``, an X25519 public key
whose private half stays with the crew member: in their browser, or derived from their receipt
code and never stored). The shore seals a text to it with the same HPKE suite as crew content
(:mod:`protocol.seal`, docs/wire-format.md §4), binding the recipient device, the grievance's
seq and the shore's message id into ``info``, and splits the sealed body into
:class:`~protocol.messages.ShoreMessage` parts that each fit one MT frame alone. The box keeps
only the ciphertext; the holder of the key opens it.

Sans-IO: no storage, no clock, no randomness beyond HPKE's ephemeral key (see
:mod:`protocol.seal`). The receiver stores parts as they come and :func:`join` tells when one
message is whole.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from protocol import cbor, frame
from protocol.downlinks import ShoreMessage
from protocol.errors import LocalProtocolError, Malformed, SealBroken
from protocol.lang import Lang, lang_from_code
from protocol.limits import MAX_SHORE_CHUNK, MAX_SHORE_PARTS, MAX_TEXT_CHARS, REPLY_KEY_LEN, U32
from protocol.messages import encode_message
from protocol.seal import OVERHEAD, open_sealed, seal
from protocol.text import decode_text, encode_text

INFO_LABEL = b"flip-sync/1 shore"
#: Largest sealed body: every part full.
MAX_SEALED_TEXT = MAX_SHORE_PARTS * MAX_SHORE_CHUNK


def shore_info(to_kid: bytes, ref_seq: int, msg_id: int) -> bytes:
    """HPKE ``info`` of a shore message: label ‖ CBOR [recipient kid, ref seq, message id]."""
    return INFO_LABEL + cbor.dumps([to_kid, ref_seq, msg_id])


@dataclass(frozen=True, slots=True, kw_only=True)
class ShoreText:
    """The plaintext of a shore message (exists only in memory at its two ends)."""

    lang: Lang
    text: str


def encode_shore_text(content: ShoreText) -> bytes:
    """``[lang, text]`` with the text compressed like crew text (docs/wire-format.md §5).

    Raises:
        LocalProtocolError: empty or longer than :data:`MAX_TEXT_CHARS`.
    """
    if not content.text:
        raise LocalProtocolError("a shore message needs text")
    if len(content.text) > MAX_TEXT_CHARS:
        raise LocalProtocolError(f"text longer than {MAX_TEXT_CHARS} characters")
    return cbor.dumps([int(content.lang), encode_text(content.text, content.lang)])


def decode_shore_text(data: bytes) -> ShoreText:
    """Raises a :class:`Malformed` subclass (future elements after the text are ignored)."""
    item = cbor.expect_list(cbor.loads(data, what="shore text"), "shore text", 2)
    lang = lang_from_code(cbor.expect_int(item[0], "language", 0, 0xFF))
    raw = cbor.expect_bytes(item[1], "text", MAX_SEALED_TEXT, 1)
    return ShoreText(lang=lang, text=decode_text(raw, lang, max_chars=MAX_TEXT_CHARS))


def reply_public(raw: bytes) -> X25519PublicKey:
    """A reply key from its 32 raw bytes. Raises :class:`Malformed`."""
    if len(raw) != REPLY_KEY_LEN:
        raise Malformed(f"reply key of {len(raw)} bytes (needs {REPLY_KEY_LEN})")
    return X25519PublicKey.from_public_bytes(raw)


def seal_text(
    content: ShoreText, reply_pub: bytes, *, to_kid: bytes, ref_seq: int, msg_id: int
) -> bytes:
    """HPKE-seal a shore text to a grievance's reply key.

    Raises:
        LocalProtocolError: text out of range, or sealed too long for :data:`MAX_SHORE_PARTS`.
        Malformed: ``reply_pub`` is not a 32-byte key.
    """
    sealed = seal(
        encode_shore_text(content), reply_public(reply_pub), shore_info(to_kid, ref_seq, msg_id)
    )
    if len(sealed) > max_parts_bytes():
        raise LocalProtocolError(
            f"sealed text of {len(sealed)} bytes needs more than {MAX_SHORE_PARTS} MT frames"
        )
    return sealed


def open_text(
    sealed: bytes, key: X25519PrivateKey, *, to_kid: bytes, ref_seq: int, msg_id: int
) -> ShoreText:
    """Open a shore text with the reply key's private half.

    Raises:
        SealBroken: another key, another header (device, grievance, id) or tampered.
        Malformed: opened, but not a shore text.
    """
    if len(sealed) < OVERHEAD:
        raise SealBroken(f"sealed text of {len(sealed)} bytes is shorter than HPKE overhead")
    plaintext = open_sealed(sealed, [key], shore_info(to_kid, ref_seq, msg_id))
    return decode_shore_text(plaintext)


@functools.cache
def chunk_size(limit: int = frame.DOWNLINK_MAX) -> int:
    """Largest chunk whose :class:`ShoreMessage` fits alone in a downlink frame of ``limit``
    bytes, with the worst-case header (5-byte seq, id and time)."""
    n = MAX_SHORE_CHUNK
    while n > 0:
        msg = ShoreMessage(ref_seq=U32, msg_id=U32, part=0, parts=MAX_SHORE_PARTS, chunk=bytes(n))
        size = frame.frame_size(frame.downlink_payload_size(U32, [len(encode_message(msg))]))
        if size <= limit:
            return n
        n -= 1
    raise LocalProtocolError(f"no shore message part fits a {limit}-byte frame")


def max_parts_bytes(limit: int = frame.DOWNLINK_MAX) -> int:
    return MAX_SHORE_PARTS * chunk_size(limit)


def split(
    sealed: bytes, *, ref_seq: int, msg_id: int, limit: int = frame.DOWNLINK_MAX
) -> list[ShoreMessage]:
    """The parts of a sealed shore text, each fitting one MT frame alone.

    Raises:
        LocalProtocolError: empty, or more than :data:`MAX_SHORE_PARTS` parts.
    """
    size = chunk_size(limit)
    count = -(-len(sealed) // size)
    if not 1 <= count <= MAX_SHORE_PARTS:
        raise LocalProtocolError(f"sealed text of {len(sealed)} bytes needs {count} parts")
    return [
        ShoreMessage(
            ref_seq=ref_seq,
            msg_id=msg_id,
            part=i,
            parts=count,
            chunk=sealed[i * size : (i + 1) * size],
        )
        for i in range(count)
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class Whole:
    """A complete sealed shore text."""

    ref_seq: int
    msg_id: int
    sealed: bytes


def join(parts: list[ShoreMessage]) -> Whole | None:
    """The sealed text once every part of one message is among ``parts`` (any order, repeats
    allowed; the receiver stores parts durably and calls this after each), else None.

    Raises:
        Malformed: parts of one id that disagree on the grievance, the count or a chunk.
    """
    if not parts:
        return None
    first = parts[0]
    chunks: dict[int, bytes] = {}
    for p in parts:
        if (p.msg_id, p.ref_seq, p.parts) != (first.msg_id, first.ref_seq, first.parts):
            raise Malformed(f"parts of shore message {first.msg_id} disagree")
        if chunks.setdefault(p.part, p.chunk) != p.chunk:
            raise Malformed(f"part {p.part} of shore message {first.msg_id} arrived twice, changed")
    if len(chunks) < first.parts:
        return None
    return Whole(
        ref_seq=first.ref_seq,
        msg_id=first.msg_id,
        sealed=b"".join(chunks[i] for i in range(first.parts)),
    )
