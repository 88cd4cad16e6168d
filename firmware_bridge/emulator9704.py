"""The I/O shell around :class:`~firmware_bridge.imt.IMTModem`: a RockBLOCK 9704 on a pty.

Like :class:`firmware_bridge.emulator.Emulator` (the SBD one), with the same link models:

* **serial loop** — ``select`` on the pty master and a wake-up pipe, the machine's timer as the
  time-out. Output is kept in a buffer and written as the host reads it (a real UART with flow
  control loses nothing; a 100 kB MT message is far larger than a pty's buffer).
* **webhook delivery** — each :class:`~firmware_bridge.imt.IMTSent` becomes a Cloudloop
  "JSON (Lingo)" POST (:mod:`firmware_bridge.lingo`) to ``webhook``. Anything but a 2xx within
  ``webhook_timeout_s`` (Cloudloop's is 5 s) is retried after ``retry_initial_s`` doubling, in
  order, as Cloudloop does for about 12 hours — so the receiver sees duplicates, by design.
* **provider API** (optional, ``api_listen``) — an emulated Cloudloop
  ``POST /Data/DoSendImtMessage`` (form or JSON: ``token``, ``thing``, ``message`` base64,
  ``topic``) that queues an MT message for this modem and answers ``{"id": …}``, and
  ``GET /Data/GetMtDeliveryStatus?message=ID``. Requests with another token or thing get 401/404.

One lock guards the machine; every thread takes it for a feed and the write that follows.
"""

from __future__ import annotations

import binascii
import contextlib
import datetime as dt
import fcntl
import http.server
import itertools
import json
import os
import select
import threading
import time
import tty
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from firmware_bridge.imt import DEFAULT_TOPICS, Event, IMTModem, IMTSent, MTDelivered, Topic
from firmware_bridge.jspr import MAX_MESSAGE, MAX_SEGMENT, RAW_TOPIC
from firmware_bridge.lingo import build_lingo_mo
from firmware_bridge.link import AlwaysUp, LinkModel
from firmware_bridge.modem import BytesOut
from firmware_bridge.retry import RetryQueue

_MAX_PENDING_OUT = 4 * 1024 * 1024


@dataclass(slots=True)
class WebhookStats:
    delivered: int = 0
    attempts_failed: int = 0
    pending: int = 0
    mt_queued: int = 0
    mt_delivered: int = 0


class Emulator9704:
    """An emulated RockBLOCK 9704 on a pty, delivering MO as Cloudloop's webhook would."""

    def __init__(
        self,
        *,
        imei: str,
        webhook: str | None = None,
        api_listen: tuple[str, int] | None = None,
        api_token: str = "emulator-token",  # noqa: S107 - the emulated provider's test token
        thing_id: str = "",
        link: LinkModel | None = None,
        topics: tuple[Topic, ...] = DEFAULT_TOPICS,
        segment_timeout_s: float = 0.3,
        mt_segment_size: int = MAX_SEGMENT,
        per_byte_s: float = 0.0,
        webhook_timeout_s: float = 5.0,
        retry_initial_s: float = 2.0,
        retry_max_s: float = 600.0,
        on_mo: Callable[[IMTSent], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.imei = imei
        self.machine = IMTModem(
            imei=imei,
            link=link or AlwaysUp(),
            topics=topics,
            segment_timeout_s=segment_timeout_s,
            mt_segment_size=mt_segment_size,
            per_byte_s=per_byte_s,
        )
        self.webhook = webhook
        self.api_listen = api_listen
        self.api_token = api_token
        self.thing_id = thing_id or f"thing-{imei}"
        self.webhook_timeout_s = webhook_timeout_s
        self.on_mo = on_mo
        self.clock = clock
        self.stats = WebhookStats()
        self.sent: list[IMTSent] = []
        self.mt_status: dict[str, str] = {}
        self.device = ""
        self.api_address: tuple[str, int] | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._out = bytearray()
        self._queue: RetryQueue[bytes] = RetryQueue(
            self._post, self.stats, self._stop, initial_s=retry_initial_s, max_s=retry_max_s
        )
        self._threads: list[threading.Thread] = []
        self._fds: list[int] = []
        self._master = -1
        self._wake_r = self._wake_w = -1
        self._http: http.server.ThreadingHTTPServer | None = None
        self._mt_ids: dict[int, str] = {}
        self._mt_seq = itertools.count(1)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Emulator9704:
        self._wake_r, self._wake_w = os.pipe()
        master, slave = os.openpty()
        self._fds += [self._wake_r, self._wake_w, master, slave]
        tty.setraw(slave)
        fcntl.fcntl(master, fcntl.F_SETFL, fcntl.fcntl(master, fcntl.F_GETFL) | os.O_NONBLOCK)
        self._master = master
        self.device = os.ttyname(slave)
        self._spawn(self._serial_loop, "serial")
        self._spawn(self._queue.run, "webhook")
        if self.api_listen is not None:
            self._http = http.server.ThreadingHTTPServer(self.api_listen, _api_handler(self))
            self._http.daemon_threads = True
            self.api_address = self._http.server_address[:2]  # type: ignore[assignment]
            self._spawn(self._http.serve_forever, "provider-api")
        return self

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=f"emulator9704-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        self._queue.wake()
        for thread in self._threads:
            thread.join(timeout=5)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> Emulator9704:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- controls -----------------------------------------------------------------------------

    def queue_mt(self, payload: bytes, topic: int = RAW_TOPIC) -> int:
        """An MT message reaches the network for this modem; returns its JSPR message id."""
        with self._lock:
            mid = self.machine.queue_mt(payload, self.clock(), topic)
            self.stats.mt_queued += 1
        self._wake()
        return mid

    def wait_delivered(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.stats.delivered < count:
            time.sleep(0.01)
        return self.stats.delivered >= count

    # --- serial loop --------------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")

    def _serial_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                timer = self.machine.get_timer()
                want_write = bool(self._out)
            timeout = 0.5 if timer is None else min(0.5, max(0.0, timer - self.clock()))
            try:
                ready, _, _ = select.select(
                    [self._wake_r, self._master], [self._master] if want_write else [], [], timeout
                )
            except (OSError, ValueError):
                return
            if self._stop.is_set():
                return
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            if self._master in ready:
                try:
                    data = os.read(self._master, 65536)
                except (BlockingIOError, OSError):
                    data = b""
                if data:
                    with self._lock:
                        self._handle(self.machine.receive_data(data, self.clock()))
            with self._lock:
                timer = self.machine.get_timer()
                if timer is not None and self.clock() >= timer:
                    self._handle(self.machine.handle_timer(self.clock()))
                if self._out:
                    self._flush()

    def _flush(self) -> None:
        try:
            written = os.write(self._master, self._out[:65536])
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._out.clear()
            return
        del self._out[:written]

    def _handle(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, BytesOut):
                if len(self._out) + len(event.data) <= _MAX_PENDING_OUT:
                    self._out += event.data
            elif isinstance(event, IMTSent):
                self._enqueue(event)
            elif isinstance(event, MTDelivered):
                self.stats.mt_delivered += 1
                key = self._mt_ids.pop(event.message_id, None)
                if key is not None:
                    self.mt_status[key] = "delivered"

    # --- webhook delivery ---------------------------------------------------------------------

    def _enqueue(self, event: IMTSent) -> None:
        self.sent.append(event)
        if self.on_mo is not None:
            self.on_mo(event)
        if self.webhook is None:
            self.stats.delivered += 1
            return
        body = build_lingo_mo(
            imei=self.imei,
            payload=event.payload,
            received_at=dt.datetime.fromtimestamp(event.time, dt.UTC),
            topic=event.topic_id,
            message_id=event.message_id,
            delivery_id=uuid.uuid4(),
            thing_id=self.thing_id,
        )
        self._queue.put(body)

    def _post(self, body: bytes) -> bool:
        assert self.webhook is not None
        try:
            reply = httpx.post(
                self.webhook,
                content=body,
                timeout=self.webhook_timeout_s,
                headers={"Content-Type": "application/json"},
            )
        except (httpx.HTTPError, OSError, ValueError):
            return False
        return reply.is_success

    # --- provider API -------------------------------------------------------------------------

    def api_send(self, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """``Data/DoSendImtMessage`` → (HTTP status, JSON answer)."""
        if fields.get("token") != self.api_token:
            return 401, {"error": "invalid token"}
        if fields.get("thing") != self.thing_id:
            return 404, {"error": "unknown thing"}
        try:
            payload = binascii.a2b_base64(fields.get("message", "").encode(), strict_mode=True)
            topic = int(fields.get("topic") or RAW_TOPIC)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            return 400, {"error": "message must be base64 and topic an integer"}
        if not 1 <= len(payload) <= MAX_MESSAGE:
            return 400, {"error": f"message must be 1..{MAX_MESSAGE} bytes"}
        with self._lock:
            try:
                mid = self.queue_mt(payload, topic)
            except ValueError as exc:
                return 400, {"error": str(exc)}
            key = f"mt-{next(self._mt_seq)}"
            self._mt_ids[mid] = key
            self.mt_status[key] = "queued"
        return 200, {"id": key}


def _api_handler(emu: Emulator9704) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            return

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path.rstrip("/").split("/")[-2:] != ["Data", "DoSendImtMessage"]:
                self._reply(404, {"error": "unknown endpoint"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > 2 * MAX_MESSAGE:
                self._reply(413, {"error": "too large"})
                return
            raw = self.rfile.read(length)
            fields = dict(urllib.parse.parse_qsl(url.query))
            try:
                if "json" in (self.headers.get("Content-Type") or ""):
                    doc = json.loads(raw or b"{}")
                    fields.update({k: str(v) for k, v in doc.items()})
                else:
                    fields.update(urllib.parse.parse_qsl(raw.decode()))
            except (ValueError, AttributeError, UnicodeDecodeError):
                self._reply(400, {"error": "unreadable body"})
                return
            self._reply(*emu.api_send(fields))

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            status = emu.mt_status.get(query.get("message", ""))
            if url.path.rstrip("/").split("/")[-2:] != ["Data", "GetMtDeliveryStatus"]:
                self._reply(404, {"error": "unknown endpoint"})
            elif query.get("token") != emu.api_token:
                self._reply(401, {"error": "invalid token"})
            elif status is None:
                self._reply(404, {"error": "unknown message"})
            else:
                self._reply(200, {"id": query["message"], "status": status})

    return Handler
