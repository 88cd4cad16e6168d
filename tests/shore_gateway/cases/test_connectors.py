"""Connectors against real peers: Mosquitto (127.0.0.1:1883) and a fake Primero over HTTP."""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from shore_gateway.cases import desk
from shore_gateway.cases.config import CaseSettings
from shore_gateway.cases.models import OutboxEntry
from shore_gateway.cases.mqtt import MqttConnector
from shore_gateway.cases.outbox import Dispatcher
from shore_gateway.cases.primero import PrimeroConnector, primero_record
from shore_gateway.cases.workflow import Status
from shore_gateway.db import Database
from tests.shore_gateway.cases.helpers import SECRET_TEXT, add_grievance, case
from tests.shore_gateway.cases.servers import FakePrimero, ServerThread
from tests.shore_gateway.conftest import Gateway

BROKER = ("127.0.0.1", 1883)


class Listener:
    """A plain MQTT 5 subscriber collecting (topic, payload, user properties)."""

    def __init__(self, topic: str) -> None:
        self.messages: queue.Queue[tuple[str, dict[str, Any], dict[str, str]]] = queue.Queue()
        self.ready = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5
        )
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect(*BROKER)
        self.client.loop_start()
        assert self.ready.wait(10), "could not subscribe on 127.0.0.1:1883"

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        props = dict(getattr(msg.properties, "UserProperty", []) or [])
        try:
            body = json.loads(msg.payload)
        except ValueError:
            body = {"raw": msg.payload.decode(errors="replace")}
        self.messages.put((msg.topic, body, props))

    def get(self, timeout: float = 10) -> tuple[str, dict[str, Any], dict[str, str]]:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:10]}/flip/v1"  # unique per test: xdist-safe


def pending(db: Database) -> list[OutboxEntry]:
    with db.session() as s:
        from sqlmodel import col, select

        return list(
            s.exec(select(OutboxEntry).where(col(OutboxEntry.delivered_at).is_(None))).all()
        )


def test_mqtt_publishes_new_case_with_idempotency_key_and_consumes_status(
    gateway: Gateway, prefix: str
) -> None:
    settings = CaseSettings(connectors="mqtt", mqtt_prefix=prefix)
    listener = Listener(f"{prefix}/cases/#")
    connector = MqttConnector("mqtt://127.0.0.1:1883", prefix=prefix, db=gateway.db)
    try:
        assert connector.start(wait_s=10)
        gid, ref = add_grievance(gateway.db, "Sea One", 3, category=0xF0, settings=settings)
        dispatcher = Dispatcher(gateway.db, {"mqtt": connector})
        assert dispatcher.run_once() == 1
        topic, body, props = listener.get()
        assert topic == f"{prefix}/cases/new"
        assert props["idempotency-key"] == str(gid) == body["idempotency_key"]
        assert body["case_ref"] == ref and body["urgent"] is True
        assert SECRET_TEXT not in json.dumps(body)
        assert dispatcher.run_once() == 0  # delivered once

        # Status from outside: Primero-less programmes drive the desk over MQTT.
        pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.connect(*BROKER)
        pub.loop_start()
        pub.publish(
            f"{prefix}/cases/{ref}/status",
            json.dumps({"status": "investigating", "by": "ngo-x"}),
            qos=1,
        ).wait_for_publish(5)
        pub.publish(f"{prefix}/cases/{ref}/status", b"not json", qos=1).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10)
        while case(gateway.db, ref).status != "investigating":
            assert dt.datetime.now(dt.UTC) < deadline, "status update not applied"
            threading.Event().wait(0.05)
        # No echo back to MQTT: the change came from there.
        assert all(r.connector != "mqtt" or r.kind == "case_new" for r in pending(gateway.db))
    finally:
        connector.stop()
        listener.close()


def test_mqtt_outage_queues_then_drains_once(gateway: Gateway, prefix: str) -> None:
    settings = CaseSettings(connectors="mqtt", mqtt_prefix=prefix)
    down = MqttConnector("mqtt://127.0.0.1:1", prefix=prefix)  # nothing listens there
    add_grievance(gateway.db, "Sea One", 1, settings=settings)
    add_grievance(gateway.db, "Sea One", 2, category=0x16, settings=settings)
    clock = [dt.datetime.now(dt.UTC)]
    assert Dispatcher(gateway.db, {"mqtt": down}, clock=lambda: clock[0]).run_once() == 0
    assert len(pending(gateway.db)) == 2
    listener = Listener(f"{prefix}/cases/new")
    up = MqttConnector("mqtt://127.0.0.1:1883", prefix=prefix)
    try:
        assert up.start(wait_s=10)
        clock[0] += dt.timedelta(minutes=10)  # past the backoff
        assert Dispatcher(gateway.db, {"mqtt": up}, clock=lambda: clock[0]).run_once() == 2
        keys = {listener.get()[2]["idempotency-key"], listener.get()[2]["idempotency-key"]}
        assert len(keys) == 2
        with pytest.raises(queue.Empty):
            listener.get(timeout=0.5)
    finally:
        up.stop()
        listener.close()


def test_primero_outage_drains_afterwards_nothing_lost_nothing_doubled(gateway: Gateway) -> None:
    fake = FakePrimero()
    with ServerThread(fake.app) as server:
        settings = CaseSettings(connectors="primero")
        connector = PrimeroConnector(server.url, "primero", "pw")
        clock = [dt.datetime.now(dt.UTC)]
        dispatcher = Dispatcher(gateway.db, {"primero": connector}, clock=lambda: clock[0])
        _, ref = add_grievance(gateway.db, "Sea One", 1, settings=settings)
        fake.down = True
        _, ref2 = add_grievance(gateway.db, "Sea One", 2, category=0x16, settings=settings)
        with gateway.db.session() as s:
            desk.transition(
                s, desk.get_case(s, ref), Status.ACKNOWLEDGED, actor="ann", settings=settings
            )
        assert dispatcher.run_once() == 0
        assert len(pending(gateway.db)) == 3
        fake.down = False
        clock[0] += dt.timedelta(minutes=10)
        assert dispatcher.run_once() == 3
        assert pending(gateway.db) == []
        c1, c2 = case(gateway.db, ref), case(gateway.db, ref2)
        assert fake.creates == {c1.external_id: 1, c2.external_id: 1}
        assert fake.cases[c1.external_id]["flip_status"] == "acknowledged"
        assert fake.cases[c1.external_id]["narrative"] == SECRET_TEXT
        assert fake.cases[c2.external_id]["risk_level"] == "medium"

        # A retried create (answer lost) gets 409 and counts as done: nothing doubled.
        with gateway.db.session() as s:
            from sqlmodel import select

            row = s.exec(select(OutboxEntry).where(OutboxEntry.kind == "case_new")).first()
            assert row is not None
        connector.deliver(row)
        assert fake.creates[c1.external_id] == 1

        # Token revoked early → one fresh login, then the PATCH goes through.
        logins = fake.logins
        fake.revoke_all()
        with gateway.db.session() as s:
            desk.transition(
                s, desk.get_case(s, ref), Status.INVESTIGATING, actor="ann", settings=settings
            )
        assert dispatcher.run_once() == 1
        assert fake.logins == logins + 1
        assert fake.cases[c1.external_id]["workflow"] == "assessment"
        connector.close()


def test_a_voice_grievance_reaches_primero_as_a_voice_note_not_an_empty_narrative(
    gateway: Gateway,
) -> None:
    fake = FakePrimero()
    with ServerThread(fake.app) as server:
        settings = CaseSettings(connectors="primero")
        connector = PrimeroConnector(server.url, "primero", "pw")
        dispatcher = Dispatcher(gateway.db, {"primero": connector})
        gid, ref = add_grievance(gateway.db, "Sea One", 1, settings=settings, voice_ms=12_000)
        assert dispatcher.run_once() == 1
        record = fake.cases[case(gateway.db, ref).external_id]
        assert record["narrative"].startswith("Voice note, 12 s, language my")
        assert f"/api/grievances/{gid}/audio" in record["narrative"]
        connector.close()


def test_a_crew_answer_reaches_the_connectors_its_words_only_where_text_is_shared(
    gateway: Gateway,
) -> None:
    from sqlmodel import select

    from shore_gateway.cases.models import AuditEntry

    settings = CaseSettings(connectors="mqtt,primero")  # MQTT shares no text by default
    _, ref = add_grievance(gateway.db, "Sea One", 1, settings=settings)
    answer = "ဒီနေ့ မနက်ပါ"
    message = {"from": "crew", "ref_seq": 1, "lang": "my", "time": "2026-12-05T06:00:00+00:00"}
    with gateway.db.session() as s:
        desk.crew_answered(s, desk.get_case(s, ref), message, answer, settings)
    with gateway.db.session() as s:
        rows = s.exec(select(OutboxEntry).where(OutboxEntry.kind == "case_update")).all()
        sent = {r.connector: json.loads(r.payload) for r in rows}
        (audit,) = s.exec(select(AuditEntry).where(AuditEntry.action == "crew_answer")).all()
    assert set(sent) == {"mqtt", "primero"}
    assert sent["primero"]["message"] == {**message, "text": answer}
    assert sent["mqtt"]["message"] == message  # no words where text is not shared
    assert answer not in audit.detail  # the audit log never holds crew words
    assert primero_record(sent["primero"])["flip_last_message"]["text"] == answer


def test_primero_token_refreshed_before_expiry(gateway: Gateway) -> None:
    fake = FakePrimero(token_ttl_s=30)  # under the 60 s margin: every call logs in again
    with ServerThread(fake.app) as server:
        connector = PrimeroConnector(server.url, "primero", "pw")
        connector.token()
        connector.token()
        assert fake.logins == 2
        connector.close()


def test_primero_webhook_moves_case_and_marks_synced(gateway: Gateway) -> None:
    settings = CaseSettings(connectors="primero", primero_webhook_secret="hook-secret")
    gateway.app.state.case_settings = settings
    _, ref = add_grievance(gateway.db, "Sea One", 1, settings=settings)
    ext = case(gateway.db, ref).external_id
    body = {"data": {"id": ext, "workflow": "case_plan", "status": "open"}}
    refused = gateway.client.post(
        "/hooks/primero", json=body, headers={"Authorization": "Bearer wrong"}
    )
    assert refused.status_code == 401
    r = gateway.client.post(
        "/hooks/primero", json=body, headers={"Authorization": "Bearer hook-secret"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "remediation_in_progress"
    assert r.json()["steps"] == ["acknowledged", "investigating", "remediation_in_progress"]
    again = gateway.client.post(
        "/hooks/primero", json=body, headers={"Authorization": "Bearer hook-secret"}
    )
    assert again.json()["steps"] == []  # redelivered webhook: no-op
    kinds = [r.kind for r in pending(gateway.db)]
    assert kinds.count("mark_synced") == 2 and "case_update" not in kinds  # no echo
    unknown = gateway.client.post(
        "/hooks/primero",
        json={"data": {"id": "nope"}},
        headers={"Authorization": "Bearer hook-secret"},
    )
    assert unknown.status_code == 404
