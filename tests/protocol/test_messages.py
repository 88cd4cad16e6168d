from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import cbor, keys
from protocol.crew import Grievance, decode_crew, encode_crew
from protocol.downlinks import Ack
from protocol.errors import LocalProtocolError, Malformed, RemoteProtocolError
from protocol.lang import Lang
from protocol.messages import (
    Heartbeat,
    LossReason,
    LostRange,
    MsgType,
    Position,
    UnknownMessage,
    decode_message,
    encode_message,
)
from protocol.vessel import VesselSession
from tests.helpers import det_rng, shore_keys
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


# --- heartbeat element 6: seqs the vessel declares it will never send -----------------------

HB = Heartbeat(seq=40, time=1_763_640_000, queue_depth=2, last_seq=39, chain=bytes(range(8)))


def test_heartbeat_without_lost_seqs_encodes_as_before() -> None:
    legacy = cbor.dumps([MsgType.HEARTBEAT, 40, 1_763_640_000, 2, 39, bytes(range(8))])
    assert encode_message(HB) == legacy
    assert decode_message(legacy) == HB


def test_heartbeat_lost_ranges_round_trip_and_old_receivers_see_the_same_heartbeat() -> None:
    lost = (
        LostRange(first=5, last=7, reason=LossReason.EVICTED),
        LostRange(first=8, last=8, reason=LossReason.DAMAGED),
        LostRange(first=20, last=39, reason=LossReason.SKIPPED),
    )
    hb = replace(HB, lost_count=30, lost=lost)
    data = encode_message(hb)
    assert decode_message(data) == hb
    item = cbor.loads(data, what="t")
    assert item[6] == [30, [[5, 7, 1], [8, 8, 2], [20, 39, 3]]]
    # An old receiver reads six elements and ignores the rest: the same heartbeat as before.
    assert decode_message(cbor.dumps(item[:6])) == HB
    assert decode_message(cbor.dumps([*item, "a future field"])) == hb


@pytest.mark.parametrize(
    "element",
    [
        None,
        [],
        [3],
        [3, [[5, 7, 1]], "extra"],
        [0, []],  # an empty declaration is left out, never sent
        [0, [[5, 5, 1]]],
        [2, [[5, 7, 1]]],  # count below the seqs listed
        [True, [[5, 5, 1]]],
        [3, [[7, 5, 1]]],  # first > last
        [3, [[0, 2, 1]]],  # seq 0 is never used
        [3, [[38, 40, 1]]],  # reaches the heartbeat's own seq
        [9, [[41, 49, 1]]],  # above it
        [9, [[5, 9, 1], [9, 12, 1]]],  # overlapping
        [9, [[9, 12, 1], [5, 7, 1]]],  # out of order
        [3, [[5, 7, 0]]],  # reason 0
        [3, [[5, 7, 256]]],
        [3, [[5, 7]]],
        [3, [[5, 7, 1, 0]]],
        [3, [[5, 7, -1]]],
        [3, [[5.0, 7, 1]]],
        [3, [[b"\x05", 7, 1]]],
        [3, {"a": 1}],
        [9, [[i, i, 1] for i in range(1, 10)]],  # nine ranges
        [2**32, [[5, 7, 1]]],
    ],
)
def test_malformed_lost_seqs_are_refused(element: object) -> None:
    item = [MsgType.HEARTBEAT, 40, 1_763_640_000, 2, 39, bytes(range(8)), element]
    with pytest.raises(Malformed):
        decode_message(cbor.dumps(item))


@given(
    element=st.recursive(
        st.none() | st.booleans() | st.integers(-3, 2**33) | st.binary(max_size=3),
        lambda inner: st.lists(inner, max_size=10),
        max_leaves=40,
    )
)
def test_any_element_6_gives_a_heartbeat_or_malformed(element: object) -> None:
    item = [MsgType.HEARTBEAT, 40, 1_763_640_000, 2, 39, bytes(range(8)), element]
    data = cbor.dumps(item)
    try:
        msg = decode_message(data)
    except Malformed:
        return
    assert isinstance(msg, Heartbeat) and msg.lost_count >= sum(r.size for r in msg.lost)
    assert all(1 <= r.first <= r.last < msg.seq for r in msg.lost)
    assert encode_message(msg) == data


def test_encoder_and_session_refuse_lost_seqs_a_receiver_would_refuse() -> None:
    with pytest.raises(LocalProtocolError):
        encode_message(replace(HB, lost=(LostRange(first=41, last=41, reason=1),), lost_count=1))
    pair_session = _session()
    nine = [LostRange(first=2 * i + 1, last=2 * i + 1, reason=1) for i in range(9)]
    pair_session.next_seq = 100
    with pytest.raises(LocalProtocolError):
        pair_session.queue_heartbeat(1, lost=nine)
    assert pair_session.next_seq == 100  # no seq used by a refused heartbeat
    item = pair_session.queue_heartbeat(1, lost=nine[:8], lost_count=50)
    hb = decode_message(item.encoded)
    assert isinstance(hb, Heartbeat) and hb.seq == 100 and hb.lost_count == 50
    assert hb.lost == tuple(nine[:8])


def _session() -> VesselSession:
    shore = shore_keys()
    return VesselSession(
        sign_key=keys.new_signing_key(det_rng("lost seqs")),
        shore_sign_pub=shore.sign.public_key(),
        shore_seal_pub=shore.seal.public_key(),
    )
