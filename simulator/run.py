"""Run a scenario on the virtual clock: shard the fleet over worker processes, merge, report.

Vessels never interact except through the shore, and the shore keeps its protocol state per
device, so the fleet splits into shards — one shore per shard, like several gateways behind an
MQTT shared subscription (ARCHITECTURE.md). Every random draw is seeded per vessel, so the
report does not depend on how many workers ran it (a test checks this).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from simulator.engine import run_shard
from simulator.records import ShardResult
from simulator.report import build_report
from simulator.scenario import Scenario


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    vessels: int
    days: float
    seed: int = 1
    workers: int = 1
    shore: str = "memory"  # the shore core in memory; "gateway": the whole pipeline on SQLite


class _Ticks:
    """Turns ``(shard, day)`` ticks into ``progress(days done over all shards, total)``."""

    def __init__(self, progress: Callable[[int, int], None], total: int, n: int) -> None:
        self.progress, self.total, self.days = progress, total, [0] * n

    def put(self, item: tuple[int, int]) -> None:
        shard, day = item
        self.days[shard] = max(self.days[shard], day)
        self.progress(min(self.total, sum(self.days)), self.total)


def default_workers(vessels: int) -> int:
    """Two processes pay off from a few hundred vessels (process start ≈ 0.5 s)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, 2 if vessels >= 150 else 1))


def shards(vessels: int, workers: int) -> list[list[int]]:
    """Vessel indices per worker, interleaved so each gets a mix of vessel groups."""
    n = max(1, min(workers, vessels))
    return [list(range(i, vessels, n)) for i in range(n)]


def simulate(
    scenario: Scenario,
    cfg: RunConfig,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[ShardResult]]:
    """Run and return (report, raw shard results).

    ``progress(done, total)`` is called as simulated days complete (summed over shards).
    """
    start = time.perf_counter()
    parts = shards(cfg.vessels, cfg.workers)
    days_per_shard = math.ceil(cfg.days + scenario.drain_days)
    total = days_per_shard * len(parts)
    results: list[ShardResult] = []
    if len(parts) == 1:
        q = _Ticks(progress, total, 1) if progress else None
        results.append(run_shard(scenario, cfg.seed, cfg.vessels, cfg.days, parts[0], cfg.shore, q))
    else:
        import multiprocessing as mp

        # "spawn": a clean interpreter per worker (no forked locks or threads).
        ctx = mp.get_context("spawn")
        manager = ctx.Manager() if progress else None
        queue = manager.Queue() if manager else None
        try:
            with ProcessPoolExecutor(max_workers=len(parts), mp_context=ctx) as pool:
                futures = [
                    pool.submit(
                        run_shard, scenario, cfg.seed, cfg.vessels, cfg.days, p, cfg.shore, queue, i
                    )
                    for i, p in enumerate(parts)
                ]
                if queue is not None and progress is not None:
                    ticks = _Ticks(progress, total, len(parts))
                    while not all(f.done() for f in futures):
                        with contextlib.suppress(Exception):
                            ticks.put(queue.get(timeout=0.2))
                results = [f.result() for f in futures]
        finally:
            if manager is not None:
                manager.shutdown()
    if progress:
        progress(total, total)
    wall = time.perf_counter() - start
    report = build_report(scenario, cfg.vessels, cfg.days, cfg.seed, results)
    report["summary"]["wall_s"] = round(wall, 3)
    report["run"]["workers"] = len(parts)
    report["run"]["shore"] = cfg.shore
    report["run"]["sim_events"] = sum(r.events for r in results)
    # CPU per shard: on idle cores the wall time is about the largest of these plus start-up.
    report["run"]["shard_cpu_s"] = [r.cpu_s for r in results]
    report["run"]["vessel_days_per_s"] = round(cfg.vessels * cfg.days / max(wall, 1e-9), 1)
    return report, results
