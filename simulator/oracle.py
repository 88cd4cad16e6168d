"""The oracle: the earliest a grievance could have reached the shore, with perfect knowledge.

Given the link trace actually drawn for the vessel (its hard-down intervals), the oracle sends
the grievance's frames — each in the smallest frame that can carry it, one frame per session as
on Iridium SBD; on a larger link (IMT) the whole message in one frame — back to back from the
moment it is created, each session starting at the first instant the link is not hard-down and
lasting the link's minimum session time for that size (no jitter), then adds the provider's
forwarding delay. It ignores everything a real device cannot know or avoid: which sessions the
Gilbert–Elliott state will fail, competition with other messages, budgets and back-off. So it
is a lower bound: no schedule can deliver earlier (tests/simulator check ``oracle ≤ actual`` for
every grievance).
"""

from __future__ import annotations

from collections.abc import Sequence

from protocol import frame, links
from protocol.vessel import Outgoing
from simulator.link import SimLink


def oracle_frames(items: Sequence[Outgoing], mo_max: int) -> list[int]:
    """The sizes of the frames a message queued as ``items`` needs on a link whose frames are
    at most ``mo_max`` bytes: each item alone on SBD, the whole message in one frame on a larger
    link (wire format §1.1)."""
    if mo_max <= frame.UPLINK_MAX:
        return [frame.frame_size(frame.uplink_payload_size([len(i.encoded)])) for i in items]
    units = links.collapse([(i.seq, i.encoded) for i in items])
    return [frame.frame_size(frame.uplink_payload_size([len(u.encoded) for u in units]))]


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
