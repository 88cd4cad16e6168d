"""Scheduler properties on a fake clock (Hypothesis): urgent first, budget respected, and every
grievance delivered and acknowledged once the link comes back."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.status import OutcomeKind, classify
from protocol.lang import Lang
from protocol.messages import Grievance
from protocol.vessel import Priority
from tests.helpers import VesselShorePair
from vessel_agent.scheduler import (
    CREDIT,
    DAY,
    Link,
    Scheduler,
    SessionReport,
    billed,
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
    sched.finished(T0, _report(18))
    assert sched.budget.spent == 0
    assert sched.link is Link.RETRYING and sched.not_before == T0 + 10
    assert [m.attempts for m in pair.vessel.outbox.values()] == [0]
    assert sched.plan(T0 + 5) is None  # backing off
    assert sched.plan(T0 + 10) is not None


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
