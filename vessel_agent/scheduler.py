"""Which SBD session to run next, and when — sans-IO, on an injected clock.

The scheduler owns link state, the daily airtime budget and the timers of routine reports; it
never touches the modem or the database. The agent asks :meth:`Scheduler.plan` for a session,
runs it, and reports the outcome with :meth:`Scheduler.finished` (or
:meth:`Scheduler.modem_failed`). Frames come from :meth:`VesselSession.frames_to_send`, which
packs urgent grievances first, then crew messages by age, then routine reports, and fills
frames first-fit (one frame per session: an SBD MO message holds one ≤ 340-byte frame).

Rules (docs/vessel-agent.md, "Scheduler"):

* Outcomes follow :mod:`firmware_bridge.status`. Retryable codes are retried on Iridium's
  recommended pacing (:data:`RETRY_PACING_S`): the first retry at once, a few more within
  seconds, then 30 s longer each time up to 5 minutes — codes that carry the network's own
  instruction to wait (:data:`TOLD_TO_WAIT`) wait at least their ``retry_after_s``. Fatal (12,
  14, 16) and hardware faults (33, 34, 65) wait long — a person has to act — but nothing is
  ever dropped.
* A failed session is not billed and does not count as an attempt: the frame's messages go
  back to "due now" (the protocol's ack timers start only after a successful session).
* Budget: billed bytes per UTC day (1 credit = 50 bytes, at least one credit per session,
  FIELD-FACTS §4). Routine and crew traffic stop when the day's budget is spent; urgent
  grievances, ring alerts and MT waiting at the gateway are served regardless.
* Zero signal bars: no session is attempted; the signal is measured again after
  :data:`NO_SIGNAL_WAIT_S`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from firmware_bridge.status import OutcomeKind
from protocol.messages import MsgType
from protocol.vessel import OutFrame, Outgoing, Priority, VesselSession

CREDIT = 50
DAY = 86_400.0
NO_SIGNAL_WAIT_S = 30.0
FATAL_WAIT_S = 3600.0
HARDWARE_WAIT_S = 600.0
MAX_RETRY_S = 1800.0
#: Seconds to wait after the n-th failed session in a row (beyond: :data:`RETRY_PACING_CAP_S`).
#: The pacing Iridium terminal drivers follow as Iridium's best practice: the first retry at
#: once, two within 5 s, two within 30 s, then 30 s longer each time up to 5 minutes. Radio
#: trouble — a fade, a dropped call, no satellite in view — clears within seconds to minutes as
#: the satellites move, and while it lasts each session is a fresh draw, so an early wait buys
#: no success and only delays the grievance; a long run of failures is an outage (provider
#: down, antenna blocked) and is then polled every 5 minutes (FIELD-FACTS §4).
RETRY_PACING_S = (0.0, 5.0, 5.0, 30.0, 30.0, 60.0, 90.0, 120.0, 150.0, 180.0, 210.0, 240.0)
RETRY_PACING_CAP_S = 300.0
#: ``+SBDIX`` codes that are the network telling the modem to wait (queue full, access denied,
#: "wait 3 minutes since last registration", service disabled, traffic management, band
#: violation): never retried sooner than the code's ``retry_after_s``.
TOLD_TO_WAIT = frozenset({11, 15, 36, 37, 38, 64})
MODEM_RETRY_MAX_S = 300.0
SIGNAL_FRESH_S = 60.0


class Link(enum.Enum):
    """What the agent last learned about the satellite link (shown by ``flip vessel status``)."""

    UNKNOWN = "unknown"
    UP = "up"
    RETRYING = "retrying"
    NO_SIGNAL = "no-signal"
    FAULT = "fault"  # fatal or hardware outcome: needs a person
    MODEM_DOWN = "modem-down"  # the serial port or modem does not answer


def retry_wait(failures: int, code: int, retry_after_s: float | None) -> float:
    """Seconds to wait after the ``failures``-th retryable failed session in a row."""
    n = max(1, failures)
    pace = RETRY_PACING_S[n - 1] if n <= len(RETRY_PACING_S) else RETRY_PACING_CAP_S
    if code in TOLD_TO_WAIT:
        return min(MAX_RETRY_S, max(pace, retry_after_s or 0.0))
    return pace


def billed(size: int) -> int:
    """Billed bytes of one session carrying ``size`` MO bytes (0 = mailbox check)."""
    return max(CREDIT, math.ceil(size / CREDIT) * CREDIT)


@dataclass(slots=True, kw_only=True)
class Budget:
    """Billed bytes spent in the current UTC day."""

    per_day: int
    day: int = -1
    spent: int = 0

    def _roll(self, now: float) -> None:
        day = int(now // DAY)
        if day != self.day:
            self.day, self.spent = day, 0

    def remaining(self, now: float) -> int:
        self._roll(now)
        return max(0, self.per_day - self.spent)

    def charge(self, now: float, size: int) -> int:
        self._roll(now)
        cost = billed(size)
        self.spent += cost
        return cost


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionPlan:
    """One SBD session to run: load ``frame`` (or clear the MO buffer), then SBDIX[A]."""

    frame: OutFrame | None
    answer_ring: bool
    urgent: bool
    reason: str  # "send" | "ring" | "mt-waiting" | "mailbox"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionReport:
    """What the agent learned from ``+SBDIX``."""

    kind: OutcomeKind
    code: int = 0
    retry_after_s: float | None = None
    mt_received: bool = False
    mt_queued: int = 0


@dataclass(slots=True, kw_only=True)
class _Inflight:
    plan: SessionPlan
    items: list[Outgoing] = field(default_factory=list)


def is_heartbeat(item: Outgoing) -> bool:
    """Heartbeat messages encode as ``[2, …]``: CBOR array head, then the small int 2."""
    return len(item.encoded) > 1 and item.encoded[1] == MsgType.HEARTBEAT


def is_position(item: Outgoing) -> bool:
    return len(item.encoded) > 1 and item.encoded[1] == MsgType.POSITION


class Scheduler:
    """Link-aware session scheduling for one vessel (all times are the caller's ``now``)."""

    def __init__(
        self,
        session: VesselSession,
        *,
        now: float,
        budget_per_day: int,
        heartbeat_s: float = 6 * 3600.0,
        report_s: float = 3600.0,
        mailbox_s: float = 6 * 3600.0,
    ) -> None:
        self.session = session
        self.budget = Budget(per_day=budget_per_day)
        self.heartbeat_s = heartbeat_s
        self.report_s = report_s
        self.mailbox_s = mailbox_s
        # The largest frame the link carries (None: the session's own, SBD's 340 bytes); an IMT
        # modem takes up to 100,000 (wire format §1.1).
        self.frame_limit: int | None = None
        self.link = Link.UNKNOWN
        self.not_before = now
        self.failures = 0
        self.modem_failures = 0
        self.ring = False
        self.mt_waiting = 0
        self.signal: int | None = None
        self.last_contact: float | None = None
        self.last_outcome: str = ""
        self.next_heartbeat = now
        self.next_position = now
        self._mailbox_at = now + mailbox_s
        self._inflight: _Inflight | None = None
        self._budget_blocked_day = -1

    # --- inputs --------------------------------------------------------------------------------

    def ring_alert(self, now: float) -> None:
        """``SBDRING``: the gateway holds MT for us — fetch it promptly (even mid back-off)."""
        self.ring = True
        if self.link is not Link.FAULT:
            self.not_before = min(self.not_before, now)

    def signal_measured(self, now: float, bars: int) -> None:
        self.signal = bars
        if bars > 0 and self.link is Link.NO_SIGNAL:
            self.link = Link.UNKNOWN
        if bars <= 0:
            self.link = Link.NO_SIGNAL
            self.not_before = max(self.not_before, now + NO_SIGNAL_WAIT_S)

    def signal_stale(self, now: float) -> bool:
        """Measure the signal before a session unless the link was up within the last minute."""
        return (
            self.signal is None
            or self.link is not Link.UP
            or self.last_contact is None
            or now - self.last_contact > SIGNAL_FRESH_S
        )

    def set_budget(self, per_day: int) -> None:
        self.budget.per_day = per_day
        self._budget_blocked_day = -1

    # --- routine reports -----------------------------------------------------------------------

    def heartbeat_due(self, now: float) -> bool:
        """Time for a heartbeat, unless one is still waiting unsent (don't pile them up)."""
        if now < self.next_heartbeat:
            return False
        if any(is_heartbeat(m) and m.attempts == 0 for m in self.session.outbox.values()):
            self.next_heartbeat = now + self.heartbeat_s
            return False
        return True

    def heartbeat_queued(self, now: float) -> None:
        self.next_heartbeat = now + self.heartbeat_s

    def position_due(self, now: float) -> bool:
        return now >= self.next_position

    def position_queued(self, now: float) -> None:
        self.next_position = now + self.report_s

    # --- sessions ------------------------------------------------------------------------------

    def ready(self, now: float) -> bool:
        """May a session start now (no back-off, none in flight)?"""
        return self._inflight is None and now >= self.not_before

    def plan(self, now: float) -> SessionPlan | None:
        """The session to run now, or None. Marks the frame's messages as in flight."""
        if not self.ready(now):
            return None
        remaining = self.budget.remaining(now)
        frames = self.session.frames_to_send(
            now, max_frames=1, budget=remaining // CREDIT * CREDIT, limit=self.frame_limit
        )
        fetch = self.ring or self.mt_waiting > 0
        if frames:
            frame = frames[0]
            items = [self.session.outbox[s] for s in frame.seqs]
            urgent = any(m.priority is Priority.URGENT for m in items)
            plan = SessionPlan(frame=frame, answer_ring=self.ring, urgent=urgent, reason="send")
            self._inflight = _Inflight(plan=plan, items=items)
            return plan
        if self.session.due(now):
            self._budget_blocked_day = self.budget.day
        if fetch or (now >= self._mailbox_at and remaining >= CREDIT):
            reason = "ring" if self.ring else "mt-waiting" if self.mt_waiting else "mailbox"
            plan = SessionPlan(frame=None, answer_ring=self.ring, urgent=False, reason=reason)
            self._inflight = _Inflight(plan=plan)
            return plan
        return None

    def _revert(self, now: float) -> None:
        """A session that did not go: its messages are due again, not waiting for an ack."""
        if self._inflight is None:
            return
        self.session.unsend([m.seq for m in self._inflight.items], now)
        self._inflight = None

    def finished(self, now: float, report: SessionReport) -> tuple[list[Outgoing], int]:
        """Take a session's outcome: (messages that went on air, billed bytes)."""
        inflight = self._inflight
        if inflight is None:
            return [], 0
        self.last_outcome = f"{report.code} {report.kind.value}"
        if report.kind is not OutcomeKind.SUCCESS:
            self._revert(now)
            self.failures += 1
            if report.kind is OutcomeKind.RETRYABLE:
                self.link = Link.NO_SIGNAL if report.code == 32 else Link.RETRYING
                self.not_before = now + retry_wait(self.failures, report.code, report.retry_after_s)
            elif report.kind is OutcomeKind.FATAL:
                self.link = Link.FAULT
                self.not_before = now + FATAL_WAIT_S
            else:
                self.link = Link.FAULT
                self.not_before = now + HARDWARE_WAIT_S
            return [], 0
        self._inflight = None
        self.link = Link.UP
        self.failures = 0
        self.modem_failures = 0
        self.not_before = now
        self.last_contact = now
        self._mailbox_at = now + self.mailbox_s
        frame = inflight.plan.frame
        cost = self.budget.charge(now, len(frame.data) if frame else 0)
        if inflight.plan.answer_ring or report.mt_received:
            self.ring = False
        self.mt_waiting = report.mt_queued
        return inflight.items, cost

    def modem_failed(self, now: float) -> None:
        """The modem or port failed (no outcome): revert, back off, the agent reopens it."""
        self._revert(now)
        self.modem_failures += 1
        self.link = Link.MODEM_DOWN
        exponent = min(self.modem_failures - 1, 30)  # 2.0 ** 1000 overflows a float
        self.not_before = now + min(MODEM_RETRY_MAX_S, 2.0 * 2**exponent)

    # --- timers --------------------------------------------------------------------------------

    def get_timer(self, now: float) -> float | None:
        """When something next needs doing (a session, a heartbeat or a position report)."""
        times = [self.next_heartbeat, self.next_position]
        if self._inflight is None:
            session_at = self._session_time(now)
            if session_at is not None:
                times.append(max(session_at, self.not_before))
        return min(times)

    def _session_time(self, now: float) -> float | None:
        if self.ring or self.mt_waiting:
            return now
        tomorrow = (int(now // DAY) + 1) * DAY
        broke = self.budget.remaining(now) < CREDIT
        candidates = [max(self._mailbox_at, tomorrow) if broke else self._mailbox_at]
        due = self.session.get_timer()
        if due is not None:
            blocked = self._budget_blocked_day == int(now // DAY) and not any(
                m.priority is Priority.URGENT and m.next_try <= now
                for m in self.session.outbox.values()
            )
            candidates.append(tomorrow if blocked and due <= now else due)
        return min(candidates)

    def snapshot(self, now: float) -> dict[str, object]:
        """Link and budget figures for ``flip vessel status``."""
        return {
            "link": self.link.value,
            "signal": self.signal,
            "last_contact": self.last_contact,
            "last_outcome": self.last_outcome,
            "next_session_not_before": self.not_before,
            "consecutive_failures": self.failures,
            "ring_pending": self.ring,
            "mt_waiting": self.mt_waiting,
            "budget_bytes_per_day": self.budget.per_day,
            "budget_spent_today": self.budget.spent if self.budget.day == int(now // DAY) else 0,
        }
