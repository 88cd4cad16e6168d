"""Gateway processes under stress, for real: killed with SIGKILL in the middle of a DirectIP
burst and restarted (nothing lost, nothing doubled — the sender retries until confirmed, as
Iridium does); two gateways on one PostgreSQL and one Mosquitto splitting a shared
subscription while the same frames also arrive, shuffled, over DirectIP and RockBLOCK."""

from __future__ import annotations

import random
import re
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlmodel import func, select

from protocol import keys as pkeys
from shore_gateway.db import Database
from shore_gateway.models import Grievance, Message
from tests.shore_gateway.ingest.gwproc import gateway, hostport
from tests.shore_gateway.ingest.helpers import SHORE, Boat, count, deliver, mo_bytes


def _shore_dir(tmp: Path) -> Path:
    d = tmp / "shore"
    d.mkdir()
    (d / "shore-sign.pem").write_bytes(pkeys.private_pem(SHORE.sign))
    (d / "shore-seal.pem").write_bytes(pkeys.private_pem(SHORE.seal))
    return d


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until_confirmed(
    address: tuple[str, int], data: bytes, deadline: float, not_before: float = 0.0
) -> None:
    """What the Iridium gateway does: resend until the receiver confirms."""
    time.sleep(max(0.0, not_before - time.monotonic()))
    while time.monotonic() < deadline:
        try:
            if deliver(address, data, timeout=5) is True:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("never confirmed")


def _no_duplicates(db: Database) -> None:
    with db.session() as s:
        per_seq = s.exec(
            select(Message.vessel_id, Message.seq, func.count()).group_by(
                Message.vessel_id, Message.seq
            )
        ).all()
    assert all(n == 1 for _v, _s, n in per_seq)


@pytest.mark.slow
def test_gateway_killed_mid_burst_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gw.sqlite3'}"
    db = Database(url)
    db.migrate()
    boats = [Boat(db, f"MV {i}") for i in range(4)]
    frames = [(b, f) for b in boats for f in b.grievance_frames(100)]
    random.Random(5).shuffle(frames)
    messages = [mo_bytes(f, imei=b.imei, momsn=i) for i, (b, f) in enumerate(frames)]
    port = _free_port()
    address = ("127.0.0.1", port)
    shore = _shore_dir(tmp_path)
    args = ("--directip", f"127.0.0.1:{port}", "--no-downlink")
    gw = gateway(url, shore, *args)
    # Generous: on a loaded 2-core runner a restart and 400 confirmations can take a minute;
    # the property is "all, once", not a speed.
    deadline = time.monotonic() + 240
    killed = threading.Event()
    try:
        with ThreadPoolExecutor(8) as pool:
            # A steady stream (one frame every 25 ms, ~10 s in all), so the kill surely lands
            # mid-burst however fast the gateway drains what has arrived — and even when this
            # test's own thread is starved for seconds on a loaded runner (at 10 ms, ~4 s, all
            # 400 were once stored before the kill).
            start = time.monotonic()
            futures = [
                pool.submit(_until_confirmed, address, m, deadline, start + i * 0.025)
                for i, m in enumerate(messages)
            ]
            _wait_for(lambda: count(db, Grievance) >= 20)
            gw.kill()  # SIGKILL: no clean shutdown, connections cut mid-transaction
            at_kill = count(db, Grievance)
            killed.set()
            time.sleep(0.3)
            gw = gateway(url, shore, *args)
            for f in futures:
                f.result()
    finally:
        gw.stop()
    assert killed.is_set() and at_kill < len(frames)
    assert count(db, Grievance) == len(frames)
    _no_duplicates(db)
    db.dispose()


def _wait_for(check, timeout: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _mqtt_frames_in(http: str) -> float:
    text = httpx.get(f"{http}/metrics", timeout=5).text
    m = re.search(r'flip_gateway_frames_in_total\{channel="mqtt"\} ([0-9.e+]+)', text)
    return float(m.group(1)) if m else 0.0


@pytest.mark.slow
def test_two_gateways_split_a_shared_subscription_and_channels_without_duplicates(
    tmp_path: Path, pg_url: str
) -> None:
    db = Database(pg_url)
    db.migrate()
    boats = [Boat(db, f"MV {i}") for i in range(3)]
    frames = [(b, f) for b in boats for f in b.grievance_frames(8)]
    shore = _shore_dir(tmp_path)
    tag = uuid.uuid4().hex[:10]
    prefix, group = f"test/{tag}", f"g{tag}"
    common = ("--mqtt", "mqtt://127.0.0.1:1883", "--mqtt-prefix", prefix, "--mqtt-group", group)
    with ThreadPoolExecutor(2) as pool:  # start both at once
        gws = list(
            pool.map(
                lambda i: gateway(
                    pg_url, shore, *common, "--mqtt-client-id", f"gw{i}-{tag}", "--no-downlink"
                ),
                range(2),
            )
        )
    pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", 1883)
    pub.loop_start()
    try:
        sends: list[tuple[str, bytes, int]] = []
        for i, (_boat, data) in enumerate(frames):
            sends += [("mqtt", data, i)] * 3  # the connector publishes each frame three times
            sends.append(("directip", data, i))
            sends.append(("rockblock", data, i))
        random.Random(11).shuffle(sends)  # out of order, interleaved across channels
        deadline = time.monotonic() + 60
        for n, (channel, data, i) in enumerate(sends):
            boat = frames[i][0]
            gw = gws[n % 2]
            if channel == "mqtt":
                pub.publish(f"{prefix}/mo/{boat.imei}", data, qos=1).wait_for_publish(5)
            elif channel == "directip":
                _until_confirmed(
                    hostport(gw.ready["directip"]),
                    mo_bytes(data, imei=boat.imei, momsn=i),
                    deadline,
                )
            else:
                form = {
                    "imei": boat.imei,
                    "momsn": str(i),
                    "data": data.hex(),
                    "transmit_time": "25-11-20 12:00:00",
                }
                r = httpx.post(f"{gw.ready['http']}/ingest/rockblock", data=form, timeout=10)
                assert r.status_code == 200, r.text
        _wait_for(lambda: sum(_mqtt_frames_in(g.ready["http"]) for g in gws) >= 3 * len(frames))
        shares = [_mqtt_frames_in(g.ready["http"]) for g in gws]
        assert all(s > 0 for s in shares), shares  # the broker split the load
    finally:
        pub.disconnect()
        pub.loop_stop()
        for g in gws:
            assert g.stop() == 0
        for i in range(2):  # drop the persistent sessions
            c = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=f"gw{i}-{tag}",
                protocol=mqtt.MQTTv5,
            )
            c.connect("127.0.0.1", 1883, clean_start=True)
            c.disconnect()
    assert count(db, Grievance) == len(frames)
    _no_duplicates(db)
    db.dispose()
