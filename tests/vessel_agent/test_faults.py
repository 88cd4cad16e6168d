"""Modem faults through the whole agent: every +SBDIX failure code, a forged or misaddressed
ack arriving over the real emulated modem, the modem rebooting in the middle of a session, and
the 16-bit MOMSN wrapping — nothing submitted is lost, nothing is delivered twice."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from firmware_bridge.emulator import Emulator
from firmware_bridge.modem import ModemMachine
from firmware_bridge.status import OutcomeKind, classify
from protocol import keys
from protocol.downlinks import Ack
from protocol.lang import Lang
from protocol.shore import pack_downlink
from tests.helpers import det_rng
from tests.vessel_agent.conftest import IMEI, AgentFixture, make_agent_dir
from tests.vessel_agent.fakes import FakeModem
from tests.vessel_agent.shore_sim import ShoreListener
from vessel_agent.agent import Agent
from vessel_agent.device import Device
from vessel_agent.logs import Log

T0 = 1_750_000_000.0
DOCUMENTED = [*range(0, 20), *range(20, 39), 64, 65, 99]


def _events(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_every_sbdix_code_through_the_agent_loses_and_doubles_nothing(tmp_path: Path) -> None:
    fx = make_agent_dir(tmp_path, serial="fake://")
    clock = [T0]
    with Device(str(fx.dir)) as dev:
        pub = dev.session.sign_key.public_key()
    modem = FakeModem(fx.shore, pub, clock=lambda: clock[0])
    out = io.StringIO()
    agent = Agent(
        Device(str(fx.dir)), clock=lambda: clock[0], log=Log(out), modem_factory=lambda *_: modem
    )
    submitted: list[int] = []
    try:
        for code in DOCUMENTED:
            sub = agent.device.submit(
                category=0x17, lang=Lang.EN, text=f"code {code}", now=clock[0]
            )
            submitted.append(sub.seq)
            modem.codes = [code]
            agent.step(clock[0])
            outcome = classify(code)
            if outcome.kind is OutcomeKind.SUCCESS:
                assert sub.seq in modem.received, code
            else:
                assert sub.seq not in modem.received, code
                assert sub.seq in agent.device.session.outbox, code
                failed = [e for e in _events(out) if e["event"] == "session_failed"]
                assert failed[-1]["mo_status"] == code
            # the longest wait (fatal codes) is an hour; then the link works again
            clock[0] += 2 * 3600
            for _ in range(20):
                if sub.seq in modem.received and not agent.device.session.outbox:
                    break
                agent.step(clock[0])
                clock[0] += 30
            assert sub.seq in modem.received, f"seq {sub.seq} never delivered after code {code}"
            assert sub.seq not in agent.device.session.outbox, code  # acked on board
        assert sorted(set(modem.received) & set(submitted)) == submitted
        assert len(modem.received) == len(set(modem.received))  # the shore saw each seq once
    finally:
        agent.device.close()


def _live_agent(fx: AgentFixture, emu: Emulator, clock: list[float]) -> tuple[Agent, io.StringIO]:
    from vessel_agent.config import AgentDir

    ad = AgentDir(fx.dir)
    cfg = ad.load()
    cfg.serial = emu.device
    cfg.modem_timeout_s = 1.0
    cfg.session_timeout_s = 3.0
    ad.save(cfg)
    out = io.StringIO()
    return Agent(Device(str(fx.dir)), clock=lambda: time.time() + clock[0], log=Log(out)), out


def _run_until(agent: Agent, cond, skew: list[float], timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        agent.step(agent.clock())
        if not agent.sched.ready(agent.clock()):
            skew[0] += 60  # skip the back-off instead of waiting for it
        time.sleep(0.02)
    return cond()


@pytest.mark.slow
def test_forged_and_misaddressed_acks_over_the_modem_drop_nothing(tmp_path: Path) -> None:
    fx = make_agent_dir(tmp_path)
    with Device(str(fx.dir)) as dev:
        pub = dev.session.sign_key.public_key()
    shore = ShoreListener(fx.shore, pub, ack=False)
    emu = Emulator(imei=IMEI, directip=shore.address, write_timeout_s=2.0).start()
    shore.emulator = emu
    skew = [0.0]
    agent, out = _live_agent(fx, emu, skew)
    try:
        subs = [
            agent.device.submit(category=0x17, lang=Lang.EN, text=f"g{i}", now=time.time())
            for i in range(3)
        ]
        assert _run_until(agent, lambda: {s.seq for s in subs} <= shore.seqs(), skew)
        shore_kid = keys.key_id(fx.shore.sign.public_key())
        captain = keys.new_signing_key(det_rng("captain"))
        other_vessel = keys.key_id(keys.new_signing_key(det_rng("other")).public_key())
        forged = [
            pack_downlink(captain, shore_kid, fx.kid, [Ack(cum_seq=10_000)], int(T0))[0],
            # a genuine shore ack, captured for another vessel and replayed here
            pack_downlink(fx.shore.sign, shore_kid, other_vessel, [Ack(cum_seq=10_000)], int(T0))[
                0
            ],
            b"\x84\x43\xa1\x01\x27" + b"\x00" * 40,
        ]
        for mt in forged:
            emu.queue_mt(mt)  # ring alert → the agent answers with +SBDIXA and reads it
        assert _run_until(
            agent,
            lambda: sum(e["event"] == "downlink_refused" for e in _events(out)) >= 3,
            skew,
        )
        refused = [e["error"] for e in _events(out) if e["event"] == "downlink_refused"]
        assert {"BadSignature", "WrongRecipient"} <= set(refused)
        for s in subs:  # nothing was dropped: every grievance still waits for a real ack
            assert s.seq in agent.device.session.outbox
            assert agent.device.lookup(s.receipt).state == "sent"  # type: ignore[union-attr]
        # the real shore's ack then does free them
        for mt in shore.session.downlink(fx.kid, shore.session.acks_for("vessel"), int(T0)):
            emu.queue_mt(mt)
        assert _run_until(agent, lambda: not agent.device.session.outbox, skew)
    finally:
        agent.device.close()
        emu.close()
        shore.close()


@pytest.mark.slow
def test_modem_reboot_mid_session_and_momsn_wrap(tmp_path: Path) -> None:
    fx = make_agent_dir(tmp_path)
    with Device(str(fx.dir)) as dev:
        pub = dev.session.sign_key.public_key()
    shore = ShoreListener(fx.shore, pub)
    emu = Emulator(imei=IMEI, directip=shore.address, write_timeout_s=2.0).start()
    emu.machine.momsn = 65534  # the 16-bit counter wraps during this test
    shore.emulator = emu
    skew = [0.0]
    agent, out = _live_agent(fx, emu, skew)
    try:
        first = agent.device.submit(category=0x17, lang=Lang.EN, text="before", now=time.time())
        assert _run_until(agent, lambda: first.seq in shore.seqs(), skew)
        # reboot: the modem falls silent in the middle of the next session's answer, then
        # comes back with factory state (empty buffers, echo on, ring alerts on)
        second = agent.device.submit(category=0xF1, lang=Lang.EN, text="during", now=time.time())
        emu.mute_after(20)
        agent.step(agent.clock())
        agent.step(agent.clock())
        with emu._lock:
            momsn = emu.machine.momsn
            emu.machine = ModemMachine(imei=IMEI)
            emu.machine.momsn = momsn
        emu.mute_after(None)
        more = []
        for i in range(3):  # one session each, so the MOMSN passes 65535 → 0
            more.append(
                agent.device.submit(category=0x17, lang=Lang.EN, text=f"after {i}", now=time.time())
            )
            assert _run_until(agent, lambda m=more[-1]: m.seq in shore.seqs(), skew)
        wanted = {first.seq, second.seq, *(m.seq for m in more)}
        assert _run_until(
            agent, lambda: wanted <= shore.seqs() and not agent.device.session.outbox, skew, 60
        )
        events = [e["event"] for e in _events(out)]
        assert "modem_error" in events  # the reboot was seen…
        assert not shore.reused  # …and no seq was reused for other content
        momsns = [m.header.momsn for m in emu.delivered]
        assert 65535 in momsns and any(m < 10 for m in momsns)  # wrapped
        assert len(shore.received) == len({e.seq for e in shore.received})  # nothing twice
    finally:
        agent.device.close()
        emu.close()
        shore.close()
