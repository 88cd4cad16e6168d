"""Load soak (``make soak``): 100,000 backlogged frames from 1,000 vessels delivered at once
through the real pipeline (SQLite, decrypting, case desk) — nothing lost, nothing doubled,
p99 latency and peak RSS reported (``bench/results/soak_backlog.json``)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import time
from pathlib import Path

import pytest
from sqlmodel import func, select

from protocol import keys
from protocol.lang import Lang
from protocol.messages import Grievance as GrievanceContent
from protocol.vessel import VesselSession
from shore_gateway.db import Database
from shore_gateway.hooks import default_hooks
from shore_gateway.metrics import Metrics
from shore_gateway.models import Grievance, Message
from shore_gateway.pipeline import Pipeline
from shore_gateway.pipeline_api import ArrivalMeta, Outcome
from shore_gateway.registry import VesselIds, add_vessel
from tests.helpers import det_rng, shore_keys

VESSELS = int(os.environ.get("FLIP_SOAK_VESSELS", "1000"))
PER_VESSEL = int(os.environ.get("FLIP_SOAK_FRAMES", "100"))
T0 = 1_763_640_000
ROOT = Path(__file__).resolve().parents[2]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_backlog_of_100k_frames_from_1000_vessels(tmp_path: Path) -> None:
    shore = shore_keys()
    db = Database(f"sqlite:///{tmp_path / 'soak.sqlite3'}")
    db.migrate()
    frames: list[tuple[int, bytes]] = []
    crew = 0
    with db.session() as s:
        for v in range(VESSELS):
            key = keys.new_signing_key(det_rng(f"soak {v}"))
            add_vessel(
                s, f"V{v:04d}", keys.public_pem(key.public_key()), VesselIds(owner=f"o{v % 50}")
            )
            session = VesselSession(
                sign_key=key,
                shore_sign_pub=shore.sign.public_key(),
                shore_seal_pub=shore.seal.public_key(),
            )
            for i in range(PER_VESSEL):
                now = T0 + i * 600
                if i % 10 == 0:
                    session.queue_crew(
                        GrievanceContent(category=0x17, lang=Lang.EN, text=f"v{v} g{i}"), now
                    )
                    crew += 1
                else:
                    session.queue_heartbeat(now)
                (f,) = session.frames_to_send(now, max_frames=1)
                frames.append((v, f.data))
                session.outbox.clear()  # delivered once: the backlog holds each frame once
    rng = random.Random(5)
    rng.shuffle(frames)
    pipeline = Pipeline(db, Metrics(), seal_keys=[shore.seal], hooks=default_hooks())
    rss_before = _rss_mb()
    latencies: list[float] = []
    outcomes: dict[str, int] = {}

    async def drain() -> None:
        sem = asyncio.Semaphore(64)  # 64 DirectIP connections at once

        async def one(i: int, data: bytes) -> None:
            async with sem:
                start = time.perf_counter()
                result = await pipeline.accept(
                    data, ArrivalMeta(channel="directip", imei=None, momsn=i % 65536)
                )
                latencies.append(time.perf_counter() - start)
                outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1

        await asyncio.gather(*(one(i, d) for i, (_, d) in enumerate(frames)))

    started = time.perf_counter()
    asyncio.run(drain())
    wall = time.perf_counter() - started
    with db.session() as s:
        messages = int(s.exec(select(func.count()).select_from(Message)).one())
        grievances = int(s.exec(select(func.count()).select_from(Grievance)).one())
        doubled = int(
            s.exec(
                select(func.count()).select_from(
                    select(Message.vessel_id, Message.seq)
                    .group_by(Message.vessel_id, Message.seq)
                    .having(func.count() > 1)
                    .subquery()
                )
            ).one()
        )
    latencies.sort()
    report = {
        "frames": len(frames),
        "vessels": VESSELS,
        "stored": outcomes.get(Outcome.STORED.value, 0),
        "rejected": outcomes.get(Outcome.REJECTED.value, 0),
        "messages": messages,
        "grievances": grievances,
        "crew_sent": crew,
        "lost": len(frames) - messages,
        "doubled": doubled,
        "wall_s": round(wall, 1),
        "frames_per_s": round(len(frames) / wall, 1),
        "latency_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(_rss_mb(), 1),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak_backlog.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    assert report["lost"] == 0 and report["doubled"] == 0 and report["rejected"] == 0
    assert grievances == crew
    db.dispose()
