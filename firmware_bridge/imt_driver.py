"""Host-side driver for a RockBLOCK 9704 (IMT over JSPR) on pyserial, with deadlines.

The port is opened with :func:`serial.serial_for_url` at 230,400 8N1, so a device path, a pty
from ``flip bridge emulate --model 9704`` or ``socket://`` all work. Lines are parsed by
:class:`firmware_bridge.jspr.LineDecoder`; MT messages are reassembled by the sans-IO
:class:`MTAssembler`. Unlike Ground Control's library this driver

* gives every wait a deadline (:class:`~firmware_bridge.errors.ResponseTimeout`), including the
  MT receive, which in the library blocks forever when the final MT status never comes;
* checks the MT message's CRC-16/XMODEM (the library only cuts it off);
* refuses a modem's segment request outside the message instead of reading past it;
* appends the CRC whatever its value (the library drops a message whose CRC happens to be 0).

A refusal (4xx) raises :class:`~firmware_bridge.errors.JSPRRefused` with its ``code``; a final
MO status other than ``mo_ack_received`` raises :class:`~firmware_bridge.errors.TransferFailed`
with its ``status``. Blocking and thread-safe (one lock per call), like
:class:`firmware_bridge.driver.Modem`.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import serial

from firmware_bridge.errors import (
    CRCMismatch,
    GarbledResponse,
    JSPRError,
    JSPRRefused,
    ResponseTimeout,
    TransferFailed,
)
from firmware_bridge.jspr import (
    BAUDRATE,
    MAX_MESSAGE,
    MAX_SEGMENT,
    MAX_TOPIC,
    MIN_TOPIC,
    RAW_TOPIC,
    Code,
    LineDecoder,
    Method,
    Rejected,
    Request,
    Response,
    append_crc,
    b64,
    encode_request,
    get_bool,
    get_data,
    get_int,
    get_str,
    strip_crc,
)
from firmware_bridge.serialport import SerialLink

_SIM_STATUS_WAIT_S = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicInfo:
    topic_id: int
    name: str
    priority: str
    discard_time_s: int
    max_queue_depth: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ModemInfo:
    """What :meth:`IMTDriver.begin` learnt."""

    api_version: tuple[int, int, int]
    imei: str
    serial_number: str
    hw_version: str
    iccid: str
    topics: tuple[TopicInfo, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MTMessage:
    """A complete, CRC-checked MT message."""

    topic_id: int
    message_id: int
    payload: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class MOResult:
    topic_id: int
    message_id: int
    bytes: int
    segments: int


class MTAssembler:
    """Reassembles unsolicited ``messageTerminate*`` lines into :class:`MTMessage` (sans-IO).

    ``handle(response)`` returns a finished message, or ``None``; it raises
    :class:`~firmware_bridge.errors.JSPRError` for a line with bad fields, or
    :class:`~firmware_bridge.errors.IMTError` when a message ends badly (bad CRC, a failure
    status, a segment outside the announced length) — the message is then forgotten.
    """

    def __init__(self) -> None:
        self._parts: dict[int, tuple[int, bytearray, set[int]]] = {}

    def handle(self, response: Response) -> MTMessage | None:
        body, target = response.body, response.target
        mid = get_int(body, "message_id", 0, 255)
        if target == "messageTerminate":
            topic = get_int(body, "topic_id", MIN_TOPIC, MAX_TOPIC)
            size = get_int(body, "message_length_max", 3, MAX_MESSAGE + 2)
            self._parts[mid] = (topic, bytearray(size), set())
            return None
        if mid not in self._parts:
            return None  # a message whose start we never saw (we opened the port mid-way)
        topic, buf, seen = self._parts[mid]
        if target == "messageTerminateSegment":
            length = get_int(body, "segment_length", 1, MAX_SEGMENT)
            start = get_int(body, "segment_start", 0, MAX_MESSAGE + 2)
            data = get_data(body, length)
            if start + length > len(buf):
                del self._parts[mid]
                raise TransferFailed(
                    f"MT {mid}: segment past the announced length", status="segment_out_of_range"
                )
            buf[start : start + length] = data
            seen.update(range(start, start + length))
            return None
        status = get_str(body, "final_mt_status", 40)
        del self._parts[mid]
        if status != "complete":
            raise TransferFailed(f"MT {mid} ended with {status}", status=status)
        end = max(seen) + 1 if seen else 0
        if len(seen) != end:
            raise TransferFailed(f"MT {mid}: segments missing", status="segments_missing")
        payload = strip_crc(bytes(buf[:end]))  # raises CRCMismatch
        return MTMessage(topic_id=topic, message_id=mid, payload=payload)


_MT_TARGETS = ("messageTerminate", "messageTerminateSegment", "messageTerminateStatus")


class IMTDriver(SerialLink):
    """Blocking driver for one RockBLOCK 9704 on one serial port."""

    baudrate = BAUDRATE

    def __init__(self, port: serial.Serial, *, timeout_s: float = 2.0) -> None:
        super().__init__(port)
        self.timeout_s = timeout_s
        self._decoder = LineDecoder(requests=False)
        self._lines: deque[Response] = deque()
        self._mt = MTAssembler()
        self.received: deque[MTMessage] = deque()
        self.unsolicited: deque[Response] = deque(maxlen=256)
        self.errors: deque[Exception] = deque(maxlen=64)

    # --- lines ---------------------------------------------------------------------------------

    def _write(self, request: Request) -> None:
        self._io(self._port.write, encode_request(request))
        self._io(self._port.flush)

    def _next(self, deadline: float, what: str, *, until_mt: bool = False) -> Response | None:
        """The next response line, reading until ``deadline`` (MT lines are absorbed here);
        with ``until_mt``, ``None`` as soon as an MT message is complete."""
        while True:
            while self._lines:
                line = self._lines.popleft()
                if line.unsolicited and line.target in _MT_TARGETS:
                    self._absorb_mt(line)
                    if until_mt and self.received:
                        return None
                    continue
                return line
            chunk = self._io(self._port.read, max(1, self._io(lambda: self._port.in_waiting)))
            for item in self._decoder.receive_data(chunk) if chunk else []:
                if isinstance(item, Rejected):
                    self.errors.append(item.error)  # garbage between lines: skip it
                elif isinstance(item, Response):
                    self._lines.append(item)
            if not self._lines and time.monotonic() >= deadline:
                raise ResponseTimeout(f"no answer from the 9704 to {what}")

    def _line(self, deadline: float, what: str) -> Response:
        line = self._next(deadline, what)
        assert line is not None  # only until_mt=True returns None
        return line

    def _absorb_mt(self, line: Response) -> None:
        try:
            message = self._mt.handle(line)
        except (JSPRError, TransferFailed, CRCMismatch) as exc:
            self.errors.append(exc)
            return
        if message is not None:
            self.received.append(message)

    def request(
        self,
        method: Method,
        target: str,
        body: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> Response:
        """Send one request and return its ``200`` answer; unsolicited lines are kept.

        Raises:
            JSPRRefused: the modem answered 4xx (``code`` set).
            ResponseTimeout: no answer before the deadline.
        """
        with self._lock:
            self._write(Request(method=method, target=target, body=body or {}))
            deadline = time.monotonic() + (timeout_s or self.timeout_s)
            while True:
                line = self._line(deadline, f"{method.value} {target}")
                if line.target != target or line.unsolicited:
                    self.unsolicited.append(line)
                    continue
                if not line.ok:
                    raise JSPRRefused(
                        f"{method.value} {target}: modem answered {line.code}",
                        command=target,
                        code=line.code,
                    )
                return line

    def _wait_unsolicited(self, target: str, timeout_s: float) -> Response:
        deadline = time.monotonic() + timeout_s
        while True:
            for line in list(self.unsolicited):
                if line.target == target:
                    self.unsolicited.remove(line)
                    return line
            line = self._line(deadline, f"unsolicited {target}")
            if line.unsolicited and line.target == target:
                return line
            self.unsolicited.append(line)

    # --- start-up and queries ----------------------------------------------------------------

    def begin(self) -> ModemInfo:
        """Select an API version, the internal SIM and the active state; read identity/topics.

        Raises:
            JSPRRefused, ResponseTimeout, GarbledResponse (a required field missing).
        """
        with self._lock:
            self._io(self._port.reset_input_buffer)
            try:
                api = self.request(Method.GET, "apiVersion").body
                if not isinstance(api.get("active_version"), dict):
                    versions = api.get("supported_versions")
                    if not isinstance(versions, list) or not versions:
                        raise GarbledResponse("apiVersion lists no supported version")
                    choice = max(
                        versions, key=lambda v: tuple(v.values()) if isinstance(v, dict) else ()
                    )
                    api = self.request(Method.PUT, "apiVersion", {"active_version": choice}).body
                active = api["active_version"]
                version = tuple(get_int(active, k, 0, 255) for k in ("major", "minor", "patch"))
                if self.request(Method.GET, "simConfig").body.get("interface") != "internal":
                    self.request(Method.PUT, "simConfig", {"interface": "internal"})
                    sim = self._wait_unsolicited("simStatus", _SIM_STATUS_WAIT_S).body
                else:
                    sim = self.request(Method.GET, "simStatus").body
                state = get_str(self.request(Method.GET, "operationalState").body, "state", 32)
                if state != "active":
                    if state != "inactive":
                        self.request(Method.PUT, "operationalState", {"state": "inactive"})
                    self.request(Method.PUT, "operationalState", {"state": "active"})
                hw = self.request(Method.GET, "hwInfo").body
                topics = self.topics()
                return ModemInfo(
                    api_version=(version[0], version[1], version[2]),
                    imei=get_str(hw, "imei", 16),
                    serial_number=get_str(hw, "serial_number", 16),
                    hw_version=get_str(hw, "hw_version", 16),
                    iccid=get_str(sim, "iccid", 22) if get_bool(sim, "card_present") else "",
                    topics=topics,
                )
            except (JSPRError, KeyError) as exc:
                raise GarbledResponse(f"unusable start-up answer: {exc}") from exc

    def topics(self) -> tuple[TopicInfo, ...]:
        """The provisioned topics (``JSPRRefused`` code 418 when not provisioned)."""
        body = self.request(Method.GET, "messageProvisioning").body
        items = body.get("provisioning")
        if not isinstance(items, list):
            raise GarbledResponse("messageProvisioning without a provisioning list")
        out = []
        for item in items:
            if not isinstance(item, dict):
                raise GarbledResponse("a provisioning entry is not an object")
            out.append(
                TopicInfo(
                    topic_id=get_int(item, "topic_id", MIN_TOPIC, MAX_TOPIC),
                    name=get_str(item, "topic_name", 64),
                    priority=get_str(item, "priority", 16),
                    discard_time_s=get_int(item, "discard_time_seconds", 0, 2**31),
                    max_queue_depth=get_int(item, "max_queue_depth", 0, 255),
                )
            )
        return tuple(out)

    def signal(self) -> int:
        """Signal bars 0..5 (``GET constellationState``)."""
        try:
            return get_int(self.request(Method.GET, "constellationState").body, "signal_bars", 0, 5)
        except JSPRError as exc:
            raise GarbledResponse(f"constellationState: {exc}") from exc

    # --- messages --------------------------------------------------------------------------------

    def send(
        self,
        payload: bytes,
        *,
        topic: int = RAW_TOPIC,
        timeout_s: float = 180.0,
        reference: int = 1,
    ) -> MOResult:
        """Send one MO message (1..100,000 bytes): CRC appended, segments as the modem asks.

        Raises:
            LocalJSPRError: payload size out of range.
            TransferFailed: not accepted (``status`` = message_response) or a final MO status
                other than ``mo_ack_received``.
            ResponseTimeout: no final status within ``timeout_s``.
        """
        message = append_crc(payload)
        with self._lock:
            try:
                body = self.request(
                    Method.PUT,
                    "messageOriginate",
                    {
                        "topic_id": topic,
                        "message_length": len(message),
                        "request_reference": reference,
                    },
                ).body
                verdict = get_str(body, "message_response", 64)
                if verdict != "message_accepted":
                    raise TransferFailed(
                        f"modem did not accept the message: {verdict}", status=verdict
                    )
                mid = get_int(body, "message_id", 0, 255)
            except JSPRError as exc:
                raise GarbledResponse(f"messageOriginate: {exc}") from exc
            deadline = time.monotonic() + timeout_s
            sent = 0
            while True:
                line = self._line(deadline, f"MO {mid} ({len(message)} bytes)")
                if line.target == "messageOriginateSegment" and line.unsolicited:
                    sent += self._supply(line, mid, topic, message)
                elif line.target == "messageOriginateStatus" and line.unsolicited:
                    if line.body.get("message_id") != mid:
                        self.unsolicited.append(line)
                        continue
                    status = str(line.body.get("final_mo_status"))
                    if status != "mo_ack_received":
                        raise TransferFailed(f"MO {mid} ended with {status}", status=status)
                    return MOResult(
                        topic_id=topic, message_id=mid, bytes=len(payload), segments=sent
                    )
                elif line.target != "messageOriginateSegment":
                    self.unsolicited.append(line)

    def _supply(self, line: Response, mid: int, topic: int, message: bytes) -> int:
        try:
            if get_int(line.body, "message_id", 0, 255) != mid:
                return 0
            length = get_int(line.body, "segment_length", 1, MAX_SEGMENT)
            start = get_int(line.body, "segment_start", 0, len(message) - 1)
        except JSPRError as exc:
            self.errors.append(exc)
            return 0
        if start + length > len(message):
            self.errors.append(GarbledResponse(f"segment request {start}+{length} past the end"))
            return 0  # the modem's time-out then ends the message: segment_not_supplied
        self._write(
            Request(
                method=Method.PUT,
                target="messageOriginateSegment",
                body={
                    "topic_id": topic,
                    "message_id": mid,
                    "segment_length": length,
                    "segment_start": start,
                    "data": b64(message[start : start + length]),
                },
            )
        )
        return 1

    def receive(self, timeout_s: float = 0.0) -> MTMessage | None:
        """The next complete MT message, waiting up to ``timeout_s``; ``None`` if none came."""
        with self._lock:
            deadline = time.monotonic() + timeout_s
            while not self.received:
                try:
                    line = self._next(deadline, "an MT message", until_mt=True)
                except ResponseTimeout:
                    break
                if line is not None:
                    self.unsolicited.append(line)
            return self.received.popleft() if self.received else None


def refused_code(exc: JSPRRefused) -> Code | int:
    """The refusal as a :class:`~firmware_bridge.jspr.Code` when known."""
    try:
        return Code(exc.code or 0)
    except ValueError:
        return exc.code or 0
