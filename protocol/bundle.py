"""Frame bundles: several frames in one link message, as a CBOR sequence (RFC 8742).

An SBD message carries one frame (≤ 340 bytes). An IMT message (RockBLOCK 9704, up to 100,000
bytes) or a broadband upload carries a *bundle*: frames written one after another, each a
complete CBOR item (an untagged COSE_Sign1 array), with nothing between them. A single frame is
a bundle of one, so a receiver splits every link message the same way and hands each frame to
the pipeline, which verifies, dedupes and orders them exactly as frames that came one by one.

:func:`split` finds item boundaries from the CBOR heads alone (RFC 8949 §3: definite lengths
only — flip-sync never writes indefinite ones); it does not decode or verify the frames.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol.errors import LocalProtocolError, Malformed, Oversize, Truncated

MAX_DEPTH = 16
MAX_FRAMES = 4096


def _head(data: bytes, pos: int) -> tuple[int, int, int]:
    """(major type, argument, position after the head) of the item at ``pos``."""
    if pos >= len(data):
        raise Truncated("bundle ends inside a CBOR item")
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    if info < 24:
        return major, info, pos + 1
    if info > 27:
        raise Malformed(f"CBOR additional info {info} (indefinite or reserved) at byte {pos}")
    size = 1 << (info - 24)
    end = pos + 1 + size
    if end > len(data):
        raise Truncated("bundle ends inside a CBOR head")
    return major, int.from_bytes(data[pos + 1 : end], "big"), end


def _item_end(data: bytes, pos: int, depth: int) -> int:
    if depth > MAX_DEPTH:
        raise Malformed("CBOR nesting too deep")
    major, arg, pos = _head(data, pos)
    if major in (2, 3):  # byte / text string
        end = pos + arg
        if end > len(data):
            raise Truncated("bundle ends inside a CBOR string")
        return end
    if major in (4, 5):  # array / map: every item takes at least one byte
        count = arg * (2 if major == 5 else 1)
        if count > len(data) - pos:
            raise Truncated("CBOR container longer than the bundle")
        for _ in range(count):
            pos = _item_end(data, pos, depth + 1)
        return pos
    if major == 6:  # tag: one item follows
        return _item_end(data, pos, depth + 1)
    return pos  # integers, simple values, floats: the head is the item


def split(data: bytes, *, max_frame: int, max_frames: int = MAX_FRAMES) -> list[bytes]:
    """The frames of a bundle, in order.

    Raises:
        Malformed: not a sequence of definite-length CBOR items; an item that is not an array
            or tag (a frame is always one); more than ``max_frames`` frames; an empty bundle.
        Truncated: the last item is incomplete.
        Oversize: one item is longer than ``max_frame``.
    """
    frames: list[bytes] = []
    pos = 0
    while pos < len(data):
        if len(frames) >= max_frames:
            raise Malformed(f"bundle holds more than {max_frames} frames")
        if data[pos] >> 5 not in (4, 6):
            raise Malformed(f"item {len(frames)} of the bundle is not a frame (byte {pos})")
        end = _item_end(data, pos, 0)
        if end - pos > max_frame:
            raise Oversize(f"frame {len(frames)} of {end - pos} bytes exceeds {max_frame}")
        frames.append(data[pos:end])
        pos = end
    if not frames:
        raise Malformed("empty bundle")
    return frames


def join(frames: Sequence[bytes], *, limit: int) -> bytes:
    """Frames → one bundle of at most ``limit`` bytes.

    Raises:
        LocalProtocolError: no frames, or they do not fit ``limit``.
    """
    if not frames:
        raise LocalProtocolError("a bundle needs at least one frame")
    data = b"".join(frames)
    if len(data) > limit:
        raise LocalProtocolError(f"{len(frames)} frames take {len(data)} bytes, over {limit}")
    return data


def pack(frames: Sequence[bytes], *, limit: int) -> list[bytes]:
    """Frames, in order, grouped greedily into bundles of at most ``limit`` bytes each."""
    out: list[list[bytes]] = [[]]
    size = 0
    for f in frames:
        if len(f) > limit:
            raise LocalProtocolError(f"a frame of {len(f)} bytes cannot fit {limit}")
        if size + len(f) > limit and out[-1]:
            out.append([])
            size = 0
        out[-1].append(f)
        size += len(f)
    return [b"".join(group) for group in out if group]
