"""The oracle: the earliest a grievance could have reached the shore, with perfect knowledge.

Given the link trace actually drawn for the vessel (its hard-down intervals), the oracle sends
the grievance's frames — each in the smallest frame that can carry it, one frame per session as
on Iridium SBD — back to back from the moment it is created, each session starting at the first
instant the link is not hard-down and lasting the link's minimum session time for that size
(no jitter), then adds the provider's forwarding delay. It ignores everything a real device
cannot know or avoid: which sessions the Gilbert–Elliott state will fail, competition with other
messages, budgets and back-off. So it is a lower bound: no schedule can deliver earlier
(tests/simulator check ``oracle ≤ actual`` for every grievance).
"""

from __future__ import annotations

from collections.abc import Sequence

from simulator.link import SimLink


def oracle_delivery(link: SimLink, created: float, frame_sizes: Sequence[int]) -> float:
    """Earliest delivery ashore of a message needing frames of ``frame_sizes`` bytes."""
    t = created
    for size in frame_sizes:
        t = link.trace.next_up(t)
        t += link.latency_min(size)
    return t + link.p.forward_s


def oracle_bytes(frame_sizes: Sequence[int]) -> int:
    """Bytes the oracle puts on air for the message: each frame once."""
    return sum(frame_sizes)
