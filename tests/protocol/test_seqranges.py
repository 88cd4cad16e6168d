"""Seq range arithmetic: runs and subtraction against plain sets; gap ranges, their update
without reading back, and declared-loss labels against recounting every seq."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from protocol.seqranges import declare, gap_ranges, label, merge, minus, runs, update_gaps
from protocol.shorecore import MAX_DECLARED_RANGES, MAX_GAP_RANGES

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


def test_gap_ranges_examples() -> None:
    assert gap_ranges(0, [], MAX_GAP_RANGES) == []
    assert gap_ranges(0, [1, 2, 3], MAX_GAP_RANGES) == []
    assert gap_ranges(0, [3], MAX_GAP_RANGES) == [[1, 2]]
    assert gap_ranges(2, [1, 2, 5, 7, 8], MAX_GAP_RANGES) == [[3, 4], [6, 6]]
    assert gap_ranges(0, [2, 4, 6, 8], limit=2) == [[1, 1], [3, 3]]


@given(prefix=st.integers(0, 50), have=st.sets(st.integers(1, 120), max_size=40))
def test_gap_ranges_cover_exactly_what_is_missing(prefix: int, have: set[int]) -> None:
    ranges = gap_ranges(prefix, have, limit=1000)
    missing = {s for a, b in ranges for s in range(a, b + 1)}
    top = max((s for s in have if s > prefix), default=prefix)
    assert missing == set(range(prefix + 1, top + 1)) - have
    assert all(a <= b for a, b in ranges)
    assert all(r1[1] + 1 < r2[0] for r1, r2 in itertools.pairwise(ranges))  # sorted, apart


@given(
    prefix=st.integers(0, 30),
    present=st.sets(st.integers(1, 90), max_size=40),
    added=st.sets(st.integers(1, 120), max_size=20),
    limit=st.sampled_from([3, MAX_GAP_RANGES]),
)
def test_update_gaps_equals_recounting_every_seq(
    prefix: int, present: set[int], added: set[int], limit: int
) -> None:
    """What the pipeline computes without reading back equals the count over everything."""
    present = {s for s in present if s > prefix} | set(range(1, prefix + 1))
    added = {s for s in added if s not in present}
    before = gap_ranges(prefix, present, limit=10_000)
    if len(before) >= limit:
        return  # a truncated list is not the whole truth: the pipeline reads back instead
    highest = max(present, default=0)
    assert update_gaps(before, highest, added, limit) == gap_ranges(prefix, present | added, limit)


def test_merge_ranges_undoes_labelling() -> None:
    assert merge([[3, 4], [5, 7, 1], [8, 8], [12, 13, 2]]) == [[3, 8], [12, 13]]
    assert merge([]) == []


def test_declare_merges_keeps_first_reason_prunes_and_bounds() -> None:
    limit = MAX_DECLARED_RANGES
    assert declare([], [], limit=limit) == []
    got = declare([], [(5, 7, 1), (8, 8, 1), (20, 22, 2)], limit=limit)
    assert got == [(5, 8, 1), (20, 22, 2)]
    # seqs declared already keep their first reason; the rest is added
    assert declare(got, [(6, 10, 3)], limit=limit) == [(5, 8, 1), (9, 10, 3), (20, 22, 2)]
    assert declare(got, [], below=8, limit=limit) == [(20, 22, 2)]  # at or below the prefix
    kept = declare([], [(i, i, 1) for i in range(1, 2 * limit + 4, 2)], limit=limit)
    assert len(kept) == limit and kept[0] == (1, 1, 1)  # the lowest are kept


def test_label_ranges_splits_gaps_at_declared_ranges() -> None:
    declared = [(3, 4, 1), (8, 12, 2), (20, 20, 3)]
    assert label([[1, 2]], declared) == [[1, 2]]
    assert label([[1, 10]], declared) == [[1, 2], [3, 4, 1], [5, 7], [8, 10, 2]]
    assert label([[11, 25]], declared) == [[11, 12, 2], [13, 19], [20, 20, 3], [21, 25]]
    assert label([[3, 3], [9, 9]], declared) == [[3, 3, 1], [9, 9, 2]]
    assert label([[1, 5]], []) == [[1, 5]]


@given(
    gaps=st.sets(st.integers(1, 80), max_size=40),
    claims=st.lists(st.tuples(st.integers(1, 80), st.integers(0, 8), st.integers(1, 4))),
)
def test_labels_cover_every_missing_seq_once_with_the_declared_reason(
    gaps: set[int], claims: list[tuple[int, int, int]]
) -> None:
    declared = declare([], [(a, a + n, r) for a, n, r in claims], limit=MAX_DECLARED_RANGES)
    reason = {s: r for a, b, r in declared for s in range(a, b + 1)}
    ranges = gap_ranges(0, set(range(1, 82)) - gaps, limit=1000)
    labelled = label(ranges, declared)
    seen = [(s, x[2] if len(x) > 2 else 0) for x in labelled for s in range(x[0], x[1] + 1)]
    assert [s for s, _ in seen] == sorted(gaps)
    assert all(r == reason.get(s, 0) for s, r in seen)
