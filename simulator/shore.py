"""The shore side under the virtual clock (the default, ``--shore memory``): the gateway's shore
logic over the in-memory store, the provider's MT queue, and a case-desk seam.

:class:`ShoreSide` drives :class:`protocol.shore.ShoreSession` — the in-memory store over
:mod:`protocol.shorecore`, the same functions the gateway runs over SQL (verify, dedupe and
collisions by (device, seq), durable reassembly, prefix, labelled gaps, chain, acks; a
conformance suite feeds both the same frames) — then opens crew messages with
:func:`protocol.shore.open_crew` and hands them to the case desk. What it does not run is the
gateway's SQL, enrichment and case desk: ``--shore gateway`` (:mod:`simulator.gateway_shore`)
runs those, on SQLite.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import frame
from protocol.crew import CrewContent
from protocol.downlinks import Ack, CaseState, CaseStatus
from protocol.events import (
    DuplicateReceived,
    FragmentStored,
    GapDetected,
    MessageReceived,
)
from protocol.messages import CrewMessage, DownlinkMessage
from protocol.shore import ShoreSession, open_crew


class CaseDesk(Protocol):
    """Where a delivered grievance becomes a case (built-in desk, MQTT, Primero — later)."""

    def open_case(
        self, device: str, seq: int, content: CrewContent, now: float
    ) -> tuple[str, list[tuple[float, CaseState]]]:
        """Open a case: (case ref, status updates to send the crew as (time, state))."""
        ...


@dataclass(slots=True)
class InstantDesk:
    """Opens every case on delivery and schedules the scenario's updates after it."""

    updates: list[tuple[float, CaseState]]  # (seconds after opening, state)

    def open_case(
        self, device: str, seq: int, content: CrewContent, now: float
    ) -> tuple[str, list[tuple[float, CaseState]]]:
        ref = f"{device[-4:]}-{seq}"[-16:]
        return ref, [(now, CaseState.OPENED), *((now + dt, s) for dt, s in self.updates)]


@dataclass(slots=True, kw_only=True)
class Received:
    """What one uplink frame did ashore."""

    device: str
    new_seqs: list[int] = field(default_factory=list)  # accepted for the first time
    crew: list[tuple[int, CrewContent]] = field(default_factory=list)  # new crew messages
    suppressed: int = 0  # duplicates recognised by the store
    surfaced: int = 0  # duplicates that got past it (the simulator's own check: must stay 0)
    gaps: int = 0


@dataclass(slots=True)
class _Device:
    kid: bytes
    statuses: list[CaseStatus] = field(default_factory=list)
    dirty: bool = False  # something new to say (acks or statuses) not yet in the MT queue
    mt: deque[tuple[bytes, list[CaseStatus]]] = field(default_factory=deque)


class ShoreSide:
    """One shore gateway for a set of devices (a worker simulates a shard of the fleet)."""

    def __init__(
        self,
        *,
        sign_key: Ed25519PrivateKey,
        seal_key: X25519PrivateKey,
        devices: dict[bytes, tuple[str, Ed25519PublicKey]],
        desk: CaseDesk,
        on_gap: Callable[[str, GapDetected], None] | None = None,
    ) -> None:
        self.session = ShoreSession(
            sign_key=sign_key,
            lookup=lambda kid: [devices[kid]] if kid in devices else [],
        )
        self.seal_keys = [seal_key]
        self.desk = desk
        self.devices = {name: _Device(kid=kid) for kid, (name, _) in devices.items()}
        self.stored: set[tuple[str, int]] = set()  # delivered (device, seq): an outside check
        self.on_gap = on_gap
        self.signed = 0  # MT frames signed

    def receive(self, data: bytes, now: float, *, max_size: int = frame.UPLINK_MAX) -> Received:
        """Take one MO payload as DirectIP would hand it over.

        Raises:
            RemoteProtocolError: the frame is refused as a whole (never for the sim's own frames).
        """
        device, kid, events = self.session.receive_frame(data, now, max_size=max_size)
        out = Received(device=device)
        for ev in events:
            if isinstance(ev, MessageReceived):
                seqs = ev.fragment_seqs or (ev.seq,)
                key = (device, ev.seq)
                if key in self.stored:  # the store said new twice: a duplicate surfaced
                    out.surfaced += 1
                    continue
                self.stored.add(key)
                out.new_seqs.extend(seqs)
                if isinstance(ev.message, CrewMessage):
                    out.crew.append((ev.seq, open_crew(ev.message, kid, self.seal_keys)))
            elif isinstance(ev, FragmentStored):
                out.new_seqs.append(ev.seq)
            elif isinstance(ev, DuplicateReceived):
                out.suppressed += 1
            elif isinstance(ev, GapDetected):
                out.gaps += 1
                if self.on_gap:
                    self.on_gap(device, ev)
        self.devices[device].dirty = True  # at least an ack to send
        return out

    def queue_status(self, device: str, status: CaseStatus) -> None:
        d = self.devices[device]
        d.statuses.append(status)
        d.dirty = True

    def pull_mt(self, device: str, now: float) -> tuple[bytes | None, int]:
        """The MT message a session started at ``now`` receives, and how many stay queued.

        Acks and statuses are signed into MT frames only when a session comes to fetch them
        (like a DirectIP MT sent with "flush queue"), so an ack is always the freshest one.
        """
        d = self.devices[device]
        if d.dirty:
            # Statuses still waiting in undelivered frames go again, with a fresh ack.
            statuses = [s for _, ss in d.mt for s in ss] + d.statuses
            acks: list[DownlinkMessage] = list(self.session.acks_for(device))
            if acks == [Ack(cum_seq=0)]:
                acks = []
            d.mt.clear()
            d.statuses = []
            d.dirty = False
            if acks or statuses:
                d.mt.extend(self._pack(d.kid, acks, statuses, int(now)))
        if not d.mt:
            return None, 0
        return d.mt.popleft()[0], len(d.mt)

    def _pack(
        self, kid: bytes, acks: list[DownlinkMessage], statuses: list[CaseStatus], now: int
    ) -> list[tuple[bytes, list[CaseStatus]]]:
        """Sign acks first, then statuses, into ≤ 270-byte MT frames; remember which statuses
        each frame carries (so a frame replaced before delivery does not lose them)."""
        frames = self.session.downlink(kid, [*acks, *statuses], now)
        self.signed += len(frames)
        if len(frames) == 1:
            return [(frames[0], statuses)]
        # Rare (many statuses at once): one frame for the acks, one per status.
        out: list[tuple[bytes, list[CaseStatus]]] = (
            [(f, []) for f in self.session.downlink(kid, acks, now)] if acks else []
        )
        for s in statuses:
            out.append((self.session.downlink(kid, [s], now)[0], [s]))
        self.signed += len(out)
        return out

    def catch_event(
        self, device: str, when: float, trip_began: float, lat: float, lon: float
    ) -> int:
        """Catch events are counted only on this shore (``--shore gateway`` ingests them)."""
        return 0

    def has_mt(self, device: str) -> bool:
        d = self.devices[device]
        return d.dirty or bool(d.mt)
