"""The agent with a RockBLOCK 9704: the emulated modem (JSPR on a pty), Cloudloop's webhook and
the gateway carry its grievances — hundreds under one signature per IMT message, a long one
whole, the first message 100,000 bytes — and bring its acks back in one IMT MT message."""

from __future__ import annotations

import io
import json
import random
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
        agent.step(T0)
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
