"""JSPR line codec: exact vectors, typed errors, and the fuzz invariant (any bytes, whole or
byte by byte → the same values or typed rejections)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.errors import (
    CRCMismatch,
    JSPRBadField,
    JSPRBadJSON,
    JSPRError,
    JSPRLineTooLong,
    JSPRMalformed,
    JSPRTruncated,
    LocalJSPRError,
)
from firmware_bridge.jspr import (
    LineDecoder,
    Method,
    Rejected,
    Request,
    Response,
    append_crc,
    crc16,
    encode_request,
    encode_response,
    get_data,
    get_int,
    parse_request,
    parse_response,
    segments,
    strip_crc,
)


def test_request_vectors_match_the_library() -> None:
    # the exact lines Ground Control's library writes (src/jspr_command.c)
    assert parse_request(b"GET apiVersion {}") == Request(method=Method.GET, target="apiVersion")
    req = parse_request(
        b'PUT messageOriginate {"topic_id":244, "message_length":12, "request_reference":1}'
    )
    assert req.body == {"topic_id": 244, "message_length": 12, "request_reference": 1}
    assert encode_request(Request(method=Method.GET, target="hwInfo")) == b"GET hwInfo {}\r"


def test_response_vectors() -> None:
    line = b'200 constellationState {"constellation_visible":true,"signal_bars":5}'
    resp = parse_response(line)
    assert resp.ok and resp.target == "constellationState" and resp.body["signal_bars"] == 5
    assert encode_response(resp) == line + b"\r"
    # a leading LF (CR LF endings) or XON is skipped, as the library does
    assert parse_response(b"\n\x11299 simStatus {}").unsolicited


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"", JSPRMalformed),
        (b"GET apiVersion", JSPRMalformed),
        (b"POST apiVersion {}", JSPRMalformed),
        (b"GET api-version {}", JSPRMalformed),
        (b"GET apiVersion [1]", JSPRBadJSON),
        (b"GET apiVersion {", JSPRBadJSON),
        (b'GET apiVersion {"a": NaN}', JSPRBadJSON),
        (b"GET apiVersion {\xff}", JSPRBadJSON),
        (b"GET apiVersion " + b"[" * 5000, JSPRBadJSON),
    ],
)
def test_bad_requests_are_typed(line: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_request(line)


@pytest.mark.parametrize("line", [b"20 x {}", b"2000 x {}", b"OK! x {}", b"200 {}"])
def test_bad_responses_are_typed(line: bytes) -> None:
    with pytest.raises(JSPRMalformed):
        parse_response(line)


def test_decoder_splits_lines_and_survives_garbage() -> None:
    dec = LineDecoder(requests=False)
    out = dec.receive_data(b'200 a {}\r\ngarbage\r299 b {"x":1}\r')
    assert [type(o) for o in out] == [Response, Rejected, Response]
    assert out[2] == Response(code=299, target="b", body={"x": 1})
    assert dec.receive_data(b"200 c {") == []
    tail = dec.receive_data(None)
    assert isinstance(tail[0], Rejected) and isinstance(tail[0].error, JSPRTruncated)
    assert dec.receive_data(b"200 d {}\r") == []  # nothing after EOF


def test_decoder_line_limit() -> None:
    dec = LineDecoder(requests=True, max_line=16)
    out = dec.receive_data(b"GET " + b"x" * 40 + b"\rGET a {}\r")
    assert isinstance(out[0], Rejected) and isinstance(out[0].error, JSPRLineTooLong)
    assert out[1] == Request(method=Method.GET, target="a")


def test_crc16_xmodem_check_value() -> None:
    assert crc16(b"123456789") == 0x31C3  # the CRC-16/XMODEM catalogue check value
    message = append_crc(b"hello")
    assert message[-2:] == crc16(b"hello").to_bytes(2, "big")
    assert strip_crc(message) == b"hello"
    with pytest.raises(CRCMismatch):
        strip_crc(b"hello\x00\x00")
    with pytest.raises(CRCMismatch):
        strip_crc(b"\x00\x00")
    with pytest.raises(LocalJSPRError):
        append_crc(b"")
    with pytest.raises(LocalJSPRError):
        append_crc(bytes(100_001))


def test_fields() -> None:
    assert get_int({"a": 3}, "a", 0, 5) == 3
    for body in ({}, {"a": True}, {"a": 6}, {"a": 1.0}):
        with pytest.raises(JSPRBadField):
            get_int(body, "a", 0, 5)
    assert get_data({"data": "aGk="}, 2) == b"hi"
    for body in ({"data": "aGk"}, {"data": "aGk=="}, {"data": "aGk="}):
        with pytest.raises(JSPRBadField):
            get_data(body, 3)
    assert segments(3000) == [(0, 1446), (1446, 1446), (2892, 108)]


def test_encode_refuses_what_jspr_cannot_carry() -> None:
    with pytest.raises(LocalJSPRError):
        encode_request(Request(method=Method.GET, target="bad target"))
    with pytest.raises(LocalJSPRError):
        encode_response(Response(code=200, target="x", body={"v": float("nan")}))
    with pytest.raises(LocalJSPRError):
        encode_response(Response(code=42, target="x"))


def _feed(dec: LineDecoder, chunks: list[bytes]) -> list[object]:
    out: list[object] = []
    for chunk in chunks:
        out += dec.receive_data(chunk)
    return out + dec.receive_data(None)


def _key(item: object) -> object:
    if isinstance(item, Rejected):
        return (type(item.error), item.line)
    return item


@given(st.binary(max_size=600), st.booleans())
def test_any_bytes_whole_or_byte_by_byte(data: bytes, requests: bool) -> None:
    whole = _feed(LineDecoder(requests=requests, max_line=200), [data])
    single = _feed(
        LineDecoder(requests=requests, max_line=200), [data[i : i + 1] for i in range(len(data))]
    )
    assert [_key(i) for i in whole] == [_key(i) for i in single]
    for item in whole:
        assert isinstance(item, Request | Response | Rejected)
        if isinstance(item, Rejected):
            assert isinstance(item.error, JSPRError)


@given(st.binary(max_size=300))
def test_parsers_raise_only_typed_errors(line: bytes) -> None:
    for parse in (parse_request, parse_response):
        try:
            parse(line)
        except JSPRError:
            pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@given(
    st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,28}", fullmatch=True),
    st.dictionaries(st.text(max_size=10), json_values, max_size=4),
    st.sampled_from([200, 299, 404, 418]),
)
def test_round_trip(target: str, body: dict[str, object], code: int) -> None:
    resp = Response(code=code, target=target, body=body)
    assert parse_response(encode_response(resp)[:-1]) == resp
    req = Request(method=Method.PUT, target=target, body=body)
    assert parse_request(encode_request(req)[:-1]) == req
