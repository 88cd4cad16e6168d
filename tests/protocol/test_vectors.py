"""Golden vectors (tests/protocol/vectors/frames.json): exact bytes another implementation can
test against. Regenerate with scripts/make_vectors.py only when the wire format changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import cbor, conversation, errors, frame, keys, links
from protocol.downlinks import Ack, KeyRotation, ShoreMessage
from protocol.messages import CrewMessage, Fragment
from protocol.shore import open_crew, verify_frame
from protocol.vessel import VesselSession

DOC = json.loads((Path(__file__).parent / "vectors" / "frames.json").read_text(encoding="utf-8"))
K = DOC["keys"]
VESSEL = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(K["vessel_sign_private_raw"]))
SHORE = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(K["shore_sign_private_raw"]))
SEAL = X25519PrivateKey.from_private_bytes(bytes.fromhex(K["shore_seal_private_raw"]))
REPLY = X25519PrivateKey.from_private_bytes(bytes.fromhex(K["crew_reply_private_raw"]))


def test_vector_keys_match() -> None:
    assert keys.key_id(VESSEL.public_key()).hex() == K["vessel_kid"]
    assert keys.key_id(SHORE.public_key()).hex() == K["shore_kid"]
    assert keys.raw_public(SEAL.public_key()).hex() == K["shore_seal_public_raw"]
    assert keys.raw_public(REPLY.public_key()).hex() == K["crew_reply_public_raw"]


@pytest.mark.parametrize("vector", DOC["vectors"], ids=lambda v: v["name"])
def test_vector(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["frame"])
    expect = vector["expect"]
    link = links.BY_NAME[vector.get("link", "sbd")]  # the link the receiver takes it from
    if "error" in expect:
        error = getattr(errors, expect["error"])
        with pytest.raises(error) as caught:
            if vector["direction"] == "downlink":
                _vessel().handle_downlink(data, 0, max_size=link.downlink)
            else:
                _, sign1 = verify_frame(data, _lookup, max_size=link.uplink)
                links.parse_uplink(sign1.payload)
        assert type(caught.value) is error  # the named error itself, not a relative
        return
    if vector["direction"] == "downlink":
        sign1 = frame.parse(data, max_size=link.downlink)
        frame.verify(sign1, SHORE.public_key())
        to_kid, time, msgs = links.parse_downlink(sign1.payload)
        assert (to_kid.hex(), time) == (expect["to_kid"], expect["time"])
        assert frame.sign(sign1.payload, SHORE, sign1.kid) == data  # deterministic
        if "types" in expect:
            payload = cbor.loads(sign1.payload, what="payload")
            assert [m[0] for m in payload[3]] == expect["types"]
        if "acks" in expect:
            acks = [m for m in msgs if isinstance(m, Ack)]
            assert [_written_out(m) for m in acks] == expect["acks"]
            for m, written in zip(acks, expect["acks"], strict=True):
                _check_ack_reading(m, written)
        if "key_rotation" in expect:
            (rotation,) = msgs
            assert isinstance(rotation, KeyRotation)
            assert {
                "epoch": rotation.epoch,
                "sign_pub": rotation.sign_pub.hex(),
                "seal_pub": rotation.seal_pub.hex(),
            } == expect["key_rotation"]
        if "shore_text" in expect:
            _open_shore_text(vector)
        return
    _, sign1 = verify_frame(data, lambda kid: [("v", VESSEL.public_key())], max_size=link.uplink)
    most = links.max_messages(len(sign1.payload))
    on_air = frame.parse_uplink(sign1.payload, max_messages=most)
    taken = links.expand(on_air)  # a whole message stands for its SBD fragments (§1.1)
    assert sorted(m.seq or 0 for m, _ in taken) == sorted(expect["seqs"])
    if vector["deterministic"]:
        assert frame.sign(frame.uplink_payload([e for _, e in on_air]), VESSEL, sign1.kid) == data
    if "whole" in expect:
        whole = [m for m, e in on_air if m.seq == expect["whole"]["seq"]]
        assert len(whole) == 1 and not isinstance(whole[0], Fragment)
        fragments = [e.hex() for m, e in taken if isinstance(m, Fragment)]
        assert fragments == expect["fragments"]
        assert len(fragments) == expect["whole"]["fragments"]
    if "content" in expect:
        (msg, _), *_ = on_air
        assert isinstance(msg, CrewMessage)
        content = open_crew(msg, sign1.kid, [SEAL])
        got = {a: getattr(content, a) for a in content.__slots__}
        got = {
            k: int(v) if k == "lang" else v.hex() if isinstance(v, bytes) else v
            for k, v in got.items()
        }
        # Fields added after a vector was published are absent from it, and default there.
        assert all(got[k] is None for k in got.keys() - expect["content"].keys())
        assert {k: got[k] for k in expect["content"]} == expect["content"]


def _lookup(kid: bytes) -> list[tuple[str, Any]]:
    return [("v", VESSEL.public_key())] if kid.hex() == K["vessel_kid"] else []


def _vessel() -> VesselSession:
    return VesselSession(
        sign_key=VESSEL, shore_sign_pub=SHORE.public_key(), shore_seal_pub=SEAL.public_key()
    )


def _written_out(ack: Ack) -> dict[str, Any]:
    return {
        "cum_seq": ack.cum_seq,
        "bitmap": ack.bitmap.hex(),
        "base": ack.bitmap_base,
        "acknowledged_above_cum_seq": ack.seqs(),
    }


def _check_ack_reading(ack: Ack, written: dict[str, Any]) -> None:
    """The documented reading (§3): seq base + i for each bit i set, LSB of byte 0 first."""
    bitmap = bytes.fromhex(written["bitmap"])
    bits = [i for i in range(8 * len(bitmap)) if bitmap[i // 8] & (1 << (i % 8))]
    assert [written["base"] + i for i in bits] == written["acknowledged_above_cum_seq"]
    for seq in range(1, written["cum_seq"] + 1):
        assert ack.covers(seq)
    above = set(written["acknowledged_above_cum_seq"])
    for seq in range(written["cum_seq"] + 1, written["cum_seq"] + 8 * len(bitmap) + 300):
        assert ack.covers(seq) == (seq in above)


def test_vectors_cover_every_downlink_type_and_refusal() -> None:
    downlink = [
        v for v in DOC["vectors"] if v["direction"] == "downlink" and "error" not in v["expect"]
    ]
    types = {t for v in downlink for t in v["expect"].get("types", [])}
    assert types >= {16, 17, 18, 19}
    assert any("shore_text" in v["expect"] for v in downlink)  # type 20, sealed shore message
    errors_named = {v["expect"]["error"] for v in DOC["vectors"] if "error" in v["expect"]}
    assert errors_named >= {
        "Oversize",
        "Malformed",
        "Truncated",
        "UnknownVersion",
        "UnknownDevice",
        "BadSignature",
        "WrongRecipient",
    }


def _open_shore_text(vector: dict[str, Any]) -> None:
    expect = vector["expect"]
    parts: list[ShoreMessage] = []
    for hexed in vector["frames"]:
        sign1 = frame.parse(bytes.fromhex(hexed), max_size=frame.DOWNLINK_MAX)
        frame.verify(sign1, SHORE.public_key())
        to_kid, _, msgs = frame.parse_downlink(sign1.payload)
        parts.extend(m for m in msgs if isinstance(m, ShoreMessage))
    whole = conversation.join(parts)
    assert whole is not None and (whole.ref_seq, whole.msg_id) == (
        expect["ref_seq"],
        expect["msg_id"],
    )
    text = conversation.open_text(
        whole.sealed, REPLY, to_kid=to_kid, ref_seq=whole.ref_seq, msg_id=whole.msg_id
    )
    assert {"lang": int(text.lang), "text": text.text} == expect["shore_text"]
