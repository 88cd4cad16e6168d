"""POST /ingest/frames: one signed frame from a vessel's IP link; identity is the signature;
every refusal typed; a frame sent both by IP and by satellite is stored once; the answer
carries the vessel's downlinks."""

from __future__ import annotations

import base64

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from protocol import frame, keys, links
from protocol.events import CaseStatusReceived, MessagesAcked
from protocol.messages import CaseStatus, encode_message
from protocol.vessel import VesselSession
from shore_gateway.app import create_app
from shore_gateway.config import Settings
from shore_gateway.db import Database
from shore_gateway.ingest.frames import refusal_status
from shore_gateway.models import DeviceState, Downlink, Grievance
from tests.helpers import det_rng
from tests.shore_gateway.conftest import Client
from tests.shore_gateway.ingest.helpers import SHORE, T0, Boat, count, pipeline_for

OCTETS = {"Content-Type": "application/octet-stream"}


def client_for(db: Database, *, with_key: bool = False) -> Client:
    app = create_app(Settings(db_url=db.url), db=db, sink=pipeline_for(db))
    if with_key:
        app.state.sign_key = SHORE.sign  # a gateway with shore keys serves downlinks over IP
    return Client(app)


def _downlinks(reply: httpx.Response) -> list[bytes]:
    assert reply.status_code == 200, reply.text
    return [base64.b64decode(d) for d in reply.json()["downlink"]]


def test_the_answer_carries_the_vessels_downlinks(sqlite_db: Database) -> None:
    boat = Boat(sqlite_db)
    with sqlite_db.session() as s:
        s.add(
            Downlink(
                vessel_id=boat.vessel_id,
                kind="case_status",
                body=encode_message(CaseStatus(ref_seq=1, case_ref="C-9", status=2)),
            )
        )
    client = client_for(sqlite_db, with_key=True)
    (first,) = boat.grievance_frames(1)
    events = [
        e
        for data in _downlinks(client.post("/ingest/frames", content=first, headers=OCTETS))
        for e in boat.session.handle_downlink(data, T0, max_size=links.IP.downlink)
    ]
    assert any(isinstance(e, MessagesAcked) and e.seqs == (1,) for e in events)
    assert any(isinstance(e, CaseStatusReceived) for e in events)
    with sqlite_db.session() as s:
        (row,) = s.exec(select(Downlink)).all()
        assert row.confirmed_at is not None  # delivered in the answer: not sent again by MT
        state = s.get(DeviceState, boat.vessel_id)
        assert state is not None and not state.ack_due
    # the same frame again (a replay, or the vessel posting it twice): acks only
    again = _downlinks(client.post("/ingest/frames", content=first, headers=OCTETS))
    kinds = {
        type(m).__name__
        for data in again
        for m in links.parse_downlink(frame.parse(data, max_size=links.IP.downlink).payload)[2]
    }
    assert kinds == {"Ack"}
    # a gateway without shore keys stores the frame and answers no downlink
    (second,) = boat.grievance_frames(1, now=T0 + 1)
    plain = client_for(sqlite_db).post("/ingest/frames", content=second, headers=OCTETS)
    assert plain.json() == {"status": "stored", "downlink": []}


def test_frame_stored_once_even_when_sent_twice(sqlite_db: Database) -> None:
    boat = Boat(sqlite_db)
    (frame,) = boat.grievance_frames(1)
    client = client_for(sqlite_db)
    first = client.post("/ingest/frames", content=frame, headers=OCTETS)
    assert first.status_code == 200 and first.json() == {"status": "stored", "downlink": []}
    again = client.post("/ingest/frames", content=frame, headers=OCTETS)
    assert again.status_code == 200
    assert count(sqlite_db, Grievance) == 1


def test_refusals_are_typed(sqlite_db: Database) -> None:
    boat = Boat(sqlite_db)
    (frame,) = boat.grievance_frames(1)
    forged = bytearray(frame)
    forged[-3] ^= 1
    stranger = VesselSession(
        sign_key=keys.new_signing_key(det_rng("stranger")),
        shore_sign_pub=SHORE.sign.public_key(),
        shore_seal_pub=SHORE.seal.public_key(),
    )
    stranger.queue_heartbeat(T0)
    (unknown,) = stranger.frames_to_send(T0)
    client = client_for(sqlite_db)
    cases = {
        bytes(forged): 401,
        unknown.data: 403,
        frame[:40]: 400,
        b"\x00": 400,
        b"": 400,
        frame + b"\x00" * 400: 400,  # trailing bytes
        frame + b"\x00" * 100_000: 413,  # over the broadband link's 100,000 bytes
    }
    for body, status in cases.items():
        reply = client.post("/ingest/frames", content=body, headers=OCTETS)
        assert reply.status_code == status, (body[:8], reply.text)
    assert (
        client.post(
            "/ingest/frames", content=frame, headers={"Content-Type": "text/plain"}
        ).status_code
        == 415
    )
    assert count(sqlite_db, Grievance) == 0
    assert client.post("/ingest/frames", content=frame, headers=OCTETS).status_code == 200


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("Replayed: seq 4 again", 409),
        ("UnknownVersion: 9", 400),
        ("frame of 400 bytes exceeds 340", 413),
        ("Something: else", 422),
    ],
)
def test_refusal_status(reason: str, status: int) -> None:
    assert refusal_status(reason) == status


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=400))
def test_any_body_gets_a_typed_answer(sqlite_db: Database, body: bytes) -> None:
    reply = client_for(sqlite_db).post("/ingest/frames", content=body, headers=OCTETS)
    assert reply.status_code in (400, 401, 403, 409, 413, 422)
