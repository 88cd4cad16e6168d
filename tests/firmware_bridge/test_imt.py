"""The sans-IO RockBLOCK 9704 model: start-up, MO with host CRC and modem-requested segments,
MT, refusals and time-outs — fed lines and a virtual clock."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.imt import IMTModem, IMTSent, MTDelivered, Topic
from firmware_bridge.jspr import (
    LineDecoder,
    Method,
    Request,
    Response,
    append_crc,
    b64,
    encode_request,
    strip_crc,
)
from firmware_bridge.link import NoService, Scripted
from firmware_bridge.modem import BytesOut

IMEI = "300434060000001"


class Host:
    """Feeds requests to a modem on a virtual clock and parses what comes back."""

    def __init__(self, modem: IMTModem) -> None:
        self.modem = modem
        self.now = 1000.0
        self.decoder = LineDecoder(requests=False)
        self.other: list[object] = []
        self.log: list[Response] = []

    def _collect(self, events: list[object]) -> list[Response]:
        out: list[Response] = []
        for event in events:
            if isinstance(event, BytesOut):
                for item in self.decoder.receive_data(event.data):
                    assert isinstance(item, Response), item
                    out.append(item)
                    self.log.append(item)
            else:
                self.other.append(event)
        return out

    def say(
        self, method: Method, target: str, body: dict[str, object] | None = None
    ) -> list[Response]:
        line = encode_request(Request(method=method, target=target, body=body or {}))
        return self._collect(self.modem.receive_data(line, self.now))

    def raw(self, data: bytes) -> list[Response]:
        return self._collect(self.modem.receive_data(data, self.now))

    def advance(self, seconds: float) -> list[Response]:
        out: list[Response] = []
        end = self.now + seconds
        while (timer := self.modem.get_timer()) is not None and timer <= end:
            self.now = max(self.now, timer)
            out += self._collect(self.modem.handle_timer(self.now))
        self.now = end
        return out

    def begin(self) -> None:
        api = self.say(Method.GET, "apiVersion")[0]
        assert api.ok and "active_version" not in api.body
        choice = api.body["supported_versions"][-1]
        assert self.say(Method.PUT, "apiVersion", {"active_version": choice})[0].ok
        put = self.say(Method.PUT, "simConfig", {"interface": "internal"})
        assert [(r.code, r.target) for r in put] == [(200, "simConfig"), (299, "simStatus")]
        assert put[1].body["card_present"] is True
        assert self.say(Method.PUT, "operationalState", {"state": "active"})[0].ok

    def send(self, payload: bytes, topic: int = 244) -> list[Response]:
        message = append_crc(payload)
        out = self.say(
            Method.PUT,
            "messageOriginate",
            {"topic_id": topic, "message_length": len(message), "request_reference": 1},
        )
        accepted = out[0]
        assert accepted.body["message_response"] == "message_accepted"
        lines = out[1:]
        while True:
            asks = [r for r in lines if r.target == "messageOriginateSegment" and r.unsolicited]
            final = [r for r in lines if r.target == "messageOriginateStatus"]
            if final:
                return final
            if not asks:
                lines = self.advance(1.0)
                continue
            ask = asks[0].body
            start, length = ask["segment_start"], ask["segment_length"]
            lines = self.say(
                Method.PUT,
                "messageOriginateSegment",
                {
                    **{
                        k: ask[k]
                        for k in ("topic_id", "message_id", "segment_length", "segment_start")
                    },
                    "data": b64(message[start : start + length]),
                },
            )


def test_requests_before_api_version_get_400() -> None:
    host = Host(IMTModem(imei=IMEI))
    assert host.say(Method.GET, "hwInfo")[0].code == 400
    assert host.say(Method.GET, "nonsense")[0].code == 404
    assert host.say(Method.PUT, "hwInfo")[0].code == 401


def test_begin_then_identity_signal_provisioning() -> None:
    host = Host(IMTModem(imei=IMEI))
    assert host.say(Method.GET, "constellationState")[0].code == 400
    host.begin()
    hw = host.say(Method.GET, "hwInfo")[0].body
    assert hw["imei"] == IMEI
    sig = host.say(Method.GET, "constellationState")[0].body
    assert sig["signal_bars"] == 5 and sig["constellation_visible"] is True
    topics = host.say(Method.GET, "messageProvisioning")[0].body["provisioning"]
    assert [t["topic_id"] for t in topics] == [244, 313]


def test_active_needs_a_sim_and_messaging_needs_active() -> None:
    host = Host(IMTModem(imei=IMEI))
    host.say(Method.PUT, "apiVersion", {"active_version": {"major": 1, "minor": 6, "patch": 0}})
    assert host.say(Method.PUT, "operationalState", {"state": "active"})[0].code == 410
    assert (
        host.say(
            Method.PUT,
            "messageOriginate",
            {"topic_id": 244, "message_length": 5, "request_reference": 1},
        )[0].code
        == 406
    )


def test_not_provisioned_is_418() -> None:
    host = Host(IMTModem(imei=IMEI, provisioned=False))
    host.begin()
    assert host.say(Method.GET, "messageProvisioning")[0].code == 418


def test_mo_100000_bytes_in_requested_segments() -> None:
    host = Host(IMTModem(imei=IMEI))
    host.begin()
    payload = bytes(i * 31 % 251 for i in range(100_000))
    final = host.send(payload)
    assert final[0].body["final_mo_status"] == "mo_ack_received"
    sent = [e for e in host.other if isinstance(e, IMTSent)]
    assert len(sent) == 1 and sent[0].payload == payload and sent[0].topic_id == 244


def test_mo_unknown_topic_and_overflow() -> None:
    host = Host(
        IMTModem(imei=IMEI, topics=(Topic(topic_id=244, topic_name="RAW", max_queue_depth=1),))
    )
    host.begin()
    body = {"topic_id": 4000, "message_length": 5, "request_reference": 9}
    reply = host.say(Method.PUT, "messageOriginate", body)[0]
    assert reply.body["message_response"] == "subscription_invalid"
    assert reply.body["request_reference"] == 9
    body["topic_id"] = 244
    assert host.say(Method.PUT, "messageOriginate", body)[0].body["message_response"] == (
        "message_accepted"
    )
    assert host.say(Method.PUT, "messageOriginate", body)[0].body["message_response"] == (
        "message_discarded_on_overflow"
    )


def test_segment_not_supplied_in_time() -> None:
    host = Host(IMTModem(imei=IMEI, segment_timeout_s=0.3))
    host.begin()
    host.say(
        Method.PUT,
        "messageOriginate",
        {"topic_id": 244, "message_length": 10, "request_reference": 1},
    )
    final = host.advance(0.31)
    assert final[-1].body["final_mo_status"] == "segment_not_supplied"


def test_wrong_segment_and_bad_crc() -> None:
    host = Host(IMTModem(imei=IMEI))
    host.begin()
    out = host.say(
        Method.PUT,
        "messageOriginate",
        {"topic_id": 244, "message_length": 7, "request_reference": 1},
    )
    mid = out[0].body["message_id"]
    seg = {"topic_id": 244, "message_id": mid, "segment_length": 7, "segment_start": 0}
    out = host.say(Method.PUT, "messageOriginateSegment", {**seg, "data": b64(b"hello\0\0")})
    assert out[0].ok and out[1].body["final_mo_status"] == "user_supplied_crc_error"
    out = host.say(
        Method.PUT,
        "messageOriginate",
        {"topic_id": 244, "message_length": 7, "request_reference": 2},
    )
    mid = out[0].body["message_id"]
    seg = {"topic_id": 244, "message_id": mid, "segment_length": 6, "segment_start": 1}
    out = host.say(Method.PUT, "messageOriginateSegment", {**seg, "data": b64(b"x" * 6)})
    assert out[0].code == 405 and out[1].body["final_mo_status"] == "segment_incorrect"
    # base64 that does not hold segment_length bytes is malformed, the transfer goes on
    out = host.say(
        Method.PUT,
        "messageOriginate",
        {"topic_id": 244, "message_length": 7, "request_reference": 3},
    )
    mid = out[0].body["message_id"]
    out = host.say(
        Method.PUT,
        "messageOriginateSegment",
        {
            "topic_id": 244,
            "message_id": mid,
            "segment_length": 7,
            "segment_start": 0,
            "data": "aGk=",
        },
    )
    assert out[0].code == 405


def test_link_failures_retry_then_expire() -> None:
    host = Host(
        IMTModem(
            imei=IMEI,
            link=Scripted(codes=[32, 32]),
            topics=(Topic(topic_id=244, topic_name="RAW"),),
        )
    )
    host.begin()
    assert host.send(b"retried")[0].body["final_mo_status"] == "mo_ack_received"
    host = Host(
        IMTModem(
            imei=IMEI,
            link=NoService(latency_s=5),
            topics=(Topic(topic_id=244, topic_name="RAW", discard_time_seconds=60),),
        )
    )
    host.begin()
    assert host.say(Method.GET, "constellationState")[0].body["signal_bars"] == 0
    assert host.send(b"never")[0].body["final_mo_status"] == "message_expired"
    assert not [e for e in host.other if isinstance(e, IMTSent)]


def test_mt_segments_carry_the_crc() -> None:
    host = Host(IMTModem(imei=IMEI, mt_segment_size=1083))
    payload = bytes(range(256)) * 20
    host.modem.queue_mt(payload, host.now)
    assert host.advance(1.0) == []  # not delivered before the host has begun
    host.begin()  # the modem writes the waiting MT as soon as it is active
    lines = [r for r in host.log if r.target.startswith("messageTerminate")]
    assert [r.target for r in lines][:2] == ["messageTerminate", "messageTerminateSegment"]
    assert lines[0].body["message_length_max"] == len(payload) + 2
    data = b"".join(
        __import__("base64").b64decode(r.body["data"])
        for r in lines
        if r.target == "messageTerminateSegment"
    )
    assert strip_crc(data) == payload
    assert lines[-1].body["final_mt_status"] == "complete"
    assert max(r.body.get("segment_length", 0) for r in lines) == 1083
    assert [e for e in host.other if isinstance(e, MTDelivered)]


def test_bad_lines_are_refused_and_the_modem_keeps_serving() -> None:
    host = Host(IMTModem(imei=IMEI))
    assert [r.code for r in host.raw(b"GET apiVersion [\rhello\r")] == [407, 405]
    assert host.raw(b"GET " + b"x" * 9000 + b"\r")[0].code == 403
    assert host.say(Method.GET, "apiVersion")[0].ok
    assert host.modem.stats["bad_lines"] == 3


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=8))
def test_any_bytes_get_answers_never_exceptions(chunks: list[bytes]) -> None:
    host = Host(IMTModem(imei=IMEI))
    host.begin()
    for chunk in chunks:
        for resp in host.raw(chunk):
            assert 200 <= resp.code <= 499
        host.advance(0.5)
    host.raw(b"\r")  # end whatever partial line the chunks left
    assert next(r for r in host.say(Method.GET, "hwInfo") if r.target == "hwInfo").ok


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "topic_id",
                "message_id",
                "segment_length",
                "segment_start",
                "data",
                "message_length",
                "request_reference",
            ]
        ),
        st.none() | st.booleans() | st.integers(-5, 200_000) | st.text(max_size=8),
        max_size=7,
    ),
    st.sampled_from(["messageOriginate", "messageOriginateSegment"]),
)
def test_any_fields_get_a_typed_answer(body: dict[str, object], target: str) -> None:
    host = Host(IMTModem(imei=IMEI))
    host.begin()
    out = host.say(Method.PUT, target, body)
    assert out and all(200 <= r.code <= 499 for r in out)
    json.dumps([r.body for r in out])


def test_time_on_air_grows_with_the_message() -> None:
    host = Host(IMTModem(imei=IMEI, per_byte_s=0.0012))
    host.begin()
    start = host.now
    assert host.send(bytes(100_000))[0].body["final_mo_status"] == "mo_ack_received"
    assert 120 <= host.now - start <= 125  # about two minutes for 100 kB (FIELD-FACTS §10)
