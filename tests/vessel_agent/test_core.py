"""The agent core: the decisions the on-board agent and the simulator share, without I/O."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

from firmware_bridge.status import OutcomeKind
from protocol.crew import Grievance
from protocol.downlinks import Ack, Config
from protocol.events import ConfigReceived, MessagesAcked
from protocol.lang import Lang
from protocol.vessel import Outgoing
from tests.helpers import VesselShorePair
from tests.protocol.test_sans_io import offenders_in
from vessel_agent import core, scheduler
from vessel_agent.core import AgentCore, Fix, SessionStore
from vessel_agent.scheduler import Scheduler, SessionReport

T0 = 1_750_000_000.0


class RecordingStore(SessionStore):
    """The simulator's store, remembering what the core wrote through it."""

    def __init__(self, pair: VesselShorePair) -> None:
        super().__init__(pair.vessel)
        self.sent: list[int] = []
        self.acked: list[int] = []

    def mark_sent(self, items: Sequence[Outgoing], now: float) -> None:
        self.sent += [i.seq for i in items]

    def mark_acked(self, seqs: Sequence[int], now: float) -> list[int]:
        self.acked += seqs
        return list(seqs)


def _core() -> tuple[VesselShorePair, AgentCore, RecordingStore]:
    pair = VesselShorePair()
    sched = Scheduler(pair.vessel, now=T0, budget_per_day=10_000, report_s=3600.0)
    store = RecordingStore(pair)
    return pair, AgentCore(sched, reports=store, store=store), store


def test_the_core_and_the_scheduler_do_no_io() -> None:
    for module in (core, scheduler):
        path = pathlib.Path(str(module.__file__))
        assert offenders_in(path.read_text(encoding="utf-8"), path.name) == []


def test_routine_queues_what_is_due_and_asks_for_a_fix_only_then() -> None:
    _, c, _ = _core()
    asked: list[float] = []

    def fix() -> Fix | None:
        asked.append(T0)
        return Fix(time_s=int(T0), lat=1.5, lon=2.5)

    first = c.routine(T0, fix)
    assert first.heartbeat is not None and first.position is not None and len(asked) == 1
    again = c.routine(T0 + 60, fix)
    assert again.heartbeat is None and again.position is None and len(asked) == 1
    none = c.routine(T0 + 3600, lambda: None)  # no fresh fix: this report is skipped…
    assert none.position is None
    assert c.sched.next_position == T0 + 7200  # …and the next one is not brought forward


def test_no_signal_reading_during_a_back_off_and_no_session_without_bars() -> None:
    pair, c, _ = _core()
    pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="wages"), int(T0))
    reads: list[int] = []

    def no_bars() -> int:
        reads.append(0)
        return 0

    assert c.plan(T0, no_bars) is None and reads == [0] and c.measured == 0
    assert c.plan(T0 + 1, no_bars) is None and reads == [0]  # backing off: modem left alone
    assert c.measured is None
    plan = c.plan(c.sched.not_before, lambda: 3)
    assert plan is not None and plan.frame is not None


def test_a_confirmed_session_is_stored_as_sent_a_failed_one_is_not() -> None:
    pair, c, store = _core()
    pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="wages"), int(T0))
    assert c.plan(T0, lambda: 3) is not None
    c.finished(T0 + 10, SessionReport(kind=OutcomeKind.RETRYABLE, code=32))
    assert store.sent == []
    plan = c.plan(c.sched.not_before, lambda: 3)
    assert plan is not None and plan.frame is not None
    items, cost = c.finished(c.sched.not_before + 10, SessionReport(kind=OutcomeKind.SUCCESS))
    assert store.sent == list(plan.frame.seqs) == [i.seq for i in items] and cost > 0


def test_downlink_stores_acks_and_puts_a_new_config_in_force() -> None:
    _, c, store = _core()
    config = Config(version=2, airtime_bytes_per_day=4000, report_interval_s=900)
    changed = c.downlink(
        [
            MessagesAcked(seqs=(1, 2), ack=Ack(cum_seq=2)),
            ConfigReceived(config=config, shore_time=int(T0)),
        ],
        T0,
    )
    assert changed == store.acked == [1, 2]
    assert c.sched.budget.per_day == 4000 and c.sched.report_s == 900.0
