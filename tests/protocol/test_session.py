"""Vessel and shore state machines together: batching, loss, reordering, duplication, acks."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import keys
from protocol.crew import Grievance
from protocol.downlinks import Ack, CaseStatus, Config, KeyRotation
from protocol.errors import BadSignature, UnknownDevice, WrongRecipient
from protocol.events import (
    ChainMismatched,
    ChainVerified,
    DuplicateReceived,
    GapDetected,
    MessagesAcked,
)
from protocol.frame import DOWNLINK_MAX, UPLINK_MAX
from protocol.lang import Lang
from protocol.messages import CrewMessage
from protocol.shore import open_crew, pack_downlink
from protocol.vessel import Priority
from tests.helpers import VesselShorePair, det_rng
from tests.protocol.strategies import crew_text

T0 = 1_750_000_000


def _open(pair: VesselShorePair, seq: int) -> Grievance:
    ev = next(e for e in pair.received if e.seq == seq)
    assert isinstance(ev.message, CrewMessage)
    content = open_crew(ev.message, ev.kid, [pair.shore_keys.seal])
    assert isinstance(content, Grievance)
    return content


def test_urgent_goes_first_and_several_messages_share_a_frame() -> None:
    pair = VesselShorePair()
    pair.vessel.queue_position(time=T0, lat=-4.6, lon=55.4, now=T0)
    routine = pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="No pay"), T0)
    urgent = pair.vessel.queue_crew(Grievance(category=0xF1, lang=Lang.EN, text="hurt"), T0 + 1)
    assert urgent[0].priority is Priority.URGENT
    frames = pair.vessel.frames_to_send(T0 + 2, max_frames=1)
    assert len(frames) == 1 and len(frames[0].data) <= UPLINK_MAX
    assert frames[0].seqs[0] == urgent[0].seq
    assert set(frames[0].seqs) == {1, routine[0].seq, urgent[0].seq}


def test_budget_stops_routine_but_not_urgent() -> None:
    pair = VesselShorePair()
    pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="a" * 150), T0)
    assert pair.vessel.frames_to_send(T0, budget=100) == []
    pair.vessel.queue_crew(Grievance(category=0xF2, lang=Lang.EN, text="man overboard"), T0)
    sent = pair.vessel.frames_to_send(T0, budget=100)
    assert len(sent) == 1 and sent[0].seqs == (2,)


def test_ack_round_trip_empties_the_outbox_and_duplicates_are_reacked() -> None:
    pair = VesselShorePair()
    for i in range(5):
        pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text=f"m{i}"), T0)
    frames, _ = pair.uplink(T0)
    events = pair.downlink(T0 + 60)
    acked = [s for e in events if isinstance(e, MessagesAcked) for s in e.seqs]
    assert acked == [1, 2, 3, 4, 5] and pair.vessel.outbox == {}
    dup = pair.deliver(frames[0], T0 + 70)
    assert all(isinstance(e, DuplicateReceived) for e in dup)
    assert len(pair.received) == 5


def test_retransmission_after_loss_and_backoff() -> None:
    pair = VesselShorePair()
    pair.vessel.queue_crew(Grievance(category=0x14, lang=Lang.EN, text="beaten"), T0)
    lost = pair.vessel.frames_to_send(T0)
    assert lost and pair.vessel.frames_to_send(T0 + 1) == []  # waiting for an ack
    timer = pair.vessel.get_timer()
    assert timer is not None and timer > T0
    again = pair.vessel.frames_to_send(timer)
    assert again and again[0].seqs == lost[0].seqs
    assert pair.vessel.get_timer() - timer > timer - T0  # type: ignore[operator]  # backs off


def test_forged_and_misaddressed_downlink_refused() -> None:
    pair = VesselShorePair()
    pair.vessel.queue_crew(Grievance(category=0x16, lang=Lang.EN, text="passport held"), T0)
    captain = keys.new_signing_key(det_rng("captain"))
    forged = pack_downlink(
        captain,
        keys.key_id(pair.shore_keys.sign.public_key()),
        pair.vessel.kid,
        [Ack(cum_seq=100)],
        T0,
    )[0]
    with pytest.raises(BadSignature):
        pair.vessel.handle_downlink(forged, T0)
    other = pack_downlink(pair.shore_keys.sign, pair.shore.kid, bytes(4), [Ack(cum_seq=100)], T0)
    with pytest.raises(WrongRecipient):
        pair.vessel.handle_downlink(other[0], T0)
    assert 1 in pair.vessel.outbox  # nothing dropped


def test_unknown_device_refused() -> None:
    pair = VesselShorePair()
    stranger = VesselShorePair(device_key=keys.new_signing_key(det_rng("stranger")))
    stranger.vessel.queue_heartbeat(T0)
    data = stranger.vessel.frames_to_send(T0)[0].data
    with pytest.raises(UnknownDevice):
        pair.deliver(data, T0)


def test_long_text_fragments_and_reassembles_in_any_order() -> None:
    pair = VesselShorePair()
    rnd = random.Random(7)  # incompressible: random Burmese letters and spaces
    text = "".join(rnd.choice("ကခဂဃငစဆဇညတထဒဓနပဖဗဘမယရလဝသဟအ ") for _ in range(900))
    items = pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.MY, text=text), T0)
    assert len(items) > 1
    frames = pair.vessel.frames_to_send(T0, max_frames=50)
    assert all(len(f.data) <= UPLINK_MAX for f in frames)
    random.Random(1).shuffle(frames)
    for f in frames:
        pair.deliver(f.data, T0)
    assert _open(pair, 1).text == text
    events = pair.downlink(T0 + 5)
    assert sorted(s for e in events if isinstance(e, MessagesAcked) for s in e.seqs) == [
        i.seq for i in items
    ]


def test_gap_detected_and_chain_checked() -> None:
    pair = VesselShorePair()
    for i in range(3):
        pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text=f"g{i}"), T0)
    suppressed = pair.vessel.frames_to_send(T0, max_frames=1)
    assert suppressed[0].seqs == (1, 2, 3)
    # the captain drops that frame; a heartbeat later goes through
    pair.vessel.outbox.clear()
    pair.vessel.queue_heartbeat(T0 + 100)
    _, events = pair.uplink(T0 + 100)
    gaps = [e for e in events if isinstance(e, GapDetected)]
    assert gaps and gaps[0].missing == (1, 2, 3)
    # once the frame turns up the chain verifies
    events = pair.deliver(suppressed[0].data, T0 + 200)
    assert any(isinstance(e, ChainVerified) and e.upto == 3 for e in events)


def test_chain_mismatch_when_a_message_was_swapped() -> None:
    pair = VesselShorePair()
    pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="real"), T0)
    pair.vessel.outbox.clear()  # the real one never leaves the vessel…
    pair.vessel.next_seq = 1  # …and a substitute is sent with its seq (device key misused)
    saved = pair.vessel.chain_value
    pair.vessel.queue_crew(Grievance(category=0x00, lang=Lang.EN, text="all fine"), T0)
    pair.vessel.chain_value = saved
    pair.vessel.queue_heartbeat(T0)
    _, events = pair.uplink(T0)
    assert any(isinstance(e, ChainMismatched) for e in events)


def test_downlink_status_config_and_key_rotation() -> None:
    pair = VesselShorePair()
    new_shore = keys.new_signing_key(det_rng("shore2"))
    new_seal = keys.new_sealing_key(det_rng("seal2"))
    msgs = [
        CaseStatus(ref_seq=1, case_ref="C-0042", status=2, note=3),
        Config(version=1, airtime_bytes_per_day=2000, report_interval_s=3600),
        KeyRotation(
            epoch=1,
            sign_pub=keys.raw_public(new_shore.public_key()),
            seal_pub=keys.raw_public(new_seal.public_key()),
        ),
    ]
    frames = pair.shore.downlink(pair.vessel.kid, msgs, T0)
    assert all(len(f) <= DOWNLINK_MAX for f in frames)
    events = [e for f in frames for e in pair.vessel.handle_downlink(f, T0)]
    assert [type(e).__name__ for e in events] == [
        "CaseStatusReceived",
        "ConfigReceived",
        "ShoreKeyRotated",
    ]
    assert pair.vessel.handle_downlink(frames[0], T0) != []  # statuses may repeat harmlessly
    late = pack_downlink(
        new_shore, keys.key_id(new_shore.public_key()), pair.vessel.kid, [Ack(cum_seq=0)], T0
    )
    assert pair.vessel.handle_downlink(late[0], T0) == []


@settings(max_examples=25, deadline=None)
@given(
    texts=st.lists(crew_text(120), min_size=1, max_size=12),
    seed=st.integers(0, 2**32),
    drop=st.floats(0, 0.6),
)
def test_everything_arrives_once_despite_loss_reordering_and_duplication(
    texts: list[str], seed: int, drop: float
) -> None:
    rnd = random.Random(seed)
    pair = VesselShorePair()
    for i, text in enumerate(texts):
        pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text=text), T0 + i)
    now = T0 + 100
    for _ in range(60):
        frames = pair.vessel.frames_to_send(now, max_frames=4)
        air = [f.data for f in frames if rnd.random() > drop]
        air += [d for d in air if rnd.random() < 0.3]  # provider retries duplicate some
        rnd.shuffle(air)
        for data in air:
            pair.deliver(data, now)
        if rnd.random() > drop:
            pair.downlink(int(now))
        if not pair.vessel.outbox:
            break
        now = max(now + 60, pair.vessel.get_timer() or now)
    assert pair.vessel.outbox == {}
    seqs = sorted(e.seq for e in pair.received)
    assert seqs == sorted(set(seqs)) == list(range(1, len(texts) + 1))
    assert [_open(pair, s).text for s in seqs] == texts


@given(st.lists(st.sampled_from(["crew", "heartbeat", "position"]), min_size=1, max_size=6))
@settings(max_examples=20, deadline=None)
def test_a_session_restored_from_its_snapshot_continues_the_same_seqs_and_chain(
    kinds: list[str],
) -> None:
    """What the agent persists (the items and the snapshot) is all a new session needs to go
    on: the shore verifies one chain across the restart."""
    pair = VesselShorePair()
    pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="before"), T0)
    twin = VesselShorePair(shore_keys=pair.shore_keys, device_key=pair.device_key).vessel
    twin.restore(pair.vessel.snapshot())
    twin.reload(pair.vessel.outbox.values())
    pair.vessel = twin
    for kind in kinds:
        before = twin.snapshot().next_seq
        if kind == "crew":
            items = twin.queue_crew(Grievance(category=0x01, lang=Lang.EN, text="after"), T0)
        elif kind == "heartbeat":
            items = [twin.queue_heartbeat(T0)]
        else:
            items = [twin.queue_position(time=T0, lat=1.5, lon=2.5, now=T0)]
        assert [i.seq for i in items] == list(range(before, twin.snapshot().next_seq))
    twin.queue_heartbeat(T0 + 2)
    _, events = pair.uplink(T0 + 2, max_frames=50)
    assert any(isinstance(e, ChainVerified) for e in events)
    assert not any(isinstance(e, ChainMismatched) for e in events)
