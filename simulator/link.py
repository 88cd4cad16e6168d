"""Satellite link models: Gilbert–Elliott good/bad Markov states, sea state, long outages.

One :class:`SimLink` per vessel. It implements :class:`firmware_bridge.link.LinkModel`
(``session(now, mo_len)`` and ``signal(now)``), so the modem emulator can use it in real-time
mode, and adds what the virtual-clock engine needs: whether the MO reached the gateway (a failed
``+SBDIX`` may still have delivered it — the source of duplicates), the bytes radiated, whether
the modem answers at all, and the *trace* the oracle reads.

Model (calibration in docs/simulator.md, FIELD-FACTS §4):

* **Gilbert–Elliott, continuous time.** The link alternates good/bad with exponential sojourns
  (``mean_good_h``/``mean_bad_h``); a session fails with ``loss_good`` or ``loss_bad``. The
  parameters depend on the sea state at the vessel's position: ``normal`` (≈ 4 % sessions lost)
  or ``storm`` (≈ 14 %). The state process is advanced lazily to each query time, so idle
  hours cost nothing.
* **Hard-down intervals** (the *trace*): long outages drawn per vessel (antenna fault, power off,
  terminal unplugged), fleet events (provider outage, a vessel going dark on purpose) and, for
  a broadband window link, every hour outside its window. Nothing can get through in them; the
  oracle assumes everything else could.
* **Failure codes** are drawn from the profile's ``+SBDIX`` mix — except 36 ("wait 3 minutes
  since last registration"), which can only answer a session started within 3 minutes of the
  previous one (every ``+SBDIX`` registers the modem's location); latency is
  ``setup_s + bytes / bytes_per_s`` plus an exponential jitter (5–20 s for Iridium SBD).

All randomness comes from the injected :class:`random.Random`; time is always passed in, and
queries must not go back in time (the engine asks in order).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from firmware_bridge.link import SessionOutcome
from simulator.scenario import LinkProfile, SeaState

HOUR = 3600.0
DAY = 86_400.0

#: What a hard-down interval is, strongest first (where intervals overlap, the first wins).
DOWN_KINDS = ("power", "unplugged", "dark", "antenna", "provider", "closed")
#: Kinds in which the modem does not answer the serial port at all.
MODEM_DEAD = frozenset({"power", "unplugged", "dark"})
#: ``+SBDIX`` failure codes during which the MO was radiated (it may even have arrived).
TRANSMITTED = frozenset({10, 11, 13, 17, 18, 19})
GHOST_CODES = frozenset({13, 18, 19})
#: ``+SBDIX`` 36, "wait 3 minutes since last registration" (FIELD-FACTS §1): the network's
#: answer to a modem that registered less than :data:`REGISTRATION_HOLD_S` ago, not a fade.
REGISTRATION_WAIT = 36
REGISTRATION_HOLD_S = 180.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One session as the engine sees it (the modem only sees :attr:`outcome`)."""

    outcome: SessionOutcome
    on_air: int  # MO bytes radiated
    reached_gateway: bool  # the MO got to the provider (success, or a "ghost" failure)
    bad_state: bool


class Trace:
    """Hard-down intervals of one vessel's link, as disjoint kind-labelled segments."""

    def __init__(self, intervals: Iterable[tuple[float, float, str]]) -> None:
        self.segments = _segment(intervals)
        self._starts = [s for s, _, _ in self.segments]

    def kind_at(self, t: float) -> str | None:
        """The down kind at ``t``, or None when the link is not hard-down."""
        i = bisect.bisect_right(self._starts, t) - 1
        if i >= 0:
            start, end, kind = self.segments[i]
            if start <= t < end:
                return kind
        return None

    def down_until(self, t: float) -> float:
        """End of the hard-down stretch containing ``t`` (``t`` itself if up)."""
        i = bisect.bisect_right(self._starts, t) - 1
        if i < 0 or not self.segments[i][0] <= t < self.segments[i][1]:
            return t
        end = self.segments[i][1]
        # Adjacent segments of different kinds continue the down stretch.
        for start, e, _ in self.segments[i + 1 :]:
            if start > end:
                break
            end = max(end, e)
        return end

    def next_up(self, t: float) -> float:
        """The first instant ≥ ``t`` at which the link is not hard-down (oracle)."""
        return self.down_until(t)

    def down_seconds(self, start: float, end: float) -> float:
        return sum(max(0.0, min(e, end) - max(s, start)) for s, e, _ in self.segments)


def _segment(intervals: Iterable[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Disjoint segments; where intervals overlap, the strongest kind (DOWN_KINDS order) wins."""
    items = [(s, e, k) for s, e, k in intervals if e > s]
    if not items:
        return []
    points = sorted({p for s, e, _ in items for p in (s, e)})
    rank = {k: i for i, k in enumerate(DOWN_KINDS)}
    out: list[tuple[float, float, str]] = []
    items.sort()
    for a, b in itertools.pairwise(points):
        kinds = [k for s, e, k in items if s <= a and e >= b]
        if not kinds:
            continue
        kind = min(kinds, key=lambda k: rank.get(k, len(rank)))
        if out and out[-1][1] == a and out[-1][2] == kind:
            out[-1] = (out[-1][0], b, kind)
        else:
            out.append((a, b, kind))
    return out


def intervals_union(spans: Sequence[tuple[float, float]], t: float) -> bool:
    """Is ``t`` inside one of the sorted, disjoint ``spans``? (storm exposure)."""
    i = bisect.bisect_right(spans, (t, math.inf)) - 1
    return i >= 0 and spans[i][0] <= t < spans[i][1]


class SimLink:
    """One vessel's link: profile parameters + sea state + trace + Gilbert–Elliott state."""

    def __init__(
        self,
        profile: LinkProfile,
        *,
        rng: random.Random,
        trace: Trace,
        storms: Sequence[tuple[float, float]] = (),
        start: float = 0.0,
    ) -> None:
        self.p = profile
        self.rng = rng
        self.trace = trace
        self.storms = list(storms)
        codes = sorted(profile.failure_codes.items(), key=lambda kv: int(kv[0]))
        self._codes = [int(c) for c, _ in codes]
        self._cum = list(_cumulative([w for _, w in codes]))
        # The mix without code 36, for sessions with no registration in the last 3 minutes.
        fresh = [(int(c), w) for c, w in codes if int(c) != REGISTRATION_WAIT] or [
            (int(c), w) for c, w in codes
        ]
        self._fresh_codes = [c for c, _ in fresh]
        self._fresh_cum = list(_cumulative([w for _, w in fresh]))
        self._registered: float | None = None  # start of the last session that reached the net
        self.bad = False
        self._until = start + self._sojourn(start)
        self.bad_spans: list[tuple[float, float]] = []
        self._bad_since = 0.0
        self.sessions = 0
        self.failures = 0
        self.storm_sessions = 0
        self.storm_failures = 0

    # --- Gilbert–Elliott ------------------------------------------------------------------

    def sea(self, t: float) -> SeaState:
        return self.p.storm if self.storms and intervals_union(self.storms, t) else self.p.normal

    def _sojourn(self, t: float) -> float:
        sea = self.sea(t)
        mean = sea.mean_bad_h if self.bad else sea.mean_good_h
        return self.rng.expovariate(1.0 / (mean * HOUR))

    def _advance(self, t: float) -> None:
        while self._until <= t:
            now = self._until
            self.bad = not self.bad
            if self.bad:
                self._bad_since = now
            else:
                self.bad_spans.append((self._bad_since, now))
            self._until = now + self._sojourn(now)

    # --- what the modem sees (firmware_bridge.link.LinkModel) ------------------------------

    def modem_alive(self, now: float) -> bool:
        return self.trace.kind_at(now) not in MODEM_DEAD

    def signal(self, now: float) -> int:
        """Bars 0..5: 0 when hard-down (no service, antenna fault), 1 in the bad state, else 4."""
        kind = self.trace.kind_at(now)
        if kind in ("antenna", "closed") or kind in MODEM_DEAD:
            return 0
        self._advance(now)
        return 1 if self.bad else 4

    def session(self, now: float, mo_len: int) -> SessionOutcome:
        """LinkModel interface: the outcome of one ``+SBDIX`` started at ``now``."""
        return self.attempt(now, mo_len).outcome

    def latency_min(self, nbytes: int) -> float:
        """Deterministic lower bound of a session's duration (the oracle uses it)."""
        return self.p.setup_s + nbytes / self.p.bytes_per_s

    def attempt(self, now: float, mo_len: int) -> Attempt:
        """Draw one session's outcome (advances the state and the rng)."""
        kind = self.trace.kind_at(now)
        jitter = self.rng.expovariate(1.0 / self.p.jitter_s) if self.p.jitter_s > 0 else 0.0
        if kind is not None:
            code = {"antenna": 33, "provider": 17, "closed": 32}.get(kind, 32)
            latency = self.p.setup_s + jitter + (30.0 if code == 17 else 0.0)
            return Attempt(
                outcome=SessionOutcome(mo_status=code, latency_s=latency, signal=self.signal(now)),
                on_air=mo_len if code == 17 else 0,
                reached_gateway=False,
                bad_state=False,
            )
        self._advance(now)
        sea = self.sea(now)
        in_storm = sea is self.p.storm and bool(self.storms)
        loss = sea.loss_bad if self.bad else sea.loss_good
        registered, self._registered = self._registered, now
        recent = registered is not None and now - registered < REGISTRATION_HOLD_S
        self.sessions += 1
        self.storm_sessions += in_storm
        bars = 1 if self.bad else 4
        if self.rng.random() < loss:
            self.failures += 1
            self.storm_failures += in_storm
            codes, cum = (
                (self._codes, self._cum) if recent else (self._fresh_codes, self._fresh_cum)
            )
            code = codes[bisect.bisect_right(cum, self.rng.random() * cum[-1])]
            radiated = code in TRANSMITTED
            ghost = code in GHOST_CODES and self.rng.random() < self.p.ghost_share
            latency = self.p.setup_s + jitter + (mo_len / self.p.bytes_per_s if radiated else 0)
            return Attempt(
                outcome=SessionOutcome(mo_status=code, latency_s=latency, signal=bars),
                on_air=mo_len if radiated else 0,
                reached_gateway=ghost,
                bad_state=self.bad,
            )
        return Attempt(
            outcome=SessionOutcome(
                mo_status=0, latency_s=self.latency_min(mo_len) + jitter, signal=bars
            ),
            on_air=mo_len,
            reached_gateway=True,
            bad_state=self.bad,
        )

    def credits(self, mo_len: int, mt_len: int) -> int:
        """Billing units of one successful session (FIELD-FACTS §4: 50-byte credits, at least
        one per session, a mailbox check costs one)."""
        unit = self.p.billing_unit
        units = math.ceil(mo_len / unit) + math.ceil(mt_len / unit)
        return max(self.p.min_units, units)

    def close(self, end: float) -> None:
        """Finish the record of bad spans at the end of the run."""
        self._advance(end)
        if self.bad:
            self.bad_spans.append((self._bad_since, end))


def _cumulative(weights: Iterable[float]) -> Iterable[float]:
    total = 0.0
    for w in weights:
        total += w
        yield total


def window_closed(
    window: tuple[float, float] | None,
    days: float,
    ports: Sequence[tuple[float, float]],
    in_port_up: bool,
) -> list[tuple[float, float, str]]:
    """Closed intervals of a broadband window link over ``days``: outside the daily window
    hours, except in port when port Wi-Fi is up."""
    if window is None:
        return []
    lo, hi = window
    open_spans: list[tuple[float, float]] = []
    for d in range(math.ceil(days) + 1):
        if hi > lo:
            open_spans.append((d * DAY + lo * HOUR, d * DAY + hi * HOUR))
        else:  # window over midnight
            open_spans.append((d * DAY, d * DAY + hi * HOUR))
            open_spans.append((d * DAY + lo * HOUR, (d + 1) * DAY))
    if in_port_up:
        open_spans.extend(ports)
    open_spans.sort()
    closed: list[tuple[float, float, str]] = []
    t = 0.0
    horizon = (math.ceil(days) + 1) * DAY
    for s, e in open_spans:
        if s > t:
            closed.append((t, s, "closed"))
        t = max(t, e)
    if t < horizon:
        closed.append((t, horizon, "closed"))
    return closed


def draw_outages(
    profile: LinkProfile, rng: random.Random, horizon: float
) -> list[tuple[float, float, str]]:
    """Long outages over ``[0, horizon)``: Poisson arrivals, exponential durations."""
    out: list[tuple[float, float, str]] = []
    for o in profile.outages:
        if o.per_month <= 0:
            continue
        rate = o.per_month / (30 * DAY)
        t = rng.expovariate(rate)
        while t < horizon:
            dur = rng.expovariate(1.0 / (o.mean_h * HOUR))
            out.append((t, t + dur, o.kind))
            t += dur + rng.expovariate(rate)
    return out
