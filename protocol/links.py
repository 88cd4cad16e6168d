"""Frame sizes per link, and whole messages on links larger than an SBD message.

One link message carries exactly one frame (docs/wire-format.md §1.1). How large that frame may
be is a property of the **link** it travels on, and a receiver knows it from where the bytes
came in — an SBD MO message is at most 340 bytes, an IMT (RockBLOCK 9704) message or a
broadband post at most 100,000 — never from anything in the frame.

Sequence numbers keep one unit on every link: a message whose encoding does not fit an SBD
frame alone is given the seqs of its SBD fragments when it is queued (§6), whatever link it will
take. On a larger link the sender puts the **whole message** in the frame instead of its
fragments (:func:`collapse`), and the receiver takes it as exactly those fragments
(:func:`expand`): the split is a pure function of the message's bytes, so both sides agree on
every fragment, the hash chain and the acks without a byte more on air. A box can therefore move
its queue from one modem to another at any time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from protocol import cbor, frame
from protocol.errors import LocalProtocolError, Malformed, Oversize
from protocol.fragment import max_single, split
from protocol.messages import (
    U32,
    DownlinkMessage,
    Fragment,
    UplinkMessage,
    encode_message,
    message_from_item,
)


@dataclass(frozen=True, slots=True)
class LinkLimits:
    """The largest frame one message of a link carries, each way."""

    name: str
    uplink: int
    downlink: int


SBD = LinkLimits("sbd", frame.UPLINK_MAX, frame.DOWNLINK_MAX)
IMT = LinkLimits("imt", 100_000, 100_000)  # RockBLOCK 9704 MO and Cloudloop MT payloads
IP = LinkLimits("ip", 100_000, 100_000)  # POST /ingest/frames and its answer
BY_NAME = {link.name: link for link in (SBD, IMT, IP)}

# A payload no larger than an SBD message (so every SBD frame's) holds at most
# frame.MAX_MESSAGES (64) messages; a larger one at most this many (the receiver's bound on work
# per frame; the sender stops there).
MAX_MESSAGES_LARGE = 4096


def max_messages(size: int) -> int:
    """Most messages a receiver takes from a payload of ``size`` bytes (a sender may pass its
    frame limit: a payload is smaller than its frame)."""
    return frame.MAX_MESSAGES if size <= frame.UPLINK_MAX else MAX_MESSAGES_LARGE


def expand(
    messages: Sequence[tuple[UplinkMessage, bytes]],
) -> list[tuple[UplinkMessage, bytes]]:
    """The messages of a received frame, each whole message longer than an SBD frame holds
    replaced by the fragments the sender queued it as (same seqs, same bytes).

    Raises:
        Oversize: a whole message that would need more than 32 fragments.
    """
    if all(len(e) <= max_single() for _, e in messages):
        return list(messages)
    out: list[tuple[UplinkMessage, bytes]] = []
    for msg, encoded in messages:
        if isinstance(msg, Fragment) or len(encoded) <= max_single():
            out.append((msg, encoded))
            continue
        seq = getattr(msg, "seq")  # noqa: B009 — every uplink message has one
        try:
            parts = split(encoded, seq)
        except LocalProtocolError as exc:
            raise Oversize(f"whole message of seq {seq}: {exc}") from None
        if parts[-1].seq > U32:
            raise Malformed(f"whole message of seq {seq} runs past the seq space")
        out.extend((f, encode_message(f)) for f in parts)
    return out


@dataclass(frozen=True, slots=True)
class Unit:
    """What one sender puts in a frame as one message: a queued message, or the whole message
    its queued fragments ``seqs`` make up."""

    encoded: bytes
    seqs: tuple[int, ...]


def _fragment(encoded: bytes) -> Fragment | None:
    if len(encoded) < 2 or encoded[1] != 0x0F:  # [15, …]: an array head, then type 15
        return None
    item: Any = cbor.loads(encoded, what="queued message")
    msg = message_from_item(item)
    return msg if isinstance(msg, Fragment) else None


def collapse(queued: Sequence[tuple[int, bytes]]) -> list[Unit]:
    """Queued (seq, encoded) messages as units for a large frame, in the order given: every
    fragment set whose fragments are all here becomes one whole message, at the place of its
    first fragment; fragments of an incomplete set stay fragments."""
    sets: dict[int, dict[int, Fragment]] = {}
    frags: dict[int, Fragment] = {}
    for seq, encoded in queued:
        f = _fragment(encoded)
        if f is not None and f.seq == seq:
            frags[seq] = f
            sets.setdefault(f.first_seq, {})[f.index] = f
    whole: dict[int, Unit] = {}
    for first, parts in sets.items():
        count = next(iter(parts.values())).count
        if len(parts) == count and all(
            i in parts and parts[i].count == count for i in range(count)
        ):
            chunks = b"".join(parts[i].chunk for i in range(count))
            whole[first] = Unit(chunks, tuple(first + i for i in range(count)))
    out: list[Unit] = []
    placed: set[int] = set()
    for seq, encoded in queued:
        f = frags.get(seq)
        if f is None or f.first_seq not in whole:
            out.append(Unit(encoded, (seq,)))
        elif f.first_seq not in placed:
            placed.add(f.first_seq)
            out.append(whole[f.first_seq])
    return out


def parse_uplink(payload: bytes) -> list[tuple[UplinkMessage, bytes]]:
    """:func:`protocol.frame.parse_uplink` for a frame from any link: the message count bound
    of its size, whole messages taken as their fragments (:func:`expand`)."""
    return expand(frame.parse_uplink(payload, max_messages=max_messages(len(payload))))


def parse_downlink(payload: bytes) -> tuple[bytes, int, list[DownlinkMessage]]:
    """:func:`protocol.frame.parse_downlink` with the message count bound of its size."""
    return frame.parse_downlink(payload, max_messages=max_messages(len(payload)))
