"""POST /ingest/frames: one signed frame from a vessel's IP link; identity is the signature;
every refusal typed; a frame sent both by IP and by satellite is stored once."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import keys
from protocol.vessel import VesselSession
from shore_gateway.app import create_app
from shore_gateway.config import Settings
from shore_gateway.db import Database
from shore_gateway.ingest.frames import refusal_status
from shore_gateway.models import Grievance
from tests.helpers import det_rng
from tests.shore_gateway.conftest import Client
from tests.shore_gateway.ingest.helpers import SHORE, T0, Boat, count, pipeline_for

OCTETS = {"Content-Type": "application/octet-stream"}


def client_for(db: Database) -> Client:
    return Client(create_app(Settings(db_url=db.url), db=db, sink=pipeline_for(db)))


def test_frame_stored_once_even_when_sent_twice(sqlite_db: Database) -> None:
    boat = Boat(sqlite_db)
    (frame,) = boat.grievance_frames(1)
    client = client_for(sqlite_db)
    first = client.post("/ingest/frames", content=frame, headers=OCTETS)
    assert first.status_code == 200 and first.json() == {"status": "stored"}
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
