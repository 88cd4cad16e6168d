from __future__ import annotations

import pytest
from hypothesis import given, settings

from protocol import keys
from protocol.crew import Grievance, encode_crew
from protocol.errors import SealBroken
from protocol.lang import Lang
from protocol.messages import CrewMessage
from protocol.seal import OVERHEAD, crew_info, seal
from protocol.shore import open_crew
from tests.helpers import det_rng, shore_keys
from tests.protocol.strategies import crew_contents

SHORE = shore_keys()
KID = keys.key_id(keys.new_signing_key(det_rng("v")).public_key())


def _sealed(content: object, seq: int = 5, time: int = 1_750_000_000) -> CrewMessage:
    body = seal(encode_crew(content), SHORE.seal.public_key(), crew_info(KID, seq, time))  # type: ignore[arg-type]
    return CrewMessage(seq=seq, time=time, sealed=body)


@settings(max_examples=50)
@given(crew_contents)
def test_seal_open_round_trip(content: object) -> None:
    msg = _sealed(content)
    assert open_crew(msg, KID, [SHORE.seal]) == content


def test_overhead_is_48_bytes() -> None:
    content = Grievance(category=0x17, lang=Lang.EN, text="")
    assert len(_sealed(content).sealed) == len(encode_crew(content)) + OVERHEAD


def test_body_moved_to_another_header_fails_to_open() -> None:
    msg = _sealed(Grievance(category=0x16, lang=Lang.MY, text="passport"))
    other_kid = bytes(4)
    for moved, kid in [
        (CrewMessage(seq=msg.seq + 1, time=msg.time, sealed=msg.sealed), KID),
        (CrewMessage(seq=msg.seq, time=msg.time + 1, sealed=msg.sealed), KID),
        (msg, other_kid),
    ]:
        with pytest.raises(SealBroken):
            open_crew(moved, kid, [SHORE.seal])


def test_tampered_ciphertext_and_wrong_key_fail() -> None:
    msg = _sealed(Grievance(category=0x17, lang=Lang.TH, text="ค่าจ้าง"))
    for i in range(len(msg.sealed)):
        bad = bytearray(msg.sealed)
        bad[i] ^= 0x01
        with pytest.raises(SealBroken):
            open_crew(CrewMessage(seq=msg.seq, time=msg.time, sealed=bytes(bad)), KID, [SHORE.seal])
    other = keys.new_sealing_key(det_rng("other"))
    with pytest.raises(SealBroken):
        open_crew(msg, KID, [other])
    assert open_crew(msg, KID, [other, SHORE.seal]).category == 0x17  # rotation: old + new


def test_key_pem_round_trip_and_kid() -> None:
    sk = keys.new_signing_key(det_rng("pem"))
    assert keys.load_signing_key(keys.private_pem(sk)).public_key() == sk.public_key()
    pub = keys.load_verify_key(keys.public_pem(sk.public_key()))
    assert keys.key_id(pub) == keys.key_id(keys.raw_public(pub))
    assert len(keys.key_id(pub)) == keys.KID_LEN
    xk = keys.new_sealing_key(det_rng("x"))
    assert keys.load_sealing_key(keys.private_pem(xk)).public_key() == xk.public_key()
    assert keys.load_seal_public(keys.public_pem(xk.public_key())) == xk.public_key()
    with pytest.raises(keys.LocalProtocolError):
        keys.load_sealing_key(keys.private_pem(sk))
    with pytest.raises(keys.LocalProtocolError):
        keys.load_verify_key(b"-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n")
