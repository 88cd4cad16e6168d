"""Seqs the vessel will never send (evicted, lost to damage, skipped): kept in meta, declared in
every heartbeat until one carrying them is acked, then dropped (vessel_agent/lost.py)."""

from __future__ import annotations

import io
import itertools
import json
import sqlite3
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from protocol.downlinks import Ack
from protocol.keys import key_id
from protocol.lang import Lang
from protocol.limits import MAX_LOST_RANGES
from protocol.messages import Heartbeat, LossReason, LostRange, decode_message
from protocol.shore import pack_downlink
from tests.vessel_agent.conftest import AgentFixture, make_agent_dir
from vessel_agent import lost
from vessel_agent.agent import Agent
from vessel_agent.device import Device
from vessel_agent.logs import Log
from vessel_agent.outbox import Kind
from vessel_agent.status import status

T0 = 1_750_000_000


def _heartbeat(item: object) -> Heartbeat:
    msg = decode_message(item.encoded)  # type: ignore[attr-defined]
    assert isinstance(msg, Heartbeat)
    return msg


def _ack(fx: AgentFixture, dev: Device, seqs: list[int]) -> bytes:
    shore = fx.shore.sign
    ack = Ack.of(0, seqs, base=min(seqs))
    (data,) = pack_downlink(shore, key_id(shore.public_key()), dev.session.kid, [ack], T0)
    return data


def _next_seq(db: sqlite3.Connection, value: int) -> None:
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?)", (value,))


def _seqs(ranges: list[tuple[int, int, int]]) -> dict[int, int]:
    return {s: r for a, b, r in ranges for s in range(a, b + 1)}


def test_evictions_are_declared_until_a_heartbeat_carrying_them_is_acked(tmp_path: Path) -> None:
    # 480 bytes: four grievances (each with its 32-byte reply key) and a heartbeat fit; the
    # routine reports queued before them do not
    fx = make_agent_dir(tmp_path, max_queue_bytes=480)
    with Device(str(fx.dir)) as dev:
        first = dev.queue_heartbeat(T0)
        assert _heartbeat(first).lost == ()  # nothing declared: the heartbeat of before
        assert len(first.encoded) < 30
        # A small budget: grievances push the routine reports out (heartbeats first).
        for i in range(4):
            dev.queue_position(
                time_s=T0 + i, lat=1.0, lon=2.0, speed_kn=3, course_deg=4, now=T0 + 1 + i
            )
        for i in range(4):
            dev.submit(category=0x17, lang=Lang.EN, text="w" * 40, now=T0 + 10 + i)
        evicted = dev.outbox.stats().evicted_total
        assert evicted > 0
        held, unlisted = lost.held(dev.outbox.db)
        gone = _seqs(held)
        open_seqs = {r[0] for r in dev.outbox.db.execute("SELECT seq FROM messages")}
        assert len(gone) == evicted and unlisted == 0
        assert set(gone) == set(range(1, 10)) - open_seqs  # exactly the evicted seqs
        assert first.seq in gone and set(gone.values()) == {LossReason.EVICTED}
        dev.outbox.max_queue_bytes = 10_000  # room again: no more evictions below

        shown = status(dev)["queue"]["declared_lost"]
        assert shown["seqs"] == evicted and shown["ranges"][0][2] == "evicted"
        hb = dev.queue_heartbeat(T0 + 100)
        msg = _heartbeat(hb)
        assert msg.lost_count == evicted
        assert msg.lost == tuple(LostRange(first=a, last=b, reason=r) for a, b, r in held)
        # Repeated in every heartbeat until one carrying them is acked.
        again = dev.queue_heartbeat(T0 + 200)
        assert _heartbeat(again).lost == msg.lost

    # Durable: a restart (a new process) reads the same declarations.
    with Device(str(fx.dir)) as dev:
        assert lost.held(dev.outbox.db) == (held, 0)
        agent = Agent(dev, clock=lambda: T0 + 300, log=Log(io.StringIO()))
        agent.apply_downlink(_ack(fx, dev, [hb.seq]), T0 + 300)
        assert lost.held(dev.outbox.db) == ([], 0)  # the shore has them: dropped
        carried = json.loads(str(dev.outbox.meta("lost_carried")))
        assert list(carried) == [str(again.seq)]  # still queued; its ack changes nothing now
        agent.apply_downlink(_ack(fx, dev, [again.seq]), T0 + 301)
        assert json.loads(str(dev.outbox.meta("lost_carried"))) == {}
        later = dev.queue_heartbeat(T0 + 400)
        assert _heartbeat(later).lost_count == 0
        assert later.encoded[0] == 0x86  # six elements again: element 6 left out


def test_an_ack_drops_only_what_the_acked_heartbeat_carried(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        db = dev.outbox.db
        with dev.outbox.transaction():
            lost.record(db, [3, 4], LossReason.EVICTED)
            _next_seq(db, 20)
        hb = dev.queue_heartbeat(T0)
        with dev.outbox.transaction():
            lost.record(db, [5, 9], LossReason.EVICTED)  # 5 merges with 3–4
        assert lost.held(db)[0] == [(3, 5, 1), (9, 9, 1)]
        with dev.outbox.transaction():
            assert lost.acked(db, [hb.seq])
        assert lost.held(db)[0] == [(5, 5, 1), (9, 9, 1)]  # declared after hb: still to send


def test_more_than_eight_ranges_list_the_oldest_eight_and_count_them_all(
    agent_dir: AgentFixture,
) -> None:
    with Device(str(agent_dir.dir)) as dev:
        db = dev.outbox.db
        with dev.outbox.transaction():
            lost.record(db, range(1, 40, 3), LossReason.EVICTED)  # 13 single-seq ranges
            _next_seq(db, 50)
        msg = _heartbeat(hb := dev.queue_heartbeat(T0))
        assert msg.lost_count == 13
        assert [r.first for r in msg.lost] == list(range(1, 24, 3))[:MAX_LOST_RANGES]
        with dev.outbox.transaction():
            lost.acked(db, [hb.seq])
        msg = _heartbeat(dev.queue_heartbeat(T0 + 1))
        assert msg.lost_count == 5 and [r.first for r in msg.lost] == [25, 28, 31, 34, 37]


def test_beyond_the_held_bound_seqs_are_counted_not_itemised(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        db = dev.outbox.db
        n = lost.MAX_HELD + 10
        with dev.outbox.transaction():
            lost.record(db, range(1, 2 * n, 2), LossReason.EVICTED)
            _next_seq(db, 2 * n + 1)
        held, unlisted = lost.held(db)
        assert len(held) == lost.MAX_HELD and unlisted == 10
        assert held[-1][0] < 2 * lost.MAX_HELD  # the oldest are kept itemised
        assert _heartbeat(dev.queue_heartbeat(T0)).lost_count == n


def test_damaged_meta_values_read_as_nothing_declared(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        dev.queue_heartbeat(T0)  # seq 1: the ranges below name seqs that exist
        for bad in ("{", "[[1, 2]]", "[[3, 2, 1]]", "[[1, 5, 1], [4, 6, 1]]", "[[1, 1, 0]]"):
            dev.outbox.set_meta({"lost_ranges": bad, "lost_carried": "[", "lost_unlisted": -4})
            assert lost.held(dev.outbox.db) == ([], 0)
            hb = dev.queue_heartbeat(T0)
            assert _heartbeat(hb).lost_count == 0


def test_a_range_not_below_the_heartbeat_is_clipped_not_fatal(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        dev.outbox.set_meta({"lost_ranges": "[[1, 3, 1], [5, 9, 2]]"})  # damaged next_seq
        db = dev.outbox.db
        _next_seq(db, 7)
        msg = _heartbeat(dev.queue_heartbeat(T0))
        assert msg.seq == 7 and msg.lost_count == 5
        assert msg.lost[-1] == LostRange(first=5, last=6, reason=2)


def test_evicted_heartbeat_stops_being_tracked_for_its_ack(tmp_path: Path) -> None:
    fx = make_agent_dir(tmp_path, max_queue_bytes=150)
    with Device(str(fx.dir)) as dev:
        db = dev.outbox.db
        with dev.outbox.transaction():
            lost.record(db, [1], LossReason.SKIPPED)
            _next_seq(db, 2)
        carrier = dev.queue_heartbeat(T0)
        assert str(carrier.seq) in json.loads(str(dev.outbox.meta("lost_carried")))
        for i in range(2):
            dev.submit(category=0x17, lang=Lang.EN, text="x" * 40, now=T0 + i)
        kinds = {r[0] for r in db.execute("SELECT kind FROM messages")}
        assert Kind.HEARTBEAT not in kinds  # the carrier was evicted unsent
        assert carrier.seq in _seqs(lost.held(db)[0])
        dev.outbox.max_queue_bytes = 10_000
        dev.queue_position(time_s=T0, lat=0.0, lon=0.0, speed_kn=0, course_deg=0, now=T0 + 5)
        msg = _heartbeat(dev.queue_heartbeat(T0 + 10))
        assert {r.reason for r in msg.lost} == {LossReason.SKIPPED, LossReason.EVICTED}
        assert str(carrier.seq) not in json.loads(str(dev.outbox.meta("lost_carried")))


intervals = st.lists(st.tuples(st.integers(1, 60), st.integers(0, 6)), max_size=12).map(
    lambda xs: [(a, a + n) for a, n in xs]
)


@given(steps=st.lists(st.tuples(intervals, st.sampled_from([1, 2, 3])), max_size=6))
def test_add_keeps_first_reason_and_merges(steps: list[tuple[list[tuple[int, int]], int]]) -> None:
    held: list[tuple[int, int, int]] = []
    model: dict[int, int] = {}
    for new, reason in steps:
        held = lost.add(held, new, reason)
        for a, b in new:
            for s in range(a, b + 1):
                model.setdefault(s, reason)
        assert _seqs(held) == model
        assert all(p[1] < q[0] for p, q in itertools.pairwise(held))
        assert all(not (p[2] == q[2] and p[1] + 1 == q[0]) for p, q in itertools.pairwise(held))
        assert lost.parse(json.dumps(held)) == held


@given(a=intervals, b=intervals)
def test_remove_takes_out_exactly_the_seqs_with_their_reason(
    a: list[tuple[int, int]], b: list[tuple[int, int]]
) -> None:
    held = lost.add(lost.add([], a, 1), b, 2)
    gone = lost.add([], b, 1)
    left = _seqs(lost.remove(held, gone))
    assert left == {s: r for s, r in _seqs(held).items() if not (r == 1 and s in _seqs(gone))}
