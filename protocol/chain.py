"""Hash chain over a device's message sequence: evidence of suppressed or deleted messages.

    C_0 = 8 zero bytes
    C_n = SHA-256("flip-chain" ‖ C_{n-1} ‖ u32be(n) ‖ SHA-256(encoded message n))[:8]

The vessel advances it as it assigns each seq (fragments included) and reports ``C_{h-1}`` in
its heartbeat ``h``. The shore recomputes it over what arrived; a mismatch means the vessel
sent something other than what reached shore — a swapped or forged message — while a shortfall
shows up as missing seqs.
"""

from __future__ import annotations

import hashlib

from protocol.messages import CHAIN_LEN

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


class ChainTracker:
    """Shore-side recomputation for one device, with bounded memory.

    Keeps the chain value at the contiguous prefix, digests of messages that arrived beyond it
    (at most ``window``), and the last ``history`` chain values so a heartbeat that arrives after
    the prefix moved on can still be checked. A heartbeat whose target fell out of that history
    is reported unverifiable rather than guessed.
    """

    def __init__(self, *, window: int = 4096, history: int = 256) -> None:
        self.prefix = 0
        self.value = GENESIS
        self._pending: dict[int, bytes] = {}
        self._history: dict[int, bytes] = {0: GENESIS}
        self._claims: dict[int, bytes] = {}
        self._window = window
        self._history_len = history

    def add(self, seq: int, message_digest: bytes) -> None:
        """Record that message ``seq`` arrived with this digest."""
        if seq <= self.prefix or seq > self.prefix + self._window:
            return
        self._pending[seq] = message_digest
        while self.prefix + 1 in self._pending:
            nxt = self.prefix + 1
            self.value = advance(self.value, nxt, self._pending.pop(nxt))
            self.prefix = nxt
            self._history[nxt] = self.value
            self._history.pop(nxt - self._history_len, None)

    def claim(self, last_seq: int, chain: bytes) -> None:
        """A heartbeat's checkpoint: the vessel says C_{last_seq} = ``chain``."""
        if len(self._claims) < 64:
            self._claims[last_seq] = chain

    def settle(self) -> tuple[list[int], list[int], list[int]]:
        """Check claims that can be checked now: (verified, mismatched, unverifiable) seqs."""
        ok: list[int] = []
        bad: list[int] = []
        lost: list[int] = []
        for last_seq, chain in list(self._claims.items()):
            if last_seq > self.prefix:
                continue
            del self._claims[last_seq]
            known = self._history.get(last_seq)
            if known is None:
                lost.append(last_seq)
            elif known == chain:
                ok.append(last_seq)
            else:
                bad.append(last_seq)
        return ok, bad, lost
