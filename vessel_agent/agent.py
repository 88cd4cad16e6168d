"""The on-board service (``flip vessel run``): the I/O shell around the scheduler.

One thread runs the loop — sync new submits from the outbox, queue heartbeats and position
reports when due, answer ring alerts, run the session the :class:`~vessel_agent.scheduler.
Scheduler` plans, persist its outcome, apply the downlink — and sleeps on a
:class:`threading.Event` that SIGTERM sets, so shutdown is prompt between sessions and never
interrupts a transaction. A second, optional thread reads the NMEA GPS port.

Persist-then-act order (docs/vessel-agent.md, "State machine"): a message is in the outbox
before any session can carry it; ``mark_sent`` commits only after the gateway confirmed the
session (a crash before that merely resends — the shore dedupes); an ack is committed the moment
the verified downlink is read, and the in-memory session forgets those seqs at the same time,
so nothing is sent after its ack has been applied.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from firmware_bridge.errors import BridgeError
from firmware_bridge.status import OutcomeKind
from protocol import links
from protocol.errors import ProtocolError, RemoteProtocolError
from protocol.events import (
    CaseStatusReceived,
    ConfigReceived,
    MessagesAcked,
    ShoreKeyRotated,
    ShorePartReceived,
)
from protocol.frame import DOWNLINK_MAX
from protocol.vessel import OutFrame, Priority
from vessel_agent import inbox
from vessel_agent.broadband import BroadbandLink, PostResult
from vessel_agent.core import AgentCore, Fix
from vessel_agent.device import Device
from vessel_agent.errors import OutboxCorrupt, OutboxError
from vessel_agent.imtlink import IMTLink
from vessel_agent.links import DEFAULTS, Choice, LinkPolicy
from vessel_agent.logs import Log
from vessel_agent.scheduler import Link, Scheduler, SessionPlan, SessionReport

PURGE_EVERY_S = 3600.0
IMT_MAX_FRAMES = 4  # IMT messages per agent step (each up to 100,000 bytes)
FIX_MAX_AGE_S = 600.0


class ModemLike(Protocol):
    """The parts of :class:`firmware_bridge.driver.Modem` the agent uses."""

    def initialise(self, echo: bool | None = None) -> None: ...
    def enable_ring_alerts(self, on: bool = True) -> None: ...
    def signal(self) -> int: ...
    def write_mo(self, data: bytes) -> None: ...
    def session(
        self, answer_ring: bool = False, location: tuple[float, float] | None = None
    ) -> Any: ...
    def read_mt(self) -> bytes: ...
    def clear(self, buffers: str = "both") -> None: ...
    def poll_ring(self) -> bool: ...
    def close(self) -> None: ...


def open_modem(url: str, timeout_s: float, session_timeout_s: float) -> ModemLike:
    from firmware_bridge.driver import Modem

    return Modem.open(url, timeout_s=timeout_s, session_timeout_s=session_timeout_s)


class Agent:
    """Drives one device's modem from its outbox. ``clock`` is injectable for tests."""

    def __init__(
        self,
        device: Device,
        *,
        clock: Callable[[], float] = time.time,
        log: Log | None = None,
        modem_factory: Callable[[str, float, float], ModemLike] = open_modem,
    ) -> None:
        self.device = device
        self.clock = clock
        self.log = log or Log()
        self.modem_factory = modem_factory
        self.modem: ModemLike | None = None
        cfg = device.config
        now = clock()
        device.outbox.sync(device.session)
        self.sched = Scheduler(
            device.session,
            now=now,
            budget_per_day=device.airtime_bytes_per_day,
            heartbeat_s=cfg.heartbeat_interval_s,
            report_s=device.report_interval_s,
            mailbox_s=cfg.mailbox_check_s,
        )
        self.core = AgentCore(self.sched, reports=device, store=device.outbox)
        day, spent = device.outbox.meta("budget_day"), device.outbox.meta("budget_spent")
        if isinstance(day, int) and isinstance(spent, int):
            self.sched.budget.day, self.sched.budget.spent = day, spent
        self._evicted = device.outbox.meta("evicted_total", 0)
        self._next_purge = now
        self._fix: Any = None
        self._fix_lock = threading.Lock()
        self._reported_fix_time: Any = None
        self._fix_reported: Any = None  # the fix of the position report being queued
        self.broadband = (
            BroadbandLink(
                cfg.broadband_url, retry_s=cfg.broadband_retry_s, poll_s=cfg.broadband_poll_s
            )
            if cfg.broadband_url
            else None
        )
        self.imt = IMTLink(cfg.imt_serial, topic=cfg.imt_topic) if cfg.imt_serial else None
        self._imt_frames: list[OutFrame] = []  # on air on the IMT worker thread
        self.links = LinkPolicy(
            specs={
                "broadband": replace(
                    DEFAULTS["broadband"], budget_bytes_per_day=cfg.broadband_bytes_per_day
                ),
                "imt": replace(DEFAULTS["imt"], budget_bytes_per_day=cfg.imt_bytes_per_day),
                "sbd": DEFAULTS["sbd"],  # its credit budget is the scheduler's
            }
        )
        spent = device.outbox.meta("link_spent")
        if isinstance(spent, str):
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                saved = json.loads(spent)
                self.links.day = int(saved["day"])
                self.links.spent = {str(k): int(v) for k, v in saved["spent"].items()}
        self.choice: Choice | None = None
        self.stop = threading.Event()

    # --- lifecycle -----------------------------------------------------------------------------

    def ready_info(self) -> dict[str, Any]:
        return {
            "ready": True,
            "dir": str(self.device.dir.path),
            "kid": self.device.session.kid.hex(),
            "pending": len(self.device.session.outbox),
            "next_seq": self.device.session.next_seq,
            "modem": self.device.config.serial or None,
        }

    def run(self, on_ready: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Loop until :attr:`stop` is set (SIGTERM/SIGINT handlers set it)."""
        if self.device.config.gps:
            threading.Thread(target=self._gps_loop, name="gps", daemon=True).start()
        self.log(
            "agent_started",
            pending=len(self.device.session.outbox),
            next_seq=self.device.session.next_seq,
            recovered=self.device.recovery is not None,
        )
        if on_ready is not None:
            on_ready(self.ready_info())
        try:
            while not self.stop.is_set():
                now = self.clock()
                self.step(now)
                timer = self.sched.get_timer(self.clock())
                wait = self.device.config.tick_s
                if timer is not None:
                    wait = max(0.0, min(wait, timer - self.clock()))
                self.stop.wait(wait)
        finally:
            self._close_modem()
            self._save_status()
            self.log("agent_stopped", pending=len(self.device.session.outbox))

    def _close_modem(self) -> None:
        if self.imt is not None:
            self.imt.close()
        if self.modem is not None:
            with contextlib.suppress(BridgeError, OSError):
                self.modem.close()
            self.modem = None

    # --- one iteration -------------------------------------------------------------------------

    def step(self, now: float) -> None:
        """Everything due at ``now``: sync, routine reports, ring, at most one session."""
        ob, session = self.device.outbox, self.device.session
        try:
            evicted = ob.meta("evicted_total", 0)
            ob.sync(session, full=evicted != self._evicted)
            self._evicted = evicted
            self._routine(now)
            if now >= self._next_purge:
                self._next_purge = now + PURGE_EVERY_S
                dropped = ob.purge(now, self.device.config.retention_days * 86_400.0)
                inbox.purge(ob)  # shore texts and reply-key salts of purged grievances
                if dropped:
                    self.log("purged", receipts=dropped)
        except (OutboxError, sqlite3.Error) as exc:
            self.log("outbox_error", level="error", error=str(exc))
            if isinstance(exc, OutboxCorrupt) or "malformed" in str(exc):
                # Damaged while running: stop; the restart (systemd Restart=always) salvages
                # it at start (docs/vessel-agent.md, "Damaged outbox").
                self.log("outbox_damaged", level="error")
                self.stop.set()
            return
        self._links(now)

    def _links(self, now: float) -> None:
        """Offer the due frames to the links up now, in the order the link policy gives."""
        if self.imt is not None:
            self._imt_poll(now, self.imt)
        session = self.device.session
        urgent = any(
            m.priority is Priority.URGENT and m.next_try <= now for m in session.outbox.values()
        )
        up = {
            "broadband": self.broadband is not None and self.broadband.up(now),
            "imt": self.imt is not None and self.imt.up(now),
            "sbd": bool(self.device.config.serial),
        }
        choice = self.links.order(now, up=up, urgent=urgent)
        if choice != self.choice:
            self.log(
                "link_choice",
                order=list(choice.order),
                urgent=choice.urgent,
                skipped=list(choice.skipped),
            )
            self.choice = choice
        for name in choice.order:
            if name == "broadband" and self.broadband is not None:
                self._broadband(now, self.broadband, budget=self.links.remaining(name, now))
            elif name == "imt" and self.imt is not None:
                self._imt(now, self.imt, budget=self.links.remaining(name, now))
            elif name == "sbd":
                self._sbd(now)

    def _sbd(self, now: float) -> None:
        """At most one SBD session (the scheduler's pacing, signal and credit budget)."""
        if self.modem is None and not self._open_modem(now):
            return
        assert self.modem is not None
        try:
            if self.modem.poll_ring():
                self.log("ring_alert")
                self.sched.ring_alert(now)
            plan = self.core.plan(now, self.modem.signal)
            if plan is not None:
                self._session(plan)
        except BridgeError as exc:
            self._modem_down(now, exc)

    def _open_modem(self, now: float) -> bool:
        if not self.sched.ready(now):
            return False
        cfg = self.device.config
        try:
            modem = self.modem_factory(cfg.serial, cfg.modem_timeout_s, cfg.session_timeout_s)
            try:
                modem.initialise()
                modem.enable_ring_alerts(True)
            except BaseException:
                modem.close()
                raise
        except BridgeError as exc:
            self._modem_down(now, exc)
            return False
        self.modem = modem
        self.log("modem_ready", device=cfg.serial)
        return True

    def _modem_down(self, now: float, exc: Exception) -> None:
        self.sched.modem_failed(now)
        self._close_modem()
        self.log("modem_error", level="warning", error=type(exc).__name__, detail=str(exc)[:120])
        self._save_status()

    def _session(self, plan: SessionPlan) -> None:
        assert self.modem is not None
        modem, frame = self.modem, plan.frame
        if frame is not None:
            modem.write_mo(frame.data)
        else:
            modem.clear("mo")  # a mailbox check must not resend the last MO message
        result = modem.session(answer_ring=plan.answer_ring)
        done = self.clock()
        outcome = result.outcome
        report = SessionReport(
            kind=outcome.kind,
            code=result.mo_status,
            retry_after_s=outcome.retry_after_s,
            mt_received=result.mt_received,
            mt_queued=result.mt_queued,
        )
        items, cost = self.core.finished(done, report)
        if outcome.kind is OutcomeKind.SUCCESS:
            self.device.outbox.set_meta(
                {"budget_day": self.sched.budget.day, "budget_spent": self.sched.budget.spent}
            )
            self.log(
                "session_ok",
                reason=plan.reason,
                seqs=[m.seq for m in items],
                bytes=len(frame.data) if frame else 0,
                billed=cost,
                urgent=plan.urgent,
                momsn=result.momsn,
                mt_queued=result.mt_queued,
            )
        else:
            self.log(
                "session_failed",
                level="warning",
                mo_status=result.mo_status,
                kind=outcome.kind.value,
                retry_after_s=outcome.retry_after_s,
                link=self.sched.link.value,
            )
        if result.mt_received:
            self.apply_downlink(modem.read_mt(), self.clock())
        self._save_status()

    # --- broadband window ----------------------------------------------------------------------

    def _broadband(
        self, now: float, link: BroadbandLink, *, budget: int | None = None, max_frames: int = 8
    ) -> None:
        """Post due messages over the IP link, in frames of up to 100,000 bytes; what does not
        go stays due for the modem."""
        session = self.device.session
        frames = session.frames_to_send(
            now, max_frames=max_frames, budget=budget, limit=links.IP.uplink
        )
        if not frames and now >= link.next_poll:  # nothing to send: a heartbeat fetches downlinks
            self.log("broadband_poll", seq=self.device.queue_heartbeat(now).seq)
            frames = session.frames_to_send(now, max_frames=1, limit=links.IP.uplink)
        for i, out in enumerate(frames):
            items = [session.outbox[s] for s in out.seqs if s in session.outbox]
            result = link.post(out.data, now)
            for data in link.take():  # the gateway's answer: this vessel's downlinks
                self.apply_downlink(data, now, max_size=links.IP.downlink)
            if result is PostResult.STORED:
                self.device.outbox.mark_sent(items, now)
                self.links.charge("broadband", len(out.data), now)
                self.log("broadband_ok", seqs=list(out.seqs), bytes=len(out.data))
                continue
            self._due_again(frames[i:], now)  # back to the modem
            if result is PostResult.DOWN:
                self.log(
                    "broadband_down",
                    level="warning",
                    error=link.last_error,
                    retry_in_s=link.retry_s,
                )
                break
            self.log(
                "broadband_refused", level="warning", seqs=list(out.seqs), error=link.last_error
            )
            link.down_until = now + link.retry_s  # a refusal: leave this link to the modem
            break
        if frames:
            self._save_status()

    # --- RockBLOCK 9704 (IMT) ---------------------------------------------------------------------

    def _imt_poll(self, now: float, link: IMTLink) -> None:
        """The outcome of the IMT send in progress once it is over, then downlinks that arrived
        by IMT: one downlink frame per MT message, up to the link's size (wire format §1.1)."""
        results = link.collect(now)
        if results is not None:
            self._imt_sent(now, link, self._imt_frames, results)
            self._imt_frames = []
        for payload in link.receive(now):
            self.apply_downlink(payload, now, max_size=links.IMT.downlink)

    def _imt(self, now: float, link: IMTLink, *, budget: int | None = None) -> None:
        """Due messages in frames of up to 100,000 bytes, one IMT message each — many messages
        under one signature, fragmented messages whole — sent on the link's worker thread: the
        loop goes on while they are on air (about two minutes for 100 kB); :meth:`_imt_poll`
        takes the outcome. The messages are not due meanwhile, so no other link sends them."""
        if link.busy():
            return
        frames = self.device.session.frames_to_send(
            now, max_frames=IMT_MAX_FRAMES, budget=budget, limit=link.limit
        )
        if frames:
            self._imt_frames = frames
            link.start([out.data for out in frames], self.clock)
            self.log("imt_sending", messages=len(frames), bytes=sum(len(o.data) for o in frames))
            self._save_status()

    def _imt_sent(
        self, now: float, link: IMTLink, frames: list[OutFrame], results: list[PostResult]
    ) -> None:
        session = self.device.session
        for out, result in zip(frames, results, strict=False):
            if result is not PostResult.STORED:
                break
            items = [session.outbox[s] for s in out.seqs if s in session.outbox]
            self.device.outbox.mark_sent(items, self.clock())
            self.links.charge("imt", len(out.data) + 2, now)
            self.log("imt_ok", messages=len(out.seqs), bytes=len(out.data), seqs=list(out.seqs))
        done = sum(1 for r in results if r is PostResult.STORED)
        if done < len(frames):
            self._due_again(frames[done:], now)
            self.log("imt_failed", level="warning", error=link.last_error, retry_in_s=link.retry_s)
        self._save_status()

    def _due_again(self, frames: list[OutFrame], now: float) -> None:
        """Frames a link did not take: their messages are due now, for whichever link is up."""
        self.device.session.unsend([s for out in frames for s in out.seqs], now)

    # --- downlink ------------------------------------------------------------------------------

    def apply_downlink(self, data: bytes, now: float, *, max_size: int = DOWNLINK_MAX) -> None:
        """Verify and apply one downlink frame (``max_size``: the largest its link carries);
        forged or misaddressed ones are logged and dropped."""
        dev = self.device
        try:
            events = dev.session.handle_downlink(data, now, max_size=max_size)
        except RemoteProtocolError as exc:
            self.log("downlink_refused", level="warning", error=type(exc).__name__, bytes=len(data))
            return
        changed = self.core.downlink(events, now)  # acks stored, a new config in force
        for ev in events:
            match ev:
                case MessagesAcked():
                    self.log("acked", seqs=list(ev.seqs), changed=len(changed))
                case CaseStatusReceived():
                    known = dev.outbox.store_status(ev.status, now)
                    self.log(
                        "case_status",
                        ref_seq=ev.status.ref_seq,
                        status=ev.status.status,
                        known=known,
                    )
                case ConfigReceived():
                    dev.apply_config(ev.config)
                    self.log(
                        "config_applied",
                        version=ev.config.version,
                        budget=ev.config.airtime_bytes_per_day,
                        report_interval_s=ev.config.report_interval_s,
                    )
                case ShoreKeyRotated():
                    dev.apply_rotation(ev.rotation)
                    self.log("shore_key_rotated", epoch=ev.rotation.epoch)
                case ShorePartReceived():
                    self._shore_part(ev, now)

    def _shore_part(self, ev: ShorePartReceived, now: float) -> None:
        """Keep a part of a sealed shore message; report the message on board once whole."""
        p = ev.part
        try:
            whole = self.device.take_shore_part(p, now)
        except ProtocolError as exc:
            self.log("shore_part_refused", level="warning", error=type(exc).__name__)
            return
        self.log(
            "shore_part",
            ref_seq=p.ref_seq,
            msg_id=p.msg_id,
            part=p.part,
            parts=p.parts,
            whole=whole is not None,
        )

    # --- routine reports -----------------------------------------------------------------------

    def _routine(self, now: float) -> None:
        done = self.core.routine(now, lambda: self._fresh_fix(now))
        if done.heartbeat is not None:
            self.log(
                "heartbeat_queued",
                seq=done.heartbeat.seq,
                depth=len(self.device.session.outbox),
            )
        if done.position is not None:
            self._reported_fix_time = self._fix_reported
            self.log("position_queued", seq=done.position.seq)

    def _fresh_fix(self, now: float) -> Fix | None:
        """The GPS fix to report: none twice, none older than :data:`FIX_MAX_AGE_S`."""
        with self._fix_lock:
            fix = self._fix
        if fix is None or fix.time == self._reported_fix_time:
            return None
        if now - fix.time.timestamp() > FIX_MAX_AGE_S:
            return None
        self._fix_reported = fix.time
        return Fix(
            time_s=int(fix.time.timestamp()),
            lat=fix.lat,
            lon=fix.lon,
            speed_kn=min(fix.speed_kn or 0.0, 1000.0),
            course_deg=round(fix.course_deg or 0) % 360,
        )

    def _gps_loop(self) -> None:
        from firmware_bridge.nmea import NMEAReader

        cfg = self.device.config
        while not self.stop.is_set():
            try:
                reader = NMEAReader.open(cfg.gps, cfg.gps_baud)
            except BridgeError as exc:
                self.log("gps_error", level="warning", detail=str(exc)[:120])
                self.stop.wait(5.0)
                continue
            try:
                while not self.stop.is_set():
                    fix = reader.read_fix(1.0)
                    if fix is not None:
                        with self._fix_lock:
                            self._fix = fix
            except BridgeError as exc:
                self.log("gps_error", level="warning", detail=str(exc)[:120])
            finally:
                with contextlib.suppress(OSError, BridgeError):
                    reader.close()

    def set_fix(self, fix: Any) -> None:
        """Feed a GPS fix directly (tests, or a position source other than NMEA)."""
        with self._fix_lock:
            self._fix = fix

    # --- status --------------------------------------------------------------------------------

    def _save_status(self) -> None:
        snap = self.sched.snapshot(self.clock())
        if not self.device.config.serial:
            snap["link"] = "no-modem"
        elif self.modem is None and self.sched.link is not Link.MODEM_DOWN:
            snap["link"] = Link.UNKNOWN.value
        if self.choice is not None:
            snap["choice"] = {
                "order": list(self.choice.order),
                "urgent": self.choice.urgent,
                "skipped": list(self.choice.skipped),
                "spent_today": dict(self.links.spent),
            }
        if self.imt is not None:
            snap["imt"] = {
                "up": self.imt.up(self.clock()),
                "sending": self.imt.busy(),
                "sent": self.imt.sent,
                "signal": self.imt.signal,
                "last_error": self.imt.last_error,
            }
        if self.broadband is not None:
            snap["broadband"] = {
                "up": self.broadband.up(self.clock()),
                "sent": self.broadband.sent,
                "last_error": self.broadband.last_error,
            }
        snap["saved_at"] = self.clock()
        with contextlib.suppress(OutboxError, ProtocolError, sqlite3.Error):
            self.device.outbox.set_meta(
                {
                    "link_status": json.dumps(snap),
                    "link_spent": json.dumps({"day": self.links.day, "spent": self.links.spent}),
                }
            )
