"""The per-step link choice: urgent → fastest link up, routine → cheapest link up within its
budget and latency goal; and an agent with an SBD modem and a broadband window using both as
the rules say."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import keys
from protocol.lang import Lang
from shore_gateway.app import create_app
from shore_gateway.config import Settings
from shore_gateway.db import Database
from shore_gateway.models import Grievance
from shore_gateway.registry import VesselIds, add_vessel
from tests.shore_gateway.ingest.helpers import Served, count, pipeline_for
from tests.vessel_agent.conftest import IMEI, make_agent_dir
from tests.vessel_agent.fakes import FakeModem
from vessel_agent.agent import Agent
from vessel_agent.device import Device
from vessel_agent.links import DAY, DEFAULTS, LinkPolicy, LinkSpec
from vessel_agent.logs import Log
from vessel_agent.status import status

T0 = 1_750_000_000.0
ALL_UP = {"broadband": True, "imt": True, "sbd": True}


def policy(**budgets: int) -> LinkPolicy:
    return LinkPolicy(
        specs={
            n: LinkSpec(
                name=n,
                latency_s=s.latency_s,
                cost_per_byte=s.cost_per_byte,
                budget_bytes_per_day=budgets.get(n, 0),
            )
            for n, s in DEFAULTS.items()
        }
    )


def test_urgent_fastest_routine_cheapest() -> None:
    p = policy()
    assert p.order(T0, up=ALL_UP, urgent=True).order == ("broadband", "sbd", "imt")
    assert p.order(T0, up=ALL_UP, urgent=False).order == ("broadband", "imt", "sbd")
    no_ip = {**ALL_UP, "broadband": False}
    assert p.order(T0, up=no_ip, urgent=True).order == ("sbd", "imt")
    assert p.order(T0, up=no_ip, urgent=False).order == ("imt", "sbd")


def test_budgets_per_link_per_day() -> None:
    p = policy(broadband=1000, imt=5000)
    p.charge("broadband", 1000, T0)
    routine = p.order(T0, up=ALL_UP, urgent=False)
    assert routine.order == ("imt", "sbd") and routine.skipped == ("broadband",)
    assert p.order(T0, up=ALL_UP, urgent=True).order[0] == "broadband"  # urgent ignores it
    assert p.remaining("imt", T0) == 5000 and p.remaining("sbd", T0) is None
    tomorrow = (T0 // DAY + 1) * DAY
    assert p.order(tomorrow, up=ALL_UP, urgent=False).order[0] == "broadband"


def test_latency_goal() -> None:
    p = policy()
    p.routine_goal_s = 10.0  # IMT (60 s) and SBD (30 s) are too slow for this traffic
    assert p.order(T0, up=ALL_UP, urgent=False).order == ("broadband",)


@given(
    st.dictionaries(st.sampled_from(["broadband", "imt", "sbd"]), st.booleans()),
    st.booleans(),
    st.integers(0, 3000),
)
def test_only_links_up_and_each_once(up: dict[str, bool], urgent: bool, spent: int) -> None:
    p = policy(broadband=2000)
    p.charge("broadband", spent, T0)
    choice = p.order(T0, up=up, urgent=urgent)
    assert len(set(choice.order)) == len(choice.order)
    assert all(up.get(n) for n in choice.order)
    assert set(choice.order) | set(choice.skipped) == {n for n, ok in up.items() if ok}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, Database]]:
    db = Database(f"sqlite:///{tmp_path / 'gateway.sqlite3'}")
    db.migrate()
    with Served(create_app(Settings(db_url=db.url), db=db, sink=pipeline_for(db))) as url:
        yield url, db
    db.dispose()


def test_vessel_with_sbd_and_broadband_follows_the_rules(
    tmp_path: Path, gateway: tuple[str, Database]
) -> None:
    url, db = gateway
    # broadband may carry one frame's worth of routine traffic a day
    fx = make_agent_dir(
        tmp_path,
        serial="fake://",
        broadband_url=f"{url}/ingest/frames",
        broadband_bytes_per_day=300,
    )
    clock = [T0]
    with Device(str(fx.dir)) as dev:
        pub = dev.session.sign_key.public_key()
        dev.submit(category=0x17, lang=Lang.EN, text="routine: wages late " + "x" * 150, now=T0)
    with db.session() as s:
        add_vessel(s, "MV Test", keys.public_pem(pub), VesselIds(imei=IMEI))
    modem = FakeModem(fx.shore, pub, clock=lambda: clock[0])
    out = io.StringIO()
    agent = Agent(
        Device(str(fx.dir)), clock=lambda: clock[0], log=Log(out), modem_factory=lambda *_: modem
    )
    agent.step(clock[0])  # routine, broadband up and within budget: broadband, not the modem
    assert count(db, Grievance) == 1 and not modem.received
    clock[0] += 1
    with Device(str(fx.dir)) as dev2:
        routine = dev2.submit(
            category=0x17, lang=Lang.EN, text="routine again " + "y" * 150, now=clock[0]
        )
    agent.device.outbox.sync(agent.device.session, full=True)
    for _ in range(4):
        agent.step(clock[0])
        clock[0] += 1
    # what is left of broadband's budget cannot carry the frame: the cheapest left is SBD
    assert routine.seq in modem.received
    with Device(str(fx.dir)) as dev3:
        urgent = dev3.submit(category=0xF1, lang=Lang.EN, text="urgent: injured crew", now=clock[0])
    agent.device.outbox.sync(agent.device.session, full=True)
    agent.step(clock[0])  # urgent: the fastest link up (broadband), budget or not
    assert urgent.seq not in modem.received
    assert count(db, Grievance) == 2
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    choices = [e for e in events if e["event"] == "link_choice"]
    assert {"order": ["broadband", "sbd"], "urgent": False}.items() <= choices[0].items()
    assert any(c["urgent"] and c["order"][0] == "broadband" for c in choices)
    shown = status(agent.device)["link"]["choice"]
    assert shown["spent_today"]["broadband"] > 300


def test_init_takes_the_extra_links(tmp_path: Path) -> None:
    from vessel_agent.config import AgentDir
    from vessel_agent.errors import ConfigError
    from vessel_agent.setup import init_dir

    fx = make_agent_dir(tmp_path)  # for the shore key files it writes
    out = init_dir(
        str(tmp_path / "two"),
        name="MV Two",
        imei=IMEI,
        seal_pub=str(tmp_path / "shore_seal.pub"),
        shore_sign_pub=str(tmp_path / "shore_sign.pub"),
        imt_serial="/dev/ttyUSB1",
        broadband_url="https://gw.example/ingest/frames",
    )
    assert out["kid"] and fx.kid
    cfg = AgentDir(tmp_path / "two").load()
    assert cfg.imt_serial == "/dev/ttyUSB1"
    assert cfg.broadband_url == "https://gw.example/ingest/frames"
    with pytest.raises(ConfigError, match="broadband_url"):
        init_dir(
            str(tmp_path / "three"),
            name="MV Three",
            imei=IMEI,
            seal_pub=str(tmp_path / "shore_seal.pub"),
            shore_sign_pub=str(tmp_path / "shore_sign.pub"),
            broadband_url="ftp://x",
        )
