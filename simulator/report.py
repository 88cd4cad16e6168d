"""Merge shard results into ``report.json``: summary, latency vs oracle, bytes, credits, gaps.

Definitions (docs/simulator.md, "Outputs"):

* ``latency`` = delivered ashore − created; ``oracle`` = the oracle's delivery − created, over
  the same delivered grievances.
* ``bytes_on_air`` = MO bytes radiated by every session attempt (failed ones included when the
  modem transmitted); ``bytes_needed`` = for every successful uplink, the frame that would carry
  only the messages the shore had not seen before. Their ratio is the uplink waste.
  MT bytes are reported apart (``mt_bytes``); ``credits`` bill both directions.
* ``lost`` = not delivered although the oracle could deliver before the run ended;
  ``undeliverable`` = not even the oracle could (the link never came back), with the reason.
"""

from __future__ import annotations

from typing import Any

from simulator.link import DAY
from simulator.records import ShardResult, Timeline
from simulator.scenario import Scenario

MAX_TIMELINES = 50_000
STRIP_SAMPLE = 40
#: The delivery target: p95 latency within this many times the oracle's p95 (bench/sim.py).
P95_TARGET = 1.25


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    s = sorted(values)
    return s[_rank(len(s), q)]


def _rank(n: int, q: float) -> int:
    """Index of the nearest-rank ``q`` percentile in ``n`` sorted values."""
    return max(0, min(n - 1, round(q / 100 * n + 0.5) - 1))


def tail_slots(n: int) -> int:
    """How many of ``n`` values the nearest-rank p95 leaves above it."""
    return n - _rank(n, 95) - 1 if n else 0


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)


def build_report(
    scenario: Scenario, vessels: int, days: float, seed: int, results: list[ShardResult]
) -> dict[str, Any]:
    timelines = sorted((t for r in results for t in r.timelines), key=lambda t: (t.vessel, t.seq))
    counters: dict[str, int] = {}
    for r in results:
        for k, n in r.counters.items():
            counters[k] = counters.get(k, 0) + n
    per_day: dict[str, list[float]] = {}
    for r in results:
        for k, arr in r.per_day.items():
            cur = per_day.setdefault(k, [0.0] * len(arr))
            for i, x in enumerate(arr):
                cur[i] += x
    end = results[0].end if results else days * DAY
    vessel_rows = sorted((v for r in results for v in r.vessels), key=lambda v: v["idx"])

    delivered = [t for t in timelines if t.delivered is not None]
    lat = [t.delivered - t.created for t in delivered]  # type: ignore[operator]
    orc = [t.oracle - t.created for t in delivered if t.oracle is not None]
    lost: list[dict[str, Any]] = []
    undeliverable: list[dict[str, Any]] = []
    for t in timelines:
        if t.delivered is not None:
            continue
        row: dict[str, Any] = {"vessel": t.vessel, "seq": t.seq, "created_s": round(t.created, 1)}
        if t.oracle is None or t.oracle > end:
            row_v = next((x for x in vessel_rows if x["idx"] == t.vessel), {})
            kinds = sorted({k for _, e, k in row_v.get("down", []) if e >= end})
            row["reason"] = (
                f"link hard-down ({', '.join(kinds) or 'unknown'}) from creation to "
                f"the end of the run: no schedule could deliver it"
            )
            undeliverable.append(row)
        else:
            row["reason"] = "the oracle could deliver it before the end of the run"
            lost.append(row)

    # The tail: how many grievances the p95 leaves above it, and how many of them no schedule
    # could bring under the target line (their oracle latency alone is above it).
    line = P95_TARGET * o95 if (o95 := percentile(orc, 95)) else None
    slots = tail_slots(len(lat))
    tail_forced = sum(1 for x in orc if line is not None and x > line)
    urgent = [t.delivered - t.created for t in delivered if t.urgent]  # type: ignore[operator]
    acked = [t.acked - t.created for t in timelines if t.acked is not None]
    seen = [t.status_seen - t.created for t in timelines if t.status_seen is not None]
    p95 = percentile(lat, 95)
    needed = counters.get("bytes_needed", 0)
    on_air = counters.get("bytes_on_air", 0)
    summary = {
        "created": len(timelines),
        "delivered": len(delivered),
        "lost": len(lost),
        "undeliverable": len(undeliverable),
        "duplicates_surfaced": counters.get("duplicates_surfaced", 0),
        "duplicates_suppressed": counters.get("duplicates_suppressed", 0),
        "latency_p50_s": _r(percentile(lat, 50)),
        "latency_p95_s": _r(p95),
        "latency_max_s": _r(max(lat) if lat else None),
        "oracle_p50_s": _r(percentile(orc, 50)),
        "oracle_p95_s": _r(o95),
        "latency_p95_vs_oracle": _r(p95 / o95 if p95 and o95 else None, 3),
        "tail_slots": slots,
        "tail_forced": tail_forced,
        "urgent_latency_p95_s": _r(percentile(urgent, 95)),
        "acked_on_board_p95_s": _r(percentile(acked, 95)),
        "status_seen_p95_s": _r(percentile(seen, 95)),
        "bytes_on_air": on_air,
        "bytes_needed": needed,
        "bytes_on_air_vs_needed": _r(on_air / needed if needed else None, 3),
        "mt_bytes": counters.get("mt_bytes", 0),
        "credits": counters.get("credits", 0),
        "credits_per_vessel_day": _r(counters.get("credits", 0) / max(1e-9, vessels * days), 2),
        "sessions": counters.get("sessions", 0),
        "sessions_failed": counters.get("sessions_failed", 0),
        "retransmissions": counters.get("retransmissions", 0),
        "wall_s": 0.0,
    }
    links: dict[str, dict[str, Any]] = {}
    for r in results:
        for name, stats in r.link_stats.items():
            acc = links.setdefault(name, dict.fromkeys(stats, 0.0))
            for k, x in stats.items():
                acc[k] += x
    link_of = {v["idx"]: v["link"] for v in vessel_rows}
    for name, acc in links.items():
        mine = [
            (t.delivered - t.created, t.oracle - t.created)  # type: ignore[operator]
            for t in delivered
            if link_of.get(t.vessel) == name and t.oracle is not None
        ]
        acc["grievances"] = len(mine)
        acc["latency_p95_s"] = _r(percentile([a for a, _ in mine], 95))
        acc["oracle_p95_s"] = _r(percentile([o for _, o in mine], 95))
    for acc in links.values():
        acc["loss"] = round(acc["failures"] / acc["sessions"], 4) if acc["sessions"] else 0.0
        acc["storm_loss"] = (
            round(acc["storm_failures"] / acc["storm_sessions"], 4)
            if acc["storm_sessions"]
            else 0.0
        )
    silences = [
        {
            "vessel": v["idx"],
            "name": v["name"],
            "from_s": round(s, 1),
            "to_s": round(e, 1),
            "hours": round((e - s) / 3600, 1),
        }
        for v in vessel_rows
        for s, e in v["silences"]
    ]
    step = max(1, len(vessel_rows) // STRIP_SAMPLE)
    strips = [
        {
            "vessel": v["idx"],
            "link": v["link"],
            "down": v["down"],
            "bad": v["bad"],
            "storms": v["storms"],
        }
        for v in vessel_rows[::step][:STRIP_SAMPLE]
    ]
    return {
        "summary": summary,
        "run": {
            "scenario": scenario.name,
            "vessels": vessels,
            "days": days,
            "seed": seed,
            "drain_days": scenario.drain_days,
            "end_s": end,
        },
        "counters": dict(sorted(counters.items())),
        "links": links,
        "per_day": {k: [round(x, 1) for x in v] for k, v in per_day.items()},
        "lost": lost,
        "undeliverable": undeliverable,
        "silences": silences,
        "strips": strips,
        "grievances": [_row(t) for t in timelines[:MAX_TIMELINES]],
    }


def _row(t: Timeline) -> list[Any]:
    """Compact timeline: [vessel, seq, category, lang, chars, frames, urgent, created,
    first_sent, delivered, acked, case_opened, status_seen, oracle] (seconds)."""
    return [
        t.vessel,
        t.seq,
        t.category,
        t.lang,
        t.chars,
        t.frames,
        t.urgent,
        *(
            _r(x)
            for x in (
                t.created,
                t.first_sent,
                t.delivered,
                t.acked,
                t.case_opened,
                t.status_seen,
                t.oracle,
            )
        ),
    ]


GRIEVANCE_COLUMNS = [
    "vessel",
    "seq",
    "category",
    "lang",
    "chars",
    "frames",
    "urgent",
    "created",
    "first_sent",
    "delivered",
    "acked",
    "case_opened",
    "status_seen",
    "oracle",
]
