"""Shared test helpers: deterministic keys and a vessel/shore pair that moves frames (after
h11's ``ConnectionPair``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import keys
from protocol.events import MessageReceived, ShoreEvent, VesselEvent
from protocol.shore import ShoreSession
from protocol.vessel import VesselSession


def det_rng(seed: str) -> Callable[[int], bytes]:
    """A deterministic byte source for tests (never for real keys)."""
    counter = 0

    def rng(n: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < n:
            counter += 1
            out += hashlib.sha256(f"{seed}/{counter}".encode()).digest()
        return out[:n]

    return rng


@dataclass
class ShoreKeys:
    sign: Ed25519PrivateKey
    seal: X25519PrivateKey


def shore_keys(seed: str = "shore") -> ShoreKeys:
    rng = det_rng(seed)
    return ShoreKeys(sign=keys.new_signing_key(rng), seal=keys.new_sealing_key(rng))


@dataclass
class VesselShorePair:
    """A vessel and a shore that exchange frames through lists the test can drop or reorder."""

    shore_keys: ShoreKeys = field(default_factory=shore_keys)
    device_key: Ed25519PrivateKey = field(
        default_factory=lambda: keys.new_signing_key(det_rng("vessel"))
    )
    device: str = "MV Example"

    def __post_init__(self) -> None:
        self.vessel = VesselSession(
            sign_key=self.device_key,
            shore_sign_pub=self.shore_keys.sign.public_key(),
            shore_seal_pub=self.shore_keys.seal.public_key(),
        )
        kid = keys.key_id(self.device_key.public_key())
        pub = self.device_key.public_key()
        self.shore = ShoreSession(
            sign_key=self.shore_keys.sign,
            lookup=lambda k: [(self.device, pub)] if k == kid else [],
        )
        self.received: list[MessageReceived] = []

    def uplink(self, now: float, max_frames: int = 8) -> tuple[list[bytes], list[ShoreEvent]]:
        frames = [f.data for f in self.vessel.frames_to_send(now, max_frames=max_frames)]
        events: list[ShoreEvent] = []
        for data in frames:
            events.extend(self.deliver(data, now))
        return frames, events

    def deliver(self, data: bytes, now: float) -> list[ShoreEvent]:
        _, _, events = self.shore.receive_frame(data, now)
        self.received.extend(e for e in events if isinstance(e, MessageReceived))
        return events

    def downlink(self, now: int) -> list[VesselEvent]:
        acks = self.shore.acks_for(self.device)
        events: list[VesselEvent] = []
        for data in self.shore.downlink(self.vessel.kid, acks, now):
            events.extend(self.vessel.handle_downlink(data, now))
        return events
