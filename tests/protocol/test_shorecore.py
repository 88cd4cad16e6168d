"""The shore core: verify, classify, reassembly and its bounds, advance (prefix, labelled gaps,
chain), acks and the staff's words — the functions both shore stores run."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import chain, frame, keys, shorecore
from protocol.errors import BadSignature, Malformed, UnknownDevice
from protocol.fragment import max_single, split
from protocol.messages import Ack, CrewMessage, Fragment, decode_message, encode_message
from protocol.shorecore import Progress, Stored, Verdict
from tests.helpers import det_rng


def _digests(n: int, forged: int = 0) -> dict[int, bytes | None]:
    return {
        s: chain.digest(b"forged" if s == forged else f"message {s}".encode())
        for s in range(1, n + 1)
    }


def _value(upto: int) -> bytes:
    value = chain.GENESIS
    for s, d in _digests(upto).items():
        assert d is not None
        value = chain.advance(value, s, d)
    return value


def _never(after: int) -> tuple[dict[int, bytes | None], set[int]]:
    raise AssertionError("the fast path reads nothing back")


def _no_recompute(upto: int) -> bytes | None:
    raise AssertionError("no recompute expected")


def test_verify_picks_the_key_that_signed_and_refuses_others() -> None:
    a, b = keys.new_signing_key(det_rng("a")), keys.new_signing_key(det_rng("b"))
    kid = keys.key_id(a.public_key())
    sign1 = frame.parse(frame.sign(b"\x82\x01\x80", a, kid), max_size=frame.UPLINK_MAX)
    pairs = [("b", b.public_key()), ("a", a.public_key())]
    assert shorecore.verify(sign1, pairs, lambda c: c[1])[0] == "a"
    with pytest.raises(BadSignature):
        shorecore.verify(sign1, pairs[:1], lambda c: c[1])
    with pytest.raises(UnknownDevice):
        shorecore.verify(sign1, [], lambda c: c[1])


def test_classify() -> None:
    assert shorecore.classify(None, b"x", taken=False) is Stored.NEW
    assert shorecore.classify(b"x", b"x") is Stored.DUPLICATE
    assert shorecore.classify(b"y", b"x") is Stored.COLLISION
    assert shorecore.classify(None, b"x") is Stored.COLLISION  # a row without digest


def test_fragments_join_in_index_order_and_check_consistency() -> None:
    big = encode_message(CrewMessage(seq=40, time=1, sealed=bytes(range(256)) * 3))
    assert len(big) > max_single()
    frags = split(big, 40)
    assert [f.seq for f in frags] == list(range(40, 40 + len(frags)))
    assert all(len(encode_message(f)) <= max_single() for f in frags)
    n = len(frags)
    assert shorecore.join(40, n, [(f.index, f.count, f.chunk) for f in frags[:-1]]) is None
    done = shorecore.join(40, n, [(f.index, f.count, f.chunk) for f in frags])
    assert done is not None and done[1] == big and done[0] == decode_message(big)
    with pytest.raises(Malformed):  # counts disagree
        shorecore.join(5, 2, [(0, 2, b"a"), (1, 3, b"b")])
    with pytest.raises(Malformed):  # an index twice
        shorecore.join(5, 2, [(0, 2, b"a"), (0, 2, b"b")])
    with pytest.raises(Malformed):  # joined, but not a message with the first seq
        shorecore.join(5, 2, [(0, 2, b"\x82\x01"), (1, 2, b"\x05")])
    wrong = encode_message(CrewMessage(seq=41, time=1, sealed=b"x" * 60))
    with pytest.raises(Malformed):
        shorecore.join(40, 2, [(0, 2, wrong[:5]), (1, 2, wrong[5:])])
    inner = encode_message(Fragment(seq=40, index=0, count=2, chunk=b"x"))
    with pytest.raises(Malformed):  # a fragment inside fragments
        shorecore.join(40, 2, [(0, 2, inner[:3]), (1, 2, inner[3:])])


def test_fragment_bounds_drop_the_oldest_sets_but_never_the_one_being_filled() -> None:
    sets = [(i * 10, 1) for i in range(shorecore.MAX_FRAGMENT_SETS + 2)]
    assert shorecore.fragment_sets_to_drop(sets, keep=90) == [0, 10]
    assert shorecore.fragment_sets_to_drop(sets, keep=0) == [10, 20]
    assert shorecore.fragment_sets_to_drop(sets[:3], keep=0) == []
    rows = [(1, 200), (2, 100)]  # over the row bound: the older set goes
    assert shorecore.fragment_sets_to_drop(rows, keep=2) == [1]


def test_advance_fast_path_moves_the_prefix_and_alerts_a_new_gap() -> None:
    p = Progress()
    d = _digests(5)
    out = shorecore.advance(
        p, {1: d[1], 2: d[2]}, complete=True, history=_never, recompute=_no_recompute
    )
    assert (p.prefix, p.highest, p.chain_seq) == (2, 2, 2) and out.gap_alert is None
    out = shorecore.advance(p, {5: d[5]}, complete=True, history=_never, recompute=_no_recompute)
    assert p.prefix == 2 and p.highest == 5 and out.gap_alert == [[3, 4]]
    assert not out.gaps_resolved
    # the oldest gap filled: the store is read back (the prefix may move over seq 5)
    reads: list[int] = []

    def history(after: int) -> tuple[dict[int, bytes | None], set[int]]:
        reads.append(after)
        return {s: d[s] for s in (3, 4, 5)}, set()

    out = shorecore.advance(
        p,
        {3: d[3], 4: d[4]},
        complete=True,
        history=history,
        recompute=_no_recompute,
        claims=[(5, _value(5))],
    )
    assert reads == [2] and p.prefix == 5 and p.missing == []
    assert out.gaps_resolved and out.checked == [(5, Verdict.VERIFIED)]


def test_advance_labels_declared_losses_and_realerts_when_relabelled() -> None:
    p = Progress()
    d = _digests(9)
    shorecore.advance(p, {1: d[1]}, complete=True, history=_never, recompute=_no_recompute)
    out = shorecore.advance(p, {6: d[6]}, complete=True, history=_never, recompute=_no_recompute)
    assert out.gap_alert == [[2, 5]]
    out = shorecore.advance(
        p,
        {7: d[7]},
        complete=True,
        history=_never,
        recompute=_no_recompute,
        declared=[(3, 4, 1)],
    )
    assert out.gaps_resolved and out.gap_alert == [[2, 2], [3, 4, 1], [5, 5]]
    out = shorecore.advance(p, {8: d[8]}, complete=True, history=_never, recompute=_no_recompute)
    assert out.gap_alert is None and not out.gaps_resolved  # nothing new
    assert p.declared == [(3, 4, 1)]


def test_chain_mismatch_and_unverifiable_claims() -> None:
    p = Progress()
    forged = _digests(4, forged=2)
    out = shorecore.advance(
        p,
        forged,
        complete=True,
        history=_never,
        recompute=_no_recompute,
        claims=[(4, _value(4)), (9, b"later!!!")],
    )
    assert out.checked == [(4, Verdict.MISMATCHED)]  # the claim at 9 waits
    # a claim below the chain is recomputed from genesis; a missing digest cannot be checked
    p = Progress(prefix=4, highest=4, chain_seq=4, chain_value=_value(4))
    rows = list(_digests(4).items())
    out = shorecore.advance(
        p,
        {},
        complete=True,
        history=_never,
        recompute=lambda upto: shorecore.chain_from(rows[:upto], upto),
        claims=[(3, _value(3))],
    )
    assert out.checked == [(3, Verdict.VERIFIED)]
    out = shorecore.advance(
        p, {}, complete=True, history=_never, recompute=lambda upto: None, claims=[(2, b"x" * 8)]
    )
    assert out.checked == [(2, Verdict.UNVERIFIABLE)]
    assert shorecore.chain_from([(1, b"d"), (3, b"d")], 3) is None
    assert shorecore.chain_from([(1, None)], 1) is None
    assert shorecore.chain_from([], 0) == chain.GENESIS
    assert shorecore.chain_from(rows[:2], 3) is None


@given(
    order=st.permutations(list(range(1, 31))),
    cut=st.integers(1, 30),
    lost=st.sets(st.integers(1, 30), max_size=8),
)
def test_advance_in_any_order_equals_recounting(order: list[int], cut: int, lost: set[int]) -> None:
    """Whatever the arrival order and losses, prefix, highest, gaps and chain are those of the
    whole set recounted from nothing."""
    d = _digests(30)
    arrived = [s for s in order if s not in lost]
    p = Progress()
    stored: dict[int, bytes | None] = {}

    def history(after: int) -> tuple[dict[int, bytes | None], set[int]]:
        return {s: stored[s] for s in sorted(stored) if s > after}, set()

    for i in range(0, len(arrived), cut):
        batch = {s: d[s] for s in arrived[i : i + cut]}
        stored.update(batch)
        shorecore.advance(p, batch, complete=True, history=history, recompute=_no_recompute)
    prefix = next((s - 1 for s in range(1, 32) if s not in stored), 30)
    assert p.prefix == prefix == p.chain_seq
    assert p.chain_value == _value(prefix)
    assert p.highest == max(stored, default=0)
    missing = {s for r in p.missing for s in range(r[0], r[1] + 1)}
    assert missing == set(range(1, p.highest + 1)) - set(stored)


def test_acks_claim_only_what_is_stored_and_are_held_by_a_collision() -> None:
    assert shorecore.acks(7, []) == [Ack(cum_seq=7)]
    assert shorecore.acks(7, [9, 10], held=True) == []
    (ack,) = shorecore.acks(7, [9, 10])
    assert ack.cum_seq == 7 and {9, 10} <= set(ack.seqs()) and 8 not in ack.seqs()
    far = shorecore.acks(0, [1000, 1001, 2000])
    assert {s for a in far for s in a.seqs()} >= {1000, 1001, 2000}
    many = list(range(2, 2 + 256 * 6, 2))
    assert len(shorecore.acks(0, many)) == shorecore.MAX_ACK_BITMAPS


def test_gap_text_says_whose_claim_a_declared_loss_is() -> None:
    plain = shorecore.gap_text("MV A", [[3, 4], [9, 9]], highest=12, last_contact=None)
    assert (
        plain
        == "messages missing from vessel MV A (seq 3–4, 9; highest received 12, last contact ?)"
    )
    both = shorecore.gap_text(
        "MV A", [[3, 3], [4, 6, 1], [8, 8, 7]], highest=9, last_contact="2026-01-01T00:00:00"
    )
    assert both.startswith(
        "messages missing from vessel MV A (seq 3); vessel MV A says it never sent"
    )
    assert "seq 4–6 evicted on board (storage full)" in both
    assert "seq 8 declared not sent (reason 7)" in both
    assert "not verifiable ashore" in both
    only = shorecore.gap_text("MV A", [[4, 6, 2]], highest=9, last_contact=None)
    assert only.startswith("vessel MV A says it never sent seq 4–6 lost to outbox damage")
    assert "seq 4" in shorecore.chain_text("MV A", 4)
