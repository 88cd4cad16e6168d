"""Edges of the protocol API: categories, languages, key errors, timers, limits."""

from __future__ import annotations

import pytest

from protocol import frame, keys
from protocol.category import Category, Group, group_of, is_urgent, parse_category
from protocol.crew import Grievance
from protocol.downlinks import CaseStatus
from protocol.errors import LocalProtocolError, Malformed
from protocol.events import FragmentsExpired
from protocol.fragment import split
from protocol.lang import LANGS, Lang, lang_from_code, lang_from_tag
from protocol.limits import U32
from protocol.messages import Fragment, encode_message
from protocol.shore import pack_downlink
from protocol.shorecore import FRAGMENT_TIMEOUT
from protocol.vessel import Outgoing, Priority, VesselSession
from tests.helpers import VesselShorePair, det_rng

T0 = 1_763_640_000


def test_categories() -> None:
    assert Category.WITHHOLDING_OF_WAGES.group is Group.FORCED_LABOUR
    assert Category.PERSON_OVERBOARD.urgent
    assert not Category.WITHHOLDING_OF_WAGES.urgent
    assert Category.RETENTION_OF_IDENTITY_DOCUMENTS.label == "retention of identity documents"
    assert group_of(0x55) is Group.META  # unknown groups are not urgent
    assert is_urgent(0xFE)
    assert parse_category("0x17") == 0x17
    assert parse_category("23") == 23
    assert parse_category("person-overboard") == 0xF2
    for bad in ("0x100", "-1", "nonsense"):
        with pytest.raises(LocalProtocolError):
            parse_category(bad)


def test_languages() -> None:
    assert LANGS == ("en", "my", "th", "km", "id", "vi", "tl")
    assert lang_from_tag(" MY ") is Lang.MY
    assert Lang.KM.tag == "km"
    with pytest.raises(LocalProtocolError):
        lang_from_tag("fr")
    with pytest.raises(Malformed):
        lang_from_code(99)


def test_key_errors() -> None:
    with pytest.raises(LocalProtocolError):
        keys.new_signing_key(lambda n: b"short")
    with pytest.raises(LocalProtocolError):
        keys.load_signing_key(b"not pem")
    sk = keys.new_signing_key(det_rng("k"))
    xk = keys.new_sealing_key(det_rng("x"))
    with pytest.raises(LocalProtocolError):
        keys.load_signing_key(keys.private_pem(xk))
    with pytest.raises(LocalProtocolError):
        keys.load_seal_public(keys.public_pem(sk.public_key()))
    with pytest.raises(LocalProtocolError):
        keys.verify_key_from_raw(b"x" * 31)
    with pytest.raises(LocalProtocolError):
        keys.seal_public_from_raw(b"x" * 33)


def test_shore_timer_expires_fragment_sets() -> None:
    pair = VesselShorePair()
    frag = Fragment(seq=1, index=0, count=2, chunk=b"\x84")
    payload = frame.uplink_payload([encode_message(frag)])
    data = frame.sign(payload, pair.device_key, pair.vessel.kid)
    pair.deliver(data, T0)
    timeout = FRAGMENT_TIMEOUT
    assert pair.shore.get_timer() == T0 + timeout
    assert pair.shore.handle_timer(T0 + timeout) == []
    expired = pair.shore.handle_timer(T0 + timeout + 1)
    assert expired == [FragmentsExpired(device=pair.device, first_seq=1)]
    assert pair.shore.get_timer() is None


def test_downlink_too_big_and_split_limits() -> None:
    pair = VesselShorePair()
    huge = CaseStatus(ref_seq=1, case_ref="C" * 16, status=2, note=1)
    frames = pack_downlink(pair.shore_keys.sign, pair.shore.kid, pair.vessel.kid, [huge] * 30, T0)
    assert len(frames) > 1
    assert all(len(f) <= 270 for f in frames)
    with pytest.raises(LocalProtocolError):
        pack_downlink(pair.shore_keys.sign, pair.shore.kid, pair.vessel.kid, [huge], T0, limit=100)
    with pytest.raises(LocalProtocolError):
        split(b"x" * 100, 1)  # fits one frame
    with pytest.raises(LocalProtocolError):
        split(b"x" * 10_000, 1)  # more than 32 fragments


def test_restore_acked_and_exhausted_sequence_space() -> None:
    pair = VesselShorePair()
    item = pair.vessel.queue_heartbeat(T0)
    fresh = VesselSession(
        sign_key=pair.device_key,
        shore_sign_pub=pair.shore_keys.sign.public_key(),
        shore_seal_pub=pair.shore_keys.seal.public_key(),
        next_seq=2,
    )
    fresh.reload(
        [Outgoing(seq=item.seq, encoded=item.encoded, priority=Priority.ROUTINE, created=T0)]
    )
    assert fresh.get_timer() == 0.0
    assert fresh.frames_to_send(T0)[0].seqs == (1,)
    fresh.forget([1])
    assert fresh.outbox == {}
    assert fresh.get_timer() is None
    full = VesselSession(
        sign_key=pair.device_key,
        shore_sign_pub=pair.shore_keys.sign.public_key(),
        shore_seal_pub=pair.shore_keys.seal.public_key(),
        next_seq=U32,
    )
    full.queue_heartbeat(T0)
    with pytest.raises(LocalProtocolError):
        full.queue_crew(Grievance(category=0x17, lang=Lang.EN), T0)


def test_unsent_messages_are_due_again_at_once_and_their_attempt_not_counted() -> None:
    pair = VesselShorePair()
    item = pair.vessel.queue_heartbeat(T0)
    (out,) = pair.vessel.frames_to_send(T0)
    assert item.attempts == 1 and pair.vessel.due(T0 + 1) == []
    pair.vessel.unsend([*out.seqs, 999], T0 + 1)  # an unknown seq is ignored
    assert item.attempts == 0 and pair.vessel.due(T0 + 1) == [item]


def test_restore_drops_what_was_queued_above_the_restored_counter() -> None:
    pair = VesselShorePair()
    kept = pair.vessel.queue_heartbeat(T0)
    saved = pair.vessel.snapshot()
    pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="not stored"), T0)
    pair.vessel.restore(saved)
    assert list(pair.vessel.outbox) == [kept.seq] and pair.vessel.snapshot() == saved
    assert pair.vessel.queue_heartbeat(T0).seq == saved.next_seq
