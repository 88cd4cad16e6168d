"""Replay window, hash chain and fragment reassembly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import chain
from protocol.errors import Malformed
from protocol.fragment import Reassembler, max_single, split
from protocol.messages import CrewMessage, Fragment, decode_message, encode_message
from protocol.replay import ReplayWindow, Seen


@given(st.lists(st.integers(1, 300), max_size=200))
def test_window_matches_a_set(seqs: list[int]) -> None:
    w = ReplayWindow(size=8)
    seen: set[int] = set()
    for s in seqs:
        verdict = w.check(s)
        if verdict is Seen.NEW:
            assert s not in seen
        elif verdict is Seen.DUPLICATE:
            assert s in seen or s <= w.prefix
        w.mark(s)
        seen.add(s)
    # The prefix never claims a seq that did not arrive: cumulative acks rely on it.
    for s in range(1, w.prefix + 1):
        assert s in seen
    assert set(w.missing(10_000)).isdisjoint(seen)


def test_window_forgets_boundedly_and_never_claims_the_lost() -> None:
    w = ReplayWindow(size=4)
    for s in (2, 3, 4, 5, 6, 7):  # seq 1 is lost
        w.mark(s)
    assert w.prefix == 0 and w.check(1) is Seen.NEW
    assert w.check(2) is Seen.DUPLICATE and w.check(7) is Seen.DUPLICATE
    assert w.missing() == [1]
    w.mark(1)
    assert w.prefix == 7 and w.missing() == []


def test_window_unsure_when_its_records_overflow() -> None:
    w = ReplayWindow(size=2)
    for s in (10, 20, 30, 40):  # holes of 9 can't all be recorded in 2 slots
        w.mark(s)
    assert w.check(5) is Seen.STALE and w.prefix == 0
    for s in range(1, 10):
        w.mark(s)
    assert w.prefix < 10  # never claims what it cannot vouch for


def test_chain_tracker_verifies_out_of_order_and_spots_swaps() -> None:
    msgs = {s: f"message {s}".encode() for s in range(1, 11)}
    value = chain.GENESIS
    for s in range(1, 11):
        value = chain.advance(value, s, chain.digest(msgs[s]))
    good = chain.ChainTracker()
    good.claim(10, value)
    for s in [3, 1, 10, 2, 4, 5, 9, 8, 7, 6]:
        good.add(s, chain.digest(msgs[s]))
    assert good.settle() == ([10], [], [])

    swapped = chain.ChainTracker()
    swapped.claim(10, value)
    for s in range(1, 11):
        swapped.add(s, chain.digest(b"forged" if s == 4 else msgs[s]))
    assert swapped.settle() == ([], [10], [])


def test_fragments_reassemble_in_any_order_with_duplicates() -> None:
    big = encode_message(CrewMessage(seq=40, time=1, sealed=bytes(range(256)) * 3))
    assert len(big) > max_single()
    frags = split(big, 40)
    assert [f.seq for f in frags] == list(range(40, 40 + len(frags)))
    assert all(len(encode_message(f)) <= max_single() for f in frags)
    r = Reassembler()
    done = None
    for f in [*reversed(frags), frags[0]]:
        if done is None:
            done = r.add("v", f, now=0)
    assert done is not None
    assert done.encoded == big and decode_message(big) == done.message
    assert r.pending("v") == set()


def test_reassembly_is_bounded_and_checks_consistency() -> None:
    r = Reassembler(max_bytes=1000, max_sets_per_device=2, timeout=10)
    for first in (10, 20, 30):
        r.add("v", Fragment(seq=first, index=0, count=3, chunk=b"x" * 100), now=first)
    assert r.pending("v") == {20, 30}  # oldest set evicted
    for dev in range(20):
        r.add(f"d{dev}", Fragment(seq=1, index=0, count=2, chunk=b"y" * 200), now=50)
    assert r._bytes <= 1000
    assert r.expire(now=1000) != []
    with pytest.raises(Malformed):
        r.add("z", Fragment(seq=5, index=0, count=2, chunk=b"a"), now=0)
        r.add("z", Fragment(seq=6, index=1, count=3, chunk=b"b"), now=0)
    bogus = Reassembler()
    bogus.add("z", Fragment(seq=5, index=0, count=2, chunk=b"\x82\x01"), now=0)
    with pytest.raises(Malformed):
        bogus.add("z", Fragment(seq=6, index=1, count=2, chunk=b"\x05"), now=0)
