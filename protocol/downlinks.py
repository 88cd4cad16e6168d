"""Downlink messages: what the shore signs for one vessel (acks, case updates, settings, key
rotations, sealed shore texts). Their CBOR is in :mod:`protocol.messages` with every other
message's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum


class CaseState(IntEnum):
    """Status codes a case update carries to the crew member's receipt on board."""

    RECEIVED = 1
    OPENED = 2
    ACKNOWLEDGED = 3
    INVESTIGATING = 4
    REMEDIATION_IN_PROGRESS = 5
    REMEDIATED = 6
    CLOSED = 7
    REFERRED = 8
    WITHDRAWN = 9


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack:
    """Every seq ≤ ``cum_seq`` arrived, and so did seq ``base + i`` for every bit ``i`` set in
    ``bitmap`` (LSB of byte 0 first). ``base`` defaults to ``cum_seq + 1``; a later base lets the
    shore acknowledge recent messages beyond a long-standing gap.
    """

    cum_seq: int
    bitmap: bytes = b""
    base: int | None = None

    @property
    def bitmap_base(self) -> int:
        return self.cum_seq + 1 if self.base is None else self.base

    def covers(self, seq: int) -> bool:
        if seq <= self.cum_seq:
            return True
        i = seq - self.bitmap_base
        return 0 <= i < 8 * len(self.bitmap) and bool(self.bitmap[i // 8] >> (i % 8) & 1)

    def seqs(self) -> list[int]:
        """The seqs above ``cum_seq`` that the bitmap acknowledges."""
        base = self.bitmap_base
        return [base + i for i in range(8 * len(self.bitmap)) if self.bitmap[i // 8] >> (i % 8) & 1]

    @classmethod
    def of(
        cls, cum_seq: int, above: Iterable[int], *, base: int | None = None, max_bytes: int = 32
    ) -> Ack:
        """An ack from the cumulative point and seqs received above it (those that fit)."""
        start = cum_seq + 1 if base is None else base
        bits = bytearray(max_bytes)
        for seq in above:
            i = seq - start
            if 0 <= i < 8 * max_bytes:
                bits[i // 8] |= 1 << (i % 8)
        return cls(
            cum_seq=cum_seq,
            bitmap=bytes(bits).rstrip(b"\0"),
            base=None if start == cum_seq + 1 else start,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseStatus:
    """Case progress for the crew message ``ref_seq``; ``note`` indexes localized notes."""

    ref_seq: int
    case_ref: str
    status: int
    note: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    version: int
    airtime_bytes_per_day: int
    report_interval_s: int


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRotation:
    """New shore keys, announced under the current shore signature."""

    epoch: int
    sign_pub: bytes
    seal_pub: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ShoreMessage:
    """Part ``part`` of ``parts`` of a text the shore sealed to the reply key of the grievance
    ``ref_seq`` (:mod:`protocol.conversation`); the chunks concatenate to the sealed body.
    ``msg_id`` is the shore's id of the text, bound into the seal."""

    ref_seq: int
    msg_id: int
    part: int
    parts: int
    chunk: bytes
