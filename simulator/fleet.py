"""A scenario made concrete for one seed: each vessel's group, track, trips, storms, outages and
the grievances its crew will raise — all drawn up front from seeded generators, so a vessel's
life does not depend on which worker process simulates it.

Grievance texts are built from a small packaged phrase set (``simulator/data/texts.json``, a
subset of the project's multilingual corpus), cut or repeated to the drawn length.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from protocol.crew import VoiceNote
from simulator.link import DAY, HOUR, Trace, draw_outages, window_closed
from simulator.scenario import DarkVessel, LinkProfile, ProviderOutage, Scenario, Storm, VesselGroup

#: Fixed start of virtual time (2025-11-20T12:00:00Z); frames carry real-looking Unix times.
EPOCH = 1_763_640_000
KM_PER_DEG = 111.2


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrival:
    """One grievance a crew member will submit (``voice``: spoken instead, bench/voice.py)."""

    time: float
    category: int
    lang: str
    text: str
    voice: VoiceNote | None = None


@dataclass(slots=True, kw_only=True)
class VesselPlan:
    """Everything drawn for one vessel before the run."""

    idx: int
    name: str
    group: VesselGroup
    link_name: str
    profile: LinkProfile
    trace: Trace
    storms: list[tuple[float, float]]
    ports: list[tuple[float, float]]
    arrivals: list[Arrival]
    catches: list[float]  # times of fishing events (GDST), at sea only
    track: tuple[float, ...]  # centre lat, lon, amplitudes, periods, phases
    dark: list[tuple[float, float]] = field(default_factory=list)

    def position(self, t: float) -> tuple[float, float]:
        """A smooth track inside the group's area (Lissajous curve; cheap and deterministic)."""
        clat, clon, alat, alon, plat, plon, flat, flon = self.track
        lat = clat + alat * math.sin(2 * math.pi * t / plat + flat)
        lon = clon + alon * math.sin(2 * math.pi * t / plon + flon)
        return lat, lon


@cache
def texts() -> dict[str, list[str]]:
    """Packaged phrases per language tag."""
    raw = resources.files("simulator.data").joinpath("texts.json").read_text(encoding="utf-8")
    out: dict[str, list[str]] = {}
    for item in json.loads(raw):
        out.setdefault(item["lang"], []).append(item["text"])
    return out


def make_text(lang: str, chars: int, rng: random.Random) -> str:
    """About ``chars`` characters of plausible grievance text in ``lang``."""
    pool = texts()[lang]
    first = rng.randrange(len(pool))
    parts: list[str] = []
    n = 0
    i = first
    while n < chars:
        parts.append(pool[i % len(pool)])
        n += len(parts[-1]) + 1
        i += 1
    return " ".join(parts)[:chars].strip()


def poisson(rng: random.Random, mean: float) -> int:
    """Poisson variate by counting exponential gaps (means here are small)."""
    if mean <= 0:
        return 0
    n, t = 0, rng.expovariate(1.0)
    while t < mean:
        n += 1
        t += rng.expovariate(1.0)
    return n


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def groups(scenario: Scenario, n: int) -> list[int]:
    """Group index of each vessel: shares rounded by largest remainder, in group order."""
    total = sum(g.share for g in scenario.fleet)
    exact = [g.share / total * n for g in scenario.fleet]
    counts = [int(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return [gi for gi, c in enumerate(counts) for _ in range(c)]


def dark_vessels(scenario: Scenario, n: int, seed: int) -> dict[int, list[tuple[float, float]]]:
    """Which vessels go dark on purpose, and when (fleet-level draw, the same in every worker)."""
    rng = random.Random(f"{seed}:fleet-dark")  # noqa: S311 - simulation, not security
    out: dict[int, list[tuple[float, float]]] = {}
    for ev in scenario.events:
        if not isinstance(ev, DarkVessel):
            continue
        chosen = {v for v in ev.vessels if v < n}
        if ev.share > 0:
            chosen |= set(rng.sample(range(n), max(1, round(ev.share * n))))
        for v in sorted(chosen):
            start = ev.start_day * DAY
            out.setdefault(v, []).append((start, start + ev.duration_days * DAY))
    return out


def storm_spans(plan_track: VesselPlan, storms: list[Storm]) -> list[tuple[float, float]]:
    """When this vessel is inside a storm (sampled every 30 minutes)."""
    spans: list[tuple[float, float]] = []
    step = 1800.0
    for s in storms:
        t0 = s.start_day * DAY
        dur = s.duration_days * DAY
        t = t0
        inside_since: float | None = None
        while t <= t0 + dur:
            f = (t - t0) / dur
            clat = s.start[0] + f * (s.end[0] - s.start[0])
            clon = s.start[1] + f * (s.end[1] - s.start[1])
            lat, lon = plan_track.position(t)
            dx = (lon - clon) * math.cos(math.radians(clat)) * KM_PER_DEG
            dy = (lat - clat) * KM_PER_DEG
            inside = dx * dx + dy * dy <= s.radius_km**2
            if inside and inside_since is None:
                inside_since = t
            elif not inside and inside_since is not None:
                spans.append((inside_since, t))
                inside_since = None
            t += step
        if inside_since is not None:
            spans.append((inside_since, t0 + dur))
    spans.sort()
    merged: list[tuple[float, float]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def plan_vessel(
    scenario: Scenario,
    idx: int,
    group_idx: int,
    seed: int,
    days: float,
    dark: dict[int, list[tuple[float, float]]],
) -> VesselPlan:
    """Draw vessel ``idx`` (of group ``group_idx``) for ``seed`` over ``days`` + drain."""
    group = scenario.fleet[group_idx]
    links = scenario.all_links()
    profile = links[group.link]
    rng = random.Random(f"{seed}:vessel:{idx}")  # noqa: S311 - simulation, not security
    horizon = (days + scenario.drain_days) * DAY
    # Trips: at sea trip_days, in port port_days, starting at a random phase of the cycle.
    cycle = (group.trip_days + group.port_days) * DAY
    phase = rng.uniform(0, cycle)
    ports: list[tuple[float, float]] = []
    if group.port_days > 0:
        k = -1
        while True:
            start = k * cycle - phase + group.trip_days * DAY
            if start > horizon:
                break
            end = start + group.port_days * DAY
            if end > 0:
                ports.append((max(0.0, start), end))
            k += 1
    a = group.area
    track = (
        (a.lat[0] + a.lat[1]) / 2,
        (a.lon[0] + a.lon[1]) / 2,
        (a.lat[1] - a.lat[0]) / 2 * rng.uniform(0.3, 0.95),
        (a.lon[1] - a.lon[0]) / 2 * rng.uniform(0.3, 0.95),
        rng.uniform(3, 9) * DAY,
        rng.uniform(3, 9) * DAY,
        rng.uniform(0, 2 * math.pi),
        rng.uniform(0, 2 * math.pi),
    )
    intervals = draw_outages(profile, random.Random(f"{seed}:outage:{idx}"), horizon)  # noqa: S311
    intervals += window_closed(
        profile.window_hours, days + scenario.drain_days, ports, profile.in_port_up
    )
    for ev in scenario.events:
        if isinstance(ev, ProviderOutage) and ev.link_kind == profile.kind:
            start = ev.start_day * DAY
            intervals.append((start, start + ev.duration_h * HOUR, "provider"))
    my_dark = dark.get(idx, [])
    intervals += [(s, e, "dark") for s, e in my_dark]
    plan = VesselPlan(
        idx=idx,
        name=f"sim-{idx:04d}",
        group=group,
        link_name=group.link,
        profile=profile,
        trace=Trace(intervals),
        storms=[],
        ports=ports,
        arrivals=[],
        catches=[],
        track=track,
        dark=my_dark,
    )
    plan.storms = storm_spans(plan, [e for e in scenario.events if isinstance(e, Storm)])
    plan.arrivals = draw_arrivals(scenario, group, random.Random(f"{seed}:crew:{idx}"), days)  # noqa: S311
    plan.catches = draw_catches(group.catch_per_day, ports, rng, days)
    return plan


def draw_catches(
    per_day: float, ports: list[tuple[float, float]], rng: random.Random, days: float
) -> list[float]:
    """Fishing events: Poisson at ``per_day`` while at sea (none in port)."""
    out: list[float] = []
    if per_day <= 0:
        return out
    t = rng.expovariate(per_day / DAY)
    while t < days * DAY:
        if not any(s <= t < e for s, e in ports):
            out.append(t)
        t += rng.expovariate(per_day / DAY)
    return out


def trip_start(ports: list[tuple[float, float]], t: float) -> float:
    """When the trip under way at ``t`` began (the end of the last port stay, or 0)."""
    return max((e for _, e in ports if e <= t), default=0.0)


def draw_arrivals(
    scenario: Scenario, group: VesselGroup, rng: random.Random, days: float
) -> list[Arrival]:
    """Grievance arrivals over ``[0, days)``: Poisson per crew member, plus Poisson bursts."""
    g = scenario.grievances
    horizon = days * DAY
    times: list[float] = []
    rate = group.crew * g.per_crew_per_month / (30 * DAY)
    if rate > 0:
        t = rng.expovariate(rate)
        while t < horizon:
            times.append(t)
            t += rng.expovariate(rate)
    if g.burst_per_month > 0:
        brate = g.burst_per_month / (30 * DAY)
        t = rng.expovariate(brate)
        while t < horizon:
            for _ in range(poisson(rng, g.burst_size)):
                u = t + rng.uniform(0, g.burst_hours * HOUR)
                if u < horizon:
                    times.append(u)
            t += rng.expovariate(brate)
    times.sort()
    out = []
    for t in times:
        lang = _pick(rng, g.languages)
        out.append(
            Arrival(
                time=t,
                category=int(_pick(rng, g.categories), 0),
                lang=lang,
                text=make_text(lang, int(_pick(rng, g.length_chars)), rng),
            )
        )
    return out


def device_seed(idx: int) -> bytes:
    """Key material of simulated device ``idx`` (fixed across runs, so keys can be cached)."""
    return hashlib.sha256(f"flip-sim/device/{idx}".encode()).digest()
