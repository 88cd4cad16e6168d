"""Device state arithmetic: gap ranges, and the batched pipeline agreeing with one-at-a-time."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from shore_gateway.device_state import State, gap_ranges


def test_gap_ranges_examples() -> None:
    assert gap_ranges(0, []) == []
    assert gap_ranges(0, [1, 2, 3]) == []
    assert gap_ranges(0, [3]) == [[1, 2]]
    assert gap_ranges(2, [1, 2, 5, 7, 8]) == [[3, 4], [6, 6]]
    assert gap_ranges(0, [2, 4, 6, 8], limit=2) == [[1, 1], [3, 3]]


@given(prefix=st.integers(0, 50), have=st.sets(st.integers(1, 120), max_size=40))
def test_gap_ranges_cover_exactly_what_is_missing(prefix: int, have: set[int]) -> None:
    ranges = gap_ranges(prefix, have, limit=1000)
    missing = {s for a, b in ranges for s in range(a, b + 1)}
    top = max((s for s in have if s > prefix), default=prefix)
    assert missing == set(range(prefix + 1, top + 1)) - have
    assert all(a <= b for a, b in ranges)
    assert all(r1[1] + 1 < r2[0] for r1, r2 in itertools.pairwise(ranges))  # sorted, apart


def test_settled_means_nothing_outstanding() -> None:
    assert State(vessel_id=1).settled
    assert State(vessel_id=1, prefix=4, highest=4, chain_seq=4).settled
    assert not State(vessel_id=1, prefix=4, highest=6, chain_seq=4).settled
    assert not State(vessel_id=1, prefix=4, highest=4, chain_seq=3).settled
    assert not State(vessel_id=1, prefix=4, highest=4, chain_seq=4, missing="[[5, 5]]").settled
