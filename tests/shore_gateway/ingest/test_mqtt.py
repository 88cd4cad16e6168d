"""MQTT ingest against the real Mosquitto on 127.0.0.1:1883 (scripts/ensure-services.sh):
shared subscription, raw and enveloped frames, PUBACK only once durable (an unacknowledged
message comes back to the same session), duplicates stored once. Topics are unique per test."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlmodel import select

from shore_gateway.db import Database
from shore_gateway.ingest.mqtt import EnvelopeError, MqttLink, parse_mo
from shore_gateway.models import Grievance, Position, RawFrame
from shore_gateway.pipeline_api import AcceptResult, ArrivalMeta, FrameSink, Outcome
from tests.shore_gateway.ingest.helpers import Boat, count, pipeline_for

BROKER = ("127.0.0.1", 1883)
IMEI = "300234010000001"


def test_parse_raw_and_envelope() -> None:
    data, meta = parse_mo(f"flip/v1/mo/{IMEI}", b"\x84\x01")
    assert data == b"\x84\x01" and meta.imei == IMEI and meta.channel == "mqtt"
    env = {"data": "8401", "momsn": 9, "time": "2025-11-20T12:00:00Z", "lat": -4.5, "lon": 55.0}
    data, meta = parse_mo("flip/v1/mo/x", json.dumps(env).encode())
    assert data == b"\x84\x01" and meta.imei is None and meta.momsn == 9
    assert meta.provider_time == dt.datetime(2025, 11, 20, 12, tzinfo=dt.UTC)
    assert (meta.lat, meta.lon, meta.cep_km) == (-4.5, 55.0, None)
    for bad in (
        b"",
        b"{",
        b'{"data": 5}',
        b'{"data": "zz"}',
        b'{"data": ""}',
        b'{"data": "84", "imei": "12"}',
        b'{"data": "84", "momsn": -1}',
        b'{"data": "84", "lat": 91}',
        b'{"data": "84", "time": "2025-11-20T12:00:00"}',
        b"\x84" * 5000,
    ):
        with pytest.raises(EnvelopeError):
            parse_mo("flip/v1/mo/1", bad)


class Publisher:
    def __init__(self) -> None:
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5
        )
        self.client.connect(*BROKER)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _link(sink: FrameSink, prefix: str, client_id: str) -> MqttLink:
    return MqttLink(
        *BROKER, sink, client_id=client_id, prefix=prefix, group=f"g{uuid.uuid4().hex[:8]}"
    )


def test_frames_raw_and_enveloped_stored_once_malformed_refused(sqlite_db: Database) -> None:
    boat = Boat(sqlite_db)
    frames = boat.grievance_frames(2)
    prefix = f"test/{uuid.uuid4().hex}"
    link = _link(pipeline_for(sqlite_db), prefix, f"t-{uuid.uuid4().hex[:10]}")
    pub = Publisher()

    async def scenario() -> None:
        assert await link.start()
        topic = f"{prefix}/mo/{boat.imei}"
        for _ in range(3):
            pub.send(topic, frames[0])  # the same frame, published three times
        env = {"data": frames[1].hex(), "momsn": 4, "lat": -4.5, "lon": 55.25, "cep_km": 2}
        pub.send(topic, json.dumps(env).encode())
        pub.send(topic, b"{not json")
        pub.send(topic, b"\x84garbage")
        await _until(lambda: link.stats["acked"] + link.stats["refused"] == 6)
        await link.stop()

    try:
        asyncio.run(scenario())
    finally:
        pub.close()
    assert link.stats == {"received": 6, "acked": 4, "refused": 2, "retries": 0}
    assert count(sqlite_db, Grievance) == 2
    with sqlite_db.session() as s:
        assert s.exec(select(Position)).one().source == "mqtt"
        assert {r.imei for r in s.exec(select(RawFrame)).all()} == {boat.imei}


class FailingSink:
    """A sink whose database is down: every accept raises."""

    def __init__(self) -> None:
        self.calls = 0

    async def accept(self, frame: bytes, meta: ArrivalMeta) -> AcceptResult:
        self.calls += 1
        raise ConnectionError("database down")


def test_unacknowledged_message_is_redelivered_to_the_restarted_session(
    sqlite_db: Database,
) -> None:
    boat = Boat(sqlite_db)
    (frame,) = boat.grievance_frames()
    prefix = f"test/{uuid.uuid4().hex}"
    client_id = f"t-{uuid.uuid4().hex[:10]}"
    group = f"g{uuid.uuid4().hex[:8]}"
    failing = FailingSink()
    pub = Publisher()

    async def run(sink: FrameSink, until: Callable[[MqttLink], bool]) -> MqttLink:
        link = MqttLink(*BROKER, sink, client_id=client_id, prefix=prefix, group=group)
        assert await link.start()
        if sink is failing:
            pub.send(f"{prefix}/mo/{boat.imei}", frame)
        await _until(lambda: until(link))
        await link.stop()
        return link

    try:
        asyncio.run(run(failing, lambda _l: failing.calls >= 1))
        assert count(sqlite_db, RawFrame) == 0
        second = asyncio.run(run(pipeline_for(sqlite_db), lambda lk: lk.stats["acked"] == 1))
    finally:
        pub.close()
        cleanup = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
        )
        cleanup.connect(*BROKER, clean_start=True)  # drop the persistent session
        cleanup.disconnect()
    assert second.stats["acked"] == 1
    assert count(sqlite_db, Grievance) == 1


class HeldSink:
    """A sink that holds every arrival until released, counting how many it holds at once."""

    def __init__(self) -> None:
        self.order: list[bytes] = []
        self.held = 0
        self.most = 0
        self.release = asyncio.Event()

    async def accept(self, frame: bytes, meta: ArrivalMeta) -> AcceptResult:
        self.order.append(frame)
        self.held += 1
        self.most = max(self.most, self.held)
        await self.release.wait()
        self.held -= 1
        return AcceptResult(outcome=Outcome.STORED)


def test_the_link_works_at_most_receive_maximum_messages_whatever_the_broker_sends() -> None:
    """Mosquitto 2.0 sends a session's whole queue once PUBACKs flow, past the receive maximum
    the gateway asked for: the link holds to it itself. Forty messages delivered at once by the
    network thread reach the sink four at a time, in the order they came, each acknowledged
    once (nothing here needs a broker: the network thread's callback is called directly)."""
    sink = HeldSink()
    link = MqttLink(*BROKER, sink, client_id="t-window", receive_maximum=4)
    acked: list[int] = []
    link.client.ack = lambda mid, _qos: acked.append(mid)  # type: ignore[method-assign]
    messages = []
    for mid in range(1, 41):
        msg = mqtt.MQTTMessage(mid=mid, topic=f"flip/v1/mo/{IMEI}".encode())
        msg.payload = b"\x84frame %d" % mid
        messages.append(msg)

    def network_thread() -> None:
        for msg in messages:
            link._on_message(link.client, None, msg)

    async def scenario() -> None:
        link._loop = asyncio.get_running_loop()  # what start() records before connecting
        thread = threading.Thread(target=network_thread)
        thread.start()
        await asyncio.to_thread(thread.join)
        await _until(lambda: sink.held >= 4)
        for _ in range(20):  # every delivery is on the loop by now: give them turns
            await asyncio.sleep(0)
        assert sink.held == 4
        sink.release.set()
        await _until(lambda: len(acked) == 40)
        await link.stop()

    asyncio.run(scenario())
    assert sink.most == 4
    assert sink.order == [bytes(m.payload) for m in messages]
    assert sorted(acked) == list(range(1, 41))
    assert link.stats == {"received": 40, "acked": 40, "refused": 0, "retries": 0}
