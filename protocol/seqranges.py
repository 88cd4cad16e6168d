"""Seq range arithmetic shared by the vessel agent, the shore core and the gateway (pure).

Ranges are inclusive ``(first, last)`` pairs; tuples may carry more fields after those two (a
reason), which :func:`runs`, :func:`minus` and :func:`merge` ignore. Missing ranges are lists
``[first, last]`` or, where the vessel declared the seqs lost (heartbeat element 6),
``[first, last, reason]``; declared ranges are ``(first, last, reason)`` tuples.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

Declared = tuple[int, int, int]


def runs(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive runs ``(first, last)`` of a set of seqs, in order."""
    out: list[list[int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return [(a, b) for a, b in out]


def minus(first: int, last: int, held: Iterable[tuple[int, ...]]) -> list[tuple[int, int]]:
    """The pieces of ``first..last`` outside every range in ``held``, in order."""
    pieces = [(first, last)]
    for r in held:
        a, b = r[0], r[1]
        pieces = [
            p
            for lo, hi in pieces
            for p in ((lo, min(hi, a - 1)), (max(lo, b + 1), hi))
            if p[0] <= p[1]
        ]
    return sorted(pieces)


def merge(ranges: Iterable[Sequence[int]]) -> list[list[int]]:
    """Missing ranges without their labels: touching pieces joined again (two real gaps never
    touch — a seq that arrived lies between them)."""
    out: list[list[int]] = []
    for r in ranges:
        if out and r[0] == out[-1][1] + 1:
            out[-1][1] = r[1]
        else:
            out.append([r[0], r[1]])
    return out


def gap_ranges(prefix: int, have: Iterable[int], limit: int) -> list[list[int]]:
    """The missing ranges [first, last] above ``prefix`` below the highest seq in ``have``."""
    ranges: list[list[int]] = []
    seq = prefix + 1
    for s in sorted(s for s in have if s > prefix):
        if s > seq:
            ranges.append([seq, s - 1])
            if len(ranges) >= limit:
                break
        seq = s + 1
    return ranges


def update_gaps(
    ranges: list[list[int]], highest: int, added: Iterable[int], limit: int
) -> list[list[int]]:
    """:func:`gap_ranges` after ``added`` arrived, from the complete ranges before and the
    highest seq before — without knowing the seqs in between."""
    points = sorted(added)
    out: list[list[int]] = []
    for first, last in ranges:
        start = first
        for s in points[bisect.bisect_left(points, first) : bisect.bisect_right(points, last)]:
            if s > start:
                out.append([start, s - 1])
            start = s + 1
        if start <= last:
            out.append([start, last])
    top = highest
    for s in points:
        if s > top + 1:
            out.append([top + 1, s - 1])
        top = max(top, s)
    return out[:limit]


def declare(
    held: Sequence[Declared], new: Iterable[Declared], *, below: int = 0, limit: int
) -> list[Declared]:
    """``held`` declared ranges with the ``new`` ones added — seqs declared already keep
    their first reason — without ranges wholly at or below ``below`` (the prefix: those seqs
    arrived after all), at most ``limit``, the lowest kept."""
    new = list(new)
    if not new and not below:
        return list(held)
    out_held = list(held)
    for first, last, reason in new:
        out_held.extend((lo, hi, reason) for lo, hi in minus(first, last, out_held))
    out: list[Declared] = []
    for a, b, r in sorted(out_held):
        if b <= below:
            continue
        if out and out[-1][2] == r and a == out[-1][1] + 1:
            out[-1] = (out[-1][0], b, r)
        else:
            out.append((a, b, r))
    return out[:limit]


def label(ranges: list[list[int]], declared: Sequence[Declared]) -> list[list[int]]:
    """Missing ranges split where the vessel declared seqs lost: ``[first, last]`` where
    nothing is declared, ``[first, last, reason]`` inside a declared range."""
    if not declared:
        return ranges
    out: list[list[int]] = []
    for first, last in ranges:
        seq = first
        for a, b, r in declared:
            if b < seq or a > last:
                continue
            if a > seq:
                out.append([seq, a - 1])
            out.append([max(a, seq), min(b, last), r])
            seq = min(b, last) + 1
        if seq <= last:
            out.append([seq, last])
    return out


def reason(r: Sequence[int]) -> int:
    """The declared reason of a missing range (0: nothing declared)."""
    return r[2] if len(r) > 2 else 0
