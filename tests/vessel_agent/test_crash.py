"""Crash safety: SIGKILL the submitter and the agent at random instants, restart, and prove that
nothing whose submit returned was lost, no seq was reused, and nothing was sent after its ack.

``make test`` runs 30 submit kill points and 25 agent kill points; ``-m soak`` style runs can
raise ``FLIP_CRASH_ROUNDS``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from firmware_bridge.emulator import Emulator
from protocol import chain
from tests.vessel_agent.conftest import IMEI, make_agent_dir
from tests.vessel_agent.shore_sim import ShoreListener
from tests.vessel_agent.test_e2e import ROOT, wait_for
from vessel_agent.config import AgentDir
from vessel_agent.device import Device

ROUNDS = int(os.environ.get("FLIP_CRASH_ROUNDS", "1"))


def _kill_worker(d: Path, tag: str, delay: float) -> list[tuple[int, int, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.vessel_agent._crash_worker", str(d), tag],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    deadline = time.monotonic() + 10
    while not lines and time.monotonic() < deadline:  # "ready": imports done, outbox open
        time.sleep(0.005)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.join(5)
    proc.stdout.close()
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and line.endswith("\n"):
            out.append((int(parts[0]), int(parts[1]), parts[2]))
    return out


def _check_outbox(d: Path, submitted: list[tuple[int, int, str]]) -> None:
    with Device(str(d)) as dev:
        rows = dev.outbox.db.execute("SELECT seq, parent, encoded FROM messages ORDER BY seq")
        rows = rows.fetchall()
        nxt, value = dev.outbox.seq_state()
        seqs = [r[0] for r in rows]
        assert seqs == sorted(set(seqs))
        for seq, fragments, receipt in submitted:  # every returned submit is durable
            view = dev.lookup(receipt)
            assert view is not None and view.seq == seq, (seq, fragments, receipt, view)
            assert all(s in seqs for s in range(seq, seq + fragments))
        # acked heartbeats are deleted, so the newest row may be older than the counter
        assert max(seqs, default=0) <= nxt - 1
        assert all(s + n <= nxt for s, n, _ in submitted)
        if all(enc is not None for _, _, enc in rows) and seqs == list(range(1, nxt)):
            c = chain.GENESIS
            for seq, _, enc in rows:
                c = chain.advance(c, seq, chain.digest(enc))
            assert c == value  # seq counter and chain were committed together


@pytest.mark.slow
def test_kill9_during_concurrent_submits(tmp_path: Path) -> None:
    fx = make_agent_dir(tmp_path)
    rng = random.Random(4)
    submitted: list[tuple[int, int, str]] = []
    kills = 0
    for r in range(15 * ROUNDS):
        # two submitters race for seqs; both are killed at random instants
        results: list[list[tuple[int, int, str]]] = [[], []]
        ts = [
            threading.Thread(
                target=lambda i=i, r=r, results=results: results[i].extend(
                    _kill_worker(fx.dir, f"{r}-{i}", rng.uniform(0.0, 0.25))
                )
            )
            for i in range(2)
        ]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        kills += 2
        submitted += results[0] + results[1]
    assert kills >= 30 and len(submitted) > 30
    seqs = [s for s, _, _ in submitted]
    assert len(seqs) == len(set(seqs))  # no seq handed out twice
    _check_outbox(fx.dir, submitted)


@pytest.mark.slow
def test_kill9_agent_while_sending_and_acking(tmp_path: Path) -> None:
    fx = make_agent_dir(tmp_path, tick_s=0.02, airtime_bytes_per_day=100_000_000)
    with Device(str(fx.dir)) as dev:
        pub = dev.session.sign_key.public_key()
    shore = ShoreListener(fx.shore, pub)
    emu = Emulator(imei=IMEI, directip=shore.address, write_timeout_s=0.5).start()
    shore.emulator = emu
    ad = AgentDir(fx.dir)
    cfg = ad.load()
    cfg.serial, cfg.modem_timeout_s = emu.device, 1.0
    ad.save(cfg)
    log = tmp_path / "agent.log"
    rng = random.Random(7)
    submitted: list[tuple[int, int, str]] = []
    try:
        for r in range(25 * ROUNDS):
            worker = threading.Thread(
                target=lambda r=r: submitted.extend(
                    _kill_worker(fx.dir, f"s{r}", rng.uniform(0.0, 0.3))
                )
            )
            worker.start()
            with log.open("a") as err:
                agent = subprocess.Popen(
                    [sys.executable, "-m", "flip", "vessel", "run", "--dir", str(fx.dir)],
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            time.sleep(rng.uniform(0.25, 0.9))
            agent.send_signal(signal.SIGKILL)
            agent.wait()
            worker.join()
        # final run: everything submitted must reach the shore and be acked
        with log.open("a") as err:
            agent = subprocess.Popen(
                [sys.executable, "-m", "flip", "vessel", "run", "--dir", str(fx.dir)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        want = {s + k for s, n, _ in submitted for k in range(n)}

        def all_acked() -> bool:
            with Device(str(fx.dir)) as dev:
                return dev.outbox.stats().by_kind.get("crew", 0) == 0

        try:
            # Eventual delivery is the property; the time allowed only has to survive a
            # loaded CI machine (it takes ~15 s on an idle one).
            assert wait_for(lambda: want <= shore.seqs(), timeout=240)
            assert wait_for(all_acked, timeout=120)
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=15)
    finally:
        emu.close()
        shore.close()
    assert not shore.reused, "a seq carried two different messages"
    # nothing went on air after its ack was applied (log order spans every restart)
    acked: set[int] = set()
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        ev = json.loads(line)
        if ev["event"] == "acked":
            acked.update(ev["seqs"])
        elif ev["event"] == "session_ok":
            assert not acked & set(ev["seqs"]), ev
    assert len(submitted) > 10
    _check_outbox(fx.dir, submitted)
