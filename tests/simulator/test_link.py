"""Link models: long-run statistics match their parameters (FIELD-FACTS §4 calibration)."""

from __future__ import annotations

import random

import pytest

from firmware_bridge.link import LinkModel
from firmware_bridge.status import classify
from simulator.link import HOUR, SimLink, Trace, draw_outages, window_closed
from simulator.scenario import LinkProfile, default_links

HOURS = 400
LINKS = 150


def _loss(profile: LinkProfile, *, storm: bool, seed: int) -> float:
    """Share of hourly sessions lost over many independent links (the drifter-study setup)."""
    lost = total = 0
    for i in range(LINKS):
        link = SimLink(
            profile,
            rng=random.Random(f"{seed}:{i}"),
            trace=Trace([]),
            storms=[(0.0, 1e9)] if storm else [],
        )
        for h in range(HOURS):
            a = link.attempt(h * HOUR, 120)
            total += 1
            lost += a.outcome.mo_status > 4
    return lost / total


def test_normal_seas_lose_about_four_percent() -> None:
    p = LinkProfile()
    assert p.normal.expected_loss == pytest.approx(0.039, abs=0.002)
    assert _loss(p, storm=False, seed=1) == pytest.approx(0.04, abs=0.008)


def test_storms_lose_about_fourteen_percent() -> None:
    p = LinkProfile()
    assert p.storm.expected_loss == pytest.approx(0.14, abs=0.002)
    assert _loss(p, storm=True, seed=2) == pytest.approx(0.14, abs=0.015)


def test_failure_codes_follow_the_mix_and_latency_the_size() -> None:
    p = LinkProfile(normal=LinkProfile().storm)
    link = SimLink(p, rng=random.Random(3), trace=Trace([]))
    codes: dict[int, int] = {}
    for h in range(20_000):
        a = link.attempt(h * HOUR, 340)
        if a.outcome.mo_status == 0:
            assert 20.0 <= a.outcome.latency_s < 20.0 + 40 * p.jitter_s
            assert a.on_air == 340 and a.reached_gateway
        else:
            codes[a.outcome.mo_status] = codes.get(a.outcome.mo_status, 0) + 1
            assert classify(a.outcome.mo_status).kind.value in ("retryable", "fatal", "hardware")
    # Hourly sessions never follow a registration within 3 minutes: no code 36 among them.
    weights = {int(c): w for c, w in p.failure_codes.items() if c != "36"}
    total_w, total_n = sum(weights.values()), sum(codes.values())
    assert set(codes) <= set(weights)
    for code, w in weights.items():
        assert codes.get(code, 0) / total_n == pytest.approx(w / total_w, abs=0.03)
    assert link.latency_min(0) == pytest.approx(5.0)


def test_registration_wait_answers_only_a_session_soon_after_the_last() -> None:
    """Code 36 is "wait 3 minutes since last registration" (FIELD-FACTS §1): the network gives
    it to a modem that registered (ran +SBDIX) less than 3 minutes before, never after a quiet
    spell; back-to-back retries get the whole mix, 36 included."""
    p = LinkProfile(normal=LinkProfile().storm, failure_codes={"36": 1.0, "32": 1.0})
    link = SimLink(p, rng=random.Random(4), trace=Trace([]))
    soon: dict[int, int] = {}
    late: dict[int, int] = {}
    t = 0.0
    for i in range(40_000):
        t += 60.0 if i % 2 else 3 * HOUR  # pairs: a session after a quiet spell, then a retry
        code = link.attempt(t, 100).outcome.mo_status
        if code:
            seen = soon if i % 2 else late
            seen[code] = seen.get(code, 0) + 1
    assert late and 36 not in late
    assert soon[36] / sum(soon.values()) == pytest.approx(0.5, abs=0.05)
    only = SimLink(LinkProfile(failure_codes={"36": 1.0}), rng=random.Random(5), trace=Trace([]))
    assert {only.attempt(h * HOUR, 10).outcome.mo_status for h in range(3000)} <= {0, 36}
    assert link.latency_min(340) == pytest.approx(20.0)


def test_billing_fifty_byte_credits_minimum_one() -> None:
    link = SimLink(LinkProfile(), rng=random.Random(0), trace=Trace([]))
    assert link.credits(0, 0) == 1  # a mailbox check costs a credit
    assert link.credits(1, 0) == 1
    assert link.credits(51, 0) == 2
    assert link.credits(340, 270) == 7 + 6


def test_hard_down_intervals_rule_and_strongest_kind_wins() -> None:
    trace = Trace([(10.0, 20.0, "provider"), (15.0, 30.0, "power"), (40.0, 50.0, "antenna")])
    assert trace.kind_at(12.0) == "provider"
    assert trace.kind_at(16.0) == "power"
    assert trace.kind_at(35.0) is None
    assert trace.down_until(12.0) == 30.0
    assert trace.next_up(35.0) == 35.0
    link = SimLink(LinkProfile(), rng=random.Random(0), trace=trace)
    assert not link.modem_alive(20.0)
    assert link.attempt(12.0, 100).outcome.mo_status == 17
    a = link.attempt(45.0, 100)
    assert a.outcome.mo_status == 33 and not a.reached_gateway and a.on_air == 0
    assert link.signal(45.0) == 0


def test_broadband_window_closed_outside_hours_and_open_in_port() -> None:
    closed = window_closed((18.0, 20.0), 2, [(30 * HOUR, 40 * HOUR)], in_port_up=True)
    trace = Trace(closed)
    assert trace.kind_at(12 * HOUR) == "closed"
    assert trace.kind_at(19 * HOUR) is None
    assert trace.kind_at(35 * HOUR) is None  # port Wi-Fi
    assert trace.next_up(21 * HOUR) == 30 * HOUR


def test_outages_are_drawn_at_the_configured_rate() -> None:
    p = LinkProfile()
    n = sum(len(draw_outages(p, random.Random(i), 30 * 24 * HOUR)) for i in range(2000))
    expected = 2000 * sum(o.per_month for o in p.outages)
    assert n == pytest.approx(expected, rel=0.12)


def test_sim_link_is_a_firmware_bridge_link_model() -> None:
    link: LinkModel = SimLink(default_links()["inmarsat-c"], rng=random.Random(0), trace=Trace([]))
    out = link.session(0.0, 100)
    assert out.latency_s >= 30.0 + 100 / 75
    assert 0 <= link.signal(1.0) <= 5
