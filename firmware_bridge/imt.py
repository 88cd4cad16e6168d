"""A RockBLOCK 9704 (Iridium Messaging Transport over JSPR) as a sans-IO state machine.

Bytes from the host go in (``receive_data(data, now)``); JSPR lines for the host and "an MO
message reached the network" come out as events. ``get_timer()`` / ``handle_timer(now)`` drive
segment time-outs, link latency and MT delivery. :mod:`firmware_bridge.emulator9704` is the I/O
shell; :mod:`firmware_bridge.jspr` is the line codec both sides share.

Behaviour, from what Ground Control's library sends and expects (rock7/RockBLOCK-9704
``src/rockblock_9704.c``: ``setApi``, ``setSim``, ``setState``, ``sendMoFromQueue``, ``rbPoll``):

* Start-up: until ``PUT apiVersion`` selects a version every other request gets ``400``;
  ``PUT simConfig {"interface": …}`` answers ``200 simConfig`` and then, unsolicited,
  ``299 simStatus {card_present, sim_connected, iccid}``; messaging needs ``operationalState``
  ``active`` (``406`` otherwise) and a provisioned topic.
* MO: ``PUT messageOriginate {topic_id, message_length, request_reference}`` (the length counts
  the host's 2-byte CRC) → ``200 messageOriginate {…, message_id, message_response}``; the modem
  then asks for each segment (``299 messageOriginateSegment {topic_id, message_id,
  segment_length, segment_start}``), the host answers ``PUT messageOriginateSegment {…, data}``
  within ``segment_timeout_s``; when all bytes are in, the CRC is checked and the link model
  decides: ``299 messageOriginateStatus {…, final_mo_status}`` — ``mo_ack_received`` (and an
  :class:`IMTSent` event), or after failed attempts past the topic's discard time
  ``message_expired``; ``segment_not_supplied``, ``segment_incorrect``,
  ``user_supplied_crc_error`` for host faults.
* MT (all unsolicited, when active and no MO is mid-transfer): ``299 messageTerminate {topic_id,
  message_id, message_length_max}``, ``299 messageTerminateSegment {…, segment_length,
  segment_start, data}`` per segment (the message's CRC is part of the data), ``299
  messageTerminateStatus {…, final_mt_status: "complete"}``.

Message ids are 0..255 (the library stores them in a ``uint8_t``).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from firmware_bridge.errors import JSPRBadJSON, JSPRError, JSPRLineTooLong
from firmware_bridge.jspr import (
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
    crc16,
    encode_response,
    get_data,
    get_int,
    get_str,
)
from firmware_bridge.link import AlwaysUp, LinkModel
from firmware_bridge.modem import BytesOut

API_VERSIONS = ((1, 5, 0), (1, 6, 0))
SIM_INTERFACES = ("none", "local", "remote", "internal")
STATES = ("inactive", "active", "cal_test", "hw_self_test", "rf_scan", "loopback", "fault")


@dataclass(frozen=True, slots=True, kw_only=True)
class Topic:
    """One provisioned topic (``GET messageProvisioning``)."""

    topic_id: int
    topic_name: str
    priority: str = "Medium"  # Safety-1..3, High, Medium, Low
    discard_time_seconds: int = 600
    max_queue_depth: int = 4

    def as_json(self) -> dict[str, Any]:
        return {
            "topic_id": self.topic_id,
            "topic_name": self.topic_name,
            "priority": self.priority,
            "discard_time_seconds": self.discard_time_seconds,
            "max_queue_depth": self.max_queue_depth,
        }


DEFAULT_TOPICS = (
    Topic(topic_id=RAW_TOPIC, topic_name="RAW", priority="Low"),
    Topic(topic_id=313, topic_name="PURPLE"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class IMTSent:
    """An MO message the network acknowledged (the shell hands it to the provider's webhook)."""

    topic_id: int
    message_id: int
    payload: bytes  # without the CRC
    time: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MTDelivered:
    """An MT message fully written towards the host."""

    topic_id: int
    message_id: int
    payload: bytes


Event = BytesOut | IMTSent | MTDelivered


class _MOPhase(enum.Enum):
    SEGMENTS = "segments"  # asking for and collecting segments
    ON_AIR = "on-air"  # all bytes in, the link is carrying it


@dataclass(slots=True)
class _MO:
    topic: Topic
    message_id: int
    length: int  # includes the CRC
    data: bytearray
    accepted_at: float
    phase: _MOPhase = _MOPhase.SEGMENTS
    next_start: int = 0
    deadline: float | None = None  # segment time-out or end of the current link attempt
    attempt_ok: bool = False


@dataclass(slots=True)
class _MT:
    topic_id: int
    message_id: int
    payload: bytes


@dataclass(slots=True)
class IMTModem:
    """State of one emulated 9704; feed it bytes and timers, act on its events."""

    imei: str
    link: LinkModel = field(default_factory=AlwaysUp)
    topics: tuple[Topic, ...] = DEFAULT_TOPICS
    provisioned: bool = True
    sim_interface: str = "none"  # factory state: the host must select "internal"
    operational_state: str = "inactive"
    iccid: str = "8988169771000012345"
    serial_number: str = "970412"
    hw_version: str = "v1.3"
    board_temp: int = 27
    segment_size: int = MAX_SEGMENT  # MO segments the modem asks for
    mt_segment_size: int = MAX_SEGMENT
    segment_timeout_s: float = 0.3
    #: Seconds on air per byte, added to the link model's latency (the models were made for
    #: ≤ 340-byte SBD messages; a 100 kB IMT message takes about two minutes, ~1.2 ms/byte).
    per_byte_s: float = 0.0
    api_version: tuple[int, int, int] | None = None

    _decoder: LineDecoder = field(default_factory=lambda: LineDecoder(requests=True))
    _mo: deque[_MO] = field(default_factory=deque)
    _mt: deque[_MT] = field(default_factory=deque)
    _mt_at: float | None = None
    _next_id: int = 0
    stats: dict[str, int] = field(
        default_factory=lambda: {"mo_acked": 0, "mo_failed": 0, "mt_delivered": 0, "bad_lines": 0}
    )

    # --- public API ------------------------------------------------------------------------

    def receive_data(self, data: bytes | None, now: float) -> list[Event]:
        """Feed bytes from the host (``None``: the host closed the port)."""
        events: list[Event] = []
        for item in self._decoder.receive_data(data):
            if isinstance(item, Rejected):
                self.stats["bad_lines"] += 1
                events.append(self._refuse_line(item))
            elif isinstance(item, Request):
                events += self._request(item, now)
        if data is None:
            self._decoder = LineDecoder(requests=True)
        events += self._pump(now)
        return events

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called (``None``: nothing pending)."""
        # a due MT waits for the host to make the modem active and for the MO in flight
        idle = self.active and not self._mo
        times = [self._mt_at] if self._mt_at is not None and idle else []
        if self._mo and self._mo[0].deadline is not None:
            times.append(self._mo[0].deadline)
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[Event]:
        events: list[Event] = []
        mo = self._mo[0] if self._mo else None
        if mo is not None and mo.deadline is not None and now >= mo.deadline:
            mo.deadline = None
            if mo.phase is _MOPhase.SEGMENTS:
                events += self._finish_mo("segment_not_supplied", now)
            else:
                events += self._attempt_done(mo, now)
        return events + self._pump(now)

    def queue_mt(self, payload: bytes, now: float, topic_id: int = RAW_TOPIC) -> int:
        """An MT message arrives at the network for this modem; returns its message id.

        Raises:
            ValueError: empty or over 100,000 bytes, or a topic out of range.
        """
        if not 1 <= len(payload) <= MAX_MESSAGE or not MIN_TOPIC <= topic_id <= MAX_TOPIC:
            raise ValueError("an MT message holds 1..100000 bytes on topic 64..65535")
        mt = _MT(topic_id=topic_id, message_id=self._new_id(), payload=payload)
        self._mt.append(mt)
        if self._mt_at is None:
            self._mt_at = now + self.link.session(now, 0).latency_s
        return mt.message_id

    @property
    def active(self) -> bool:
        return (
            self.api_version is not None
            and self.operational_state == "active"
            and self.sim_interface != "none"
        )

    # --- requests ----------------------------------------------------------------------------

    def _say(self, code: int, target: str, body: dict[str, Any] | None = None) -> BytesOut:
        return BytesOut(data=encode_response(Response(code=code, target=target, body=body or {})))

    def _refuse_line(self, item: Rejected) -> BytesOut:
        code = Code.COMMAND_MALFORMED
        if isinstance(item.error, JSPRBadJSON):
            code = Code.BAD_JSON
        elif isinstance(item.error, JSPRLineTooLong):
            code = Code.COMMAND_TOO_LONG
        target = item.line.split(b" ")[1] if item.line.count(b" ") >= 1 else b""
        ok = target.isalnum() and len(target) < 30
        name = target.decode("ascii", "replace") if ok else "error"
        return self._say(code, name, {"explanation": str(item.error)[:120]})

    def _request(self, req: Request, now: float) -> list[Event]:
        handler = _HANDLERS.get((req.method, req.target))
        if handler is None:
            known = any(t == req.target for _, t in _HANDLERS)
            code = Code.UNSUPPORTED_REQUEST_TYPE if known else Code.UNKNOWN_TARGET
            return [self._say(code, req.target)]
        if self.api_version is None and req.target != "apiVersion":
            return [self._say(Code.API_VERSION_NOT_SELECTED, req.target)]
        try:
            return handler(self, req.body, now)
        except JSPRError as exc:
            return [self._say(Code.COMMAND_MALFORMED, req.target, {"explanation": str(exc)[:120]})]

    def _get_api(self, body: dict[str, Any], now: float) -> list[Event]:
        reply: dict[str, Any] = {"supported_versions": [_ver(v) for v in API_VERSIONS]}
        if self.api_version is not None:
            reply["active_version"] = _ver(self.api_version)
        return [self._say(Code.OK, "apiVersion", reply)]

    def _put_api(self, body: dict[str, Any], now: float) -> list[Event]:
        active = body.get("active_version")
        if not isinstance(active, dict):
            return [self._say(Code.COMMAND_MALFORMED, "apiVersion")]
        version = tuple(get_int(active, k, 0, 255) for k in ("major", "minor", "patch"))
        if version not in API_VERSIONS:
            return [self._say(Code.REQUEST_FAILED, "apiVersion")]
        self.api_version = (version[0], version[1], version[2])
        return [self._say(Code.OK, "apiVersion", {"active_version": _ver(self.api_version)})]

    def _get_sim(self, body: dict[str, Any], now: float) -> list[Event]:
        return [self._say(Code.OK, "simConfig", {"interface": self.sim_interface})]

    def _put_sim(self, body: dict[str, Any], now: float) -> list[Event]:
        iface = get_str(body, "interface", 16)
        if iface not in SIM_INTERFACES:
            return [self._say(Code.COMMAND_MALFORMED, "simConfig")]
        self.sim_interface = iface
        return [
            self._say(Code.OK, "simConfig", {"interface": iface}),
            self._say(Code.UNSOLICITED, "simStatus", self._sim_status()),
        ]

    def _sim_status(self) -> dict[str, Any]:
        present = self.sim_interface != "none"
        return {
            "card_present": present,
            "sim_connected": present,
            "iccid": self.iccid if present else "",
        }

    def _get_sim_status(self, body: dict[str, Any], now: float) -> list[Event]:
        return [self._say(Code.OK, "simStatus", self._sim_status())]

    def _get_state(self, body: dict[str, Any], now: float) -> list[Event]:
        return [
            self._say(Code.OK, "operationalState", {"state": self.operational_state, "reason": 0})
        ]

    def _put_state(self, body: dict[str, Any], now: float) -> list[Event]:
        state = get_str(body, "state", 16)
        if state not in STATES:
            return [self._say(Code.COMMAND_MALFORMED, "operationalState")]
        if state == "active" and self.sim_interface == "none":
            return [self._say(Code.SIM_NOT_CONFIGURED, "operationalState")]
        self.operational_state = state
        return [self._say(Code.OK, "operationalState", {"state": state, "reason": 0})]

    def _get_signal(self, body: dict[str, Any], now: float) -> list[Event]:
        bars = max(0, min(5, self.link.signal(now))) if self.active else 0
        return [
            self._say(
                Code.OK,
                "constellationState",
                {
                    "constellation_visible": bars > 0,
                    "signal_bars": bars,
                    "signal_level": -125 + 7 * bars,
                },
            )
        ]

    def _get_hw(self, body: dict[str, Any], now: float) -> list[Event]:
        return [
            self._say(
                Code.OK,
                "hwInfo",
                {
                    "hw_version": self.hw_version,
                    "serial_number": self.serial_number,
                    "imei": self.imei,
                    "board_temp": self.board_temp,
                },
            )
        ]

    def _get_firmware(self, body: dict[str, Any], now: float) -> list[Event]:
        slot = body.get("slot", "primary")
        if slot not in ("primary", "fallback"):
            return [self._say(Code.COMMAND_MALFORMED, "firmware")]
        return [
            self._say(
                Code.OK,
                "firmware",
                {
                    "slot": slot,
                    "validity": True,
                    "hash": "0" * 64,
                    "version": {"major": 1, "minor": 6, "patch": 0, "build_info": "flip-emulator"},
                },
            )
        ]

    def _get_provisioning(self, body: dict[str, Any], now: float) -> list[Event]:
        if not self.provisioned:
            return [self._say(Code.NOT_PROVISIONED, "messageProvisioning")]
        return [
            self._say(
                Code.OK, "messageProvisioning", {"provisioning": [t.as_json() for t in self.topics]}
            )
        ]

    def _put_originate(self, body: dict[str, Any], now: float) -> list[Event]:
        topic_id = get_int(body, "topic_id", MIN_TOPIC, MAX_TOPIC)
        length = get_int(body, "message_length", 3, MAX_MESSAGE + 2)
        reference = get_int(body, "request_reference", 0, 2**31 - 1)
        if not self.active:
            return [self._say(Code.OPERATION_NOT_ALLOWED, "messageOriginate")]
        if not self.provisioned:
            return [self._say(Code.NOT_PROVISIONED, "messageOriginate")]
        reply: dict[str, Any] = {"topic_id": topic_id, "request_reference": reference}
        topic = next((t for t in self.topics if t.topic_id == topic_id), None)
        if topic is None:
            reply["message_response"] = "subscription_invalid"
            return [self._say(Code.OK, "messageOriginate", reply)]
        if sum(1 for m in self._mo if m.topic.topic_id == topic_id) >= topic.max_queue_depth:
            reply["message_response"] = "message_discarded_on_overflow"
            return [self._say(Code.OK, "messageOriginate", reply)]
        mo = _MO(
            topic=topic, message_id=self._new_id(), length=length, data=bytearray(), accepted_at=now
        )
        self._mo.append(mo)
        reply.update(message_id=mo.message_id, message_response="message_accepted")
        return [self._say(Code.OK, "messageOriginate", reply)]

    def _put_segment(self, body: dict[str, Any], now: float) -> list[Event]:
        topic_id = get_int(body, "topic_id", MIN_TOPIC, MAX_TOPIC)
        message_id = get_int(body, "message_id", 0, 255)
        seg_len = get_int(body, "segment_length", 1, MAX_SEGMENT)
        start = get_int(body, "segment_start", 0, MAX_MESSAGE + 2)
        data = get_data(body, seg_len)
        echo = {
            "topic_id": topic_id,
            "message_id": message_id,
            "segment_length": seg_len,
            "segment_start": start,
        }
        mo = self._mo[0] if self._mo else None
        if (
            mo is None
            or mo.phase is not _MOPhase.SEGMENTS
            or mo.message_id != message_id
            or mo.topic.topic_id != topic_id
            or mo.deadline is None
        ):
            return [self._say(Code.OPERATION_NOT_ALLOWED, "messageOriginateSegment", echo)]
        want = min(self.segment_size, mo.length - mo.next_start)
        if start != mo.next_start or seg_len != want:
            out: list[Event] = [self._say(Code.COMMAND_MALFORMED, "messageOriginateSegment", echo)]
            return out + self._finish_mo("segment_incorrect", now)
        mo.data += data
        mo.next_start += seg_len
        mo.deadline = None
        events: list[Event] = [self._say(Code.OK, "messageOriginateSegment", echo)]
        if mo.next_start >= mo.length:
            payload, trailer = bytes(mo.data[:-2]), bytes(mo.data[-2:])
            if crc16(payload).to_bytes(2, "big") != trailer:
                return events + self._finish_mo("user_supplied_crc_error", now)
            mo.phase = _MOPhase.ON_AIR
            self._start_attempt(mo, now)
        return events

    # --- MO progress ---------------------------------------------------------------------------

    def _start_attempt(self, mo: _MO, now: float) -> None:
        outcome = self.link.session(now, mo.length)
        mo.attempt_ok = outcome.mo_status == 0
        mo.deadline = now + max(0.0, outcome.latency_s) + self.per_byte_s * mo.length

    def _attempt_done(self, mo: _MO, now: float) -> list[Event]:
        if mo.attempt_ok:
            payload = bytes(mo.data[:-2])
            sent = IMTSent(
                topic_id=mo.topic.topic_id, message_id=mo.message_id, payload=payload, time=now
            )
            return [*self._finish_mo("mo_ack_received", now), sent]
        if now - mo.accepted_at >= mo.topic.discard_time_seconds:
            return self._finish_mo("message_expired", now)
        self._start_attempt(mo, now)  # the modem retries on its own until the discard time
        return []

    def _finish_mo(self, status: str, now: float) -> list[Event]:
        mo = self._mo.popleft()
        self.stats["mo_acked" if status == "mo_ack_received" else "mo_failed"] += 1
        return [
            self._say(
                Code.UNSOLICITED,
                "messageOriginateStatus",
                {
                    "topic_id": mo.topic.topic_id,
                    "message_id": mo.message_id,
                    "final_mo_status": status,
                },
            )
        ]

    def _pump(self, now: float) -> list[Event]:
        """Ask for the next MO segment, or write a due MT message, when the modem is free."""
        events: list[Event] = []
        if not self.active:
            return events
        mo = self._mo[0] if self._mo else None
        if mo is not None and mo.phase is _MOPhase.SEGMENTS and mo.deadline is None:
            length = min(self.segment_size, mo.length - mo.next_start)
            mo.deadline = now + self.segment_timeout_s
            events.append(
                self._say(
                    Code.UNSOLICITED,
                    "messageOriginateSegment",
                    {
                        "topic_id": mo.topic.topic_id,
                        "message_id": mo.message_id,
                        "segment_length": length,
                        "segment_start": mo.next_start,
                    },
                )
            )
        elif mo is None and self._mt and self._mt_at is not None and now >= self._mt_at:
            if self.link.signal(now) <= 0:  # no sky: the network tries again later
                self._mt_at = now + max(1.0, self.link.session(now, 0).latency_s)
                return events
            events += self._write_mt(self._mt.popleft())
            self._mt_at = now if self._mt else None
        return events

    def _write_mt(self, mt: _MT) -> list[Event]:
        message = append_crc(mt.payload)
        ids = {"topic_id": mt.topic_id, "message_id": mt.message_id}
        events: list[Event] = [
            self._say(
                Code.UNSOLICITED, "messageTerminate", {**ids, "message_length_max": len(message)}
            )
        ]
        for start in range(0, len(message), self.mt_segment_size):
            chunk = message[start : start + self.mt_segment_size]
            events.append(
                self._say(
                    Code.UNSOLICITED,
                    "messageTerminateSegment",
                    {
                        **ids,
                        "segment_length": len(chunk),
                        "segment_start": start,
                        "data": b64(chunk),
                    },
                )
            )
        events.append(
            self._say(
                Code.UNSOLICITED, "messageTerminateStatus", {**ids, "final_mt_status": "complete"}
            )
        )
        self.stats["mt_delivered"] += 1
        events.append(
            MTDelivered(topic_id=mt.topic_id, message_id=mt.message_id, payload=mt.payload)
        )
        return events

    def _new_id(self) -> int:
        self._next_id = (self._next_id + 1) % 256
        return self._next_id


def _ver(v: tuple[int, int, int]) -> dict[str, int]:
    return {"major": v[0], "minor": v[1], "patch": v[2]}


_HANDLERS = {
    (Method.GET, "apiVersion"): IMTModem._get_api,
    (Method.PUT, "apiVersion"): IMTModem._put_api,
    (Method.GET, "simConfig"): IMTModem._get_sim,
    (Method.PUT, "simConfig"): IMTModem._put_sim,
    (Method.GET, "simStatus"): IMTModem._get_sim_status,
    (Method.GET, "operationalState"): IMTModem._get_state,
    (Method.PUT, "operationalState"): IMTModem._put_state,
    (Method.GET, "constellationState"): IMTModem._get_signal,
    (Method.GET, "hwInfo"): IMTModem._get_hw,
    (Method.GET, "firmware"): IMTModem._get_firmware,
    (Method.GET, "messageProvisioning"): IMTModem._get_provisioning,
    (Method.PUT, "messageOriginate"): IMTModem._put_originate,
    (Method.PUT, "messageOriginateSegment"): IMTModem._put_segment,
}
