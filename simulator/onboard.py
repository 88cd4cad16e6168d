"""The vessel side of a shard: each simulated vessel runs the on-board code itself — its
:class:`~protocol.vessel.VesselSession` under the agent core (:class:`vessel_agent.core.
AgentCore`, with the agent's :class:`~vessel_agent.scheduler.Scheduler`) — over a simulated
link. Also the fleet's deterministic keys, and the memoizing of two pure protocol functions."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from protocol import frame
from protocol.vessel import VesselSession
from simulator.fleet import EPOCH, VesselPlan, device_seed
from simulator.link import HOUR, Attempt, SimLink
from vessel_agent.core import AgentCore, SessionStore
from vessel_agent.scheduler import Scheduler, SessionPlan


def speedups() -> None:
    """Memoize two pure protocol functions, as the modules that call them see them.

    * :func:`protocol.fragment.max_single` depends only on the frame limit but walks down from
      it a byte at a time (≈ 300 µs) for every message ``VesselSession`` queues — a third of a
      fleet run's time before this; worth caching upstream in ``protocol/``.
    * :func:`protocol.text.encode_text` / ``decode_text``: SCSU in pure Python costs ≈ 3 ms
      per grievance; simulated texts come from a small phrase set and repeat, so the cache
      returns the same bytes the codec would. Sealing (HPKE) and signing still run every time.
    """
    import protocol.crew as pc
    import protocol.vessel as pv

    for module, name, wrap in (
        (pv, "max_single", cache),
        (pc, "encode_text", _lru),
        (pc, "decode_text", _lru),
    ):
        fn = getattr(module, name)
        if not hasattr(fn, "cache_info"):
            setattr(module, name, wrap(fn))


def _lru(fn: Any) -> Any:
    return lru_cache(maxsize=4096)(fn)


@cache
def shore_keys() -> tuple[Ed25519PrivateKey, X25519PrivateKey]:
    """The simulated shore's keys (deterministic; cached per process)."""
    import hashlib

    sign = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"flip-sim/shore/sign").digest())
    seal = X25519PrivateKey.from_private_bytes(hashlib.sha256(b"flip-sim/shore/seal").digest())
    return sign, seal


@cache
def device_key(idx: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(device_seed(idx))


@dataclass(slots=True)
class Vessel:
    """One simulated vessel: its plan and link, the agent core over its session and scheduler,
    and the engine's bookkeeping (pending wake token, the session in flight, arrivals)."""

    plan: VesselPlan
    link: SimLink
    session: VesselSession
    sched: Scheduler
    core: AgentCore
    token: int = 0
    inflight: tuple[SessionPlan, Attempt, float, dict[int, int]] | None = None
    next_arrival: int = 0
    ring_pending: bool = False
    unsettled: int = 0  # grievances not yet both acked and answered with a status
    by_seq: dict[int, int] = field(default_factory=dict)  # grievance's first seq → timeline
    last_heard: float = 0.0
    silences: list[tuple[float, float]] = field(default_factory=list)


def plan_link(plan: VesselPlan, seed: int) -> SimLink:
    """A vessel's satellite link as its plan draws it (the same draws in every run of a seed)."""
    return SimLink(
        plan.profile,
        rng=random.Random(f"{seed}:link:{plan.idx}"),  # noqa: S311
        trace=plan.trace,
        storms=plan.storms,
    )


def make_vessel(
    plan: VesselPlan,
    key: Ed25519PrivateKey,
    shore_sign: Ed25519PublicKey,
    shore_seal: X25519PublicKey,
    seed: int,
) -> Vessel:
    """A vessel as its agent starts: empty queue, the scheduler's settings from its group."""
    link = plan_link(plan, seed)
    session = VesselSession(
        sign_key=key,
        shore_sign_pub=shore_sign,
        shore_seal_pub=shore_seal,
        limit=min(plan.profile.mo_max, frame.UPLINK_MAX),  # seqs count SBD-sized messages
    )
    g = plan.group
    sched = Scheduler(
        session,
        now=float(EPOCH),
        budget_per_day=g.airtime_bytes_per_day,
        heartbeat_s=g.heartbeat_interval_h * HOUR,
        report_s=g.position_interval_h * HOUR,
        mailbox_s=g.mailbox_interval_h * HOUR,
    )
    sched.frame_limit = plan.profile.mo_max  # IMT: many messages, long ones whole (§1.1)
    store = SessionStore(session)
    core = AgentCore(sched, reports=store, store=store)
    return Vessel(plan=plan, link=link, session=session, sched=sched, core=core)
