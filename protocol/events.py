"""Events the state machines return (named in the past tense, after aioquic ``quic/events.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.downlinks import Ack, CaseStatus, Config, KeyRotation, ShoreMessage
from protocol.messages import UplinkMessage

# --- shore side -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived:
    """A new uplink message (reassembled if it came in fragments).

    ``encoded`` is the message's exact CBOR. Only new messages are reported: the store knows
    every (device, seq), so a repeat is a :class:`DuplicateReceived`.
    """

    device: str
    kid: bytes
    seq: int
    message: UplinkMessage
    encoded: bytes
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
    """Seqs below the highest received that have not arrived: evidence for staff (the gateway
    raises a gap alert). ``ranges`` are ``(first, last)`` or, inside a range the vessel declared
    lost (heartbeat element 6), ``(first, last, reason)``; ``missing`` lists their first 256
    seqs."""

    device: str
    missing: tuple[int, ...]
    highest: int
    ranges: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GapsResolved:
    """The gaps alerted before are filled, or now declared lost: earlier gap alerts close."""

    device: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CollisionDetected:
    """Seqs arrived with content other than what is stored under them (e.g. a replacement box
    that restarted its seqs). Acks to the device are held until staff resolve it."""

    device: str
    seqs: tuple[int, ...]


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
    | GapsResolved
    | CollisionDetected
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
