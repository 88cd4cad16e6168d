"""Pluggable satellite link models for the emulator.

The emulator asks its :class:`LinkModel` what happens when the host starts a session
(``AT+SBDIX``): which MO status code, how long the session takes, how many signal bars. The
default is :class:`AlwaysUp`; the simulator plugs in its own (e.g. Gilbert–Elliott) models by
implementing the same two methods. Time is always passed in (``now``, seconds on whatever clock
the emulator runs), and randomness comes from an injected :class:`random.Random`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionOutcome:
    """What the constellation does with one session attempt."""

    mo_status: int  # +SBDIX MO status (0 = success); see firmware_bridge.status
    latency_s: float  # how long AT+SBDIX takes before answering
    signal: int  # bars 0..5 reported by AT+CSQ afterwards


class LinkModel(Protocol):
    """A model of the satellite link as seen from one modem."""

    def session(self, now: float, mo_len: int) -> SessionOutcome:
        """Outcome of a session started at ``now`` carrying ``mo_len`` MO bytes (0 = check)."""
        ...

    def signal(self, now: float) -> int:
        """Signal bars (0..5) that ``AT+CSQ`` reports at ``now``."""
        ...


@dataclass(slots=True)
class AlwaysUp:
    """Every session succeeds after ``latency_s`` (+ ``per_byte_s`` per MO byte); 5 bars."""

    latency_s: float = 0.05
    per_byte_s: float = 0.0
    bars: int = 5

    def session(self, now: float, mo_len: int) -> SessionOutcome:
        return SessionOutcome(
            mo_status=0, latency_s=self.latency_s + self.per_byte_s * mo_len, signal=self.bars
        )

    def signal(self, now: float) -> int:
        return self.bars


@dataclass(slots=True)
class NoService:
    """No network: every session fails with 32 after a short search, 0 bars."""

    latency_s: float = 0.05

    def session(self, now: float, mo_len: int) -> SessionOutcome:
        return SessionOutcome(mo_status=32, latency_s=self.latency_s, signal=0)

    def signal(self, now: float) -> int:
        return 0


@dataclass(slots=True)
class Scripted:
    """Plays back a fixed list of MO status codes, then succeeds (for tests)."""

    codes: list[int]
    latency_s: float = 0.01

    def session(self, now: float, mo_len: int) -> SessionOutcome:
        code = self.codes.pop(0) if self.codes else 0
        return SessionOutcome(mo_status=code, latency_s=self.latency_s, signal=3)

    def signal(self, now: float) -> int:
        return 3


@dataclass(slots=True)
class Flaky:
    """Independent losses with probability ``loss`` (≈4 % at sea, 14 % in rough seas).

    A lost session returns one of the codes seen in the field for radio trouble. Latency grows
    with the MO size, from ~5 s (short) to ~20 s (340 B) when ``scale`` is 1.0.
    """

    loss: float = 0.14
    scale: float = 0.01  # fraction of real latency; 1.0 = real time
    rng: random.Random | None = None

    def session(self, now: float, mo_len: int) -> SessionOutcome:
        rng = self.rng or random.Random(0)  # noqa: S311 - simulation, not security
        self.rng = rng
        latency = (5.0 + 15.0 * min(mo_len, 340) / 340) * self.scale
        if rng.random() < self.loss:
            code = rng.choice([13, 17, 18, 32, 35])
            return SessionOutcome(mo_status=code, latency_s=latency, signal=rng.randint(0, 2))
        return SessionOutcome(mo_status=0, latency_s=latency, signal=rng.randint(2, 5))

    def signal(self, now: float) -> int:
        return 3


PROFILES = ("always-up", "no-service", "flaky", "rough")


def profile(name: str, *, latency_s: float = 0.05, seed: int = 0) -> LinkModel:
    """A named link model for ``flip bridge emulate --link``.

    Raises:
        ValueError: unknown profile name.
    """
    rng = random.Random(seed)  # noqa: S311 - simulation, not security
    if name == "always-up":
        return AlwaysUp(latency_s=latency_s)
    if name == "no-service":
        return NoService(latency_s=latency_s)
    if name == "flaky":
        return Flaky(loss=0.04, scale=latency_s / 5.0, rng=rng)
    if name == "rough":
        return Flaky(loss=0.14, scale=latency_s / 5.0, rng=rng)
    raise ValueError(f"unknown link profile {name!r}; choose from {', '.join(PROFILES)}")
