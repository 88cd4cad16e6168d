"""The DirectIP MO receiver against a real pipeline: confirmation only when durable, negative
confirmation or close for anything else, and it keeps serving (FIELD-FACTS §2)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from firmware_bridge.directip import encode_mo_confirmation
from shore_gateway.db import Database
from shore_gateway.ingest.directip import CONFIRM_OK, DirectIPLimits
from shore_gateway.models import Grievance, Position, RawFrame
from tests.shore_gateway.ingest.helpers import (
    Boat,
    ServerThread,
    count,
    deliver,
    directip_server,
    mo_bytes,
    read_confirmation,
)

FAST = DirectIPLimits(read_timeout_s=0.5, max_connections=4)


@pytest.fixture
def running(sqlite_db: Database) -> Iterator[ServerThread]:
    with directip_server(sqlite_db, FAST) as server:
        yield server


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    return sqlite_db


def test_confirmation_bytes_are_the_documented_ones() -> None:
    assert bytes.fromhex("01000405000101") == CONFIRM_OK
    assert encode_mo_confirmation(False) == bytes.fromhex("01000405000100")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_frame_stored_once_confirmed_each_time_and_location_kept(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    db = Database(url)
    db.migrate()
    try:
        with directip_server(db, FAST) as running:
            _stored_once(db, running)
    finally:
        db.dispose()


def _stored_once(db: Database, running: ServerThread) -> None:
    boat = Boat(db)
    (frame,) = boat.grievance_frames()
    message = mo_bytes(frame, imei=boat.imei, momsn=7, location=(-4.5, 55.25))
    assert deliver(running.address, message) is True
    assert deliver(running.address, message) is True  # Iridium resends after a lost confirmation
    assert count(db, Grievance) == 1
    assert count(db, RawFrame) == 1
    with db.session() as s:
        raw = s.exec(select(RawFrame)).one()
        assert (raw.imei, raw.momsn, raw.provider_cep_km) == (boat.imei, 7, 3.0)
        pos = s.exec(select(Position)).one()
        assert pos.source == "directip"
        assert (round(pos.lat, 3), round(pos.lon, 3), pos.accuracy_m) == (-4.5, 55.25, 3000)
        assert pos.vessel_id == boat.vessel_id


def test_revision_0x31_is_tolerated(db: Database, running: ServerThread) -> None:
    boat = Boat(db)
    (frame,) = boat.grievance_frames()
    message = bytearray(mo_bytes(frame, imei=boat.imei))
    message[0] = 0x31
    assert deliver(running.address, bytes(message)) is True
    assert count(db, Grievance) == 1


def test_several_messages_on_one_connection_each_confirmed(
    db: Database, running: ServerThread
) -> None:
    boat = Boat(db)
    frames = boat.grievance_frames(3)
    with socket.create_connection(running.address, timeout=30) as sock:
        sock.sendall(b"".join(mo_bytes(f, imei=boat.imei, momsn=i) for i, f in enumerate(frames)))
        assert [read_confirmation(sock) for _ in frames] == [True, True, True]
    assert count(db, Grievance) == 3


def test_refused_input_gets_no_or_negative_confirmation_and_nothing_is_stored(
    db: Database, running: ServerThread
) -> None:
    boat = Boat(db)
    (frame,) = boat.grievance_frames()
    forged = bytearray(frame)
    forged[-5] ^= 0x40
    stranger_frames = _stranger_frames()
    good = mo_bytes(frame, imei=boat.imei)
    bad_header = bytearray(good)
    bad_header[4:6] = (27).to_bytes(2, "big")  # MO header IE says 27 bytes, not 28
    cases: dict[str, tuple[bytes, bool | None]] = {
        "forged": (mo_bytes(bytes(forged), imei=boat.imei), False),
        "unknown device": (mo_bytes(stranger_frames[0]), False),
        "not a frame": (mo_bytes(b"hello", imei=boat.imei), False),
        "no payload": (mo_bytes(None, imei=boat.imei), False),
        "oversize frame": (mo_bytes(frame + bytes(400), imei=boat.imei), False),
        "IE lengths disagree": (bytes(bad_header), False),
        "wrong revision": (b"\x02" + good[1:], False),
        "oversize announcement": (b"\x01\xff\xff" + good[3:], False),
        "truncated": (good[:-10], None),
        "HTTP": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", False),
        "empty": (b"", None),
    }
    for name, (data, expected) in cases.items():
        assert deliver(running.address, data) is expected, name
    assert count(db, RawFrame) == 0
    assert count(db, Grievance) == 0
    assert deliver(running.address, good) is True  # and it keeps serving
    assert running.server.stats.confirmed == 1


def _stranger_frames() -> list[bytes]:
    import secrets

    from protocol import keys
    from protocol.vessel import VesselSession
    from tests.shore_gateway.ingest.helpers import SHORE, T0

    session = VesselSession(
        sign_key=keys.new_signing_key(secrets.token_bytes),
        shore_sign_pub=SHORE.sign.public_key(),
        shore_seal_pub=SHORE.seal.public_key(),
    )
    session.queue_heartbeat(T0)
    return [f.data for f in session.frames_to_send(T0)]


def test_slow_loris_is_cut_off_and_others_still_served(db: Database, running: ServerThread) -> None:
    boat = Boat(db)
    (frame,) = boat.grievance_frames()
    good = mo_bytes(frame, imei=boat.imei)
    start = time.monotonic()
    with socket.create_connection(running.address, timeout=5) as sock:
        try:
            for byte in good:  # one byte every 0.1 s: each read is quick, the message is not
                sock.send(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            pass
        assert read_confirmation(sock) is None
    assert time.monotonic() - start < 3
    assert count(db, RawFrame) == 0
    assert deliver(running.address, good) is True


def test_connection_cap_closes_extra_connections(db: Database) -> None:
    limits = DirectIPLimits(read_timeout_s=1.0, max_connections=2)
    with directip_server(db, limits) as running:
        idle = [socket.create_connection(running.address) for _ in range(2)]
        time.sleep(0.1)
        try:
            with socket.create_connection(running.address, timeout=2) as extra:
                try:
                    extra.sendall(b"\x01")
                    assert extra.recv(16) == b""  # closed at once, no confirmation
                except ConnectionResetError:
                    pass
        finally:
            for s in idle:
                s.close()
        time.sleep(0.2)
        boat = Boat(db)
        (frame,) = boat.grievance_frames()
        assert deliver(running.address, mo_bytes(frame, imei=boat.imei)) is True
        assert running.server.stats.refused_connections == 1


@pytest.fixture(scope="module")
def fuzz_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Database, ServerThread]]:
    path = tmp_path_factory.mktemp("fuzz") / "g.sqlite3"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    with directip_server(database, DirectIPLimits(read_timeout_s=0.3)) as server:
        yield database, server
    database.dispose()


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    chunks=st.lists(
        st.one_of(
            st.binary(max_size=64),
            st.builds(mo_bytes, st.binary(max_size=80)),
            st.builds(lambda p, n: mo_bytes(p)[:n], st.binary(max_size=80), st.integers(0, 120)),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_any_bytes_get_a_negative_confirmation_or_a_close(
    fuzz_server: tuple[Database, ServerThread], chunks: list[bytes]
) -> None:
    database, server = fuzz_server
    assert deliver(server.address, b"".join(chunks), timeout=5) in (False, None)
    assert count(database, RawFrame) == 0
