"""Frames: untagged COSE_Sign1 (RFC 9052 §4.2) with EdDSA/Ed25519 (alg -8), kid unprotected.

    frame   = [protected: bstr .cbor {1: -8}, unprotected: {4: kid}, payload: bstr, signature]
    uplink  payload = [version, [message, ...]]
    downlink payload = [version, to_kid, time, [message, ...]]

The signature covers Sig_structure = ["Signature1", protected, h'', payload] (RFC 9052 §4.4),
so with CBOR tag 18 put back any conformant COSE library verifies a frame with the device's
public key. Several messages share one signature (64 bytes). A frame is at most
:data:`UPLINK_MAX` bytes (one Iridium SBD MO message) or :data:`DOWNLINK_MAX` (one MT message)
on SBD; larger links allow larger frames (:mod:`protocol.links`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol import PROTOCOL_VERSION, cbor, ed25519
from protocol.errors import (
    BadSignature,
    LocalProtocolError,
    Malformed,
    Oversize,
    UnknownVersion,
)
from protocol.keys import KID_LEN
from protocol.messages import DownlinkMessage, UplinkMessage, message_from_item

UPLINK_MAX = 340
DOWNLINK_MAX = 270
COSE_SIGN1_TAG = 18
ALG_EDDSA = -8
PROTECTED = cbor.dumps({1: ALG_EDDSA})  # a1 01 27
SIGNATURE_LEN = 64
MAX_MESSAGES = 64

# Bytes around the payload: array(1) + protected bstr(1+3) + {4: kid}(3+kid) + sig bstr(2+64).
_FIXED = 1 + 1 + len(PROTECTED) + 3 + KID_LEN + 2 + SIGNATURE_LEN


@dataclass(frozen=True, slots=True, kw_only=True)
class Sign1:
    """A parsed, not yet verified, COSE_Sign1."""

    protected: bytes
    kid: bytes
    payload: bytes
    signature: bytes

    def to_be_signed(self) -> bytes:
        return _sig_structure(self.protected, self.payload)


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor.dumps(["Signature1", protected, b"", payload])


def frame_size(payload_len: int) -> int:
    """Exact size of a frame whose payload is ``payload_len`` bytes."""
    return _FIXED + len(cbor.head(2, payload_len)) + payload_len


def sign(payload: bytes, key: Ed25519PrivateKey, kid: bytes) -> bytes:
    """Wrap ``payload`` in an untagged COSE_Sign1 signed by ``key``."""
    if len(kid) != KID_LEN:
        raise LocalProtocolError(f"kid must be {KID_LEN} bytes")
    signature = ed25519.sign(key, _sig_structure(PROTECTED, payload))
    return (
        cbor.head(4, 4)
        + cbor.bstr(PROTECTED)
        + b"\xa1\x04"
        + cbor.bstr(kid)
        + cbor.bstr(payload)
        + cbor.bstr(signature)
    )


def parse(data: bytes, *, max_size: int) -> Sign1:
    """Parse a COSE_Sign1 (untagged, or tagged 18). Checks structure and alg, not signature.

    Raises:
        Oversize: ``data`` is longer than ``max_size``.
        Malformed / Truncated: not a COSE_Sign1 of the shape flip-sync sends.
    """
    if len(data) > max_size:
        raise Oversize(f"frame of {len(data)} bytes exceeds {max_size}")
    item = cbor.loads(data, what="frame")
    if isinstance(item, cbor2.CBORTag):
        if item.tag != COSE_SIGN1_TAG:
            raise Malformed(f"frame: CBOR tag {item.tag} is not COSE_Sign1 (18)")
        item = item.value
    arr = cbor.expect_list(item, "COSE_Sign1", 4, 4)
    protected = cbor.expect_bytes(arr[0], "protected header", 64)
    header = cbor.loads(protected, what="protected header") if protected else {}
    if header != {1: ALG_EDDSA}:
        raise Malformed("protected header must be exactly {alg: EdDSA}")
    unprotected = arr[1]
    if not isinstance(unprotected, Mapping) or set(unprotected) - {4}:  # tagged: frozendict
        raise Malformed("unprotected header must hold only the kid")
    kid = cbor.expect_bytes(unprotected.get(4), "kid", KID_LEN, KID_LEN)
    payload = cbor.expect_bytes(arr[2], "payload", max_size)
    signature = cbor.expect_bytes(arr[3], "signature", SIGNATURE_LEN, SIGNATURE_LEN)
    return Sign1(protected=protected, kid=kid, payload=payload, signature=signature)


def verify(frame: Sign1, key: Ed25519PublicKey) -> None:
    """Raises :class:`BadSignature` unless ``key`` signed ``frame``."""
    try:
        ed25519.verify(key, frame.signature, frame.to_be_signed())
    except ed25519.InvalidSignature:
        raise BadSignature(f"signature does not verify for kid {frame.kid.hex()}") from None


# --- payloads -------------------------------------------------------------------------------


def uplink_payload(encoded: Sequence[bytes]) -> bytes:
    """[version, [message, ...]] from already-encoded messages."""
    return cbor.head(4, 2) + cbor.head(0, PROTOCOL_VERSION) + cbor.array_of(list(encoded))


def uplink_payload_size(sizes: Sequence[int]) -> int:
    return uplink_payload_len(len(sizes), sum(sizes))


def uplink_payload_len(count: int, total: int) -> int:
    """Size of an uplink payload of ``count`` messages taking ``total`` bytes together."""
    return 2 + len(cbor.head(4, count)) + total


def downlink_payload(to_kid: bytes, time: int, encoded: Sequence[bytes]) -> bytes:
    """[version, to_kid, time, [message, ...]]."""
    return (
        cbor.head(4, 4)
        + cbor.head(0, PROTOCOL_VERSION)
        + cbor.bstr(to_kid)
        + cbor.dumps(time)
        + cbor.array_of(list(encoded))
    )


def downlink_payload_size(time: int, sizes: Sequence[int]) -> int:
    return 2 + 1 + KID_LEN + len(cbor.dumps(time)) + len(cbor.head(4, len(sizes))) + sum(sizes)


def _version_and_body(payload: bytes, min_len: int) -> list[Any]:
    item = cbor.loads(payload, what="payload")
    arr = cbor.expect_list(item, "payload", 1)
    version = arr[0]
    if type(version) is not int:
        raise Malformed("payload: version is not an integer")
    if version != PROTOCOL_VERSION:
        raise UnknownVersion(f"protocol version {version} (this side speaks {PROTOCOL_VERSION})")
    return cbor.expect_list(arr, "payload", min_len)


def parse_uplink(
    payload: bytes, *, max_messages: int = MAX_MESSAGES
) -> list[tuple[UplinkMessage, bytes]]:
    """(message, its deterministic CBOR) for each message of an uplink payload.

    The bytes are what hash chains cover; they include future fields this side ignores.
    Downlink message types here are :class:`Malformed`.
    """
    arr = _version_and_body(payload, 2)
    items = cbor.expect_list(arr[1], "message list", 0, max_messages)
    out: list[tuple[UplinkMessage, bytes]] = []
    for item in items:
        msg = message_from_item(item)
        if getattr(msg, "seq", None) is None:
            raise Malformed(f"{type(msg).__name__} is not an uplink message")
        out.append((msg, cbor.dumps(item)))  # type: ignore[arg-type]  # has seq ⇒ uplink
    return out


def parse_downlink(
    payload: bytes, *, max_messages: int = MAX_MESSAGES
) -> tuple[bytes, int, list[DownlinkMessage]]:
    """(to_kid, shore time, messages) of a downlink payload."""
    arr = _version_and_body(payload, 4)
    to_kid = cbor.expect_bytes(arr[1], "recipient kid", KID_LEN, KID_LEN)
    time = cbor.expect_int(arr[2], "time", 0, 0xFFFF_FFFF)
    out: list[DownlinkMessage] = []
    for item in cbor.expect_list(arr[3], "message list", 0, max_messages):
        msg = message_from_item(item)
        if getattr(msg, "seq", None) is not None:
            raise Malformed(f"{type(msg).__name__} is not a downlink message")
        out.append(msg)  # type: ignore[arg-type]
    return to_kid, time, out
