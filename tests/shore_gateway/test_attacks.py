"""Attacks through the whole gateway pipeline (real database): downgraded versions, bodies
swapped between headers, revoked keys, deeply nested CBOR and memory bombs through every
channel, fragment floods. The attacker is often the captain, who holds the device's signing
key: a good signature proves the frame came from the box, not that its content is honest."""

from __future__ import annotations

import asyncio
import time

import cbor2
import pytest
from sqlmodel import func, select

from protocol import frame, keys
from protocol.lang import Lang
from protocol.messages import CrewMessage, Fragment, encode_message
from protocol.messages import Grievance as GrievanceContent
from shore_gateway.app import create_app
from shore_gateway.config import Settings
from shore_gateway.db import Database
from shore_gateway.ingest.directip import DirectIPLimits, DirectIPServer
from shore_gateway.ingest.mqtt import parse_mo
from shore_gateway.metrics import Metrics
from shore_gateway.models import Alert, FragmentPart, Grievance, RawFrame
from shore_gateway.pipeline_api import ArrivalMeta, Outcome
from shore_gateway.registry import revoke_key
from tests.shore_gateway.conftest import Client
from tests.shore_gateway.test_pipeline import SHORE, T0, Fleet

IMEI = "300234010000001"


@pytest.fixture
def fleet(sqlite_db: Database) -> Fleet:
    return Fleet(sqlite_db)


def _signed(fleet: Fleet, payload: bytes) -> bytes:
    return frame.sign(payload, fleet.key, keys.key_id(fleet.key.public_key()))


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def _nested(depth: int) -> bytes:
    return b"\x81" * depth + b"\x00"


def test_downgraded_versions_refused_nothing_stored(fleet: Fleet) -> None:
    fleet.session.queue_heartbeat(T0)
    (good,) = fleet.frames()
    sign1 = frame.parse(good, max_size=frame.UPLINK_MAX)
    version, messages = cbor2.loads(sign1.payload)
    assert version == 1
    for bad_version in (0, 2, -1, 255):
        data = _signed(fleet, cbor2.dumps([bad_version, messages]))
        result = fleet.pipeline.ingest(data, ArrivalMeta(channel="directip"))
        assert result.outcome is Outcome.REJECTED
        assert result.reason and result.reason.startswith("UnknownVersion")
    # an algorithm downgrade in the protected header: ES256 (-7), or no alg at all
    kid = keys.key_id(fleet.key.public_key())
    for protected in ({1: -7}, {}, {1: -8, 2: 0}):
        fake = cbor2.dumps([cbor2.dumps(protected), {4: kid}, sign1.payload, sign1.signature])
        result = fleet.pipeline.ingest(fake, ArrivalMeta(channel="directip"))
        assert result.outcome is Outcome.REJECTED
    assert _count(fleet.db, RawFrame) == 0
    assert fleet.send(good) is Outcome.STORED


def test_bodies_swapped_between_headers_never_open_as_someone_elses(fleet: Fleet) -> None:
    fleet.session.queue_crew(GrievanceContent(category=0x17, lang=Lang.EN, text="wages A"), T0)
    fleet.session.queue_crew(GrievanceContent(category=0xF1, lang=Lang.EN, text="beaten B"), T0 + 5)
    honest = fleet.frames(T0 + 5)
    crew = [
        m
        for data in honest
        for m, _ in frame.parse_uplink(frame.parse(data, max_size=frame.UPLINK_MAX).payload)
        if isinstance(m, CrewMessage)
    ]
    a, b = sorted(crew, key=lambda m: m.seq)
    # the captain re-signs the frame with the sealed bodies swapped (and one moved in time)
    swapped = [
        CrewMessage(seq=a.seq, time=a.time, sealed=b.sealed),
        CrewMessage(seq=b.seq, time=b.time + 1, sealed=a.sealed),
    ]
    forged = _signed(fleet, frame.uplink_payload([encode_message(m) for m in swapped]))
    assert fleet.send(forged) is Outcome.STORED  # signed by the box: stored as evidence…
    assert fleet.count(Grievance) == 0  # …but neither body opens under another header
    with fleet.db.session() as s:
        alerts = s.exec(select(Alert).where(Alert.kind == "seal")).all()
    assert len(alerts) == 2
    # the honest frame later is a duplicate by seq: the swap cannot be "repaired" into a
    # wrong grievance, and the gap/chain evidence stays for staff
    for data in honest:
        fleet.send(data)
    assert fleet.count(Grievance) == 0


def test_body_moved_to_another_vessel_does_not_open(sqlite_db: Database) -> None:
    one = Fleet(sqlite_db)
    one.session.queue_crew(GrievanceContent(category=0x17, lang=Lang.EN, text="mine"), T0)
    (data,) = one.frames()
    sign1 = frame.parse(data, max_size=frame.UPLINK_MAX)
    (msg, _), *_ = frame.parse_uplink(sign1.payload)
    other_key = keys.new_signing_key(lambda n: b"\x07" * n)
    from shore_gateway.registry import VesselIds, add_vessel

    with sqlite_db.session() as s:
        add_vessel(s, "Thief", keys.public_pem(other_key.public_key()), VesselIds(owner="x"))
    moved = frame.sign(
        frame.uplink_payload([encode_message(msg)]), other_key, keys.key_id(other_key.public_key())
    )
    assert one.pipeline.ingest(moved, ArrivalMeta(channel="mqtt")).outcome is Outcome.STORED
    assert one.count(Grievance) == 0


def test_revoked_device_key_refused_end_to_end_over_http(sqlite_db: Database) -> None:
    fleet = Fleet(sqlite_db)
    app = create_app(Settings(db_url=sqlite_db.url), db=sqlite_db, sink=fleet.pipeline)
    client = Client(app)
    fleet.session.queue_crew(GrievanceContent(category=0x17, lang=Lang.EN, text="before"), T0)
    (before,) = fleet.frames()
    fleet.session.queue_crew(GrievanceContent(category=0x17, lang=Lang.EN, text="after"), T0 + 9)
    (after,) = fleet.frames(T0 + 9)

    def post(data: bytes, momsn: int) -> int:
        form = {"imei": IMEI, "momsn": str(momsn), "data": data.hex()}
        return client.post("/ingest/rockblock", data=form).status_code

    assert post(before, 1) == 200
    with sqlite_db.session() as s:
        assert revoke_key(s, keys.key_id(fleet.key.public_key())) == 1
    assert post(after, 2) == 400  # stolen box, revoked key: refused
    assert post(before, 3) == 400  # its old frames too, by any channel
    assert fleet.count(Grievance) == 1
    assert _count(sqlite_db, RawFrame) == 1


BOMBS = {
    "nested array": _nested(100_000),
    "nested map": b"\xa1\x00" * 5_000 + b"\x00",
    "nested tags": b"\xd8\x18" * 10_000 + b"\x00",
    "4 GiB bytestring": b"\x84\x43\xa1\x01\x27\xa0\x5a\xff\xff\xff\xff",
    "2^64 array": b"\x9b" + b"\xff" * 8,
    "indefinite": b"\x9f" * 1000,
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_cbor_bombs_refused_cheaply_on_every_channel(fleet: Fleet, name: str) -> None:
    bomb = BOMBS[name]
    start = time.perf_counter()
    for channel in ("directip", "rockblock", "mqtt", "cli"):
        result = fleet.pipeline.ingest(bomb[:340], ArrivalMeta(channel=channel))
        assert result.outcome is Outcome.REJECTED
    # the same structures inside a validly signed payload (the captain holds the key), and
    # inside the crew message the shore decrypts
    for payload in (bomb, b"\x82\x01\x81" + bomb):
        result = fleet.pipeline.ingest(_signed(fleet, payload[:250]), ArrivalMeta(channel="cli"))
        assert result.outcome is Outcome.REJECTED
    assert time.perf_counter() - start < 2.0
    assert _count(fleet.db, RawFrame) == 0


def test_nested_cbor_in_a_sealed_crew_message_is_a_seal_alert_not_a_crash(fleet: Fleet) -> None:
    from protocol.seal import seal
    from protocol.shore import crew_info

    kid = keys.key_id(fleet.key.public_key())
    sealed = seal(_nested(180), SHORE.seal.public_key(), crew_info(kid, 1, T0))
    data = _signed(
        fleet, frame.uplink_payload([encode_message(CrewMessage(seq=1, time=T0, sealed=sealed))])
    )
    assert fleet.send(data) is Outcome.STORED
    assert fleet.count(Grievance) == 0
    with fleet.db.session() as s:
        assert s.exec(select(Alert.kind)).all() == ["seal"]


def test_nested_cbor_over_directip_tcp_and_mqtt_envelope(fleet: Fleet) -> None:
    from firmware_bridge import directip

    bomb = _nested(300)
    message = directip.encode_mo(
        directip.MOMessage(
            header=directip.MOHeader(
                cdr_reference=1, imei=IMEI, session_status=0, momsn=1, mtmsn=0, session_time=T0
            ),
            payload=bomb,
        )
    )

    async def go() -> bytes:
        server = DirectIPServer(
            fleet.pipeline, host="127.0.0.1", port=0, limits=DirectIPLimits(), metrics=Metrics()
        )
        host, port = await server.start()
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(message)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(64), 5)
            writer.close()
            return answer
        finally:
            await server.stop()

    answer = asyncio.run(go())
    assert answer == directip.encode_mo_confirmation(False)
    data, meta = parse_mo(f"flip/v1/mo/{IMEI}", f'{{"data": "{bomb.hex()}"}}'.encode())
    assert fleet.pipeline.ingest(data, meta).outcome is Outcome.REJECTED
    assert _count(fleet.db, RawFrame) == 0


# --- fragment floods -----------------------------------------------------------------------

FLOOD = 300
FRAGMENT_CAP = 256  # what a bounded gateway could hold per vessel (≈ 8 full 32-part messages)


def _flood(fleet: Fleet, n: int) -> None:
    """``n`` first fragments of 32-part messages that never complete, each seq fresh."""
    for i in range(n):
        first = 1000 + i * 32
        frag = Fragment(seq=first, index=0, count=32, chunk=b"\x00" * 200)
        fleet.pipeline.ingest(
            _signed(fleet, frame.uplink_payload([encode_message(frag)])),
            ArrivalMeta(channel="cli"),
        )


def test_fragment_flood_keeps_serving_and_real_messages_still_arrive(fleet: Fleet) -> None:
    _flood(fleet, 60)
    fleet.session.queue_crew(GrievanceContent(category=0x17, lang=Lang.EN, text="real"), T0)
    for data in fleet.frames():
        fleet.send(data)
    assert fleet.count(Grievance) == 1


@pytest.mark.slow
def test_fragment_flood_is_bounded_per_vessel(fleet: Fleet) -> None:
    _flood(fleet, FLOOD)
    assert _count(fleet.db, FragmentPart) <= FRAGMENT_CAP
