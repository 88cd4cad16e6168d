"""Replay window per device: the contiguous prefix of accepted seqs plus bounded state above it.

The prefix is exactly what a cumulative ack may claim, so it only ever advances over seqs that
really arrived — acknowledging a seq that never did would let the vessel drop a grievance.

Above the prefix at most ``size`` accepted seqs are held individually. When more arrive (a lost
message holds the prefix back while newer ones keep coming), the lowest is folded into a
"forgotten" range ``(prefix, forgotten]`` whose *missing* seqs are recorded instead — also at
most ``size`` of them. Only if that record overflows does the window become unsure; seqs it is
unsure of are reported :attr:`Seen.STALE` and never claimed by the prefix, and the caller's
durable store (a unique constraint) decides about them.
"""

from __future__ import annotations

from enum import Enum


class Seen(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    STALE = "stale"  # the bounded window cannot tell: the caller's durable store decides


class ReplayWindow:
    """Which seqs of one device have been accepted (memory bounded by ``2 * size`` seqs)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.prefix = 0
        self.highest = 0
        self._above: set[int] = set()  # accepted, > forgotten
        self._forgotten = 0  # (prefix, forgotten]: accepted unless in _missing
        self._missing: set[int] = set()  # not accepted, in (prefix, forgotten]
        self._unsure = 0  # (prefix, unsure]: not in _missing does not mean accepted

    def check(self, seq: int) -> Seen:
        """Classify ``seq`` without recording it."""
        if seq <= self.prefix or seq in self._above:
            return Seen.DUPLICATE
        if seq <= self._forgotten:
            if seq in self._missing:
                return Seen.NEW
            return Seen.STALE if seq <= self._unsure else Seen.DUPLICATE
        return Seen.NEW

    def mark(self, seq: int) -> None:
        """Record ``seq`` as accepted."""
        if seq <= self.prefix:
            return
        self.highest = max(self.highest, seq)
        if seq <= self._forgotten:
            self._missing.discard(seq)
        else:
            self._above.add(seq)
            if len(self._above) > self.size:
                self._fold()
        self._advance()

    def _fold(self) -> None:
        lowest = min(self._above)
        self._above.remove(lowest)
        gap = range(max(self.prefix, self._forgotten) + 1, lowest)
        if len(self._missing) + len(gap) <= self.size:
            self._missing.update(gap)
        else:
            self._unsure = lowest - 1
        self._forgotten = lowest

    def _advance(self) -> None:
        while True:
            if self.prefix + 1 in self._above:
                self.prefix += 1
                self._above.remove(self.prefix)
                continue
            if self._unsure <= self.prefix < self._forgotten:
                stop = min(self._missing, default=self._forgotten + 1) - 1
                target = min(stop, self._forgotten)
                if target > self.prefix:
                    self.prefix = target
                    continue
            break
        if self.prefix >= self._forgotten:
            self._missing.clear()

    def missing(self, limit: int = 256) -> list[int]:
        """Seqs between the prefix and the highest known not to have arrived, lowest first."""
        out = sorted(self._missing)[:limit]
        for seq in range(max(self.prefix, self._forgotten) + 1, self.highest):
            if len(out) >= limit:
                break
            if seq not in self._above:
                out.append(seq)
        return out
