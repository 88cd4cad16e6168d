"""Shore side of the protocol: verify, replay window, reassembly, gaps, chain, acks, downlink.

Sans-IO: :meth:`ShoreSession.receive_frame` takes bytes and ``now`` and returns events; the
gateway does the storing, decrypting (possibly on another host, :func:`open_crew`) and sending.
Device keys come from an injected lookup (kid → candidate keys), so rotation and revocation
are the registry's business.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import chain, frame
from protocol.errors import BadSignature, LocalProtocolError, UnknownDevice
from protocol.events import (
    ChainMismatched,
    ChainVerified,
    DuplicateReceived,
    FragmentsExpired,
    FragmentStored,
    GapDetected,
    MessageReceived,
    ShoreEvent,
)
from protocol.fragment import Reassembler
from protocol.keys import key_id
from protocol.messages import (
    Ack,
    CrewContent,
    CrewMessage,
    DownlinkMessage,
    Fragment,
    Heartbeat,
    UplinkMessage,
    decode_crew,
    encode_message,
)
from protocol.replay import ReplayWindow, Seen
from protocol.seal import crew_info, open_sealed

KeyLookup = Callable[[bytes], Sequence[tuple[str, Ed25519PublicKey]]]


@dataclass(slots=True)
class DeviceState:
    """What the shore remembers about one device (rebuildable from the durable store)."""

    window: ReplayWindow
    chain: chain.ChainTracker
    reported_missing: frozenset[int] = frozenset()
    recent: set[int] = field(default_factory=set)  # accepted since the last ack was built


def verify_frame(data: bytes, lookup: KeyLookup) -> tuple[str, frame.Sign1]:
    """Parse and verify an uplink frame: (device, frame). Cheap checks first.

    Raises:
        Oversize, Malformed, Truncated: not a frame flip-sync would send.
        UnknownDevice: no registered key has this kid.
        BadSignature: none of the keys under this kid signed it.
    """
    sign1 = frame.parse(data, max_size=frame.UPLINK_MAX)
    candidates = lookup(sign1.kid)
    if not candidates:
        raise UnknownDevice(f"no device key with kid {sign1.kid.hex()}")
    for device, key in candidates:
        try:
            frame.verify(sign1, key)
        except BadSignature:
            continue
        return device, sign1
    raise BadSignature(f"signature does not verify for kid {sign1.kid.hex()}")


def open_crew(msg: CrewMessage, kid: bytes, keys: list[X25519PrivateKey]) -> CrewContent:
    """Decrypt a crew message sealed under header (kid, seq, time).

    Raises:
        SealBroken: tampered, moved to another header, or sealed to another key.
        Malformed: opened but not valid crew content.
    """
    plaintext = open_sealed(msg.sealed, keys, crew_info(kid, msg.seq, msg.time))
    return decode_crew(plaintext)


class ShoreSession:
    """Per-gateway protocol state for every device it has heard from."""

    def __init__(
        self,
        *,
        sign_key: Ed25519PrivateKey,
        lookup: KeyLookup,
        window: int = 4096,
        reassembler: Reassembler | None = None,
    ) -> None:
        self.sign_key = sign_key
        self.kid = key_id(sign_key.public_key())
        self.lookup = lookup
        self.window_size = window
        self.reassembler = reassembler or Reassembler()
        self.devices: dict[str, DeviceState] = {}

    def device(self, name: str) -> DeviceState:
        state = self.devices.get(name)
        if state is None:
            state = self.devices[name] = DeviceState(
                window=ReplayWindow(self.window_size),
                chain=chain.ChainTracker(window=self.window_size),
            )
        return state

    def receive_frame(self, data: bytes, now: float) -> tuple[str, bytes, list[ShoreEvent]]:
        """Verify and take in one uplink frame: (device, kid, events).

        Raises a :class:`RemoteProtocolError` subclass for a frame to refuse as a whole; once
        the signature verifies, a single bad message inside is refused as a whole too (a
        device that signs garbage is broken or compromised, and staff should see it).
        """
        device, sign1 = verify_frame(data, self.lookup)
        messages = frame.parse_uplink(sign1.payload)
        state = self.device(device)
        events: list[ShoreEvent] = []
        for msg, encoded in messages:
            events.extend(self._take(device, sign1.kid, state, msg, encoded, now))
        events.extend(self._check(device, state))
        return device, sign1.kid, events

    def _take(
        self,
        device: str,
        kid: bytes,
        state: DeviceState,
        msg: UplinkMessage,
        encoded: bytes,
        now: float,
    ) -> list[ShoreEvent]:
        seq = msg.seq
        assert seq is not None  # parse_uplink guarantees it
        seen = state.window.check(seq)
        if seen is Seen.DUPLICATE:
            state.recent.add(seq)
            return [DuplicateReceived(device=device, seq=seq)]
        state.chain.add(seq, chain.digest(encoded))
        if isinstance(msg, Fragment):
            done = self.reassembler.add(device, msg, now)
            if done is None:
                return [FragmentStored(device=device, seq=seq, first_seq=msg.first_seq)]
            for s in done.fragment_seqs:
                self._accept(state, s)
            return [
                MessageReceived(
                    device=device,
                    kid=kid,
                    seq=done.first_seq,
                    message=done.message,  # type: ignore[arg-type]  # seq checked ⇒ uplink
                    encoded=done.encoded,
                    possibly_duplicate=seen is Seen.STALE,
                    fragment_seqs=done.fragment_seqs,
                )
            ]
        if isinstance(msg, Heartbeat):
            state.chain.claim(msg.last_seq, msg.chain)
        self._accept(state, seq)
        return [
            MessageReceived(
                device=device,
                kid=kid,
                seq=seq,
                message=msg,
                encoded=encoded,
                possibly_duplicate=seen is Seen.STALE,
            )
        ]

    @staticmethod
    def _accept(state: DeviceState, seq: int) -> None:
        state.window.mark(seq)
        state.recent.add(seq)

    def _check(self, device: str, state: DeviceState) -> list[ShoreEvent]:
        events: list[ShoreEvent] = []
        missing = frozenset(state.window.missing()) - self.reassembler.pending(device)
        if missing - state.reported_missing:
            events.append(
                GapDetected(
                    device=device, missing=tuple(sorted(missing)), highest=state.window.highest
                )
            )
        state.reported_missing = missing
        ok, bad, _lost = state.chain.settle()
        events.extend(ChainVerified(device=device, upto=s) for s in ok)
        events.extend(ChainMismatched(device=device, upto=s) for s in bad)
        return events

    def handle_timer(self, now: float) -> list[ShoreEvent]:
        """Expire fragment sets that waited too long (their senders will retransmit)."""
        return [FragmentsExpired(device=d, first_seq=s) for d, s in self.reassembler.expire(now)]

    def get_timer(self) -> float | None:
        return self.reassembler.next_expiry()

    # --- downlink -------------------------------------------------------------------------

    def acks_for(self, device: str) -> list[Ack]:
        """Acks covering the device's prefix and what it sent since the last acks."""
        state = self.device(device)
        window = state.window
        recent = sorted(s for s in state.recent if s > window.prefix)
        state.recent.clear()
        if not recent:
            return [Ack(cum_seq=window.prefix)]
        acks: list[Ack] = []
        base = window.prefix + 1
        while recent:
            ack = Ack.of(window.prefix, recent, base=base)
            acks.append(ack)
            covered = set(ack.seqs())
            recent = [s for s in recent if s not in covered]
            if recent:
                base = recent[0]
        return acks

    def downlink(self, to_kid: bytes, messages: Sequence[DownlinkMessage], now: int) -> list[bytes]:
        """Sign ``messages`` for the device ``to_kid`` into as few ≤ 270-byte frames as fit."""
        return pack_downlink(self.sign_key, self.kid, to_kid, messages, now)


def pack_downlink(
    key: Ed25519PrivateKey,
    kid: bytes,
    to_kid: bytes,
    messages: Sequence[DownlinkMessage],
    now: int,
    limit: int = frame.DOWNLINK_MAX,
) -> list[bytes]:
    """Greedy in-order packing of downlink messages into signed frames of ≤ ``limit`` bytes."""
    frames: list[bytes] = []
    batch: list[bytes] = []
    for msg in messages:
        encoded = encode_message(msg)
        trial = [*batch, encoded]
        size = frame.frame_size(frame.downlink_payload_size(now, [len(e) for e in trial]))
        if size > limit:
            if not batch:
                raise LocalProtocolError(f"{type(msg).__name__} alone exceeds {limit} bytes")
            frames.append(frame.sign(frame.downlink_payload(to_kid, now, batch), key, kid))
            batch = [encoded]
        else:
            batch = trial
    if batch:
        frames.append(frame.sign(frame.downlink_payload(to_kid, now, batch), key, kid))
    return frames
