"""Strict CBOR (RFC 8949) for the wire format: bounded decoding and hand-built headers.

Decoding goes through cbor2 with limits (no indefinite lengths, no duplicate map keys, bounded
nesting) and refuses trailing bytes. Every failure becomes a typed :class:`Malformed` /
:class:`Truncated`; cbor2 raises a mix of exception types on hostile input (its own errors,
``ValueError`` from semantic tags, ``OverflowError``), so the broad ``except`` below is the point.

Frames are assembled from already-encoded messages (a message is sealed and encoded once, then
retransmitted byte for byte), so array/bstr headers are written by hand here (RFC 8949 §3).
"""

from __future__ import annotations

import io
from typing import Any

import cbor2

from protocol.errors import Malformed, Truncated

MAX_DEPTH = 8


def loads(data: bytes, *, what: str) -> Any:
    """Decode exactly one CBOR item filling ``data``.

    Raises:
        Truncated: the item is incomplete.
        Malformed: invalid CBOR, forbidden constructs, or bytes after the item.
    """
    fp = io.BytesIO(data)
    try:
        decoder = cbor2.CBORDecoder(
            fp, max_depth=MAX_DEPTH, allow_indefinite=False, allow_duplicate_keys=False
        )
        value = decoder.decode()
    except cbor2.CBORDecodeEOF as exc:
        raise Truncated(f"{what}: CBOR ends early") from exc
    except Exception as exc:  # any decoder failure is a Malformed input (see docstring)
        raise Malformed(f"{what}: invalid CBOR ({exc})") from exc
    if fp.tell() != len(data):
        raise Malformed(f"{what}: {len(data) - fp.tell()} bytes after the CBOR item")
    return value


def dumps(value: Any) -> bytes:
    """Deterministic encoding (RFC 8949 §4.2.1) of a value built by this package."""
    return cbor2.dumps(value, canonical=True)


def head(major: int, length: int) -> bytes:
    """The initial bytes of a CBOR data item: major type and argument (RFC 8949 §3)."""
    mt = major << 5
    if length < 24:
        return bytes([mt | length])
    if length < 0x100:
        return bytes([mt | 24, length])
    if length < 0x10000:
        return bytes([mt | 25]) + length.to_bytes(2, "big")
    return bytes([mt | 26]) + length.to_bytes(4, "big")


def array_of(items: list[bytes]) -> bytes:
    """A CBOR array whose elements are the given already-encoded items."""
    return head(4, len(items)) + b"".join(items)


def bstr(data: bytes) -> bytes:
    """A CBOR byte string."""
    return head(2, len(data)) + data


def expect_int(value: Any, what: str, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi], else :class:`Malformed`."""
    if type(value) is not int or not lo <= value <= hi:
        raise Malformed(f"{what}: expected an integer in [{lo}, {hi}], got {_show(value)}")
    return value


def expect_bytes(value: Any, what: str, max_len: int, min_len: int = 0) -> bytes:
    """``value`` as bytes of bounded length, else :class:`Malformed`."""
    if type(value) is not bytes or not min_len <= len(value) <= max_len:
        raise Malformed(f"{what}: expected {min_len}..{max_len} bytes, got {_show(value)}")
    return value


def expect_text(value: Any, what: str, max_len: int) -> str:
    """``value`` as a text string of bounded length, else :class:`Malformed`."""
    if type(value) is not str or len(value) > max_len:
        raise Malformed(f"{what}: expected text of at most {max_len} characters")
    return value


def expect_list(value: Any, what: str, min_len: int, max_len: int = 1024) -> list[Any]:
    """``value`` as an array with at least ``min_len`` elements (extra ones are future fields)."""
    # cbor2 decodes arrays inside tags as tuples.
    if type(value) not in (list, tuple) or not min_len <= len(value) <= max_len:
        raise Malformed(f"{what}: expected an array of {min_len}..{max_len} items")
    return list(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
