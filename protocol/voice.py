"""Voice notes on the wire: the Codec2 modes and the bit-packed frame stream (docs/wire-format.md).

This module only carries bytes. The codec itself (``pycodec2``, libcodec2) runs on board
(``vessel_agent.voice``) and ashore; here are the facts a receiver needs to check a voice body
without it: each mode's frame length in bits and milliseconds, and how frames are packed.

Codec2 hands out each frame as ``ceil(bits / 8)`` bytes, most significant bit first, the unused
low bits of the last byte zero (700C: 28 bits in 4 bytes). On the wire the frames are one
continuous bit stream instead — frame after frame, MSB first, zero bits to the next byte at the
end — so 700C costs 3.5 bytes per 40 ms frame, not 4. Mode numbers are libcodec2's own
(``CODEC2_MODE_*``), so another implementation needs no table of ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from protocol.errors import LocalProtocolError, Malformed

CODEC2 = 1  # the codec element of a voice note; others may be appended
SAMPLE_RATE = 8000  # Hz, mono, 16-bit: what every Codec2 mode takes
MAX_VOICE_MS = 60_000  # the longest note, any mode
MAX_VOICE_BYTES = 7000  # packed frames: with the rest of the message, ≤ 30 fragments (of 32)


@dataclass(frozen=True, slots=True)
class Mode:
    """One Codec2 mode: libcodec2's number, its name and the size of its frames."""

    code: int  # CODEC2_MODE_* of libcodec2 (and the wire)
    name: str  # "700C", "1200", …
    bitrate: int  # nominal bit/s; pycodec2's ``Codec2(bitrate)`` argument
    bits_per_frame: int
    frame_ms: int

    @property
    def bytes_per_frame(self) -> int:
        """Bytes of one frame as the codec hands it out (whole bytes)."""
        return -(-self.bits_per_frame // 8)

    @property
    def samples_per_frame(self) -> int:
        return self.frame_ms * SAMPLE_RATE // 1000

    @property
    def bytes_per_second(self) -> float:
        """Packed frame bytes per second of speech (what a note costs on air, before overhead)."""
        return self.bits_per_frame * 1000 / self.frame_ms / 8

    def frame_count(self, duration_ms: int) -> int:
        """Frames holding ``duration_ms`` of audio (the last one padded with silence)."""
        return -(-duration_ms // self.frame_ms)

    def packed_size(self, frames: int) -> int:
        """Bytes of ``frames`` frames on the wire."""
        return -(-frames * self.bits_per_frame // 8)

    @property
    def max_duration_ms(self) -> int:
        """The longest note this mode can carry: 60 s, or less where the bytes run out."""
        frames = MAX_VOICE_BYTES * 8 // self.bits_per_frame
        return min(MAX_VOICE_MS, frames * self.frame_ms)


MODES: dict[int, Mode] = {
    m.code: m
    for m in (
        Mode(0, "3200", 3200, 64, 20),
        Mode(1, "2400", 2400, 48, 20),
        Mode(2, "1600", 1600, 64, 40),
        Mode(3, "1400", 1400, 56, 40),
        Mode(4, "1300", 1300, 52, 40),
        Mode(5, "1200", 1200, 48, 40),
        Mode(8, "700C", 700, 28, 40),
    )
}
MODE_700C = MODES[8]
# What the vessel agent offers crew: 700C by default, 1200/1600 when the link is cheap.
OFFERED = ("700C", "1200", "1600")


def mode_by_name(name: str) -> Mode:
    """``"700C"`` (any case) → its :class:`Mode`.

    Raises:
        LocalProtocolError: no such mode.
    """
    for mode in MODES.values():
        if mode.name == name.strip().upper():
            return mode
    raise LocalProtocolError(
        f"unknown Codec2 mode {name!r}; expected one of {', '.join(m.name for m in MODES.values())}"
    )


def mode_from_code(code: int) -> Mode:
    """Wire mode number → :class:`Mode`; an unknown one from a peer is :class:`Malformed`."""
    try:
        return MODES[code]
    except KeyError:
        raise Malformed(f"unknown Codec2 mode {code}") from None


def pack(mode: Mode, frames: Sequence[bytes]) -> bytes:
    """The wire bit stream of ``frames`` (each as the codec hands it out).

    Raises:
        LocalProtocolError: a frame of the wrong length, or with its unused bits set (they would
            be lost on the wire, so the frame would not come back as it went).
    """
    size, bits = mode.bytes_per_frame, mode.bits_per_frame
    spare = 8 * size - bits
    acc = 0
    for i, frame in enumerate(frames):
        if len(frame) != size:
            raise LocalProtocolError(
                f"frame {i} has {len(frame)} bytes; {mode.name} frames have {size}"
            )
        value = int.from_bytes(frame, "big")
        if value & ((1 << spare) - 1):
            raise LocalProtocolError(f"frame {i} sets bits unused by {mode.name}")
        acc = (acc << bits) | (value >> spare)
    total = len(frames) * bits
    length = mode.packed_size(len(frames))
    return (acc << (8 * length - total)).to_bytes(length, "big")


def unpack(mode: Mode, data: bytes, frames: int) -> tuple[bytes, ...]:
    """``frames`` codec frames from the wire bit stream ``data``.

    Raises:
        Malformed: ``data`` is not exactly ``frames`` frames long, or its padding bits are set.
    """
    length = mode.packed_size(frames)
    if len(data) != length:
        raise Malformed(
            f"voice frames: {len(data)} bytes for {frames} {mode.name} frames (expected {length})"
        )
    bits, size = mode.bits_per_frame, mode.bytes_per_frame
    spare = 8 * size - bits
    pad = 8 * length - frames * bits
    acc = int.from_bytes(data, "big")
    if acc & ((1 << pad) - 1):
        raise Malformed("voice frames: padding bits are set")
    acc >>= pad
    mask = (1 << bits) - 1
    out = [
        (((acc >> ((frames - 1 - i) * bits)) & mask) << spare).to_bytes(size, "big")
        for i in range(frames)
    ]
    return tuple(out)
