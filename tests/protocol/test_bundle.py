"""Frame bundles (CBOR sequences of frames): split ∘ join is the identity, any bytes give frames
or a typed error, and the limits hold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import bundle, frame
from protocol.errors import LocalProtocolError, Malformed, Oversize, ProtocolError, Truncated
from tests.helpers import VesselShorePair

T0 = 1_763_640_000


def _frames(n: int) -> list[bytes]:
    pair = VesselShorePair()
    out = []
    for i in range(n):
        pair.vessel.queue_position(time=T0 + i, lat=1.0, lon=2.0, now=T0 + i)
        out += [f.data for f in pair.vessel.frames_to_send(T0 + i, max_frames=1)]
    return out


FRAMES = _frames(12)


def test_split_join_round_trip_and_each_piece_parses() -> None:
    data = bundle.join(FRAMES, limit=100_000)
    assert bundle.split(data, max_frame=frame.UPLINK_MAX) == FRAMES
    for piece in bundle.split(data, max_frame=frame.UPLINK_MAX):
        frame.parse(piece, max_size=frame.UPLINK_MAX)
    assert bundle.split(FRAMES[0], max_frame=frame.UPLINK_MAX) == [FRAMES[0]]  # SBD: one


def test_pack_fills_bundles_in_order() -> None:
    size = len(FRAMES[0])
    packed = bundle.pack(FRAMES, limit=size * 5)
    assert [len(bundle.split(p, max_frame=400)) for p in packed] == [5, 5, 2]
    assert b"".join(packed) == b"".join(FRAMES)
    with pytest.raises(LocalProtocolError):
        bundle.pack(FRAMES, limit=10)
    with pytest.raises(LocalProtocolError):
        bundle.join(FRAMES, limit=100)
    with pytest.raises(LocalProtocolError):
        bundle.join([], limit=100)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", Malformed),
        (b"hello", Malformed),
        (FRAMES[0][:-1], Truncated),
        (FRAMES[0] + b"\x01", Malformed),
        (b"\x9f\x01\xff", Malformed),  # indefinite-length array
        (b"\x84" + b"\x81" * 40, Malformed),  # nesting
        (b"\x9b" + b"\xff" * 8, Truncated),  # claims 2^64 items
    ],
)
def test_bad_bundles_are_typed(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        bundle.split(data, max_frame=frame.UPLINK_MAX)


def test_limits() -> None:
    with pytest.raises(Oversize):
        bundle.split(FRAMES[0], max_frame=10)
    with pytest.raises(Malformed):
        bundle.split(b"".join(FRAMES), max_frame=400, max_frames=3)


@given(st.binary(max_size=600))
def test_any_bytes_give_frames_or_a_typed_error(data: bytes) -> None:
    try:
        pieces = bundle.split(data, max_frame=400)
    except ProtocolError:
        return
    assert b"".join(pieces) == data


@given(st.lists(st.sampled_from(FRAMES), min_size=1, max_size=20))
def test_any_frames_round_trip(frames: list[bytes]) -> None:
    assert bundle.split(bundle.join(frames, limit=10_000), max_frame=400) == frames
