"""A conversation end to end, without a modem: a real agent directory submits a Burmese grievance
(reply key derived from the receipt), the gateway pipeline opens it into a case, staff ask, the
downlink planner signs the sealed question into MT frames, the agent takes them, the receipt
holder reads the question and answers, the answer reaches the case — and neither the question
nor the answer is in clear in any frame on the link or on the box's disk."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from protocol import keys
from protocol.lang import Lang
from shore_gateway.cases import conversation, desk
from shore_gateway.cases.models import Case
from shore_gateway.db import Database
from shore_gateway.downlink import plan
from shore_gateway.hooks import default_hooks
from shore_gateway.metrics import Metrics
from shore_gateway.pipeline import Pipeline
from shore_gateway.pipeline_api import ArrivalMeta
from shore_gateway.registry import VesselIds, add_vessel
from tests.helpers import shore_keys
from tests.vessel_agent.conftest import IMEI, make_agent_dir
from vessel_agent.agent import Agent
from vessel_agent.device import Device
from vessel_agent.status import receipt_status

T0 = 1_763_640_000
GRIEVANCE = "ဆရာက ကျွန်တော့်လစာကို သုံးလကြာ မပေးသေးပါ။"
QUESTION = "ဒီအဖြစ်အပျက်က ဘယ်နေ့က ဖြစ်ခဲ့တာလဲ။ ZQ-QUESTION-5"
ANSWER = "တနင်္လာနေ့ပါ။ ZQ-ANSWER-9"


def _clear(data: bytes, *texts: str) -> bool:
    return any(t.encode() in data or t.split()[-1].encode() in data for t in texts)


def test_question_and_answer_travel_sealed_both_ways(tmp_path: Path, sqlite_db: Database) -> None:
    db = sqlite_db
    shore = shore_keys()
    fx = make_agent_dir(tmp_path)
    link: list[bytes] = []  # every frame that crosses the satellite link, both ways
    with Device(str(fx.dir)) as dev:
        with db.session() as s:
            pem = keys.public_pem(dev.session.sign_key.public_key())
            add_vessel(s, "MV Test", pem, VesselIds(imei=IMEI, owner="acme"))
        pipeline = Pipeline(db, Metrics(), seal_keys=[shore.seal], hooks=default_hooks())

        def up(now: float) -> None:
            for f in dev.session.frames_to_send(now, max_frames=8):
                link.append(f.data)
                assert pipeline.ingest(f.data, ArrivalMeta(channel="cli")).durable

        def down(now: int) -> None:
            with db.session() as s:
                batches = plan(s, [vid], sign_key=shore.sign, now=now, default_route=None)
            agent = Agent(dev, clock=lambda: float(now))
            for data in batches[0].frames if batches else []:
                link.append(data)
                agent.apply_downlink(data, now)

        done = dev.submit(category=0x17, lang=Lang.MY, text=GRIEVANCE, now=T0)
        up(T0)
        with db.session() as s:
            case = s.exec(select(Case)).one()
            vid = case.vessel_id
            assert [a.ref_seq for a in conversation.addressees(s, case)] == [done.seq]
            question = conversation.ask(s, case, actor="ann", text=QUESTION)
            qid = question.id
        # the vessel address has no route here: plan() is given the route-free path
        with db.session() as s:
            from shore_gateway.models import Vessel

            v = s.get(Vessel, vid)
            assert v is not None
            v.mt_url = "directip://127.0.0.1:9"
            s.add(v)
        down(T0 + 60)
        st = receipt_status(dev, done.receipt, now=T0 + 100)
        assert [(m["text"], m["lang"]) for m in st["messages"]] == [(QUESTION, "my")]
        dev.reply(done.receipt, ANSWER, Lang.MY, now=T0 + 200)
        up(T0 + 200)
        with db.session() as s:
            case = s.exec(select(Case)).one()
            talk = conversation.view(s, case, "ann", via="test")
            assert [(m["from"], m["text"]) for m in talk] == [("staff", QUESTION), ("crew", ANSWER)]
            assert talk[0]["state"] == "read" and talk[0]["on_board_at"] is not None
            assert talk[0]["id"] == qid
            assert desk.case_grievances(s, case.id or 0)[0][1].text == GRIEVANCE
    assert len(link) >= 3
    assert not any(_clear(f, QUESTION, ANSWER, GRIEVANCE) for f in link)
    disk = b"".join(p.read_bytes() for p in fx.dir.rglob("*") if p.is_file())
    assert not _clear(disk, QUESTION, ANSWER, GRIEVANCE)
