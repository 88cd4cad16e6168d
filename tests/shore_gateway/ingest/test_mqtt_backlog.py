"""A provider connector's backlog over MQTT, with every gateway down while it is published, then
drained by two `flip gateway serve` on PostgreSQL — on a private Mosquitto started from the
configuration the project ships (deploy/mosquitto/flip.conf): nothing lost, nothing doubled,
also across a broker restart and a gateway SIGKILL in the middle of the drain. And the other
side: a broker on Mosquitto's default limits drops part of such a backlog, and the gateway
says so (a ``broker_drop`` alert and a metric).

The make-test sizes are ≥ 10,000 frames from ≥ 100 vessels; ``make soak`` runs 100,000."""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlmodel import col, select

from shore_gateway.db import Database
from shore_gateway.ingest.broker_drops import KIND, BrokerDrops
from shore_gateway.metrics import Metrics
from shore_gateway.models import Alert, Grievance, Message, RawFrame
from tests.shore_gateway.ingest.gwproc import Proc, gateway
from tests.shore_gateway.ingest.helpers import T0, Boat, count
from tests.shore_gateway.private_services import SHIPPED_MOSQUITTO, PrivateMosquitto
from tests.shore_gateway.test_crash import _no_duplicates, _shore_dir


def _publish(port: int, items: list[tuple[str, bytes]]) -> Counter[int]:
    """Publish at QoS 1, many in flight, and wait for every PUBACK; their reason codes."""
    codes: Counter[int] = Counter()
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"provider-{random.getrandbits(32):08x}",
        protocol=mqtt.MQTTv5,
    )
    client.max_inflight_messages_set(200)
    client.on_publish = lambda _c, _u, _mid, rc, _p: codes.update([rc.value])
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for start in range(0, len(items), 1000):  # paho holds a bounded outgoing queue
            infos = [client.publish(t, body, qos=1) for t, body in items[start : start + 1000]]
            for info in infos:
                info.wait_for_publish(60)
        deadline = time.monotonic() + 30
        while sum(codes.values()) < len(items) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        client.disconnect()
        client.loop_stop()
    return codes


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _frames(boat: Boat, n: int) -> list[bytes]:
    """What a vessel's backlog holds: mostly positions, every tenth frame a grievance."""
    out: list[bytes] = []
    for k in range(n):
        if k % 10 == 9:
            out += boat.grievance_frames(1, now=T0 + k * 600, text=f"backlog {k}")
            continue
        boat.session.queue_position(
            time=T0 + k * 600, lat=-4.6 + k / 1000, lon=55.4, speed_kn=6.0, now=T0 + k * 600
        )
        out += [f.data for f in boat.session.frames_to_send(T0 + k * 600, max_frames=1)]
    return out


def _backlog(db: Database, vessels: int, per_vessel: int) -> list[tuple[str, bytes]]:
    boats = [Boat(db, f"MV Backlog {i}") for i in range(vessels)]
    items = [(f"flip/v1/mo/{b.imei}", f) for b in boats for f in _frames(b, per_vessel)]
    random.Random(16).shuffle(items)
    return items


def _serve(db_url: str, keys: Path, broker: PrivateMosquitto, name: str) -> Proc:
    return gateway(
        db_url, keys, "--no-downlink", "--mqtt", broker.url, "--mqtt-client-id", name,
        "--mqtt-group", "backlog",
        env={"FLIP_CASES_CONNECTORS": "", "FLIP_SILENCE_CHECK_ENABLED": "false"},
    )  # fmt: skip


def _settled(db: Database, quiet_s: float = 3.0) -> bool:
    """True once the stored count has stopped changing for ``quiet_s`` seconds."""
    before = count(db, Message)
    time.sleep(quiet_s)
    return before > 0 and count(db, Message) == before


def _arrived(db: Database) -> set[bytes]:
    """The SHA-256 of every distinct frame that reached the gateways."""
    with db.session() as s:
        return set(s.exec(select(RawFrame.sha256)).all())


def _drop_alerts(db: Database) -> list[Alert]:
    with db.session() as s:
        return list(s.exec(select(Alert).where(Alert.kind == KIND)).all())


def drain_backlog(
    db_url: str, tmp_path: Path, *, vessels: int, per_vessel: int, faults: bool
) -> dict[str, float]:
    """Publish the backlog with both gateways down, start them, wait until all is stored."""
    db = Database(db_url)
    db.migrate()
    items = _backlog(db, vessels, per_vessel)
    keys = _shore_dir(tmp_path)
    broker = PrivateMosquitto(SHIPPED_MOSQUITTO)
    names = ("gw-a", "gw-b")
    procs: dict[str, Proc] = {}
    try:
        for name in names:  # the gateways' persistent sessions exist before the outage
            procs[name] = _serve(db_url, keys, broker, name)
        for name in names:  # every gateway down (how it went down does not matter here)
            procs.pop(name).stop()
        t0 = time.monotonic()
        codes = _publish(broker.port, items)
        published_s = time.monotonic() - t0
        assert codes == Counter({0: len(items)}), codes  # every message acknowledged, routed
        t0 = time.monotonic()
        for name in names:
            procs[name] = _serve(db_url, keys, broker, name)
        if faults:
            _wait(lambda: count(db, Message) >= len(items) * 0.3, 600, "a third drained")
            broker.stop()  # a clean restart: the broker saves sessions and queues first
            broker.start()
            _wait(lambda: count(db, Message) >= len(items) * 0.6, 600, "two thirds drained")
            procs["gw-b"].kill()  # its unacknowledged messages wait in its session…
            procs["gw-b"] = _serve(db_url, keys, broker, "gw-b")  # …for it to come back
        drain_s = max(900.0, len(items) / 25)  # 25 frames/s: a machine under heavy load
        _wait(lambda: count(db, Message) == len(items), drain_s, "the backlog to drain")
        drained_s = time.monotonic() - t0
        p99 = _p99(
            [httpx.get(f"{p.ready['http']}/metrics", timeout=10).text for p in procs.values()]
        )
        time.sleep(2)  # late redeliveries, if any, would land now
        assert count(db, Message) == len(items)  # 0 lost …
        assert _arrived(db) == {hashlib.sha256(f).digest() for _t, f in items}  # every frame
        assert count(db, Grievance) == len(items) // 10
        _no_duplicates(db)  # … 0 doubled
        assert _drop_alerts(db) == []  # the shipped limits held the whole backlog
    finally:
        for proc in procs.values():
            proc.stop()
        broker.close()
        db.dispose()
    rate = len(items) / drained_s
    print(
        f"backlog {len(items)} frames / {vessels} vessels, faults={faults}: published in "
        f"{published_s:.1f} s, drained by 2 gateways in {drained_s:.1f} s ({rate:.0f} frames/s), "
        f"pipeline latency p99 ≤ {p99} s"
    )
    return {"frames": len(items), "drained_s": drained_s, "rate": rate}


def _p99(expositions: list[str]) -> str:
    """The p99 of the gateways' MQTT pipeline latency, as the histogram bucket it falls in
    (arrival → durable, per frame; since each gateway's last start)."""
    buckets: dict[float, float] = {}
    for exposition in expositions:
        for line in exposition.splitlines():
            if line.startswith('flip_gateway_pipeline_latency_seconds_bucket{channel="mqtt"'):
                bound = float(line.split('le="', 1)[1].split('"', 1)[0])
                buckets[bound] = buckets.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    total = buckets.get(float("inf"), 0.0)
    for bound in sorted(buckets):
        if total and buckets[bound] >= 0.99 * total:
            return "+Inf" if bound == float("inf") else f"{bound:g}"
    return "n/a"


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("faults", [False, True], ids=["calm", "broker-restart-gateway-kill"])
def test_backlog_while_every_gateway_is_down_drains_once(
    pg_url: str, tmp_path: Path, faults: bool
) -> None:
    drain_backlog(pg_url, tmp_path, vessels=100, per_vessel=100, faults=faults)


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_soak_backlog_of_100000_frames_drains_once(pg_url: str, tmp_path: Path) -> None:
    drain_backlog(pg_url, tmp_path, vessels=1000, per_vessel=100, faults=False)


@pytest.mark.slow
def test_a_broker_on_default_limits_drops_and_the_gateway_raises_an_alert(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Mosquitto's default queue (1,000 messages a session) overflows with a backlog of 1,500
    frames published while the gateway is down: the broker acknowledges all of them and drops
    500 — and the gateway, when it is back, raises one ``broker_drop`` alert that says so, and
    counts them. (A frame may carry a position again that an earlier one carried, so messages
    are not frames: what is compared is the frames that arrived.)"""
    db = Database(sqlite_url)
    db.migrate()
    items = _backlog(db, 15, 100)
    keys = _shore_dir(tmp_path)
    broker = PrivateMosquitto(defaults=True)
    gw = _serve(sqlite_url, keys, broker, "gw-default")
    try:
        assert gw.stop() == 0
        assert _publish(broker.port, items) == Counter({0: len(items)})  # all "received"
        gw = _serve(sqlite_url, keys, broker, "gw-default")
        _wait(lambda: len(_drop_alerts(db)) == 1, 30, "the broker_drop alert")
        _wait(lambda: _settled(db), 300, "what the broker kept")
        metrics = httpx.get(f"{gw.ready['http']}/metrics", timeout=5).text
    finally:
        gw.stop()
        broker_log = broker.log()
        broker.close()
    (alert,) = _drop_alerts(db)
    dropped = int(alert.detail.split(" dropped ", 1)[1].split(" ", 1)[0])
    stored = len(_arrived(db))
    print(f"default limits: {len(items)} published, broker dropped {dropped}, stored {stored}")
    assert alert.vessel_id is None
    assert dropped > 0
    assert "Outgoing messages are being dropped for client gw-default" in broker_log
    line = f'flip_gateway_mqtt_broker_dropped_total{{broker="127.0.0.1:{broker.port}"}} {dropped}.0'
    assert line in metrics
    # What the alert says was dropped is exactly what never arrived: the alert is true.
    assert stored == len(items) - dropped
    db.dispose()


def test_drop_watch_alerts_once_per_rise_and_survives_restarts(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.migrate()
    metrics = Metrics()
    one, two = BrokerDrops(db, metrics, "b:1883"), BrokerDrops(db, None, "b:1883")
    other = BrokerDrops(db, None, "c:1883")
    assert one.observe(0) is None  # nothing dropped
    first = one.observe(40)
    assert first is not None and "dropped 40 message(s)" in first.detail
    assert two.observe(40) is None  # a second gateway sees the same rise: no second alert
    assert one.observe(40) is None
    second = two.observe(55)
    assert second is not None and "dropped 15 message(s)" in second.detail
    assert one.observe(0) is None  # the broker restarted: its counter starts again
    third = one.observe(7)
    assert third is not None and "dropped 7 message(s)" in third.detail
    restarted = BrokerDrops(db, None, "b:1883")  # a gateway that starts again
    assert restarted.observe(7) is None
    assert other.observe(7) is not None  # another broker is counted on its own
    with db.session() as s:
        kinds = s.exec(select(Alert.detail).order_by(col(Alert.id))).all()
    assert len(kinds) == 4
    sample = metrics.render().decode()
    assert 'flip_gateway_mqtt_broker_dropped_total{broker="b:1883"} 47.0' in sample
    db.dispose()
