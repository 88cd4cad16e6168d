"""Vessel agent benchmark: memory, cold start and CPU per grievance (issue: vessel agent).

``run()`` returns a dict with each measurement, its target and whether it was met:

* idle RSS of ``flip vessel run`` with an empty outbox, and with 10,000 queued grievances
  (target ≤ 60 MB);
* cold start — process spawn to the JSON ready line, with 10,000 queued (target ≤ 1.5 s);
* CPU per submitted grievance through ``Device.submit`` — seal, receipt hash, one fsync'd
  transaction (target ≤ 5 ms; wall time with the fsync is reported beside it).

The agents run without a modem (``serial`` empty), so the serial driver is not exercised here.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUEUED = 10_000
SUBMITS = 200


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _make_dir(root: Path, name: str) -> Path:
    from protocol import keys
    from vessel_agent.setup import init_dir

    sign, seal = (
        keys.new_signing_key(secrets.token_bytes),
        keys.new_sealing_key(secrets.token_bytes),
    )
    (root / "seal.pub").write_bytes(keys.public_pem(seal.public_key()))
    (root / "sign.pub").write_bytes(keys.public_pem(sign.public_key()))
    d = root / name
    init_dir(
        str(d),
        name="MV Bench",
        imei="300234010753370",
        seal_pub=str(root / "seal.pub"),
        shore_sign_pub=str(root / "sign.pub"),
    )
    return d


def _fill(d: Path, n: int) -> None:
    """Queue ``n`` sealed grievances quickly (bench only: no fsync, no receipts)."""
    from protocol.lang import Lang
    from protocol.messages import Grievance
    from vessel_agent.device import Device
    from vessel_agent.outbox import Kind

    with Device(str(d)) as dev:
        dev.outbox.max_queue_bytes = 10**9
        dev.outbox.db.execute("PRAGMA synchronous=OFF")
        now = int(time.time())
        for i in range(n):
            g = Grievance(category=0x17, lang=Lang.MY, text=f"လစာ မရပါ {i} " * 3)
            dev.outbox.queue(dev.session, lambda s, g=g: s.queue_crew(g, now), Kind.CREW)


def _start(d: Path) -> tuple[float, float]:
    """(seconds to ready, RSS MB after settling) of ``flip vessel run``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flip", "vessel", "run", "--dir", str(d), "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        json.loads(proc.stdout.readline())
        ready = time.perf_counter() - t0
        time.sleep(1.5)
        rss = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
    return ready, rss


def _cpu_per_submit(d: Path) -> tuple[float, float]:
    from protocol.lang import Lang
    from vessel_agent.device import Device

    with Device(str(d)) as dev:
        dev.submit(category=0x17, lang=Lang.MY, text="warm up")
        c0, w0 = time.process_time(), time.perf_counter()
        for i in range(SUBMITS):
            dev.submit(category=0x17, lang=Lang.MY, text=f"ခုနစ်လ လစာ မရသေးပါ {i}")
        cpu = (time.process_time() - c0) / SUBMITS * 1000
        wall = (time.perf_counter() - w0) / SUBMITS * 1000
    return cpu, wall


def run() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        idle_dir = _make_dir(root, "idle")
        idle_ready, idle_rss = _start(idle_dir)
        full_dir = _make_dir(root, "full")
        t = time.perf_counter()
        _fill(full_dir, QUEUED)
        fill_s = time.perf_counter() - t
        full_ready, full_rss = _start(full_dir)
        cpu_ms, wall_ms = _cpu_per_submit(idle_dir)
    rss = max(idle_rss, full_rss)
    return {
        "name": "agent",
        "results": [
            {
                "metric": "RSS idle, MB",
                "value": round(idle_rss, 1),
                "target": "report",
                "met": None,
            },
            {
                "metric": f"RSS with {QUEUED:,} queued, MB",
                "value": round(full_rss, 1),
                "target": "≤ 60",
                "met": rss <= 60,
            },
            {
                "metric": f"cold start to ready ({QUEUED:,} queued), s",
                "value": round(full_ready, 3),
                "target": "≤ 1.5",
                "met": full_ready <= 1.5,
            },
            {
                "metric": "CPU per submitted grievance, ms",
                "value": round(cpu_ms, 2),
                "target": "≤ 5",
                "met": cpu_ms <= 5,
            },
            {
                "metric": "wall per submitted grievance (fsync), ms",
                "value": round(wall_ms, 2),
                "target": "report",
                "met": None,
            },
        ],
        "idle_rss_mb": round(idle_rss, 1),
        "idle_cold_start_s": round(idle_ready, 3),
        "queued_messages": QUEUED,
        "queued_rss_mb": round(full_rss, 1),
        "rss_target_mb": 60,
        "rss_met": max(idle_rss, full_rss) <= 60,
        "cold_start_s": round(full_ready, 3),
        "cold_start_target_s": 1.5,
        "cold_start_met": full_ready <= 1.5,
        "cpu_per_submit_ms": round(cpu_ms, 2),
        "cpu_target_ms": 5,
        "cpu_met": cpu_ms <= 5,
        "wall_per_submit_ms": round(wall_ms, 2),
        "fill_10k_s": round(fill_s, 1),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
