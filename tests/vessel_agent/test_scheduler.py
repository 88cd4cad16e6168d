"""Scheduler properties on a fake clock (Hypothesis): urgent first, budget respected, and every
grievance delivered and acknowledged once the link comes back."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.status import OutcomeKind, classify
from protocol.crew import Grievance
from protocol.lang import Lang
from protocol.vessel import Priority
from tests.helpers import VesselShorePair
from vessel_agent.scheduler import (
    CREDIT,
    DAY,
    RETRY_PACING_CAP_S,
    RETRY_PACING_S,
    TOLD_TO_WAIT,
    Link,
    Scheduler,
    SessionReport,
    billed,
    retry_wait,
)

T0 = 1_750_000_000.0


def _report(code: int, mt_received: bool = False, mt_queued: int = 0) -> SessionReport:
    o = classify(code)
    return SessionReport(
        kind=o.kind,
        code=code,
        retry_after_s=o.retry_after_s,
        mt_received=mt_received,
        mt_queued=mt_queued,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    urgent=st.lists(st.booleans(), min_size=1, max_size=10),
    sizes=st.lists(st.integers(0, 400), min_size=10, max_size=10),
    outage_s=st.floats(0, 3 * DAY),
    budget=st.integers(400, 4000),
    failures=st.lists(st.sampled_from([10, 13, 17, 18, 32, 35, 36, 16, 33]), max_size=12),
    late=st.lists(st.tuples(st.floats(0, 2 * DAY), st.booleans()), max_size=4),
)
def test_urgent_first_budget_respected_everything_delivered(
    urgent: list[bool],
    sizes: list[int],
    outage_s: float,
    budget: int,
    failures: list[int],
    late: list[tuple[float, bool]],
) -> None:
    pair = VesselShorePair()
    vessel = pair.vessel
    now = T0
    crew: set[int] = set()
    alphabet = "abcdefghijklmnopqrstuvwxyz ကခဂဃငစဆဇ"

    def submit(i: int, is_urgent: bool, at: float) -> None:
        text = "".join(alphabet[(i * 7 + k * 13) % len(alphabet)] for k in range(sizes[i % 10]))
        items = vessel.queue_crew(
            Grievance(category=0xF1 if is_urgent else 0x17, lang=Lang.MY, text=text), int(at)
        )
        crew.update(m.seq for m in items)

    for i, u in enumerate(urgent):
        submit(i, u, now)
    pending_late = sorted((T0 + dt, u) for dt, u in late)
    sched = Scheduler(
        vessel,
        now=now,
        budget_per_day=budget,
        heartbeat_s=6 * 3600,
        report_s=10 * DAY,
        mailbox_s=6 * 3600,
    )
    up_at = T0 + outage_s
    faults = list(failures)
    mt: list[bytes] = []
    acked: set[int] = set()
    horizon = up_at + 40 * DAY
    steps = 0
    while now < horizon and not crew <= acked:
        steps += 1
        assert steps < 5_000, "scheduler made no progress"
        while pending_late and pending_late[0][0] <= now:
            _, u = pending_late.pop(0)
            submit(len(crew), u, now)
        if sched.heartbeat_due(now):
            vessel.queue_heartbeat(int(now))
            sched.heartbeat_queued(now)
        if sched.position_due(now):
            sched.position_queued(now)
        urgent_due = [m.seq for m in vessel.due(now) if m.priority is Priority.URGENT]
        plan = sched.plan(now)
        if plan is not None:
            if plan.frame is not None:
                seqs = plan.frame.seqs
                # urgent first: while an urgent message waits, every frame leads with one
                if urgent_due:
                    assert vessel.outbox[seqs[0]].priority is Priority.URGENT
                    assert plan.urgent
            if now < up_at:
                sched.finished(now, _report(32))
                assert sched.link is Link.NO_SIGNAL
            elif faults:
                sched.finished(now, _report(faults.pop(0)))
            else:
                got = None
                if plan.frame is not None:
                    pair.deliver(plan.frame.data, now)
                    mt.extend(
                        pair.shore.downlink(vessel.kid, pair.shore.acks_for(pair.device), int(now))
                    )
                if mt:
                    got = mt.pop(0)
                before = sched.budget.spent if sched.budget.day == int(now // DAY) else 0
                _items, cost = sched.finished(
                    now, _report(0, mt_received=got is not None, mt_queued=len(mt))
                )
                assert cost == billed(len(plan.frame.data) if plan.frame else 0)
                if plan.reason in ("send", "mailbox") and not plan.urgent:
                    # routine and crew traffic never spends beyond the day's budget
                    assert before + cost <= budget, (before, cost, budget)
                if got is not None:
                    for ev in vessel.handle_downlink(got, now):
                        acked.update(getattr(ev, "seqs", ()))
        timer = sched.get_timer(now)
        assert timer is not None
        now = max(now + 1.0, timer)
    assert crew <= acked, f"undelivered: {sorted(crew - acked)}"
    assert crew <= {e.seq for e in pair.received} | {
        s for e in pair.received for s in e.fragment_seqs
    }


def test_failed_session_is_not_billed_and_messages_stay_due() -> None:
    pair = VesselShorePair()
    pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="x"), int(T0))
    sched = Scheduler(pair.vessel, now=T0, budget_per_day=1000)
    plan = sched.plan(T0)
    assert plan is not None and plan.frame is not None
    sched.finished(T0 + 12, _report(18))
    assert sched.budget.spent == 0
    assert sched.link is Link.RETRYING and sched.not_before == T0 + 12  # first retry at once
    assert [m.attempts for m in pair.vessel.outbox.values()] == [0]
    plan = sched.plan(T0 + 12)
    assert plan is not None and plan.frame is not None
    sched.finished(T0 + 20, _report(18))
    assert sched.plan(T0 + 24) is None  # backing off
    assert sched.plan(T0 + 25) is not None


def _fail_until_success(sched: Scheduler, codes: list[int], now: float) -> list[float]:
    """Run a session at each earliest allowed time, failing with ``codes``; the waits."""
    waits = []
    for code in codes:
        assert sched.plan(now) is not None
        now += 7.0  # the session's own duration
        sched.finished(now, _report(code))
        waits.append(sched.not_before - now)
        assert sched.plan(sched.not_before - 0.5) is None
        now = sched.not_before
    return waits


def test_radio_failures_retry_at_once_then_space_out_to_five_minutes() -> None:
    pair = VesselShorePair()
    pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="x"), int(T0))
    sched = Scheduler(pair.vessel, now=T0, budget_per_day=100_000)
    codes = [18, 32, 10, 13, 17, 19, 35, 18, 32, 10, 13, 17, 19, 35, 18]
    waits = _fail_until_success(sched, codes, T0)
    assert waits == [*RETRY_PACING_S, RETRY_PACING_CAP_S, RETRY_PACING_CAP_S, RETRY_PACING_CAP_S]
    assert waits[:5] == [0.0, 5.0, 5.0, 30.0, 30.0]
    assert max(waits) == 300.0
    # A success ends the run: the next failure is retried at once again.
    now = sched.not_before
    assert sched.plan(now) is not None
    sched.finished(now + 7, _report(0))
    pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="y"), int(now + 8))
    assert _fail_until_success(sched, [32], now + 8) == [0.0]


def test_codes_that_say_wait_are_honoured() -> None:
    pair = VesselShorePair()
    pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="x"), int(T0))
    sched = Scheduler(pair.vessel, now=T0, budget_per_day=100_000)
    assert {11, 36, 37, 38} <= TOLD_TO_WAIT
    # "wait 3 minutes since last registration", "gateway MO queue full", then radio trouble
    waits = _fail_until_success(sched, [36, 11, 18, 37], T0)
    assert waits == [180.0, 60.0, 5.0, 300.0]
    assert retry_wait(1, 15, classify(15).retry_after_s) == 600.0
    assert retry_wait(40, 36, 180.0) == RETRY_PACING_CAP_S


def test_fatal_and_hardware_codes_wait_long_ring_cuts_retry_short() -> None:
    pair = VesselShorePair()
    pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="x"), int(T0))
    sched = Scheduler(pair.vessel, now=T0, budget_per_day=1000)
    sched.plan(T0)
    sched.finished(T0, _report(16))
    assert classify(16).kind is OutcomeKind.FATAL
    assert sched.link is Link.FAULT and sched.not_before == T0 + 3600
    sched.ring_alert(T0 + 1)  # a fault needs a person: a ring does not override it
    assert sched.not_before == T0 + 3600
    sched.plan(T0 + 3600)
    sched.finished(T0 + 3600, _report(36))
    sched.ring_alert(T0 + 3601)
    plan = sched.plan(T0 + 3601)
    assert plan is not None and plan.answer_ring


def test_budget_exhausted_waits_for_next_day_but_urgent_goes() -> None:
    pair = VesselShorePair()
    v = pair.vessel
    start = (T0 // DAY) * DAY + 100
    sched = Scheduler(
        v, now=start, budget_per_day=4 * CREDIT, heartbeat_s=10 * DAY, mailbox_s=10 * DAY
    )
    v.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="a" * 120), int(start))
    plan = sched.plan(start)
    assert plan is not None
    sched.finished(start, _report(0))
    v.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="b" * 120), int(start))
    assert sched.plan(start + 1) is None
    assert sched.get_timer(start + 1) == min(start // DAY * DAY + DAY, sched.next_position)
    v.queue_crew(Grievance(category=0xF0, lang=Lang.EN, text="help"), int(start))
    plan = sched.plan(start + 2)
    assert plan is not None and plan.urgent
    assert all(v.outbox[s].priority is Priority.URGENT for s in plan.frame.seqs)  # type: ignore[union-attr]


def test_modem_unplugged_for_days_backs_off_without_overflow() -> None:
    pair = VesselShorePair()
    sched = Scheduler(pair.vessel, now=T0, budget_per_day=1000)
    now = float(T0)
    for _ in range(5000):  # weeks of a dead modem, reopened at the capped back-off
        sched.modem_failed(now)
        assert sched.not_before - now <= 3600 * 24
        now = sched.not_before
    assert sched.not_before > T0
