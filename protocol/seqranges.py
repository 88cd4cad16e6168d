"""Seq range arithmetic shared by the vessel agent and the gateway (pure).

Ranges are inclusive ``(first, last)`` pairs; tuples may carry more fields after those two (a
reason), which these functions ignore.
"""

from __future__ import annotations

from collections.abc import Iterable


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
