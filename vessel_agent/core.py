"""The agent core, sans-IO: the decisions of one vessel's agent, shared by the on-board service
(:mod:`vessel_agent.agent`) and the simulator's shard (:mod:`simulator.engine`).

It holds the vessel's :class:`~protocol.vessel.VesselSession` under its
:class:`~vessel_agent.scheduler.Scheduler` and decides which routine reports to queue, whether
to measure the signal, which session to run, and what a session's outcome and a verified
downlink change. It does no I/O: time, the signal reading and GPS fixes come in as arguments;
messages are queued through :class:`Reports` and their fate written through :class:`Store`. On
board those are the device and its durable outbox (persist-then-act, docs/vessel-agent.md); in
the simulator, :class:`SessionStore` — the session's own queue, nothing on disk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from firmware_bridge.status import OutcomeKind
from protocol.events import ConfigReceived, MessagesAcked, VesselEvent
from protocol.vessel import Outgoing, VesselSession
from vessel_agent.scheduler import Scheduler, SessionPlan, SessionReport


@dataclass(frozen=True, slots=True, kw_only=True)
class Fix:
    """A position to report (Unix seconds, degrees, knots)."""

    time_s: int
    lat: float
    lon: float
    speed_kn: float = 0.0
    course_deg: int = 0


class Reports(Protocol):
    """Where the core queues routine reports (each persisted before it can be sent)."""

    def queue_heartbeat(self, now: float) -> Outgoing: ...

    def queue_position(
        self, *, time_s: int, lat: float, lon: float, speed_kn: float, course_deg: int, now: float
    ) -> Outgoing: ...


class Store(Protocol):
    """Where the core writes what became of queued messages."""

    def mark_sent(self, items: Sequence[Outgoing], now: float) -> None: ...

    def mark_acked(self, seqs: Sequence[int], now: float) -> list[int]: ...


class SessionStore:
    """Reports and store for a session with nothing on disk (the simulator): the session's own
    queue holds every message until a shore-signed ack removes it."""

    def __init__(self, session: VesselSession) -> None:
        self.session = session

    def queue_heartbeat(self, now: float) -> Outgoing:
        return self.session.queue_heartbeat(int(now))

    def queue_position(
        self, *, time_s: int, lat: float, lon: float, speed_kn: float, course_deg: int, now: float
    ) -> Outgoing:
        return self.session.queue_position(
            time=time_s, lat=lat, lon=lon, speed_kn=speed_kn, course_deg=course_deg, now=now
        )

    def mark_sent(self, items: Sequence[Outgoing], now: float) -> None:
        """Nothing to write: the session already started the items' retransmission timers."""

    def mark_acked(self, seqs: Sequence[int], now: float) -> list[int]:
        return list(seqs)  # the session dropped them when it verified the ack


@dataclass(frozen=True, slots=True, kw_only=True)
class Routine:
    """The routine reports one :meth:`AgentCore.routine` call queued (None: not due, or no
    position to report)."""

    heartbeat: Outgoing | None = None
    position: Outgoing | None = None


_NOTHING = Routine()


class AgentCore:
    """One vessel's agent decisions over its session and scheduler (times are Unix seconds).

    ``measured``: the signal reading the last :meth:`plan` took (None: it took none).
    """

    def __init__(self, sched: Scheduler, *, reports: Reports, store: Store) -> None:
        self.sched = sched
        self.session = sched.session
        self.reports = reports
        self.store = store
        self.measured: int | None = None

    def routine(self, now: float, fix: Callable[[], Fix | None]) -> Routine:
        """Queue the heartbeat and the position report that are due. ``fix`` is asked only when
        a report is due; None (no fresh fix) skips this report, not the next.

        Raises:
            whatever :class:`Reports` raises (on board: ``OutboxFull``, ``OutboxError``).
        """
        sched = self.sched
        if now < sched.next_heartbeat and now < sched.next_position:
            return _NOTHING  # the common case, once per wake in the simulator
        heartbeat = position = None
        if sched.heartbeat_due(now):
            heartbeat = self.reports.queue_heartbeat(now)
            sched.heartbeat_queued(now)
        if sched.position_due(now):
            sched.position_queued(now)
            f = fix()
            if f is not None:
                position = self.reports.queue_position(
                    time_s=f.time_s,
                    lat=f.lat,
                    lon=f.lon,
                    speed_kn=f.speed_kn,
                    course_deg=f.course_deg,
                    now=now,
                )
        if heartbeat is None and position is None:
            return _NOTHING
        return Routine(heartbeat=heartbeat, position=position)

    def plan(self, now: float, signal: Callable[[], int]) -> SessionPlan | None:
        """The session to run now, or None. Nothing during a back-off; before a session, the
        signal is measured (``signal()``, in bars) unless a recent contact proved the link —
        no bars, no session (the scheduler waits)."""
        sched = self.sched
        self.measured = None
        if not sched.ready(now):
            return None
        if sched.signal_stale(now):
            self.measured = signal()
            sched.signal_measured(now, self.measured)
        return sched.plan(now)

    def finished(self, now: float, report: SessionReport) -> tuple[list[Outgoing], int]:
        """Take a session's outcome: after a confirmed session, its messages are stored as sent.
        Returns (the messages that went on air, billed bytes)."""
        items, cost = self.sched.finished(now, report)
        if report.kind is OutcomeKind.SUCCESS:
            self.store.mark_sent(items, now)
        return items, cost

    def downlink(self, events: Sequence[VesselEvent], now: float) -> list[int]:
        """Apply what a verified downlink (:meth:`VesselSession.handle_downlink`'s events) means
        for the agent: acks are stored, a newer shore config sets the airtime budget and the
        report interval. Returns the seqs whose stored state the acks changed."""
        changed: list[int] = []
        for ev in events:
            if isinstance(ev, MessagesAcked):
                changed += self.store.mark_acked(ev.seqs, now)
            elif isinstance(ev, ConfigReceived):
                self.sched.set_budget(ev.config.airtime_bytes_per_day)
                self.sched.report_s = float(ev.config.report_interval_s)
        return changed
