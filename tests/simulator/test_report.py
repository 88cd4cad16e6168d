"""report.json: the p95 tail and its make-up per link kind."""

from __future__ import annotations

from simulator.records import ShardResult, Timeline
from simulator.report import P95_TARGET, build_report, percentile
from simulator.scenario import load


def _result(rows: list[tuple[int, float, float]], links: dict[int, str]) -> ShardResult:
    """A shard result with one grievance per (vessel, actual latency, oracle latency)."""
    tls = [
        Timeline(
            vessel=v,
            seq=i,
            category=0x17,
            lang="en",
            chars=40,
            frames=1,
            created=0.0,
            first_sent=0.0,
            delivered=lat,
            oracle=orc,
        )
        for i, (v, lat, orc) in enumerate(rows)
    ]
    vessels = [
        {
            "idx": v,
            "name": f"v{v}",
            "link": name,
            "group": "g",
            "down": [],
            "bad": [],
            "storms": [],
            "dark": [],
            "silences": [],
            "outbox_left": 0,
        }
        for v, name in links.items()
    ]
    stats = {
        name: {"sessions": 10.0, "failures": 1.0, "storm_sessions": 0.0, "storm_failures": 0.0}
        for name in set(links.values())
    }
    return ShardResult(
        timelines=tls,
        counters={},
        per_day={},
        vessels=vessels,
        link_stats=stats,
        events=0,
        end=86_400.0,
    )


def test_tail_counts_grievances_no_schedule_could_bring_under_the_line() -> None:
    # 40 grievances: 36 quick Iridium ones, 2 waiting for a broadband window (the oracle waits
    # as long), 2 Inmarsat-C ones that met a failed session.
    rows = [(0, 20.0 + i, 15.0) for i in range(36)]
    rows += [(1, 30_000.0, 29_990.0), (1, 40_000.0, 39_999.0)]
    rows += [(2, 210.0, 152.0), (2, 160.0, 152.0)]
    report = build_report(
        load("calm"), 3, 1.0, 1, [_result(rows, {0: "iridium", 1: "broadband", 2: "inmarsat-c"})]
    )
    s = report["summary"]
    orc = [o for _, _, o in rows]
    line = P95_TARGET * (percentile(orc, 95) or 0)
    assert s["tail_slots"] == 2  # the p95 of 40 values is the 38th: two may lie above it
    assert s["tail_forced"] == sum(1 for o in orc if o > line) == 2
    assert s["latency_p95_s"] == 210.0
    links = report["links"]
    assert links["broadband"]["grievances"] == 2
    assert links["broadband"]["oracle_p95_s"] == 39_999.0
    assert links["inmarsat-c"]["latency_p95_s"] == 210.0
    assert links["iridium"]["latency_p95_s"] == 54.0 and links["iridium"]["oracle_p95_s"] == 15.0
