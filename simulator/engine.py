"""The virtual-clock engine: a discrete-event loop (heapq) over one shard of the fleet.

Each vessel runs the real on-board code (:mod:`simulator.onboard`) — the agent core
:class:`vessel_agent.core.AgentCore` that ``flip vessel run`` runs too (routine reports, signal,
session plans, outcomes, downlink) over :class:`protocol.vessel.VesselSession` (seal, sign, pack,
retransmit, verify shore-signed downlink) and the agent's :class:`vessel_agent.scheduler.
Scheduler` (link state, budget, back-off, ring alerts); only the modem and the outbox are
simulated. One
:class:`simulator.shore.ShoreSide` runs the gateway's shore logic (:mod:`protocol.shorecore`) over
the in-memory store, or ``--shore gateway`` the whole pipeline on SQLite. Frames are real bytes:
every byte counted on air was signed, every grievance sealed and opened.

Time only moves to the next event: grievance arrivals, the scheduler's timers, session ends,
deliveries ashore, ring alerts and case updates. Stretches in which the modem is dead or has no
signal are skipped in one step (the polls in them could only return "nothing"), which is what
lets a month of a fleet run in seconds. What a shard records and returns: :mod:`simulator.records`.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from functools import partial
from typing import Any

from firmware_bridge.status import OutcomeKind, classify
from protocol import frame
from protocol.crew import Grievance, VoiceNote
from protocol.downlinks import CaseState, CaseStatus
from protocol.events import CaseStatusReceived, MessagesAcked
from protocol.keys import key_id
from protocol.lang import lang_from_tag
from protocol.vessel import OutFrame, Priority
from simulator.fleet import (
    EPOCH,
    dark_vessels,
    groups,
    plan_vessel,
    trip_start,
)
from simulator.link import DAY, HOUR
from simulator.onboard import Vessel, device_key, make_vessel, shore_keys, speedups
from simulator.oracle import oracle_delivery, oracle_frames
from simulator.records import (
    COUNTERS,
    SILENCE_ALERT_S,
    ShardResult,
    Timeline,
    link_stats,
    vessel_record,
)
from simulator.scenario import Scenario
from simulator.shore import InstantDesk, ShoreSide
from vessel_agent.core import Fix
from vessel_agent.scheduler import SessionReport

WAKE, SESSION_END, DELIVER, ARRIVAL, RING, STATUS, DRAIN, CATCH = range(8)
INF = math.inf


class Shard:
    """Simulate vessels ``indices`` of the scenario's fleet for ``days``."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int,
        vessels: int,
        days: float,
        indices: list[int],
        shore: str = "memory",
    ) -> None:
        speedups()
        self.scenario = scenario
        self.days = days
        self.end = (days + scenario.drain_days) * DAY
        self.heap: list[tuple[float, int, int, int, Any]] = []
        self.counter = 0
        self.timelines: list[Timeline] = []
        nd = math.ceil(days + scenario.drain_days) + 1
        self.per_day: dict[str, list[float]] = {
            k: [0.0] * nd
            for k in ("mo_bytes", "mt_bytes", "credits", "sessions", "failed", "needed")
        }
        self.c: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.draining = False
        sign, seal = shore_keys()
        dark = dark_vessels(scenario, vessels, seed)
        updates = [(u.after_h * HOUR, CaseState[u.state]) for u in scenario.case_desk.updates]
        self.vs: dict[int, Vessel] = {}
        devices = {}
        group_of = groups(scenario, vessels)
        for idx in indices:
            plan = plan_vessel(scenario, idx, group_of[idx], seed, days, dark)
            key = device_key(idx)
            self.vs[idx] = make_vessel(plan, key, sign.public_key(), seal.public_key(), seed)
            devices[key_id(key.public_key())] = (plan.name, key.public_key())
            self.c["catch_events"] += len(plan.catches)
            if shore == "gateway":  # the fast shore only counts them
                for when in plan.catches:
                    self._push(when, CATCH, idx)
            if plan.arrivals:
                self._push(plan.arrivals[0].time, ARRIVAL, idx)
            self._push(0.0, WAKE, idx, 0)
        self.names = {v.plan.name: i for i, v in self.vs.items()}
        self.shore: Any
        if shore == "gateway":
            from simulator.gateway_shore import GatewayShore

            self.shore = GatewayShore(
                sign_key=sign,
                seal_key=seal,
                devices=devices,
                updates=updates,
                imeis={v.plan.name: f"30023401{i:07d}" for i, v in self.vs.items()},
            )
        else:
            self.shore = ShoreSide(
                sign_key=sign, seal_key=seal, devices=devices, desk=InstantDesk(updates)
            )
        self._push(days * DAY, DRAIN, -1)
        self.events = 0

    # --- heap -----------------------------------------------------------------------------

    def _push(self, t: float, kind: int, vessel: int, arg: Any = None) -> None:
        self.counter += 1
        heapq.heappush(self.heap, (t, self.counter, kind, vessel, arg))

    def _wake_now(self, v: Vessel, t: float) -> None:
        """Wake the vessel at ``t`` without a heap round trip (any pending wake is void)."""
        v.token += 1
        self._wake(v, t)

    def _wake_at(self, v: Vessel, t: float) -> None:
        v.token += 1
        self._push(t, WAKE, v.plan.idx, v.token)

    def run(self, tick: Callable[[int], None] | None = None) -> ShardResult:
        """Run to the end; ``tick(day)`` is called as each simulated day begins."""
        heap = self.heap
        next_day = 0.0
        while heap:
            t, _, kind, idx, arg = heapq.heappop(heap)
            if t > self.end:
                break
            if tick is not None and t >= next_day:
                tick(int(t // DAY))
                next_day = (t // DAY + 1) * DAY
            self.events += 1
            if kind == WAKE:
                v = self.vs[idx]
                if arg == v.token:
                    self._wake(v, t)
            elif kind == SESSION_END:
                self._session_end(self.vs[idx], t)
            elif kind == DELIVER:
                self._deliver(self.vs[idx], t, arg)
            elif kind == ARRIVAL:
                self._arrival(self.vs[idx], t)
            elif kind == RING:
                self._ring(self.vs[idx], t, arg)
            elif kind == STATUS:
                self.shore.queue_status(self.vs[idx].plan.name, arg)
                self._schedule_ring(self.vs[idx], t)
            elif kind == DRAIN:
                self.draining = True
            elif kind == CATCH:
                v = self.vs[idx]
                lat, lon = v.plan.position(t)
                self.c["catch_accepted"] += self.shore.catch_event(
                    v.plan.name, EPOCH + t, EPOCH + trip_start(v.plan.ports, t), lat, lon
                )
        if hasattr(self.shore, "close"):
            self.shore.close()
        return self._result()

    # --- vessel side ----------------------------------------------------------------------

    def _arrival(self, v: Vessel, t: float) -> None:
        a = v.plan.arrivals[v.next_arrival]
        v.next_arrival += 1
        if v.next_arrival < len(v.plan.arrivals):
            self._push(v.plan.arrivals[v.next_arrival].time, ARRIVAL, v.plan.idx)
        content: Grievance | VoiceNote = a.voice or Grievance(
            category=a.category, lang=lang_from_tag(a.lang), text=a.text
        )
        items = v.session.queue_crew(content, EPOCH + int(t))
        self.c["grievances_sealed"] += 1
        sizes = oracle_frames(items, v.plan.profile.mo_max)
        tl = Timeline(
            vessel=v.plan.idx,
            seq=items[0].seq,
            category=a.category,
            lang=a.lang,
            chars=len(a.text),
            frames=len(items),
            created=t,
            urgent=items[0].priority is Priority.URGENT,
        )
        tl.oracle = oracle_delivery(v.link, t, sizes)
        v.by_seq[items[0].seq] = len(self.timelines)
        self.timelines.append(tl)
        v.unsettled += 1
        if v.inflight is None:
            self._wake_at(v, t)

    def _wake(self, v: Vessel, t: float) -> None:
        if v.inflight is not None or (self.draining and v.unsettled == 0):
            return  # in a session; or drained: this vessel has nothing left to settle
        s = v.sched
        a = EPOCH + t  # the protocol and the scheduler run on Unix time
        if self.draining:
            s.next_heartbeat = s.next_position = INF
        else:
            done = v.core.routine(a, lambda: self._fix(v, t))
            self.c["heartbeats"] += done.heartbeat is not None
            self.c["positions"] += done.position is not None
        link = v.link
        if not link.modem_alive(t):
            self._skip_modem_dead(v, t)
            return
        plan = v.core.plan(a, partial(link.signal, t))
        if v.core.measured == 0:
            # Polls until the link is back would all read 0 bars: jump to the first poll
            # after it (or to the next report timer, whichever is sooner).
            up = link.trace.down_until(t)
            poll = t + 30.0 * max(1, math.ceil((up - t) / 30.0))
            self._wake_at(v, min(poll, s.next_heartbeat - EPOCH, s.next_position - EPOCH))
            return
        if plan is None:
            nxt = s.get_timer(a)
            self._wake_at(v, t + 60.0 if nxt is None or nxt <= a else nxt - EPOCH)
            return
        mo = plan.frame.data if plan.frame else b""
        att = link.attempt(t, len(mo))
        sizes = {}
        if plan.frame is not None:
            sizes = {q: len(v.session.outbox[q].encoded) for q in plan.frame.seqs}
            self.c["uplink_signed"] += 1
            self._first_sent(v, plan.frame, t)
        else:
            self.c["mailbox_sessions"] += 1
        v.inflight = (plan, att, t, sizes)
        day = int(t // DAY)
        self.per_day["mo_bytes"][day] += att.on_air
        self.per_day["sessions"][day] += 1
        self.c["mo_bytes_on_air"] += att.on_air
        self.c["sessions"] += 1
        self._push(t + att.outcome.latency_s, SESSION_END, v.plan.idx)

    @staticmethod
    def _fix(v: Vessel, t: float) -> Fix:
        lat, lon = v.plan.position(t)
        return Fix(time_s=EPOCH + int(t), lat=round(lat, 5), lon=round(lon, 5), speed_kn=8.0)

    def _skip_modem_dead(self, v: Vessel, t: float) -> None:
        """The modem does not answer: the agent's reopen back-off, run inline to the first
        attempt after the outage (or the next report timer)."""
        s = v.sched
        up = EPOCH + v.link.trace.down_until(t)
        a = EPOCH + t
        while True:
            s.modem_failed(a)
            self.c["modem_down_polls"] += 1
            nxt = min(s.not_before, s.next_heartbeat, s.next_position)
            if nxt < up and nxt == s.not_before:
                a = nxt
                continue
            break
        self._wake_at(v, nxt - EPOCH)

    def _first_sent(self, v: Vessel, out: OutFrame, t: float) -> None:
        for q in out.seqs:
            gi = v.by_seq.get(q)
            if gi is not None:
                tl = self.timelines[gi]
                if tl.first_sent is None:
                    tl.first_sent = t
        items = [v.session.outbox[q] for q in out.seqs]
        self.c["retransmissions"] += sum(1 for m in items if m.attempts > 1)

    def _session_end(self, v: Vessel, t: float) -> None:
        assert v.inflight is not None
        plan, att, t0, sizes = v.inflight
        v.inflight = None
        code = att.outcome.mo_status
        outcome = classify(code)
        name = v.plan.name
        day = int(t // DAY)
        mt: bytes | None = None
        if outcome.ok:
            mt, queued = self.shore.pull_mt(name, EPOCH + t0)
            report = SessionReport(
                kind=OutcomeKind.SUCCESS, code=code, mt_received=mt is not None, mt_queued=queued
            )
        else:
            self.c["sessions_failed"] += 1
            self.per_day["failed"][day] += 1
            report = SessionReport(
                kind=outcome.kind, code=code, retry_after_s=outcome.retry_after_s
            )
        v.core.finished(EPOCH + t, report)
        if att.reached_gateway and plan.frame is not None:
            if not outcome.ok:
                self.c["ghost_deliveries"] += 1
            self._push(t + v.plan.profile.forward_s, DELIVER, v.plan.idx, (plan.frame.data, sizes))
        if outcome.ok:
            mo_len = len(plan.frame.data) if plan.frame else 0
            mt_len = len(mt) if mt else 0
            credits = v.link.credits(mo_len, mt_len)
            self.c["credits"] += credits
            self.c["mt_bytes"] += mt_len
            self.per_day["credits"][day] += credits
            self.per_day["mt_bytes"][day] += mt_len
            if mt is not None:
                self.c["downlink_verified"] += 1
                self._downlink(v, mt, t)
        self._wake_now(v, t)

    def _downlink(self, v: Vessel, mt: bytes, t: float) -> None:
        events = v.session.handle_downlink(mt, EPOCH + t)
        v.core.downlink(events, EPOCH + t)
        for ev in events:
            if isinstance(ev, MessagesAcked):
                for q in ev.seqs:
                    gi = v.by_seq.get(q)
                    if gi is not None and self.timelines[gi].acked is None:
                        self.timelines[gi].acked = t
                        self._settle(gi)
            elif isinstance(ev, CaseStatusReceived):
                gi = v.by_seq.get(ev.status.ref_seq)
                if gi is not None and self.timelines[gi].status_seen is None:
                    self.timelines[gi].status_seen = t
                    self._settle(gi)

    def _settle(self, gi: int) -> None:
        tl = self.timelines[gi]
        if tl.acked is not None and tl.status_seen is not None:
            self.vs[tl.vessel].unsettled -= 1

    def _ring(self, v: Vessel, t: float, left: int) -> None:
        """The provider rings the modem while MT waits (Iridium repeats an unanswered ring
        alert; here ``RING_REPEATS`` times, ``ring_delay_s`` apart)."""
        v.ring_pending = False
        link = v.link
        if not self.shore.has_mt(v.plan.name):
            return
        if (
            link.modem_alive(t)
            and link.signal(t) > 0
            and (link.rng.random() < link.p.ring_reliability)
        ):
            v.sched.ring_alert(EPOCH + t)
            if v.inflight is None:
                self._wake_at(v, t)
        elif left > 0:
            self._schedule_ring(v, t, left - 1)

    def _schedule_ring(self, v: Vessel, t: float, left: int = 2) -> None:
        if not v.ring_pending:
            v.ring_pending = True
            self._push(t + v.plan.profile.ring_delay_s, RING, v.plan.idx, left)

    # --- shore side -----------------------------------------------------------------------

    def _deliver(self, v: Vessel, t: float, arg: tuple[bytes, dict[int, int]]) -> None:
        data, sizes = arg
        got = self.shore.receive(data, EPOCH + t, max_size=v.plan.profile.mo_max)
        self.c["uplink_verified"] += 1
        self.c["grievances_opened"] += len(got.crew)
        if t - v.last_heard > SILENCE_ALERT_S:
            v.silences.append((v.last_heard, t))
        v.last_heard = t
        self.c["duplicates_suppressed"] += got.suppressed
        self.c["duplicates_surfaced"] += got.surfaced
        self.c["gaps_detected"] += got.gaps
        new = [sizes[q] for q in got.new_seqs if q in sizes]
        if new:
            needed = frame.frame_size(frame.uplink_payload_size(new))
            self.c["bytes_needed"] += needed
            self.per_day["needed"][int(t // DAY)] += needed
        for seq, content in got.crew:
            gi = v.by_seq.get(seq)
            if gi is None:
                continue
            tl = self.timelines[gi]
            if tl.delivered is None:
                tl.delivered = t
            if not isinstance(content, Grievance | VoiceNote) or content.category != tl.category:
                self.c["content_mismatches"] += 1
            ref, updates = self.shore.desk.open_case(v.plan.name, seq, content, t)
            tl.case_opened = t
            for when, state in updates:
                status = CaseStatus(ref_seq=seq, case_ref=ref, status=int(state))
                if when <= t:
                    self.shore.queue_status(v.plan.name, status)
                else:
                    self._push(when, STATUS, v.plan.idx, status)
        self._schedule_ring(v, t)

    # --- result ---------------------------------------------------------------------------

    def _result(self) -> ShardResult:
        end = self.end
        vessels = [vessel_record(v, self.days * DAY, end) for _, v in sorted(self.vs.items())]
        stats = link_stats(v for _, v in sorted(self.vs.items()))
        self.c["bytes_on_air"] = self.c["mo_bytes_on_air"]
        self.c["downlink_signed"] = self.shore.signed
        return ShardResult(
            timelines=self.timelines,
            counters=self.c,
            per_day=self.per_day,
            vessels=vessels,
            link_stats=stats,
            events=self.events,
            end=end,
        )


def run_shard(
    scenario: Scenario,
    seed: int,
    vessels: int,
    days: float,
    indices: list[int],
    shore: str = "memory",
    progress: Any = None,
    shard_no: int = 0,
) -> ShardResult:
    """Entry point for a worker process. ``shore``: "memory" (the shore core over the in-memory
    store, :class:`ShoreSide`) or "gateway" (the whole ``shore_gateway`` pipeline on SQLite).
    ``progress``: a queue (or anything with ``put``) that receives ``(shard_no, day)``."""
    import time

    cpu = time.process_time()
    tick = None if progress is None else (lambda day: progress.put((shard_no, day)))
    result = Shard(
        scenario, seed=seed, vessels=vessels, days=days, indices=indices, shore=shore
    ).run(tick)
    result.cpu_s = round(time.process_time() - cpu, 3)
    return result
