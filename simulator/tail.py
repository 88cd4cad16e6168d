"""What the p95 tail of a run is made of, grievance by grievance (docs/simulator.md).

Replays a run in this process with every session logged and, for each grievance, compares three
latencies: the oracle's (the lower bound), the actual one, and the **no-gap** one — the sessions
that carried its frames, with the outcomes and durations they actually drew (jitter included),
put back to back from its creation, plus the provider's forwarding. A schedule can only add gaps
to those sessions (back-off, a network-ordered wait, an earlier session still on air), so the
no-gap latency is the most any schedule could win facing the same draws. It is an estimate, not
a bound: another schedule would draw other outcomes.

Each grievance above the target line (1.25 × the oracle's p95) whose oracle is under it gets one
cause: its sessions failed and it stays above the line even with no gap; one session with long
jitter; it waited for the vessel's previous session; or back-off / a told-to-wait code.

    python -m simulator.tail monsoon 50 14 3
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from simulator.engine import Shard
from simulator.records import Timeline
from simulator.report import P95_TARGET, percentile, tail_slots
from simulator.run import default_workers, shards
from simulator.scenario import Scenario, load

#: A grievance whose first session started this long after its creation waited for another one.
BUSY_S = 1.0


@dataclass(frozen=True, slots=True)
class Session:
    start: float
    duration: float
    ok: bool
    seqs: frozenset[int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One delivered grievance: latencies from its creation (s)."""

    vessel: int
    link: str
    actual: float
    oracle: float
    no_gap: float
    failures: int
    waited: float  # creation → first session

    def cause(self, line: float) -> str:
        if self.failures and self.no_gap > line:
            return "failed session(s), above even with no gap"
        if not self.failures and self.no_gap > line:
            return "one session, long jitter"
        if self.waited > BUSY_S:
            return "waited for the vessel's previous session"
        return "back-off or told-to-wait"


class _LoggingShard(Shard):
    """A shard that also keeps every session it starts, per vessel."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sessions: dict[int, list[Session]] = {}
        super().__init__(*args, **kwargs)

    def _wake(self, v: Any, t: float) -> None:
        before = v.inflight
        super()._wake(v, t)
        if before is None and v.inflight is not None:
            plan, att, t0, _ = v.inflight
            seqs = frozenset(plan.frame.seqs) if plan.frame is not None else frozenset()
            out = att.outcome
            session = Session(t0, out.latency_s, out.mo_status == 0, seqs)
            self.sessions.setdefault(v.plan.idx, []).append(session)


@dataclass(slots=True, kw_only=True)
class Tail:
    """The tail of one run (see the module docstring)."""

    rows: list[Row] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        lat = [r.actual for r in self.rows]
        orc = [r.oracle for r in self.rows]
        gap = [r.no_gap for r in self.rows]
        o95 = percentile(orc, 95)
        p95, g95 = percentile(lat, 95), percentile(gap, 95)
        if not o95 or p95 is None or g95 is None:
            return {"grievances": len(self.rows)}
        line = P95_TARGET * o95
        n = len(lat)
        slots = tail_slots(n)
        forced = sum(1 for o in orc if o > line)
        above = [r for r in self.rows if r.actual > line and r.oracle <= line]
        return {
            "grievances": n,
            "ratio": round(p95 / o95, 3),
            "no_gap_ratio": round(g95 / o95, 3),
            "line_s": round(line, 1),
            "tail_slots": slots,
            "tail_forced": forced,
            "free_slots": slots - forced,
            "above_not_forced": len(above),
            "above_not_forced_no_gap": sum(1 for r in above if r.no_gap > line),
            "causes": dict(Counter(f"{r.link}: {r.cause(line)}" for r in above).most_common()),
        }


def explain(scenario: Scenario, vessels: int, days: float, seed: int) -> Tail:
    """Replay the run in this process, shard by shard as :func:`simulator.run.simulate` splits
    it (the draws are per vessel, so the run is the same), and explain its tail."""
    tail = Tail()
    for part in shards(vessels, default_workers(vessels)):
        shard = _LoggingShard(scenario, seed=seed, vessels=vessels, days=days, indices=part)
        result = shard.run()
        for tl in result.timelines:
            if tl.delivered is None or tl.oracle is None:
                continue
            v = shard.vs[tl.vessel]
            sessions = _sessions_of(tl, shard.sessions.get(tl.vessel, []))
            tail.rows.append(_row(tl, v.plan.profile.kind, v.plan.profile.forward_s, sessions))
    return tail


def _sessions_of(tl: Timeline, sessions: list[Session]) -> list[Session]:
    assert tl.delivered is not None
    seqs = set(range(tl.seq, tl.seq + tl.frames))
    return [s for s in sessions if s.seqs & seqs and tl.created <= s.start < tl.delivered]


def _row(tl: Timeline, link: str, forward_s: float, sessions: list[Session]) -> Row:
    assert tl.delivered is not None
    assert tl.oracle is not None
    actual = tl.delivered - tl.created
    oracle = tl.oracle - tl.created
    packed = sum(s.duration for s in sessions) + forward_s if sessions else actual
    return Row(
        vessel=tl.vessel,
        link=link,
        actual=actual,
        oracle=oracle,
        no_gap=min(max(packed, oracle), actual),
        failures=sum(1 for s in sessions if not s.ok),
        waited=(tl.first_sent if tl.first_sent is not None else tl.created) - tl.created,
    )


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: python -m simulator.tail SCENARIO VESSELS DAYS SEED", file=sys.stderr)
        return 2
    name, vessels, days, seed = argv
    tail = explain(load(name), int(vessels), float(days), int(seed))
    print(json.dumps(tail.summary(), indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
