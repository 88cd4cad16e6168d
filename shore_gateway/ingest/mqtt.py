"""MQTT MO ingest (paho-mqtt 2.x, MQTT 5, QoS 1) and the MQTT side of downlink.

Subscribes ``$share/{group}/{prefix}/mo/+`` — a *shared* subscription, so several gateway
processes in the same group split the stream (the broker gives each message to one of them);
with an empty group, ``{prefix}/mo/+`` (a plain subscription: one gateway, but Mosquitto
restores it after a broker restart, which it does not do for shared ones). The last topic
level is the modem's IMEI. A message body is either

- the raw frame bytes (what the modem sent), or
- a JSON envelope (first byte ``{``) from a provider connector::

      {"data": "<hex>", "imei": "300234…", "momsn": 17,
       "time": "2025-11-20T12:00:00Z", "lat": -4.61, "lon": 55.45, "cep_km": 3}

  where only ``data`` is required; the topic's IMEI is used when ``imei`` is absent.

None of the metadata is trusted for identity (the frame's signature is). The PUBACK is sent
**only after** the frame sink answers durable — paho's ``manual_ack=True`` + ``client.ack()``
(paho-mqtt ≥ 2.0). Refused frames are acknowledged too (a poison message must not come back
forever) and counted. When the sink fails (database down) the message is retried here with
back-off and never acknowledged meanwhile; if the process dies, the broker redelivers every
unacknowledged message when a client with the same id reconnects (persistent session:
``clean_start=False`` and a session expiry), so use a stable client id per gateway instance.
The CONNECT's *receive maximum* asks the broker to send at most that many unacknowledged
messages at once: two pipeline batches, so one batch fills while the other is written (more
only queues in this process, where a crash would lose the place in line for nothing). The link
holds to the same bound itself, because Mosquitto 2.0 does not: once PUBACKs flow it sends a
session's whole queue (measured on 2.0.11: 128 of 800 queued messages sent on connect, all 800
after the first PUBACK). So at most ``receive_maximum`` messages are in the frame sink at once;
the rest wait here, unacknowledged (the broker still has them), in arrival order, and are
handed on as acknowledgements free their places. Without that a backlog went into the
pipeline whole, and each frame's pipeline latency was the time to drain everything before it.

The broker's dropped-message counter (``$SYS/broker/publish/messages/dropped``, Mosquitto) is
watched too: every value goes to ``on_dropped`` (see shore_gateway/ingest/broker_drops.py).

Downlink publishes frames on ``{prefix}/mt/{imei}`` at QoS 1 (:meth:`MqttLink.publish` returns
True once the broker's PUBACK arrived).
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import datetime as dt
import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from shore_gateway.errors import RemoteError
from shore_gateway.ingest.broker_drops import DROPPED_TOPIC, parse_counter
from shore_gateway.metrics import Metrics
from shore_gateway.models import Channel
from shore_gateway.pipeline_api import ArrivalMeta, FrameSink

log = logging.getLogger("flip.gateway.mqtt")

MAX_PAYLOAD = 4096


class EnvelopeError(RemoteError, ValueError):
    """An MQTT MO message that is neither a frame nor a valid envelope."""


def parse_mo(
    topic: str, payload: bytes, *, received_at: dt.datetime | None = None
) -> tuple[bytes, ArrivalMeta]:
    """Topic + body → (frame, metadata). Raises :class:`EnvelopeError`."""
    received_at = received_at or dt.datetime.now(dt.UTC)
    suffix = topic.rsplit("/", 1)[-1]
    imei: str | None = suffix if _is_imei(suffix) else None
    if len(payload) > MAX_PAYLOAD:
        raise EnvelopeError(f"message of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    if not payload.startswith(b"{"):
        if not payload:
            raise EnvelopeError("empty message")
        return payload, ArrivalMeta(channel=Channel.MQTT, imei=imei, received_at=received_at)
    try:
        env = json.loads(payload)
    except (ValueError, RecursionError):
        raise EnvelopeError("envelope is not valid JSON") from None
    if not isinstance(env, dict) or not isinstance(env.get("data"), str):
        raise EnvelopeError("envelope needs a hex string field 'data'")
    try:
        data = binascii.unhexlify(env["data"].strip())
    except (binascii.Error, ValueError):
        raise EnvelopeError("envelope 'data' is not hexadecimal") from None
    if not data:
        raise EnvelopeError("envelope 'data' is empty")
    if "imei" in env:
        value = str(env["imei"])
        if not _is_imei(value):
            raise EnvelopeError("envelope 'imei' must be 15 digits")
        imei = value
    momsn = env.get("momsn")
    if momsn is not None and (not isinstance(momsn, int) or not 0 <= momsn <= 65535):
        raise EnvelopeError("envelope 'momsn' must be an integer 0..65535")
    return data, ArrivalMeta(
        channel=Channel.MQTT,
        imei=imei,
        momsn=momsn,
        provider_time=_time(env.get("time")),
        lat=_number(env, "lat", -90, 90),
        lon=_number(env, "lon", -180, 180),
        cep_km=_number(env, "cep_km", 0, 10_000),
        received_at=received_at,
    )


def _is_imei(value: str) -> bool:
    """15 ASCII digits (``str.isdigit`` also accepts "²" and other scripts' digits)."""
    return len(value) == 15 and value.isascii() and value.isdigit()


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise EnvelopeError("envelope 'time' is not ISO 8601") from None
    if when.tzinfo is None:
        raise EnvelopeError("envelope 'time' needs a time zone (use Z for UTC)")
    try:
        return when.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise EnvelopeError("envelope 'time' is out of range") from None


def _number(env: dict[str, Any], name: str, lo: float, hi: float) -> float | None:
    value = env.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise EnvelopeError(f"envelope '{name}' must be a number in {lo}..{hi}")
    return float(value)


class MqttLink:
    """One MQTT 5 connection: shared-subscription MO ingest (manual acks) and MT publishing."""

    def __init__(
        self,
        host: str,
        port: int,
        sink: FrameSink | None,
        *,
        client_id: str,
        prefix: str = "flip/v1",
        group: str = "flip-gateway",
        session_expiry_s: int = 7 * 86_400,
        receive_maximum: int = 128,
        metrics: Metrics | None = None,
        retry_max_s: float = 30.0,
        on_dropped: Callable[[int], object] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.sink = sink
        self.prefix = prefix.rstrip("/")
        self.group = group
        self.metrics = metrics
        self.retry_max_s = retry_max_s
        self.receive_maximum = receive_maximum
        self.on_dropped = on_dropped
        # An empty group: a plain subscription (one gateway; it survives a broker restart).
        mo = f"{self.prefix}/mo/+"
        self.subscription = f"$share/{group}/{mo}" if group else mo
        self.stats = {"received": 0, "acked": 0, "refused": 0, "retries": 0}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._stopping = False
        # Messages the broker sent that are not in the sink yet (topic, payload, mid), and the
        # ones being worked (at most receive_maximum): only touched on the event loop.
        self._queued: deque[tuple[str, bytes, int]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self._session_expiry_s = session_expiry_s
        self.client.reconnect_delay_set(min_delay=1, max_delay=15)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self, wait_s: float = 10.0) -> bool:
        """Connect (paho reconnects on its own after); True once subscribed (or connected)."""
        self._loop = asyncio.get_running_loop()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._session_expiry_s
        props.ReceiveMaximum = self.receive_maximum
        self.client.connect_async(
            self.host, self.port, keepalive=30, clean_start=False, properties=props
        )
        self.client.loop_start()
        ready = self._subscribed if self.sink is not None else self._connected
        return await asyncio.to_thread(ready.wait, wait_s)

    async def stop(self) -> None:
        """Finish messages being stored (their acks go out), then disconnect."""
        self._stopping = True  # what is still queued here stays unacknowledged: redelivered
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)

    # --- paho callbacks (network thread) ------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if getattr(rc, "is_failure", False):
            log.warning("MQTT connect refused: %s", rc)
            return
        self._connected.set()
        if self.sink is not None:
            topics = [(self.subscription, 1)]
            if self.on_dropped is not None:
                topics.append((DROPPED_TOPIC, 0))
            client.subscribe(topics)

    def _on_subscribe(self, *_args: Any) -> None:
        self._subscribed.set()

    def _on_disconnect(self, *_args: Any) -> None:
        self._connected.clear()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if self._loop is None or self._loop.is_closed():
            return
        if msg.topic.startswith("$SYS/"):
            counter = parse_counter(bytes(msg.payload))
            if msg.topic == DROPPED_TOPIC and counter is not None and self.on_dropped is not None:
                self._loop.call_soon_threadsafe(self._dropped, counter)
            return
        self._loop.call_soon_threadsafe(self._arrived, msg.topic, bytes(msg.payload), msg.mid)

    def _dropped(self, counter: int) -> None:
        """On the event loop: hand the counter to ``on_dropped`` off the loop (it may write)."""
        assert self.on_dropped is not None
        assert self._loop is not None
        fut = self._loop.run_in_executor(None, self.on_dropped, counter)
        fut.add_done_callback(_log_failure)

    # --- ingest -------------------------------------------------------------------------------

    def _arrived(self, topic: str, payload: bytes, mid: int) -> None:
        """On the event loop: queue a message from the broker and start what the window allows."""
        self._queued.append((topic, payload, mid))
        self._admit()

    def _admit(self) -> None:
        """Hand queued messages to the sink, oldest first, while fewer than ``receive_maximum``
        are being worked (the bound the broker was asked to keep: see the module docstring)."""
        assert self._loop is not None
        while self._queued and len(self._tasks) < self.receive_maximum and not self._stopping:
            task = self._loop.create_task(self._handle(*self._queued.popleft()))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        """A message finished (acknowledged, or left for redelivery): its place goes to the next."""
        self._tasks.discard(task)
        exc = task.exception() if not task.cancelled() else None
        if exc is not None:  # not acknowledged: the broker resends it when the session reconnects
            log.error("MQTT message handling failed", extra={"error": type(exc).__name__})
        self._admit()

    async def _handle(self, topic: str, payload: bytes, mid: int) -> None:
        assert self.sink is not None
        self.stats["received"] += 1
        try:
            data, meta = parse_mo(topic, payload)
        except EnvelopeError as exc:
            self._refused("envelope", str(exc))
            self.client.ack(mid, 1)
            return
        delay = 0.5
        while True:
            try:
                result = await self.sink.accept(data, meta)
                break
            except Exception as exc:  # storage down: keep the message unacknowledged, retry
                if self._stopping:
                    return  # not acked: the broker redelivers it to this session
                self.stats["retries"] += 1
                log.error("MQTT ingest sink failed", extra={"error": type(exc).__name__})
                await asyncio.sleep(delay)
                delay = min(self.retry_max_s, delay * 2)
        if result.durable:
            self.stats["acked"] += 1
        else:
            self._refused("frame", result.reason or "refused")
        self.client.ack(mid, 1)
        log.info(
            "mqtt arrival",
            extra={"imei": meta.imei, "bytes": len(data), "outcome": result.outcome.value},
        )

    def _refused(self, kind: str, reason: str) -> None:
        self.stats["refused"] += 1
        if self.metrics is not None and kind == "envelope":
            self.metrics.frame_rejected("mqtt", "envelope")
        log.info("mqtt message refused", extra={"reason": reason[:80]})

    # --- downlink -----------------------------------------------------------------------------

    async def publish(self, topic: str, payload: bytes, timeout_s: float = 10.0) -> bool:
        """Publish at QoS 1; True when the broker acknowledged it."""
        if not self._connected.is_set():
            return False
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False

        def wait() -> bool:
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout_s)
            return info.is_published()

        return await asyncio.to_thread(wait)


def _log_failure(fut: asyncio.Future[object]) -> None:
    exc = fut.exception() if not fut.cancelled() else None
    if exc is not None:
        log.error("MQTT broker drop watch failed", extra={"error": type(exc).__name__})
