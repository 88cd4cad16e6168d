"""Seq range arithmetic: runs and subtraction against plain sets."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from protocol.seqranges import minus, runs

_RANGE = st.tuples(st.integers(0, 60), st.integers(0, 20)).map(lambda t: (t[0], t[0] + t[1]))


def _seqs(ranges: list[tuple[int, int]]) -> set[int]:
    return {s for a, b in ranges for s in range(a, b + 1)}


def test_examples() -> None:
    assert runs([]) == []
    assert runs([5, 3, 4, 9, 9]) == [(3, 5), (9, 9)]
    assert minus(1, 10, [(3, 4, 1), (8, 20)]) == [(1, 2), (5, 7)]
    assert minus(1, 10, []) == [(1, 10)]
    assert minus(3, 4, [(1, 10)]) == []


@given(st.sets(st.integers(0, 200), max_size=60))
def test_runs_cover_exactly_and_never_touch(seqs: set[int]) -> None:
    out = runs(seqs)
    assert _seqs(out) == seqs
    assert all(b + 1 < c for (_, b), (c, _) in itertools.pairwise(out))


@given(_RANGE, st.lists(_RANGE, max_size=6))
def test_minus_is_set_difference(r: tuple[int, int], held: list[tuple[int, int]]) -> None:
    out = minus(r[0], r[1], held)
    assert _seqs(out) == _seqs([r]) - _seqs(held)
    assert out == sorted(out)
