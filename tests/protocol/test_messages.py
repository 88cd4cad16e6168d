from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import cbor
from protocol.errors import LocalProtocolError, Malformed, RemoteProtocolError
from protocol.lang import Lang
from protocol.messages import (
    Ack,
    Grievance,
    MsgType,
    Position,
    UnknownMessage,
    decode_crew,
    decode_message,
    encode_crew,
    encode_message,
)
from tests.protocol.strategies import crew_contents, downlink_messages, uplink_messages


@given(uplink_messages | downlink_messages)
def test_every_message_round_trips(msg: object) -> None:
    data = encode_message(msg)  # type: ignore[arg-type]
    assert decode_message(data) == msg
    assert encode_message(decode_message(data)) == data  # deterministic


@given(crew_contents)
def test_crew_content_round_trips(content: object) -> None:
    assert decode_crew(encode_crew(content)) == content  # type: ignore[arg-type]


def test_future_fields_are_ignored_and_unknown_types_kept_with_seq() -> None:
    pos = Position(seq=7, time=1_700_000_000, lat=-4.5, lon=55.25, speed_kn=9.6, course_deg=8)
    item = cbor.loads(encode_message(pos), what="t") + ["a future field", 42]
    assert decode_message(cbor.dumps(item)) == pos
    assert decode_message(cbor.dumps([9, 12, "new"])) == UnknownMessage(type=9, seq=12)
    assert decode_message(cbor.dumps([40, "x"])) == UnknownMessage(type=40, seq=None)


@pytest.mark.parametrize(
    "item",
    [
        [],
        [MsgType.CREW, 0, 1, b"x" * 48],  # seq 0 is never used
        [MsgType.CREW, 1, 1, b"short"],  # shorter than the HPKE overhead
        [MsgType.POSITION, 1, 1, 9_000_001, 0, 0, 0],  # latitude beyond the pole
        [MsgType.FRAGMENT, 5, 3, 3, b"x"],  # index ≥ count
        [MsgType.FRAGMENT, 1, 1, 2, b"x"],  # seq below first fragment
        [MsgType.HEARTBEAT, 1, 1, 0, 0, b"1234567"],  # chain of 7 bytes
        [MsgType.ACK, 5, b"\x01", 3],  # bitmap base inside the cumulative range
        [MsgType.CREW, True, 1, b"x" * 48],  # bool is not an int on the wire
        "not an array",
    ],
)
def test_bad_messages_are_malformed(item: object) -> None:
    with pytest.raises(Malformed):
        decode_message(cbor.dumps(item))


def test_encoder_refuses_what_a_receiver_would_refuse() -> None:
    with pytest.raises(LocalProtocolError):
        encode_message(Position(seq=1, time=0, lat=91.0, lon=0.0))
    with pytest.raises(LocalProtocolError):
        encode_crew(Grievance(category=0x17, lang=Lang.EN, text="x" * 2001))


@given(st.binary(max_size=400))
def test_any_bytes_decode_to_a_message_or_typed_error(data: bytes) -> None:
    for decoder in (decode_message, decode_crew):
        try:
            decoder(data)
        except RemoteProtocolError:
            pass


def test_ack_bitmap() -> None:
    ack = Ack.of(10, [12, 15, 300])
    assert ack.covers(10) and ack.covers(12) and ack.covers(15)
    assert not ack.covers(11) and not ack.covers(300)
    assert ack.seqs() == [12, 15]
    later = Ack.of(10, [500, 502], base=500)
    assert later.covers(502) and not later.covers(501) and later.seqs() == [500, 502]
    assert decode_message(encode_message(later)) == later
