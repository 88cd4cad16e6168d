"""The agent on a broadband window: due frames go to the gateway's POST /ingest/frames while it
answers, and to the satellite modem when it does not (the IP link is never required)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from protocol import keys
from protocol.lang import Lang
from protocol.messages import CaseStatus, encode_message
from shore_gateway.app import create_app
from shore_gateway.config import Settings
from shore_gateway.db import Database
from shore_gateway.models import Downlink, Grievance
from shore_gateway.registry import VesselIds, add_vessel
from tests.shore_gateway.ingest.helpers import Served, count, pipeline_for
from tests.vessel_agent.conftest import IMEI, make_agent_dir
from tests.vessel_agent.fakes import FakeModem
from vessel_agent.agent import Agent
from vessel_agent.device import Device
from vessel_agent.errors import ConfigError
from vessel_agent.logs import Log
from vessel_agent.status import status

T0 = 1_750_000_000.0


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, Database]]:
    db = Database(f"sqlite:///{tmp_path / 'gateway.sqlite3'}")
    db.migrate()
    app = create_app(Settings(db_url=db.url), db=db, sink=pipeline_for(db))
    with Served(app) as url:
        yield url, db
    db.dispose()


def _events(out: io.StringIO) -> list[str]:
    return [json.loads(line)["event"] for line in out.getvalue().splitlines()]


def test_grievances_go_by_broadband_when_it_is_up(
    tmp_path: Path, gateway: tuple[str, Database]
) -> None:
    url, db = gateway
    fx = make_agent_dir(tmp_path, serial="fake://", broadband_url=f"{url}/ingest/frames")
    clock = [T0]
    with Device(str(fx.dir)) as dev:
        pub = dev.session.sign_key.public_key()
        for i in range(3):
            dev.submit(category=0x17, lang=Lang.EN, text=f"no pay for {i + 2} months", now=T0)
    with db.session() as s:
        add_vessel(s, "MV Test", keys.public_pem(pub), VesselIds(imei=IMEI))
    modem = FakeModem(fx.shore, pub, clock=lambda: clock[0])
    out = io.StringIO()
    agent = Agent(
        Device(str(fx.dir)), clock=lambda: clock[0], log=Log(out), modem_factory=lambda *_: modem
    )
    agent.step(clock[0])
    assert "broadband_ok" in _events(out)
    assert count(db, Grievance) == 3
    with db.session() as s:
        texts = sorted(g.text for g in s.exec(select(Grievance)))
    assert texts == ["no pay for 2 months", "no pay for 3 months", "no pay for 4 months"]
    assert not modem.received  # nothing needed the satellite
    link = status(agent.device)["link"]
    assert link["broadband"]["up"] is True and link["broadband"]["sent"] >= 1


def test_satellite_takes_over_when_broadband_is_down(tmp_path: Path) -> None:
    fx = make_agent_dir(
        tmp_path, serial="fake://", broadband_url="http://127.0.0.1:9/ingest/frames"
    )  # discard port
    clock = [T0]
    with Device(str(fx.dir)) as dev:
        pub = dev.session.sign_key.public_key()
        sub = dev.submit(category=0x17, lang=Lang.EN, text="passport taken", now=T0)
    modem = FakeModem(fx.shore, pub, clock=lambda: clock[0])
    out = io.StringIO()
    agent = Agent(
        Device(str(fx.dir)), clock=lambda: clock[0], log=Log(out), modem_factory=lambda *_: modem
    )
    for _ in range(6):
        agent.step(clock[0])
        clock[0] += 1
    assert "broadband_down" in _events(out)
    assert sub.seq in modem.received  # the modem sent it
    assert _events(out).count("broadband_down") == 1  # the link rests, no hammering


def test_downlinks_come_back_in_the_answers(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'gateway.sqlite3'}")
    db.migrate()
    app = create_app(Settings(db_url=db.url), db=db, sink=pipeline_for(db))
    with Served(app) as url:
        # no modem at all: broadband only; the gateway's shore key signs its answers
        fx = make_agent_dir(tmp_path, broadband_url=f"{url}/ingest/frames", broadband_poll_s=120)
        app.state.sign_key = fx.shore.sign
        clock = [T0]
        with Device(str(fx.dir)) as dev:
            pub = dev.session.sign_key.public_key()
            sub = dev.submit(category=0x17, lang=Lang.EN, text="no pay since March", now=T0)
        with db.session() as s:
            vessel = add_vessel(s, "MV Test", keys.public_pem(pub), VesselIds(imei=IMEI))
            s.flush()
            vid = vessel.id
        out = io.StringIO()
        agent = Agent(Device(str(fx.dir)), clock=lambda: clock[0], log=Log(out))
        agent.step(clock[0])
        assert "broadband_ok" in _events(out) and "acked" in _events(out)
        assert sub.seq not in agent.device.session.outbox  # acknowledged in the same answer
        assert vid is not None
        with db.session() as s:
            s.add(
                Downlink(
                    vessel_id=vid,
                    kind="case_status",
                    body=encode_message(CaseStatus(ref_seq=sub.seq, case_ref="C-1", status=2)),
                )
            )
        agent.step(clock[0] + 1)  # nothing due and the poll not yet due: nothing posted
        assert "broadband_poll" not in _events(out)
        assert agent.broadband is not None and agent.broadband.poll_s == 120  # agent.toml's
        clock[0] += 120
        agent.step(clock[0])  # a heartbeat fetches the case news
        assert "broadband_poll" in _events(out) and "case_status" in _events(out)
        assert status(agent.device)["link"]["broadband"]["sent"] == 2
    db.dispose()


def test_a_poll_interval_under_a_minute_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="broadband_poll_s"):
        make_agent_dir(
            tmp_path, broadband_url="http://127.0.0.1:9/ingest/frames", broadband_poll_s=5
        )
