"""Shore messages sealed to a grievance's reply key (protocol.conversation), the reply crew kind
and the delivered report: round trips, fitting the MT limit, typed refusals."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import cbor, conversation, frame, keys
from protocol.crew import Grievance, Reply, decode_crew, encode_crew
from protocol.downlinks import ShoreMessage
from protocol.errors import LocalProtocolError, Malformed, RemoteProtocolError, SealBroken
from protocol.lang import Lang
from protocol.limits import MAX_DELIVERED, MAX_SHORE_PARTS, U32
from protocol.messages import Delivered, decode_message, encode_message
from protocol.shore import pack_downlink
from tests.protocol.strategies import crew_text

KEY = X25519PrivateKey.from_private_bytes(bytes(range(32)))
PUB = keys.raw_public(KEY.public_key())
KID = b"\x01\x02\x03\x04"

seqs = st.integers(1, U32)
langs = st.sampled_from(list(Lang))


@settings(max_examples=60, deadline=None)
@given(text=crew_text(600).filter(bool), lang=langs, ref=seqs, msg_id=seqs)
def test_sealed_text_round_trips_through_mt_frames(text: str, lang: Lang, ref: int, msg_id: int):
    question = conversation.ShoreText(lang=lang, text=text)
    sealed = conversation.seal_text(question, PUB, to_kid=KID, ref_seq=ref, msg_id=msg_id)
    parts = conversation.split(sealed, ref_seq=ref, msg_id=msg_id)
    for part in parts:  # every part fits one MT frame alone, worst-case header
        size = frame.frame_size(frame.downlink_payload_size(U32, [len(encode_message(part))]))
        assert size <= frame.DOWNLINK_MAX
        assert decode_message(encode_message(part)) == part
    whole = conversation.join(list(reversed(parts)) + parts[:1])  # any order, repeats
    assert whole is not None and whole.sealed == sealed
    assert conversation.join(parts[:-1]) is None or len(parts) == 1
    opened = conversation.open_text(whole.sealed, KEY, to_kid=KID, ref_seq=ref, msg_id=msg_id)
    assert opened == question  # no component changes the words


@pytest.mark.parametrize(
    "header",
    [
        {"to_kid": b"\x01\x02\x03\x05", "ref_seq": 7, "msg_id": 5},
        {"to_kid": KID, "ref_seq": 8, "msg_id": 5},
        {"to_kid": KID, "ref_seq": 7, "msg_id": 6},
    ],
)
def test_a_text_moved_to_another_device_grievance_or_id_does_not_open(header: dict) -> None:
    sealed = conversation.seal_text(
        conversation.ShoreText(lang=Lang.EN, text="Which day?"),
        PUB,
        to_kid=KID,
        ref_seq=7,
        msg_id=5,
    )
    with pytest.raises(SealBroken):
        conversation.open_text(sealed, KEY, **header)


def test_another_key_or_a_flipped_bit_does_not_open() -> None:
    sealed = conversation.seal_text(
        conversation.ShoreText(lang=Lang.EN, text="Are you safe now?"),
        PUB,
        to_kid=KID,
        ref_seq=7,
        msg_id=5,
    )
    other = X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    with pytest.raises(SealBroken):
        conversation.open_text(sealed, other, to_kid=KID, ref_seq=7, msg_id=5)
    for i in (0, 40, len(sealed) - 1):
        bad = bytearray(sealed)
        bad[i] ^= 1
        with pytest.raises(SealBroken):
            conversation.open_text(bytes(bad), KEY, to_kid=KID, ref_seq=7, msg_id=5)
    with pytest.raises(SealBroken):
        conversation.open_text(sealed[:47], KEY, to_kid=KID, ref_seq=7, msg_id=5)


def test_the_sender_refuses_what_cannot_travel() -> None:
    with pytest.raises(LocalProtocolError):
        conversation.seal_text(
            conversation.ShoreText(lang=Lang.EN, text=""), PUB, to_kid=KID, ref_seq=1, msg_id=1
        )
    with pytest.raises(LocalProtocolError):
        conversation.split(b"", ref_seq=1, msg_id=1)
    too_long = bytes(conversation.max_parts_bytes() + 1)
    with pytest.raises(LocalProtocolError):
        conversation.split(too_long, ref_seq=1, msg_id=1)
    with pytest.raises(Malformed):
        conversation.seal_text(
            conversation.ShoreText(lang=Lang.EN, text="x"),
            PUB[:31],
            to_kid=KID,
            ref_seq=1,
            msg_id=1,
        )


def test_parts_that_disagree_are_refused() -> None:
    a = ShoreMessage(ref_seq=7, msg_id=5, part=0, parts=2, chunk=b"a")
    with pytest.raises(Malformed):
        conversation.join([a, ShoreMessage(ref_seq=8, msg_id=5, part=1, parts=2, chunk=b"b")])
    with pytest.raises(Malformed):
        conversation.join([a, ShoreMessage(ref_seq=7, msg_id=5, part=1, parts=3, chunk=b"b")])
    with pytest.raises(Malformed):
        conversation.join([a, ShoreMessage(ref_seq=7, msg_id=5, part=0, parts=2, chunk=b"c")])
    assert conversation.join([]) is None


@pytest.mark.parametrize(
    "item",
    [
        [20, 7, 5, 0, 0, b"x"],  # zero parts
        [20, 7, 5, 2, 2, b"x"],  # part beyond count
        [20, 7, 5, 0, MAX_SHORE_PARTS + 1, b"x"],
        [20, 7, 5, 0, 1, b""],  # empty chunk
        [20, 7, 5, 0, 1, bytes(257)],
        [20, 0, 5, 0, 1, b"x"],  # seq 0
        [20, 7, 0, 0, 1, b"x"],  # id 0
        [20, 7, 5, 0, 1],
        [20, 7, 5, 0, 1, "x"],
        [4, 9, 0, []],  # delivered nothing
        [4, 9, 0, list(range(1, MAX_DELIVERED + 2))],
        [4, 9, 0, [0]],
        [4, 9, 0, 5],
    ],
)
def test_malformed_shore_messages_and_delivered_reports_are_refused(item: list) -> None:
    with pytest.raises(Malformed):
        decode_message(cbor.dumps(item))


@given(st.binary(max_size=400))
def test_any_bytes_as_a_shore_text_give_a_text_or_a_typed_error(data: bytes) -> None:
    try:
        conversation.decode_shore_text(data)
    except RemoteProtocolError:
        pass


@given(st.binary(max_size=200))
def test_any_bytes_as_a_sealed_text_give_a_typed_error(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        conversation.open_text(data, KEY, to_kid=KID, ref_seq=1, msg_id=1)


@settings(max_examples=60, deadline=None)
@given(
    ref=seqs,
    lang=langs,
    text=crew_text(),
    reply_pub=st.binary(min_size=32, max_size=32),
    pseudonym=st.none() | st.text(max_size=32),
)
def test_reply_and_grievance_with_reply_key_round_trip(
    ref: int, lang: Lang, text: str, reply_pub: bytes, pseudonym: str | None
) -> None:
    reply = Reply(ref_seq=ref, lang=lang, text=text)
    assert decode_crew(encode_crew(reply)) == reply
    g = Grievance(category=0x17, lang=lang, text=text, pseudonym=pseudonym, reply_pub=reply_pub)
    assert decode_crew(encode_crew(g)) == g


def test_a_grievance_without_reply_key_encodes_as_before() -> None:
    g = Grievance(category=0x17, lang=Lang.EN, text="late pay", pseudonym="K7")
    item = cbor.loads(encode_crew(g), what="crew")
    assert item == [1, 0x17, 1, item[3], "K7"]
    plain = Grievance(category=0x17, lang=Lang.EN, text="late pay")
    assert len(cbor.loads(encode_crew(plain), what="crew")) == 4
    with pytest.raises(LocalProtocolError):
        encode_crew(Grievance(category=1, lang=Lang.EN, reply_pub=b"short"))
    with pytest.raises(Malformed):
        decode_crew(cbor.dumps([1, 1, 1, b"\x00x", None, b"short"]))
    with pytest.raises(Malformed):
        decode_crew(cbor.dumps([4, 7, 1]))  # reply without text


@given(ids=st.lists(seqs, min_size=1, max_size=MAX_DELIVERED), seq=seqs, time=seqs)
def test_delivered_round_trips(ids: list[int], seq: int, time: int) -> None:
    msg = Delivered(seq=seq, time=time, ids=tuple(ids))
    assert decode_message(encode_message(msg)) == msg


def test_shore_message_parts_pack_into_signed_downlink_frames() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    shore = Ed25519PrivateKey.from_private_bytes(bytes(32))
    kid = keys.key_id(shore.public_key())
    rnd = random.Random(20)
    text = "".join(chr(rnd.randrange(0x1000, 0x102B)) for _ in range(400))  # compresses badly
    sealed = conversation.seal_text(
        conversation.ShoreText(lang=Lang.MY, text=text), PUB, to_kid=KID, ref_seq=7, msg_id=5
    )
    parts = conversation.split(sealed, ref_seq=7, msg_id=5)
    assert len(parts) >= 2
    frames = pack_downlink(shore, kid, KID, parts, 1_763_640_000)
    assert all(len(f) <= frame.DOWNLINK_MAX for f in frames)
    got = []
    for data in frames:
        sign1 = frame.parse(data, max_size=frame.DOWNLINK_MAX)
        frame.verify(sign1, shore.public_key())
        got.extend(frame.parse_downlink(sign1.payload)[2])
    whole = conversation.join(got)  # type: ignore[arg-type]
    assert whole is not None
    assert conversation.open_text(whole.sealed, KEY, to_kid=KID, ref_seq=7, msg_id=5).text == text
