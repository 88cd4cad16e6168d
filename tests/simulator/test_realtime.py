"""Real-time mode: real gateway, emulated modems on ptys, real vessel agents (slow)."""

from __future__ import annotations

import random

import pytest

from simulator.link import SimLink, Trace
from simulator.realtime import CompressedLink, run_realtime
from simulator.scenario import LinkProfile, parse

SCENARIO = """
name = "realtime-smoke"
vessels = 1
days = 0.01
drain_days = 0
[grievances]
per_crew_per_month = 300
burst_per_month = 0
length_chars = { "60" = 1 }
[links.iridium]
outages = []
"""


def test_compressed_link_scales_time_and_latency() -> None:
    link = SimLink(
        LinkProfile(normal=LinkProfile().storm),
        rng=random.Random(1),
        trace=Trace([(100.0, 200.0, "antenna")]),
    )
    fast = CompressedLink(link, start=1000.0, speedup=10.0, horizon=1e6)
    assert fast.signal(1015.0) == 0  # virtual 150 s: antenna fault
    out = fast.session(1030.0, 340)  # virtual 300 s
    assert out.latency_s < 5.0


@pytest.mark.slow
def test_realtime_run_delivers_through_real_processes() -> None:
    report = run_realtime(
        parse(SCENARIO, "smoke.toml"), vessels=1, days=0.01, seed=3, speedup=60.0, drain_s=90.0
    )
    s = report["summary"]
    assert s["created"] >= 1
    assert s["delivered"] == s["created"]
    assert s["lost"] == 0 and s["duplicates_surfaced"] == 0
    assert s["mo_delivered_by_emulators"] >= s["created"]
