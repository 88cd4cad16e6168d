"""Events the state machines return (named in the past tense, after aioquic ``quic/events.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.messages import (
    Ack,
    CaseStatus,
    Config,
    KeyRotation,
    ShoreMessage,
    UplinkMessage,
)

# --- shore side -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived:
    """A new uplink message (reassembled if it came in fragments).

    ``encoded`` is the message's exact CBOR; ``possibly_duplicate`` is set when the seq lies
    below the replay window, so only the durable store (a unique constraint) can tell.
    """

    device: str
    kid: bytes
    seq: int
    message: UplinkMessage
    encoded: bytes
    possibly_duplicate: bool = False
    fragment_seqs: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DuplicateReceived:
    """Seen before: acknowledge again, do not process again."""

    device: str
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FragmentStored:
    device: str
    seq: int
    first_seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FragmentsExpired:
    device: str
    first_seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GapDetected:
    """Seqs below the highest received that have not arrived: evidence for staff."""

    device: str
    missing: tuple[int, ...]
    highest: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainVerified:
    device: str
    upto: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainMismatched:
    """The vessel's hash chain disagrees with what reached shore up to ``upto``."""

    device: str
    upto: int


ShoreEvent = (
    MessageReceived
    | DuplicateReceived
    | FragmentStored
    | FragmentsExpired
    | GapDetected
    | ChainVerified
    | ChainMismatched
)

# --- vessel side ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagesAcked:
    """A shore-signed ack covered these seqs: they may leave the outbox."""

    seqs: tuple[int, ...]
    ack: Ack


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseStatusReceived:
    status: CaseStatus
    shore_time: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigReceived:
    config: Config
    shore_time: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ShoreKeyRotated:
    rotation: KeyRotation


@dataclass(frozen=True, slots=True, kw_only=True)
class ShorePartReceived:
    """One part of a sealed shore message (protocol.conversation): store it, join when whole."""

    part: ShoreMessage
    shore_time: int


VesselEvent = (
    MessagesAcked | CaseStatusReceived | ConfigReceived | ShoreKeyRotated | ShorePartReceived
)
