"""What a shard records and hands back: one :class:`Timeline` per grievance, the counters, and
a record per vessel (plain data, picklable, merged by :mod:`simulator.run`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from simulator.link import HOUR
from simulator.onboard import Vessel

SILENCE_ALERT_S = 24 * HOUR

#: Every counter a shard keeps (``ShardResult.counters``).
COUNTERS = (
    "bytes_on_air",
    "mo_bytes_on_air",
    "mt_bytes",
    "bytes_needed",
    "credits",
    "sessions",
    "sessions_failed",
    "mailbox_sessions",
    "retransmissions",
    "duplicates_suppressed",
    "duplicates_surfaced",
    "ghost_deliveries",
    "gaps_detected",
    "positions",
    "heartbeats",
    "catch_events",
    "content_mismatches",
    "modem_down_polls",
    "uplink_signed",
    "uplink_verified",
    "downlink_signed",
    "downlink_verified",
    "grievances_sealed",
    "grievances_opened",
    "catch_accepted",
)


@dataclass(slots=True, kw_only=True)
class Timeline:
    """One grievance, end to end (seconds of virtual time; None = never happened)."""

    vessel: int
    seq: int
    category: int
    lang: str
    chars: int
    frames: int  # frames it needs (fragments)
    created: float
    first_sent: float | None = None
    delivered: float | None = None
    acked: float | None = None
    case_opened: float | None = None
    status_seen: float | None = None
    oracle: float | None = None  # earliest possible delivery (perfect knowledge)
    urgent: bool = False


@dataclass(slots=True, kw_only=True)
class ShardResult:
    """What a worker hands back (plain data, picklable)."""

    timelines: list[Timeline]
    counters: dict[str, int]
    per_day: dict[str, list[float]]
    vessels: list[dict[str, Any]]
    link_stats: dict[str, dict[str, float]]
    events: int
    end: float
    cpu_s: float = 0.0  # CPU seconds of the process that ran the shard


def vessel_record(v: Vessel, quiet_end: float, end: float) -> dict[str, Any]:
    """One vessel's record: its link, the outages and storms it met, its silences ashore
    (longer than :data:`SILENCE_ALERT_S` before ``quiet_end``, when routine reports stop for
    the drain) and what its outbox still held at ``end``."""
    v.link.close(end)
    silences = [(s, min(e, quiet_end)) for s, e in v.silences if s < quiet_end]
    if quiet_end - v.last_heard > SILENCE_ALERT_S:
        silences.append((v.last_heard, quiet_end))
    return {
        "idx": v.plan.idx,
        "name": v.plan.name,
        "link": v.plan.link_name,
        "group": v.plan.group.name,
        "down": [(s, e, k) for s, e, k in v.plan.trace.segments if s < end],
        "bad": v.link.bad_spans,
        "storms": v.plan.storms,
        "dark": v.plan.dark,
        "silences": silences,
        "outbox_left": len(v.session.outbox),
    }


def link_stats(vessels: Iterable[Vessel]) -> dict[str, dict[str, float]]:
    """Sessions and failures per link type, in storms and in all."""
    stats: dict[str, dict[str, float]] = {}
    for v in vessels:
        st = stats.setdefault(
            v.plan.link_name,
            dict.fromkeys(("sessions", "failures", "storm_sessions", "storm_failures"), 0.0),
        )
        st["sessions"] += v.link.sessions
        st["failures"] += v.link.failures
        st["storm_sessions"] += v.link.storm_sessions
        st["storm_failures"] += v.link.storm_failures
    return stats
