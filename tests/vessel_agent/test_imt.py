"""The agent with a RockBLOCK 9704: the emulated modem (JSPR on a pty), Cloudloop's webhook and
the gateway carry its grievances — hundreds under one signature per IMT message, a long one
whole, the first message 100,000 bytes — and bring its acks back in one IMT MT message."""

from __future__ import annotations

import io
import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from firmware_bridge.emulator9704 import Emulator9704
from protocol import keys, links
from protocol.lang import Lang
from protocol.messages import Ack
from protocol.shore import pack_downlink
from shore_gateway.app import create_app
from shore_gateway.config import Settings
from shore_gateway.db import Database
from shore_gateway.models import Grievance, RawFrame
from shore_gateway.registry import VesselIds, add_vessel
from tests.shore_gateway.ingest.helpers import Served, pipeline_for
from tests.vessel_agent.conftest import IMEI, make_agent_dir
from tests.vessel_agent.fakes import FakeModem
from vessel_agent.agent import Agent
from vessel_agent.device import Device
from vessel_agent.logs import Log
from vessel_agent.status import status

T0 = 1_750_000_000.0
N = 900  # short grievances: a full 100,000-byte IMT message and a second one


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, Database]]:
    db = Database(f"sqlite:///{tmp_path / 'gateway.sqlite3'}")
    db.migrate()
    cfg = Settings(db_url=db.url, cloudloop_token="s3cret", max_body_bytes=1024 * 1024)
    with Served(create_app(cfg, db=db, sink=pipeline_for(db))) as url:
        yield url, db
    db.dispose()


@pytest.mark.slow
def test_agent_sends_a_full_imt_message_of_grievances_and_takes_acks(
    tmp_path: Path, gateway: tuple[str, Database]
) -> None:
    url, db = gateway
    rng = random.Random(9)
    long_text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(1900))
    texts = [f"လစာ မရသေးပါ — wages unpaid, month {i}" for i in range(N)] + [long_text]
    with Emulator9704(
        imei=IMEI,
        webhook=f"{url}/ingest/cloudloop?token=s3cret",
        segment_timeout_s=2.0,
        retry_initial_s=0.1,
    ) as emu:
        fx = make_agent_dir(tmp_path, imt_serial=emu.device)
        with Device(str(fx.dir)) as dev:
            pub = dev.session.sign_key.public_key()
            subs = [dev.submit(category=0x17, lang=Lang.MY, text=t, now=T0) for t in texts]
            assert len(dev.session.outbox) > len(texts)  # the long one queued as SBD fragments
        with db.session() as s:
            add_vessel(s, "MV Test", keys.public_pem(pub), VesselIds(imei=IMEI))
        out = io.StringIO()
        agent = Agent(Device(str(fx.dir)), clock=lambda: T0, log=Log(out))
        agent.step(T0)  # starts the send on the IMT worker and returns
        assert agent.imt is not None and agent.imt.wait(120)
        agent.step(T0)  # takes the outcome
        events = [json.loads(line) for line in out.getvalue().splitlines()]
        sent = [e for e in events if e["event"] == "imt_ok"]
        assert len(sent) == 2  # one signature per IMT message
        assert 99_900 < sent[0]["bytes"] <= 100_000  # the link's largest message
        assert emu.wait_delivered(len(sent), timeout=60)
        with db.session() as s:
            sizes = sorted(len(r.payload) for r in s.exec(select(RawFrame)))
            stored = {g.text for g in s.exec(select(Grievance))}
        assert sizes[-1] == sent[0]["bytes"] and len(sizes) == 2
        assert stored == set(texts)  # every word intact, the long text whole
        # the shore's ack comes back as one IMT MT message: one downlink frame
        top = max(agent.device.session.outbox)  # the grievances and the first heartbeat
        assert top >= max(sub.seq for sub in subs)
        (ack,) = pack_downlink(
            fx.shore.sign,
            keys.key_id(fx.shore.sign.public_key()),
            fx.kid,
            [Ack(cum_seq=top, bitmap=b"")],
            int(T0),
            limit=links.IMT.downlink,
        )
        emu.queue_mt(ack)
        for _ in range(100):
            agent.step(T0 + 1)
            if not agent.device.session.outbox:
                break
            time.sleep(0.05)
        assert not agent.device.session.outbox  # everything acknowledged
        assert status(agent.device)["link"]["imt"]["sent"] == len(sent)
        agent._close_modem()


class _SlowIMT:
    """A 9704 whose sends take as long as the test says: the agent must not wait for them."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.on_air = threading.Event()
        self.sent: list[bytes] = []

    def begin(self) -> None: ...
    def signal(self) -> int:
        return 4

    def send(self, data: bytes, *, topic: int, timeout_s: float) -> None:
        self.on_air.set()
        assert self.release.wait(30)
        self.sent.append(data)

    def receive(self, timeout_s: float = 0.0) -> None:
        return None

    def close(self) -> None: ...


def test_the_loop_runs_on_while_an_imt_message_is_on_air(tmp_path: Path) -> None:
    fx = make_agent_dir(tmp_path, serial="fake://", imt_serial="/dev/null")
    clock = [T0]
    with Device(str(fx.dir)) as dev:
        pub = dev.session.sign_key.public_key()
        first = dev.submit(category=0x17, lang=Lang.EN, text="no pay for months", now=T0)
    modem = FakeModem(fx.shore, pub, clock=lambda: clock[0])
    out = io.StringIO()
    agent = Agent(
        Device(str(fx.dir)), clock=lambda: clock[0], log=Log(out), modem_factory=lambda *_: modem
    )
    slow = _SlowIMT()
    assert agent.imt is not None
    agent.imt.factory = lambda *_: slow  # type: ignore[assignment]
    agent.step(clock[0])  # IMT is the cheapest link up: it takes the grievance
    assert slow.on_air.wait(10)
    assert status(agent.device)["link"]["imt"]["sending"] is True
    urgent = agent.device.submit(category=0xF1, lang=Lang.EN, text="man overboard", now=clock[0])
    for _ in range(6):  # the loop goes on: the urgent one goes by SBD meanwhile
        clock[0] += 1
        agent.step(clock[0])
        if urgent.seq in modem.received:
            break
    assert urgent.seq in modem.received and first.seq not in modem.received
    assert not slow.sent and agent.imt.busy()
    slow.release.set()
    assert agent.imt.wait(10)
    agent.step(clock[0])
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    (ok,) = [e for e in events if e["event"] == "imt_ok"]
    assert first.seq in ok["seqs"] and urgent.seq not in ok["seqs"]
    assert status(agent.device)["link"]["imt"]["sending"] is False
    agent._close_modem()
