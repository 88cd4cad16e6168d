"""MQTT connector (paho-mqtt, MQTT 5, QoS 1) — CONTRACTS.md, gateway MQTT.

Out: ``{prefix}/cases/new`` — one message per grievance that opened or joined a case; the
idempotency key (the grievance id) is both a user property ``idempotency-key`` and the JSON
field ``idempotency_key``. Later case changes go to ``{prefix}/cases/{ref}/updates`` (key
``{ref}:{audit id}``). Consumers drop keys they have seen: QoS 1 and the outbox both deliver
*at least* once.

In: ``{prefix}/cases/+/status`` — JSON ``{"status": "investigating", "note": 0, "by": "who"}``
from an outside case system moves the case (the transition table still decides; steps in
between are walked for it). Redelivered or stale updates are no-ops.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from shore_gateway.cases import desk
from shore_gateway.cases.models import OutboxEntry
from shore_gateway.cases.outbox import DeliveryFailed
from shore_gateway.cases.workflow import CaseError, parse_status, path_to
from shore_gateway.db import Database

log = logging.getLogger(__name__)


def parse_url(url: str) -> tuple[str, int]:
    """``mqtt://host:port`` (or ``host:port``) → (host, port); default port 1883."""
    parsed = urllib.parse.urlsplit(url if "://" in url else f"mqtt://{url}")
    if parsed.scheme not in ("mqtt", "tcp"):
        raise ValueError(f"unsupported MQTT URL scheme {parsed.scheme!r}")
    return parsed.hostname or "127.0.0.1", parsed.port or 1883


class MqttConnector:
    """Publishes outbox rows and consumes status updates on one MQTT 5 connection."""

    name = "mqtt"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "flip/v1",
        db: Database | None = None,
        publish_timeout_s: float = 5.0,
    ) -> None:
        self.host, self.port = parse_url(url)
        self.prefix = prefix.rstrip("/")
        self.db = db
        self.publish_timeout_s = publish_timeout_s
        self._connected = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"flip-cases-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    @property
    def status_topic(self) -> str:
        return f"{self.prefix}/cases/+/status"

    def start(self, wait_s: float = 5.0) -> bool:
        """Connect in the background (paho reconnects on its own); True when connected."""
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        return self._connected.wait(wait_s)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if getattr(rc, "is_failure", False):
            return
        self._connected.set()
        if self.db is not None:
            client.subscribe(self.status_topic, qos=1)

    def _on_disconnect(self, *_args: Any) -> None:
        self._connected.clear()

    # --- out --------------------------------------------------------------------------------

    def topic_for(self, entry: OutboxEntry) -> str:
        if entry.kind == "case_new":
            return f"{self.prefix}/cases/new"
        ref = json.loads(entry.payload).get("case_ref", "unknown")
        return f"{self.prefix}/cases/{ref}/updates"

    def deliver(self, entry: OutboxEntry) -> None:
        if not self._connected.is_set():
            raise DeliveryFailed(f"not connected to MQTT broker {self.host}:{self.port}")
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.UserProperty = [("idempotency-key", entry.idempotency_key), ("kind", entry.kind)]
        props.ContentType = "application/json"
        info = self.client.publish(
            self.topic_for(entry), entry.payload.encode(), qos=1, properties=props
        )
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise DeliveryFailed(f"MQTT publish failed: {mqtt.error_string(info.rc)}")
        try:
            info.wait_for_publish(self.publish_timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryFailed(f"MQTT publish not acknowledged: {exc}") from exc
        if not info.is_published():
            raise DeliveryFailed("MQTT broker did not acknowledge the publish in time")

    # --- in ---------------------------------------------------------------------------------

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        if len(parts) < 3 or parts[-1] != "status" or self.db is None:
            return
        ref = parts[-2]
        try:
            apply_status(self.db, ref, msg.payload, source="mqtt")
        except (CaseError, ValueError) as exc:
            log.warning("MQTT status for case %s ignored: %s", ref, exc)


def apply_status(db: Database, ref: str, payload: bytes | bytearray, *, source: str) -> None:
    """Apply a status update from outside (``{"status", "note", "by"}``) to case ``ref``.

    Raises:
        CaseError: unknown case, status, or no way there from the current state.
        ValueError: payload is not a JSON object.
    """
    data = json.loads(payload)
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise ValueError("expected a JSON object with a string 'status'")
    target = parse_status(data["status"])
    note = data.get("note", 0)
    if not isinstance(note, int):
        raise ValueError("note must be an integer")
    by = str(data.get("by", ""))[:60]
    actor = f"{source}:{by}" if by else source
    with db.session() as session:
        case = desk.get_case(session, ref)
        for step in path_to(case.status, target):
            desk.transition(session, case, step, actor=actor, note=note, source=source)
