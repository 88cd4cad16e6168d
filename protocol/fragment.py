"""Fragmentation of an encoded message too long for one frame, and bounded reassembly.

A message of ``n`` fragments with seq ``s`` is split into ``Fragment(seq=s+i, index=i, count=n)``;
the chunks concatenate to the encoded message itself, whose seq must be ``s``. The shore joins
them (:func:`protocol.shorecore.join`) and bounds what it holds
(:func:`protocol.shorecore.fragment_sets_to_drop`); nothing is acknowledged before the whole
message is stored, so the sender retransmits whatever the shore had to forget.
"""

from __future__ import annotations

import functools

from protocol import frame
from protocol.errors import LocalProtocolError
from protocol.limits import MAX_FRAGMENTS
from protocol.messages import Fragment

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
