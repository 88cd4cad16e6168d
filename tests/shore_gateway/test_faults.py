"""Gateway faults from issue 9, against real processes: PostgreSQL restarted during a DirectIP
burst; Mosquitto stopped for a while (compressed to seconds) during MQTT ingest and case
publishing; Primero down for hours (on an injected clock). The sender retries until it gets a
positive confirmation, as Iridium does. Nothing confirmed may be lost, nothing doubled.

PostgreSQL and Mosquitto are private instances (tests/shore_gateway/private_services.py) so
that stopping them does not disturb the shared ones other tests use.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from shore_gateway.cases import desk
from shore_gateway.cases.config import CaseSettings
from shore_gateway.cases.models import OutboxEntry
from shore_gateway.cases.outbox import Dispatcher
from shore_gateway.cases.primero import PrimeroConnector
from shore_gateway.cases.workflow import Status
from shore_gateway.db import Database
from shore_gateway.models import Grievance
from tests.shore_gateway.cases.helpers import add_grievance, case
from tests.shore_gateway.cases.servers import FakePrimero, ServerThread
from tests.shore_gateway.cases.test_connectors import pending
from tests.shore_gateway.conftest import Gateway as AppGateway
from tests.shore_gateway.ingest.gwproc import gateway as start_gateway
from tests.shore_gateway.ingest.gwproc import hostport
from tests.shore_gateway.ingest.helpers import Boat, count, mo_bytes
from tests.shore_gateway.private_services import PrivateMosquitto, PrivatePostgres
from tests.shore_gateway.test_crash import _no_duplicates, _shore_dir, _until_confirmed


def _wait_for(check: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except SQLAlchemyError:
            pass  # the database is being restarted
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class StderrDrain:
    """Reads a gateway's stderr in a thread (a full pipe would block its logging) and keeps
    the lines, so a test can show what the gateway said during a fault."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stderr is not None
        self._stream = proc.stderr
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in self._stream:
                self.lines.append(line.rstrip())

    def join(self) -> None:
        self._thread.join(5)


class HealthProbe:
    """Polls GET /healthz in a thread and records every answer (status code, or 0 on error)."""

    def __init__(self, http: str) -> None:
        self.http = http
        self.codes: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                code = httpx.get(f"{self.http}/healthz", timeout=2).status_code
            except httpx.HTTPError:
                code = 0
            self.codes.append(code)
            self._stop.wait(0.1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    try:
        pg = PrivatePostgres()
    except RuntimeError as exc:
        pytest.fail(f"cannot run a private PostgreSQL here: {exc}")
    try:
        pg.start()
        yield pg
    finally:
        pg.close()


@pytest.fixture
def private_broker() -> Iterator[PrivateMosquitto]:
    try:
        broker = PrivateMosquitto()
    except RuntimeError as exc:
        pytest.fail(f"cannot run a private Mosquitto here: {exc}")
    try:
        yield broker
    finally:
        broker.close()


@pytest.mark.slow
def test_postgresql_restarted_during_ingest_loses_nothing_doubles_nothing(
    tmp_path: Path, private_pg: PrivatePostgres
) -> None:
    db = Database(private_pg.url)
    db.migrate()
    boats = [Boat(db, f"MV PG {i}") for i in range(4)]
    frames = [(b, f) for b in boats for f in b.grievance_frames(60)]
    random.Random(7).shuffle(frames)
    messages = [mo_bytes(f, imei=b.imei, momsn=i) for i, (b, f) in enumerate(frames)]
    gw = start_gateway(private_pg.url, _shore_dir(tmp_path), "--no-downlink")
    address = hostport(gw.ready["directip"])
    probe = HealthProbe(gw.ready["http"])
    stderr = StderrDrain(gw.proc)
    stored_at: list[int] = []
    try:
        deadline = time.monotonic() + 60
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(_until_confirmed, address, m, deadline) for m in messages]
            _wait_for(lambda: count(db, Grievance) >= len(frames) // 4, what="first quarter")
            stored_at.append(count(db, Grievance))
            private_pg.restart()  # fast: in-flight transactions aborted, clients cut
            _wait_for(lambda: count(db, Grievance) >= len(frames) // 2, what="second quarter")
            stored_at.append(count(db, Grievance))
            private_pg.stop()  # a longer outage: senders keep retrying meanwhile
            time.sleep(3)
            assert gw.proc.poll() is None, "gateway died with its database"
            private_pg.start()
            for f in futures:
                f.result()  # every frame confirmed in the end
        _wait_for(lambda: probe.codes[-1] == 200, what="/healthz back to 200")
    finally:
        probe.close()
        code = gw.stop()
        stderr.join()
    refused = sum("directip sink failed" in line for line in stderr.lines)
    print(
        f"stored at restart {stored_at[0]} and stop {stored_at[1]} of {len(frames)}; "
        f"/healthz {sorted((c, probe.codes.count(c)) for c in set(probe.codes))}; "
        f"{refused} arrivals closed unconfirmed during the outages, then retried"
    )
    assert code == 0  # it kept running and shut down cleanly
    assert stored_at[0] < len(frames) and stored_at[1] < len(frames), stored_at
    assert 503 in probe.codes or 0 in probe.codes  # the outage was seen ...
    assert probe.codes[-1] == 200  # ... and it recovered
    assert count(db, Grievance) == len(frames)
    _no_duplicates(db)
    db.dispose()


class CaseListener:
    """A subscriber to ``{prefix}/cases/new`` with a persistent session (the broker keeps its
    subscription and queues for it across a broker restart); records every idempotency key."""

    def __init__(self, port: int, topic: str, client_id: str) -> None:
        self.keys: list[str] = []
        self.topic = topic
        self.ready = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()
        assert self.ready.wait(10), "test subscriber could not subscribe"

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        props = dict(getattr(msg.properties, "UserProperty", []) or [])
        self.keys.append(props.get("idempotency-key", "?"))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


NO_MATCHING_SUBSCRIBERS = 16  # MQTT 5 PUBACK reason code


def _publish(port: int, items: list[tuple[str, bytes]], *, retry_unrouted: bool = False) -> int:
    """Publish (topic, body) at QoS 1 and wait for each PUBACK: the broker has them. A PUBACK
    "no matching subscribers" means the broker dropped the message; with ``retry_unrouted`` it
    is published again a moment later (what a careful provider connector does). Returns how
    many PUBACKs said so."""
    codes: dict[int, int] = {}
    pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.on_publish = lambda _c, _u, mid, rc, _p: codes.__setitem__(mid, rc.value)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    unrouted = 0
    try:
        for topic, body in items:
            while True:
                info = pub.publish(topic, body, qos=1)
                info.wait_for_publish(5)
                if codes.get(info.mid) != NO_MATCHING_SUBSCRIBERS:
                    break
                unrouted += 1
                if not retry_unrouted:
                    break
                time.sleep(0.25)
    finally:
        pub.disconnect()
        pub.loop_stop()
    return unrouted


def _undelivered(db: Database) -> int:
    with db.session() as s:
        return len(
            s.exec(select(OutboxEntry.id).where(col(OutboxEntry.delivered_at).is_(None))).all()
        )


def _grievance_ids(db: Database) -> set[str]:
    with db.session() as s:
        return {str(g) for g in s.exec(select(Grievance.id)).all()}


#: Mosquitto outage, compressed from "minutes" to this many seconds of wall time.
BROKER_OUTAGE_S = 12.0


@pytest.mark.slow
@pytest.mark.parametrize("subscription", ["plain", "shared"])
def test_mosquitto_stopped_mqtt_ingest_resumes_and_case_outbox_drains_once(
    tmp_path: Path, private_broker: PrivateMosquitto, subscription: str
) -> None:
    """The broker is stopped (SIGTERM: it saves its sessions) for BROKER_OUTAGE_S while frames
    keep arriving over DirectIP, then started again on the same port.

    Mosquitto restores a persistent session's plain subscriptions from its persistence file,
    but not its shared ones: until the gateway has reconnected and subscribed again (paho's
    reconnect back-off, up to 15 s), a publish to the shared subscription is answered "no
    matching subscribers" and dropped. With a plain subscription (``--mqtt-group ''``) the
    broker queues it for the gateway's session and nothing needs resending."""
    url = f"sqlite:///{tmp_path / 'gw.sqlite3'}"
    db = Database(url)
    db.migrate()
    boats = [Boat(db, f"MV MQ {i}") for i in range(3)]
    frames = [(b, f) for b in boats for f in b.grievance_frames(20)]
    random.Random(3).shuffle(frames)
    before, during, after = frames[:20], frames[20:40], frames[40:]
    tag = uuid.uuid4().hex[:10]
    port = private_broker.port
    gw = start_gateway(
        url,
        _shore_dir(tmp_path),
        "--mqtt", private_broker.url, "--mqtt-client-id", f"gw-{tag}", "--no-downlink",
        "--mqtt-group", "" if subscription == "plain" else f"g{tag}",
        env={
            "FLIP_CASES_CONNECTORS": "mqtt",
            "FLIP_CASES_DISPATCH_INTERVAL_S": "0.2",
            "FLIP_CASES_MAX_BACKOFF_S": "2",
        },
    )  # fmt: skip
    assert gw.ready["cases"] == ["mqtt"]  # serve runs the case desk's connector
    stderr = StderrDrain(gw.proc)
    directip = hostport(gw.ready["directip"])
    listener = CaseListener(port, "flip/v1/cases/new", f"listener-{tag}")
    deadline = time.monotonic() + 80
    try:
        # Before: half over MQTT, half over DirectIP; every case published.
        _publish(port, [(f"flip/v1/mo/{b.imei}", f) for b, f in before[:10]])
        for i, (b, f) in enumerate(before[10:]):
            _until_confirmed(directip, mo_bytes(f, imei=b.imei, momsn=i), deadline)
        _wait_for(lambda: len(set(listener.keys)) == len(before), what="cases before")

        # Outage: the broker is down; DirectIP keeps ingesting, the case outbox queues.
        private_broker.stop()
        t_stop = time.monotonic()
        for i, (b, f) in enumerate(during):
            _until_confirmed(directip, mo_bytes(f, imei=b.imei, momsn=100 + i), deadline)
            time.sleep(BROKER_OUTAGE_S / len(during) / 2)
        assert count(db, Grievance) == len(before) + len(during)
        queued = _undelivered(db)
        assert queued >= len(during)  # nothing could be published meanwhile
        time.sleep(max(0.0, BROKER_OUTAGE_S - (time.monotonic() - t_stop)))
        assert gw.proc.poll() is None
        private_broker.start()  # same port, sessions restored from its persistence file
        outage = time.monotonic() - t_stop

        # After: published at once, before the gateway has reconnected.
        unrouted = _publish(
            port,
            [(f"flip/v1/mo/{b.imei}", f) for b, f in after],
            retry_unrouted=subscription == "shared",
        )
        if subscription == "plain":
            assert unrouted == 0  # the restored session held every message for the gateway
        _wait_for(lambda: count(db, Grievance) == len(frames), timeout=40, what="MQTT ingest")
        _wait_for(lambda: _undelivered(db) == 0, timeout=40, what="the case outbox to drain")
        _wait_for(lambda: set(listener.keys) == _grievance_ids(db), timeout=20, what="cases")
        time.sleep(1)  # late duplicates, if any, would arrive now
    finally:
        listener.close()
        code = gw.stop()
        stderr.join()
    assert code == 0
    keys = set(listener.keys)
    assert keys == _grievance_ids(db) and len(keys) == len(frames)  # every case, once in effect
    print(
        f"{subscription}: broker outage {outage:.1f} s, {queued} outbox rows queued, "
        f"{unrouted} publishes unrouted after the restart, {len(frames)} frames, "
        f"{len(listener.keys)} case publishes for {len(keys)} keys"
    )
    assert count(db, Grievance) == len(frames)
    _no_duplicates(db)
    db.dispose()


#: Primero outage, on the dispatcher's injected clock (1-minute ticks).
PRIMERO_OUTAGE = dt.timedelta(hours=6)


@pytest.mark.slow
def test_primero_down_for_hours_then_every_case_once_and_updates_in_order(
    gateway: AppGateway,
) -> None:
    fake = FakePrimero()
    seen = {"503": 0, "409": 0, "lost": 0}
    first_status: dict[str, str] = {}  # what each case looked like when Primero got it
    lose = {"POST": 0, "PATCH": 0}  # > 0: applied, but the answer never arrives

    @fake.app.middleware("http")
    async def count_and_lose(request: Request, call_next: Any) -> Response:
        if request.method == "POST" and request.url.path == "/api/v2/cases" and not fake.down:
            data = json.loads(await request.body())["data"]
            first_status.setdefault(data["id"], data["flip_status"])
        response: Response = await call_next(request)
        if response.status_code == 503:
            seen["503"] += 1
        elif response.status_code == 409:
            seen["409"] += 1
        elif (
            response.status_code < 300
            and request.url.path.startswith("/api/v2/cases")
            and lose.get(request.method, 0) > 0
        ):
            lose[request.method] -= 1
            seen["lost"] += 1
            return JSONResponse({"error": "gateway timeout"}, status_code=504)
        return response

    settings = CaseSettings(connectors="primero")
    clock = [dt.datetime(2025, 11, 20, 6, 0, tzinfo=dt.UTC)]
    db = gateway.db
    expected: dict[str, list[str]] = {}

    def grievance(vessel: str, seq: int, category: int) -> str:
        _, ref = add_grievance(db, vessel, seq, category=category, settings=settings,
                               when=clock[0])  # fmt: skip
        expected.setdefault(ref, ["new"])
        return ref

    def move(ref: str, status: Status) -> None:
        with db.session() as s:
            desk.transition(s, desk.get_case(s, ref), status, actor="ann", settings=settings,
                            now=clock[0])  # fmt: skip
        expected[ref].append(status.value)

    with (
        ServerThread(fake.app) as server,
        contextlib.closing(
            PrimeroConnector(server.url, "primero", "pw", clock=lambda: clock[0])
        ) as connector,
    ):
        dispatcher = Dispatcher(db, {"primero": connector}, clock=lambda: clock[0],
                                max_backoff_s=300)  # fmt: skip
        a = grievance("Sea One", 1, 0x17)
        assert dispatcher.run_once() == 1  # Primero up: case A is there

        fake.down = True
        plan: dict[int, Callable[[], object]] = {
            10: lambda: move(a, Status.ACKNOWLEDGED),
            30: lambda: grievance("Sea One", 2, 0x16),  # case B
            60: lambda: grievance("Sea One", 3, 0x17),  # joins A
            90: lambda: move(a, Status.INVESTIGATING),
            120: lambda: grievance("Other Boat", 1, 0xF0),  # case C, urgent
            150: lambda: move(refs()[2], Status.ACKNOWLEDGED),
            200: lambda: move(refs()[1], Status.ACKNOWLEDGED),
            240: lambda: move(refs()[2], Status.INVESTIGATING),
            300: lambda: move(a, Status.REMEDIATION_IN_PROGRESS),
            330: lambda: move(refs()[2], Status.REFERRED),
        }

        def refs() -> list[str]:
            return list(expected)

        minutes = int(PRIMERO_OUTAGE.total_seconds() // 60)
        for minute in range(1, minutes + 1):
            clock[0] += dt.timedelta(minutes=1)
            if minute in plan:
                plan[minute]()
            assert dispatcher.run_once() == 0
        queued = len(pending(db))
        with db.session() as s:
            head_attempts = max(r.attempts for r in s.exec(select(OutboxEntry)).all())
        failed_calls = seen["503"]

        fake.down = False
        lose.update(POST=1, PATCH=1)  # Primero is back, but two answers get lost on the way
        drained = 0
        for _ in range(30):
            clock[0] += dt.timedelta(minutes=5)  # past the longest back-off
            drained += dispatcher.run_once()
            if not pending(db):
                break

    assert pending(db) == []
    assert drained == queued
    # Retried all along, but backed off: 2, 4, … 256 s, then every 300 s.
    assert 60 <= head_attempts <= 100, head_attempts
    cases = {ref: case(db, ref) for ref in expected}
    assert len(cases) == 3
    # Every case exactly once in Primero, though the answer to one create was lost (→ 409).
    assert fake.creates == {c.external_id: 1 for c in cases.values()}
    assert seen["lost"] == 2 and seen["409"] == 1
    for ref, c in cases.items():
        record = fake.cases[c.external_id]
        assert record["flip_status"] == c.status == expected[ref][-1]
        # PATCHes arrive in the order the desk made the changes (a resent one repeats itself).
        observed = [p["flip_status"] for i, p in fake.patches if i == c.external_id
                    and "flip_status" in p]  # fmt: skip
        assert _collapse([first_status[c.external_id], *observed]) == _collapse(expected[ref]), (
            ref,
            observed,
        )
    print(
        f"Primero down {PRIMERO_OUTAGE}: {queued} outbox rows queued, {failed_calls} calls "
        f"refused, head row tried {head_attempts} times; drained {drained} in order, "
        f"creates {sorted(fake.creates.values())}, {seen['lost']} answers lost, "
        f"{seen['409']} create answered 409"
    )


def _collapse(statuses: list[str]) -> list[str]:
    out: list[str] = []
    for s in statuses:
        if not out or out[-1] != s:
            out.append(s)
    return out
