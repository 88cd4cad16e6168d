from __future__ import annotations

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import cbor, frame, keys
from protocol.errors import BadSignature, Malformed, Oversize, RemoteProtocolError, UnknownVersion
from protocol.messages import Heartbeat, encode_message
from tests.helpers import det_rng

KEY = keys.new_signing_key(det_rng("frame"))
KID = keys.key_id(KEY.public_key())


def _frame(n_msgs: int = 2) -> bytes:
    msgs = [
        encode_message(
            Heartbeat(seq=i + 1, time=1_750_000_000, queue_depth=3, last_seq=i, chain=bytes(8))
        )
        for i in range(n_msgs)
    ]
    return frame.sign(frame.uplink_payload(msgs), KEY, KID)


def test_sign_parse_verify_round_trip_and_exact_size() -> None:
    data = _frame()
    sign1 = frame.parse(data, max_size=frame.UPLINK_MAX)
    frame.verify(sign1, KEY.public_key())
    assert sign1.kid == KID
    assert len(data) == frame.frame_size(len(sign1.payload))
    msgs = frame.parse_uplink(sign1.payload)
    assert [m.seq for m, _ in msgs] == [1, 2]


def test_conformant_cose_library_verifies_with_tag_18_put_back() -> None:
    from pycose.keys.curves import Ed25519
    from pycose.keys.okp import OKPKey
    from pycose.messages import Sign1Message

    data = _frame()
    tagged = cbor2.dumps(cbor2.CBORTag(18, cbor2.loads(data)))
    # pycose's decode() expects tag contents as list and dict; cbor2 ≥ 6 hands it a tuple and
    # a frozendict, so take the tag off with cbor2 and give pycose the COSE structure itself.
    tag = cbor2.loads(tagged)
    assert tag.tag == 18
    protected, unprotected, payload, signature = tag.value
    msg = Sign1Message.from_cose_obj([protected, dict(unprotected), payload, signature], True)
    raw = keys.raw_public(KEY.public_key())
    msg.key = OKPKey(crv=Ed25519, x=raw)
    assert msg.verify_signature()
    # …and we accept the tagged form as well.
    frame.verify(frame.parse(tagged, max_size=400), KEY.public_key())


def test_every_bit_flip_is_rejected() -> None:
    data = _frame(1)
    for i in range(len(data) * 8):
        bad = bytearray(data)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(RemoteProtocolError):
            sign1 = frame.parse(bytes(bad), max_size=frame.UPLINK_MAX)
            frame.verify(sign1, KEY.public_key())
            if sign1.kid != KID:
                raise BadSignature("kid changed")


def test_every_truncation_is_a_typed_error() -> None:
    data = _frame()
    for n in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            frame.parse(data[:n], max_size=frame.UPLINK_MAX)


def test_other_key_oversize_and_versions() -> None:
    data = _frame()
    other = keys.new_signing_key(det_rng("other"))
    with pytest.raises(BadSignature):
        frame.verify(frame.parse(data, max_size=400), other.public_key())
    with pytest.raises(Oversize):
        frame.parse(data + b"\0" * 400, max_size=frame.UPLINK_MAX)
    future = frame.sign(cbor.dumps([2, []]), KEY, KID)
    with pytest.raises(UnknownVersion):
        frame.parse_uplink(frame.parse(future, max_size=400).payload)


def test_alg_downgrade_and_extra_headers_refused() -> None:
    data = cbor2.loads(_frame())
    for protected, unprotected in [
        (cbor2.dumps({1: -7}), {4: KID}),  # ES256 instead of EdDSA
        (b"", {4: KID, 1: -8}),  # alg moved out of the protected header
        (cbor2.dumps({1: -8}), {4: KID, 33: b"x5chain"}),
    ]:
        bad = cbor2.dumps([protected, unprotected, data[2], data[3]])
        with pytest.raises(Malformed):
            frame.parse(bad, max_size=400)


def test_nested_cbor_bomb_is_refused_cheaply() -> None:
    bomb = b"\x81" * 300 + b"\x00"
    with pytest.raises(Malformed):
        frame.parse(bomb, max_size=400)


@settings(max_examples=300)
@given(st.binary(max_size=360))
def test_any_bytes_parse_to_a_frame_or_typed_error(data: bytes) -> None:
    try:
        sign1 = frame.parse(data, max_size=frame.UPLINK_MAX)
        frame.parse_uplink(sign1.payload)
    except RemoteProtocolError:
        pass
