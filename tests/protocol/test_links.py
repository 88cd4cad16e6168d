"""Frames per link: many messages under one signature on IMT / broadband, whole messages
standing for their SBD fragments, and a queue that moves between links of any size."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import frame, links
from protocol.errors import Malformed, Oversize, ProtocolError
from protocol.events import ChainVerified, MessageReceived, ShoreEvent
from protocol.fragment import max_single, split
from protocol.lang import Lang
from protocol.messages import CrewMessage, Fragment, Grievance, Position, encode_message
from protocol.shore import open_crew
from tests.helpers import VesselShorePair

T0 = 1_750_000_000


def _noise(rng: random.Random, n: int) -> str:
    """Text that deflate cannot shrink much: its grievance is fragmented on SBD."""
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(n))


def _deliver(
    pair: VesselShorePair, data: bytes, now: float, link: links.LinkLimits
) -> list[ShoreEvent]:
    _, _, events = pair.shore.receive_frame(data, now, max_size=link.uplink)
    pair.received.extend(e for e in events if isinstance(e, MessageReceived))
    return events


def _texts(pair: VesselShorePair) -> dict[int, str]:
    out = {}
    for ev in pair.received:
        if isinstance(ev.message, CrewMessage):
            content = open_crew(ev.message, ev.kid, [pair.shore_keys.seal])
            assert isinstance(content, Grievance)
            out[ev.seq] = content.text
    return out


def test_one_imt_frame_carries_a_batch_and_long_messages_whole() -> None:
    rng = random.Random(7)
    pair = VesselShorePair()
    sent: dict[int, str] = {}
    for i in range(300):
        text = _noise(rng, 1800) if i % 50 == 0 else f"no pay for {i} days"
        sent[
            pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text=text), T0)[0].seq
        ] = text
    fragmented = [m for m in pair.vessel.outbox.values() if m.encoded[1] == 0x0F]
    assert fragmented, "long texts are queued as SBD fragments"
    pair.vessel.queue_heartbeat(T0)
    frames = pair.vessel.frames_to_send(T0, max_frames=4, limit=links.IMT.uplink)
    assert len(frames) == 1 and len(frames[0].data) <= links.IMT.uplink
    sign1 = frame.parse(frames[0].data, max_size=links.IMT.uplink)
    on_air = frame.parse_uplink(sign1.payload, max_messages=links.MAX_MESSAGES_LARGE)
    assert not any(isinstance(m, Fragment) for m, _ in on_air)  # no fragmentation below the limit
    assert max(len(e) for _, e in on_air) > max_single()
    events = _deliver(pair, frames[0].data, T0, links.IMT)
    assert any(isinstance(e, ChainVerified) for e in events)
    assert _texts(pair) == sent
    acks = pair.shore.acks_for(pair.device)
    for data in pair.shore.downlink(pair.vessel.kid, acks, T0):
        pair.vessel.handle_downlink(data, T0)
    assert pair.vessel.outbox == {}


def test_an_sbd_box_switches_to_imt_half_way_through_a_fragmented_message() -> None:
    pair = VesselShorePair()
    text = _noise(random.Random(3), 1500)
    items = pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text=text), T0)
    assert len(items) > 3
    for data in [f.data for f in pair.vessel.frames_to_send(T0, max_frames=2)]:  # SBD, 2 of n
        _deliver(pair, data, T0, links.SBD)
    assert pair.received == []
    later = T0 + 10_000  # the first two are due again too: the whole message goes
    (imt,) = pair.vessel.frames_to_send(later, max_frames=1, limit=links.IMT.uplink)
    assert set(imt.seqs) == {m.seq for m in items}
    _deliver(pair, imt.data, later, links.IMT)
    assert _texts(pair) == {items[0].seq: text}


def test_fragments_of_an_incomplete_set_stay_fragments() -> None:
    pair = VesselShorePair()
    items = pair.vessel.queue_crew(
        Grievance(category=0x17, lang=Lang.EN, text=_noise(random.Random(5), 1200)), T0
    )
    del pair.vessel.outbox[items[1].seq]  # acknowledged? no — say one is not due
    units = links.collapse([(m.seq, m.encoded) for m in pair.vessel.due(T0)])
    assert [u.seqs for u in units] == [(m.seq,) for m in items if m is not items[1]]


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 1900), min_size=1, max_size=12),
    sbd_first=st.integers(0, 6),
    seed=st.integers(0, 2**16),
)
def test_any_mix_of_sbd_and_imt_delivers_every_word_once(
    sizes: list[int], sbd_first: int, seed: int
) -> None:
    rng = random.Random(seed)
    pair = VesselShorePair()
    sent = {}
    for n in sizes:
        text = _noise(rng, n) or "x"
        seq = pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text=text), T0)[0].seq
        sent[seq] = text
    for out in pair.vessel.frames_to_send(T0, max_frames=sbd_first):
        if rng.random() < 0.7:  # some SBD sessions lost
            _deliver(pair, out.data, T0, links.SBD)
    for out in pair.vessel.frames_to_send(T0 + 1e6, max_frames=4, limit=links.IMT.uplink):
        _deliver(pair, out.data, T0 + 1e6, links.IMT)
    assert _texts(pair) == sent


def test_a_large_frame_is_refused_on_an_sbd_link() -> None:
    pair = VesselShorePair()
    for i in range(20):
        pair.vessel.queue_position(time=T0 + i, lat=1.0, lon=2.0, now=T0)
    (big,) = pair.vessel.frames_to_send(T0, limit=links.IP.uplink)
    assert len(big.data) > links.SBD.uplink
    with pytest.raises(Oversize):
        pair.shore.receive_frame(big.data, T0)  # SBD's 340 bytes: the default
    _deliver(pair, big.data, T0, links.IP)
    assert len(pair.received) == 20


def test_message_count_bound_follows_the_frame_size() -> None:
    positions = [Position(seq=i + 1, time=T0, lat=0.0, lon=0.0) for i in range(65)]
    payload = frame.uplink_payload([encode_message(p) for p in positions])
    assert len(payload) > frame.UPLINK_MAX
    with pytest.raises(Malformed):
        frame.parse_uplink(payload)  # the SBD bound, 64
    assert len(links.parse_uplink(payload)) == 65
    tiny = frame.uplink_payload([b"\x82\x18\x63\x01"] * 65)  # [99, 1]: an unknown type
    assert len(tiny) <= frame.UPLINK_MAX
    with pytest.raises(Malformed):
        links.parse_uplink(tiny)
    assert links.max_messages(links.IMT.uplink) == links.MAX_MESSAGES_LARGE


def test_a_whole_message_beyond_32_fragments_is_oversize() -> None:
    huge = CrewMessage(seq=1, time=T0, sealed=bytes(8000))
    encoded = encode_message(huge)
    with pytest.raises(Oversize):
        links.expand([(huge, encoded)])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_payload_gives_messages_or_a_typed_refusal(data: bytes) -> None:
    for payload in (data, frame.uplink_payload([data])):  # any bytes; any bytes as a message
        try:
            out = links.parse_uplink(payload)
        except ProtocolError:
            continue
        assert all(isinstance(e, bytes) for _, e in out)


@settings(max_examples=50, deadline=None)
@given(sealed=st.binary(min_size=250, max_size=7000), seq=st.integers(1, 2**31))
def test_collapse_and_expand_are_inverse(sealed: bytes, seq: int) -> None:
    whole = CrewMessage(seq=seq, time=T0, sealed=sealed)
    encoded = encode_message(whole)
    if len(encoded) <= max_single():
        return
    fragments = [(f.seq, encode_message(f)) for f in split(encoded, seq)]
    (unit,) = links.collapse(fragments)
    assert unit.encoded == encoded and unit.seqs == tuple(s for s, _ in fragments)
    assert [e for _, e in links.expand([(whole, encoded)])] == [e for _, e in fragments]
