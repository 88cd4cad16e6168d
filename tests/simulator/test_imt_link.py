"""The simulator's IMT link kind (RockBLOCK 9704) runs what the agent runs on IMT: frames of up
to 100,000 bytes, many messages under one signature, long messages whole — with nothing lost and
the oracle still a lower bound. A backlog (here after a day's provider outage) goes in large
frames, so fewer frame bytes are needed than on SBD for the same traffic."""

from __future__ import annotations

from typing import Any

import pytest

import simulator.link
from protocol import frame
from simulator.engine import run_shard
from simulator.run import RunConfig, simulate
from simulator.scenario import Scenario, parse

FLEET = """
vessels = 4
days = 4
drain_days = 2
[grievances]
per_crew_per_month = 6.0
[[fleet]]
link = "{link}"
[[events]]
kind = "provider-outage"
start_day = 1
duration_h = 24
link_kind = "{kind}"
"""
KINDS = {"imt": "iridium-imt", "iridium": "iridium-sbd"}


def _scenario(link: str) -> Scenario:
    return parse(FLEET.format(link=link, kind=KINDS[link]), f"{link}.toml")


def _run(link: str, shore: str = "memory") -> dict[str, Any]:
    report, _ = simulate(_scenario(link), RunConfig(vessels=4, days=4, seed=3, shore=shore))
    return report


@pytest.mark.parametrize("shore", ["memory", "gateway"])
def test_imt_vessels_deliver_everything_once(shore: str) -> None:
    r = _run("imt", shore)
    s = r["summary"]
    assert s["created"] > 0
    assert s["delivered"] == s["created"] and s["lost"] == 0 and s["undeliverable"] == 0
    assert s["duplicates_surfaced"] == 0
    assert r["counters"]["content_mismatches"] == 0


def test_a_backlog_goes_in_large_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    attempt = simulator.link.SimLink.attempt

    def record(self: simulator.link.SimLink, now: float, mo_len: int) -> simulator.link.Attempt:
        sizes.append(mo_len)
        return attempt(self, now, mo_len)

    monkeypatch.setattr(simulator.link.SimLink, "attempt", record)
    imt = _run("imt")["summary"]
    assert max(sizes) > frame.UPLINK_MAX  # many messages under one signature
    sizes.clear()
    sbd = _run("iridium")["summary"]
    assert max(sizes) <= frame.UPLINK_MAX
    assert imt["created"] == sbd["created"] > 0
    assert imt["bytes_needed"] < sbd["bytes_needed"]  # fewer frame heads and signatures


def test_the_oracle_stays_a_lower_bound_on_imt() -> None:
    shard = run_shard(_scenario("imt"), 5, 4, 4.0, [0, 1, 2, 3])
    assert shard.timelines
    for t in shard.timelines:
        assert t.oracle is not None
        if t.delivered is not None:
            assert t.oracle <= t.delivered + 1e-6
