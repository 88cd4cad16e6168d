"""Fragmentation of an encoded message too long for one frame, and bounded reassembly.

A message of ``n`` fragments with seq ``s`` is split into ``Fragment(seq=s+i, index=i, count=n)``;
the chunks concatenate to the encoded message itself, whose seq must be ``s``. The receiver keeps
partial sets under a byte cap and a per-device set cap, oldest evicted first, and drops sets
older than a timeout; nothing is acknowledged before the whole message is reassembled, so the
sender retransmits whatever the receiver had to forget.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from protocol import frame
from protocol.errors import LocalProtocolError, Malformed
from protocol.messages import (
    MAX_FRAGMENTS,
    Fragment,
    Message,
    decode_message,
    seq_of,
)

# A fragment message is [15, seq, index, count, chunk]: at most 1+1+5+1+1+3 bytes around chunk.
FRAGMENT_OVERHEAD = 12


@functools.cache
def max_single(limit: int = frame.UPLINK_MAX) -> int:
    """Largest encoded message that fits alone in a frame of ``limit`` bytes."""
    n = limit
    while frame.frame_size(frame.uplink_payload_size([n])) > limit:
        n -= 1
    return n


def split(encoded: bytes, seq: int, limit: int = frame.UPLINK_MAX) -> list[Fragment]:
    """Fragments of ``encoded`` (whose seq is ``seq``), each fitting alone in a frame."""
    chunk = min(512, max_single(limit) - FRAGMENT_OVERHEAD)
    count = -(-len(encoded) // chunk)
    if count < 2:
        raise LocalProtocolError("message fits one frame; no fragmentation needed")
    if count > MAX_FRAGMENTS:
        raise LocalProtocolError(
            f"message of {len(encoded)} bytes needs {count} fragments (max {MAX_FRAGMENTS})"
        )
    return [
        Fragment(seq=seq + i, index=i, count=count, chunk=encoded[i * chunk : (i + 1) * chunk])
        for i in range(count)
    ]


@dataclass(slots=True)
class _Partial:
    count: int
    started: float
    chunks: dict[int, bytes] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(c) for c in self.chunks.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class Reassembled:
    device: str
    first_seq: int
    message: Message
    encoded: bytes
    fragment_seqs: tuple[int, ...]


class Reassembler:
    """Partial fragment sets keyed by (device, first seq), bounded in memory and time."""

    def __init__(
        self,
        *,
        max_bytes: int = 4 << 20,
        max_sets_per_device: int = 16,
        timeout: float = 30 * 86400,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_sets_per_device = max_sets_per_device
        self.timeout = timeout
        self._sets: dict[tuple[str, int], _Partial] = {}
        self._bytes = 0

    def pending(self, device: str) -> set[int]:
        """Seqs of fragments held for ``device`` (not missing, not yet acknowledgeable)."""
        out: set[int] = set()
        for (dev, first), part in self._sets.items():
            if dev == device:
                out.update(first + i for i in part.chunks)
        return out

    def add(self, device: str, frag: Fragment, now: float) -> Reassembled | None:
        """Store ``frag``; return the message when its set is complete.

        Raises:
            Malformed: fragments disagree on the count, or the reassembled bytes are not a
                message with the first fragment's seq.
        """
        key = (device, frag.first_seq)
        part = self._sets.get(key)
        if part is None:
            self._make_room(device, len(frag.chunk))
            part = self._sets[key] = _Partial(count=frag.count, started=now)
        elif part.count != frag.count:
            self._drop(key)
            raise Malformed(f"fragment count {frag.count} disagrees with {part.count}")
        if frag.index not in part.chunks:
            part.chunks[frag.index] = frag.chunk
            self._bytes += len(frag.chunk)
        if len(part.chunks) < part.count:
            return None
        self._drop(key)
        data = b"".join(part.chunks[i] for i in range(part.count))
        message = decode_message(data)
        if seq_of(message) != frag.first_seq or isinstance(message, Fragment):
            raise Malformed("reassembled message does not carry the first fragment's seq")
        seqs = tuple(frag.first_seq + i for i in range(part.count))
        return Reassembled(
            device=device,
            first_seq=frag.first_seq,
            message=message,
            encoded=data,
            fragment_seqs=seqs,
        )

    def expire(self, now: float) -> list[tuple[str, int]]:
        """Drop sets older than the timeout; returns their (device, first seq)."""
        old = [k for k, p in self._sets.items() if now - p.started > self.timeout]
        for key in old:
            self._drop(key)
        return old

    def next_expiry(self) -> float | None:
        if not self._sets:
            return None
        return min(p.started for p in self._sets.values()) + self.timeout

    def _make_room(self, device: str, incoming: int) -> None:
        mine = sorted((p.started, k) for k, p in self._sets.items() if k[0] == device)
        while len(mine) >= self.max_sets_per_device:
            self._drop(mine.pop(0)[1])
        while self._sets and self._bytes + incoming > self.max_bytes:
            oldest = min(self._sets, key=lambda k: self._sets[k].started)
            self._drop(oldest)

    def _drop(self, key: tuple[str, int]) -> None:
        part = self._sets.pop(key, None)
        if part is not None:
            self._bytes -= part.size
