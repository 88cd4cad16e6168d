"""Voice notes on the wire (protocol.voice, CrewKind.VOICE in protocol.messages)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import cbor, errors, voice
from protocol.crew import CrewKind, VoiceNote, decode_crew, encode_crew
from protocol.errors import LocalProtocolError, Malformed, Oversize, RemoteProtocolError
from protocol.fragment import max_single
from protocol.lang import Lang
from protocol.limits import MAX_FRAGMENTS
from protocol.messages import CrewMessage, decode_message
from protocol.shore import open_crew
from protocol.vessel import VesselSession
from tests.helpers import shore_keys

MODES = list(voice.MODES.values())


def frame_of(mode: voice.Mode) -> st.SearchStrategy[bytes]:
    """A codec frame: ``bits_per_frame`` random bits, MSB first, unused low bits zero."""
    spare = 8 * mode.bytes_per_frame - mode.bits_per_frame
    return st.integers(0, (1 << mode.bits_per_frame) - 1).map(
        lambda v: (v << spare).to_bytes(mode.bytes_per_frame, "big")
    )


@st.composite
def voice_notes(draw: st.DrawFn, max_ms: int | None = None) -> VoiceNote:
    mode = draw(st.sampled_from(MODES))
    top = mode.max_duration_ms if max_ms is None else min(max_ms, mode.max_duration_ms)
    duration = draw(st.integers(1, top))
    n = mode.frame_count(duration)
    frames = draw(st.lists(frame_of(mode), min_size=n, max_size=n))
    return VoiceNote(
        category=draw(st.integers(0, 255)),
        lang=draw(st.sampled_from(list(Lang))),
        mode=mode.code,
        duration_ms=duration,
        frames=tuple(frames),
        pseudonym=draw(st.none() | st.text(max_size=32)),
        reply_pub=draw(st.none() | st.binary(min_size=32, max_size=32)),
    )


@given(st.sampled_from(MODES).flatmap(lambda m: st.tuples(st.just(m), st.lists(frame_of(m)))))
def test_pack_round_trips_and_is_dense(case: tuple[voice.Mode, list[bytes]]) -> None:
    mode, frames = case
    data = voice.pack(mode, frames)
    assert len(data) == -(-len(frames) * mode.bits_per_frame // 8)
    assert voice.unpack(mode, data, len(frames)) == tuple(frames)


@given(voice_notes(max_ms=8000))
def test_voice_note_round_trips(note: VoiceNote) -> None:
    data = encode_crew(note)
    assert decode_crew(data) == note
    assert encode_crew(decode_crew(data)) == data


def test_700c_packs_two_frames_in_seven_bytes() -> None:
    mode = voice.mode_by_name("700c")
    assert voice.pack(mode, [b"\x12\x34\x56\x70", b"\xab\xcd\xef\x10"]) == bytes.fromhex(
        "1234567abcdef1"
    )
    assert mode.bytes_per_second == 87.5 and mode.max_duration_ms == 60_000


def test_pack_refuses_frames_it_could_not_carry_unchanged() -> None:
    mode = voice.MODE_700C
    with pytest.raises(LocalProtocolError, match="unused"):
        voice.pack(mode, [b"\x00\x00\x00\x01"])  # low nibble is not part of a 700C frame
    with pytest.raises(LocalProtocolError, match="4"):
        voice.pack(mode, [b"\x00\x00\x00"])
    with pytest.raises(LocalProtocolError, match="unknown Codec2 mode"):
        voice.mode_by_name("450")


def note(**kw: Any) -> VoiceNote:
    mode = voice.MODES[kw.pop("mode", 8)]
    duration = kw.pop("duration_ms", 1000)
    frames = (bytes(mode.bytes_per_frame),) * mode.frame_count(duration)
    base: dict[str, Any] = {"category": 0x17, "lang": Lang.MY, "mode": mode.code}
    base["duration_ms"] = duration
    return VoiceNote(**(base | {"frames": frames} | kw))


def test_encoder_refuses_too_long_and_inconsistent_notes() -> None:
    with pytest.raises(LocalProtocolError, match="60 s"):
        encode_crew(note(duration_ms=60_001))
    with pytest.raises(LocalProtocolError, match=r"1600 notes are 0.001 to 35 s"):
        encode_crew(note(mode=2, duration_ms=36_000))
    with pytest.raises(LocalProtocolError, match="expected 25"):
        encode_crew(note(frames=(bytes(4),) * 24))
    with pytest.raises(LocalProtocolError, match="mode"):
        encode_crew(replace(note(), mode=6))
    with pytest.raises(LocalProtocolError):
        encode_crew(note(pseudonym="x" * 33))
    with pytest.raises(LocalProtocolError, match="reply key"):
        encode_crew(note(reply_pub=bytes(31)))


def body(*, frames: object = None, extra: tuple[object, ...] = (), **kw: object) -> bytes:
    """A voice crew-content body from wire elements, any of them overridden."""
    el: dict[str, object] = {"cat": 0x17, "lang": 2, "codec": 1, "mode": 8, "ms": 1000} | kw
    if frames is None:
        frames = bytes(voice.MODE_700C.packed_size(25))
    return cbor.dumps([CrewKind.VOICE, *el.values(), frames, *extra])


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        (body(ms=60_040, frames=bytes(5254)), Oversize, "at most 60 s"),
        (body(mode=2, ms=40_000, frames=bytes(8000)), Oversize, "at most 35 s"),
        (body(frames=bytes(7001)), Oversize, "7001 bytes"),
        (body(frames=bytes(86)), Malformed, "86 bytes for 25 700C frames"),  # truncated
        (body(frames=bytes(87)), Malformed, "87 bytes for 25 700C frames"),  # truncated
        (body(frames=bytes(89)), Malformed, "89 bytes"),  # one byte too many
        (body(frames=bytes(87) + b"\x01"), Malformed, "padding"),
        (body(ms=0), Malformed, "duration"),
        (body(codec=2), Malformed, "codec"),
        (body(mode=6), Malformed, "mode 6"),
        (body(lang=99), Malformed, "language"),
        (body(frames="not bytes"), Malformed, "voice frames"),
        (cbor.dumps([CrewKind.VOICE, 0x17, 2, 1, 8, 1000]), Malformed, "voice note"),
        (body()[:-3], Malformed, "ends early"),
        (body(extra=(None, bytes(31))), Malformed, "reply key"),
        (body(extra=(7,)), Malformed, "pseudonym"),
    ],
)
def test_bad_voice_bodies_are_typed_errors(data: bytes, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        decode_crew(data)


@given(st.binary(max_size=600))
def test_any_bytes_after_the_voice_kind_are_a_note_or_a_typed_error(tail: bytes) -> None:
    data = b"\x88\x05" + tail  # an 8-element array starting with kind 5
    try:
        decode_crew(data)
    except RemoteProtocolError:
        pass


@given(voice_notes(max_ms=2000), st.data())
def test_any_change_to_a_voice_body_decodes_to_something_else_or_fails(
    note: VoiceNote, data: st.DataObject
) -> None:
    encoded = bytearray(encode_crew(note))
    i = data.draw(st.integers(0, len(encoded) - 1))
    encoded[i] ^= data.draw(st.integers(1, 255))
    try:
        assert decode_crew(bytes(encoded)) != note
    except RemoteProtocolError:
        pass


def test_a_60_s_700c_note_seals_fragments_and_opens_with_its_size_per_second() -> None:
    """The longest note of each offered mode goes through seal → fragments → open."""
    keys = shore_keys()
    sign, seal_priv = keys.sign, keys.seal
    for name in voice.OFFERED:
        mode = voice.mode_by_name(name)
        n = note(
            mode=mode.code,
            duration_ms=mode.max_duration_ms,
            pseudonym="x" * 32,
            reply_pub=bytes(32),
        )
        session = VesselSession(
            sign_key=sign, shore_sign_pub=sign.public_key(), shore_seal_pub=seal_priv.public_key()
        )
        items = session.queue_crew(n, 1_763_640_000)
        assert 2 <= len(items) <= MAX_FRAGMENTS
        assert all(len(i.encoded) <= max_single() for i in items)
    # 10 s of 700C: 875 bytes of frames, 4 fragments, each alone in an SBD message
    session = VesselSession(
        sign_key=sign, shore_sign_pub=sign.public_key(), shore_seal_pub=seal_priv.public_key()
    )
    assert len(session.queue_crew(note(duration_ms=10_000), 1_763_640_000)) == 4


def test_a_sealed_voice_note_is_a_crew_message_like_text() -> None:
    keys = shore_keys()
    sign, seal_priv = keys.sign, keys.seal
    session = VesselSession(
        sign_key=sign, shore_sign_pub=sign.public_key(), shore_seal_pub=seal_priv.public_key()
    )
    n = note(duration_ms=2000)
    (item,) = session.queue_crew(n, 1_763_640_000)
    msg = decode_message(item.encoded)
    assert isinstance(msg, CrewMessage)
    assert open_crew(msg, session.kid, [seal_priv]) == n


VECTORS = json.loads((Path(__file__).parent / "vectors" / "voice.json").read_text("utf-8"))


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_voice_vectors(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["plaintext"])
    if "error" in vector:
        with pytest.raises(getattr(errors, vector["error"])):
            decode_crew(data)
        return
    got = decode_crew(data)
    assert isinstance(got, VoiceNote)
    e = vector["content"]
    assert (got.category, int(got.lang), got.codec, got.mode, got.duration_ms) == (
        e["category"],
        e["lang"],
        e["codec"],
        e["mode"],
        e["duration_ms"],
    )
    assert [f.hex() for f in got.frames] == e["frames"]
    assert got.pseudonym == e.get("pseudonym")
    assert encode_crew(got) == data  # deterministic: plaintext vectors are exact bytes


def test_the_sealed_voice_frame_vector_verifies_and_opens() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from protocol import frame
    from protocol.shore import verify_frame

    k = json.loads((Path(__file__).parent / "vectors" / "frames.json").read_text("utf-8"))["keys"]
    vessel = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(k["vessel_sign_private_raw"]))
    seal = X25519PrivateKey.from_private_bytes(bytes.fromhex(k["shore_seal_private_raw"]))
    v = VECTORS["sealed_frame"]
    _, sign1 = verify_frame(bytes.fromhex(v["frame"]), lambda kid: [("v", vessel.public_key())])
    ((msg, _),) = frame.parse_uplink(sign1.payload)
    assert isinstance(msg, CrewMessage) and [msg.seq] == v["seqs"]
    got = open_crew(msg, sign1.kid, [seal])
    assert isinstance(got, VoiceNote) and got.duration_ms == v["duration_ms"]
    assert [f.hex() for f in got.frames] == v["frames"]
