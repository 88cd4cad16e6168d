"""The agent loop against an in-process modem and shore: send, ack, downlink, forged acks."""

from __future__ import annotations

import io
import json

from protocol import keys
from protocol.downlinks import Ack, CaseState, CaseStatus, Config, KeyRotation
from protocol.lang import Lang
from protocol.shore import pack_downlink
from tests.helpers import det_rng
from tests.vessel_agent.conftest import AgentFixture, make_agent_dir
from tests.vessel_agent.fakes import FakeModem
from vessel_agent.agent import Agent
from vessel_agent.device import Device
from vessel_agent.logs import Log

T0 = 1_750_000_000.0


def _agent(fx: AgentFixture, modem: FakeModem, clock: list[float]) -> tuple[Agent, io.StringIO]:
    dev = Device(str(fx.dir))
    out = io.StringIO()
    agent = Agent(dev, clock=lambda: clock[0], log=Log(out), modem_factory=lambda *_: modem)
    return agent, out


def _events(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_submit_send_ack_and_status_note(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fx = make_agent_dir(tmp_path, serial="fake://")
    clock = [T0]
    with Device(str(fx.dir)) as dev:
        sub = dev.submit(category=0x17, lang=Lang.MY, text="secret wages text", now=T0)
        pub = dev.session.sign_key.public_key()
    modem = FakeModem(fx.shore, pub, clock=lambda: clock[0])
    agent, out = _agent(fx, modem, clock)
    try:
        for _ in range(6):
            agent.step(clock[0])
            clock[0] += 1
        assert sub.seq in modem.received
        view = agent.device.lookup(sub.receipt)
        assert view is not None and view.state == "received"
        # a case update arrives, shore-signed
        modem.queue_mt(
            pack_downlink(
                fx.shore.sign,
                keys.key_id(fx.shore.sign.public_key()),
                fx.kid,
                [
                    CaseStatus(
                        ref_seq=sub.seq, case_ref="C-9", status=CaseState.INVESTIGATING, note=3
                    )
                ],
                int(T0),
            )[0]
        )
        for _ in range(3):
            agent.step(clock[0])
            clock[0] += 1
        view = agent.device.lookup(sub.receipt)
        assert view is not None and view.statuses[-1].status == CaseState.INVESTIGATING
        log = out.getvalue()
        assert "secret" not in log and sub.receipt not in log
        assert any(e["event"] == "acked" for e in _events(out))
    finally:
        agent.device.close()


def test_forged_ack_is_ignored_and_logged(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fx = make_agent_dir(tmp_path, serial="fake://")
    clock = [T0]
    with Device(str(fx.dir)) as dev:
        sub = dev.submit(category=0x17, lang=Lang.EN, text="x", now=T0)
        pub = dev.session.sign_key.public_key()
    modem = FakeModem(fx.shore, pub, auto_ack=False, clock=lambda: clock[0])
    agent, out = _agent(fx, modem, clock)
    try:
        agent.step(clock[0])
        assert sub.seq in modem.received
        captain = keys.new_signing_key(det_rng("captain"))
        forged = pack_downlink(
            captain, keys.key_id(fx.shore.sign.public_key()), fx.kid, [Ack(cum_seq=1000)], int(T0)
        )[0]
        agent.apply_downlink(forged, T0 + 1)
        agent.apply_downlink(b"\x00garbage", T0 + 1)
        refused = [e for e in _events(out) if e["event"] == "downlink_refused"]
        assert [e["error"] for e in refused] == ["BadSignature", "Malformed"]
        assert sub.seq in agent.device.session.outbox
        assert agent.device.lookup(sub.receipt).state == "sent"  # type: ignore[union-attr]
    finally:
        agent.device.close()


def test_config_and_key_rotation_are_applied_and_persisted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fx = make_agent_dir(tmp_path, serial="fake://")
    clock = [T0]
    with Device(str(fx.dir)) as dev:
        pub = dev.session.sign_key.public_key()
    modem = FakeModem(fx.shore, pub, clock=lambda: clock[0])
    agent, _out = _agent(fx, modem, clock)
    new_sign = keys.new_signing_key(det_rng("shore2"))
    new_seal = keys.new_sealing_key(det_rng("shore2-seal"))
    shore_kid = keys.key_id(fx.shore.sign.public_key())
    try:
        msgs = [
            Config(version=3, airtime_bytes_per_day=777, report_interval_s=900),
            KeyRotation(
                epoch=1,
                sign_pub=keys.raw_public(new_sign.public_key()),
                seal_pub=keys.raw_public(new_seal.public_key()),
            ),
        ]
        for frame in pack_downlink(fx.shore.sign, shore_kid, fx.kid, msgs, int(T0)):
            agent.apply_downlink(frame, T0)
        assert agent.sched.budget.per_day == 777
    finally:
        agent.device.close()
    with Device(str(fx.dir)) as dev:
        assert dev.airtime_bytes_per_day == 777 and dev.report_interval_s == 900
        assert dev.session.config_version == 3 and dev.session.key_epoch == 1
        assert keys.raw_public(dev.session.shore_seal_pub) == keys.raw_public(new_seal.public_key())
        # an old config replayed later is ignored
        old = pack_downlink(
            new_sign,
            keys.key_id(new_sign.public_key()),
            fx.kid,
            [Config(version=2, airtime_bytes_per_day=1, report_interval_s=60)],
            int(T0),
        )[0]
        assert dev.session.handle_downlink(old, T0) == []


def test_link_failure_then_recovery_and_status_output(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fx = make_agent_dir(tmp_path, serial="fake://")
    clock = [T0]
    with Device(str(fx.dir)) as dev:
        sub = dev.submit(category=0xF2, lang=Lang.TL, text="", now=T0)
        pub = dev.session.sign_key.public_key()
    modem = FakeModem(fx.shore, pub, codes=[32, 18], clock=lambda: clock[0])
    agent, out = _agent(fx, modem, clock)
    try:
        for _ in range(200):
            agent.step(clock[0])
            clock[0] += 5
            if sub.seq in modem.received:
                break
        assert modem.sessions[:3] == [32, 18, 0]
        from vessel_agent.status import status

        agent._save_status()
        st = status(agent.device)
        assert st["link"]["link"] == "up"
        assert st["queue"]["by_kind"].get("crew", 0) == 0
        failed = [e for e in _events(out) if e["event"] == "session_failed"]
        assert [e["mo_status"] for e in failed] == [32, 18]
    finally:
        agent.device.close()


def test_agent_without_modem_only_queues(agent_dir: AgentFixture) -> None:
    dev = Device(str(agent_dir.dir))
    agent = Agent(dev, clock=lambda: T0, log=Log(io.StringIO()))
    try:
        agent.step(T0)
        assert dev.outbox.stats().by_kind == {"heartbeat": 1}
    finally:
        dev.close()
