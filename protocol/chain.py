"""Hash chain over a device's message sequence: evidence of suppressed or deleted messages.

    C_0 = 8 zero bytes
    C_n = SHA-256("flip-chain" ‖ C_{n-1} ‖ u32be(n) ‖ SHA-256(encoded message n))[:8]

The vessel advances it as it assigns each seq (fragments included) and reports ``C_{h-1}`` in
its heartbeat ``h``. The shore recomputes it over what arrived
(:func:`protocol.shorecore.advance`); a mismatch means the vessel
sent something other than what reached shore — a swapped or forged message — while a shortfall
shows up as missing seqs.
"""

from __future__ import annotations

import hashlib

from protocol.limits import CHAIN_LEN

GENESIS = bytes(CHAIN_LEN)
_LABEL = b"flip-chain"


def digest(encoded: bytes) -> bytes:
    """The per-message input of the chain."""
    return hashlib.sha256(encoded).digest()


def advance(prev: bytes, seq: int, message_digest: bytes) -> bytes:
    """C_n from C_{n-1}, n and the digest of message n."""
    return hashlib.sha256(_LABEL + prev + seq.to_bytes(4, "big") + message_digest).digest()[
        :CHAIN_LEN
    ]
