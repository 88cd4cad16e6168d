"""Storage faults of the vessel agent: a power cut at any instant (the outbox file copied while
submits are being committed), a full disk, a damaged database page."""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from protocol.lang import Lang
from tests.vessel_agent.conftest import make_agent_dir
from vessel_agent.device import Device
from vessel_agent.errors import OutboxCorrupt, OutboxError
from vessel_agent.outbox import Outbox

ROOT = Path(__file__).resolve().parents[2]


def _seqs(db: Path) -> set[int]:
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {row[0] for row in con.execute("SELECT seq FROM messages")}
    finally:
        con.close()


@pytest.mark.slow
def test_power_cut_at_random_instants_keeps_every_accepted_submit(tmp_path: Path) -> None:
    """The writer is frozen (SIGSTOP) at random instants and its files copied as they are on
    disk then — what a power cut would leave, fsync'd or not. Every copy opens cleanly
    and holds every grievance whose submit had returned before the cut."""
    fx = make_agent_dir(tmp_path)
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.vessel_agent._crash_worker", str(fx.dir), "cut"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    assert worker.stdout is not None
    assert worker.stdout.readline().strip() == b"ready"
    fd = worker.stdout.fileno()
    os.set_blocking(fd, False)
    rnd = random.Random(9)
    accepted: set[int] = set()
    buffered = ""
    cuts = 0
    try:
        for cut in range(25):
            time.sleep(rnd.uniform(0.005, 0.08))
            try:
                buffered += os.read(fd, 1 << 16).decode()
            except BlockingIOError:
                pass
            *lines, buffered = buffered.split("\n")
            accepted |= {int(line.split()[0]) for line in lines if line.strip()}
            before = set(accepted)
            worker.send_signal(signal.SIGSTOP)
            try:
                snap = tmp_path / f"cut{cut}"
                snap.mkdir()
                for name in ("outbox.db", "outbox.db-wal"):
                    if (fx.dir / name).exists():
                        shutil.copyfile(fx.dir / name, snap / name)
            finally:
                worker.send_signal(signal.SIGCONT)
            missing = before - _seqs(snap / "outbox.db")
            assert not missing, f"cut {cut}: accepted grievances lost: {sorted(missing)}"
            cuts += 1
    finally:
        worker.kill()
        worker.wait()
        worker.stdout.close()
    assert cuts == 25 and len(accepted) > 10


DISK_FULL = """
import resource, sys
from protocol.lang import Lang
from vessel_agent.device import Device
from vessel_agent.errors import OutboxError
path, limit = sys.argv[1], int(sys.argv[2])
with Device(path) as dev:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    done = []
    try:
        for i in range(5000):
            done.append(dev.submit(category=0x17, lang=Lang.EN, text="full " + "x" * 200).seq)
    except OutboxError as exc:
        print("ERROR", type(exc).__name__, str(exc).replace(chr(10), " "))
    print("DONE", " ".join(map(str, done)))
"""


@pytest.mark.slow
def test_disk_full_is_a_clear_error_and_nothing_is_corrupted(tmp_path: Path) -> None:
    fx = make_agent_dir(tmp_path)
    with Device(str(fx.dir)) as dev:
        first = dev.submit(category=0x17, lang=Lang.EN, text="before the disk filled").seq
    size = sum(
        (fx.dir / n).stat().st_size for n in ("outbox.db", "outbox.db-wal") if (fx.dir / n).exists()
    )
    out = subprocess.run(
        [sys.executable, "-c", DISK_FULL, str(fx.dir), str(size + 64 * 1024)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert "full" in lines["ERROR"].lower() or "disk" in lines["ERROR"].lower(), lines["ERROR"]
    done = {int(s) for s in lines["DONE"].split()}
    # after the disk has room again: the file is intact and every accepted submit is there
    assert {first, *done} <= _seqs(fx.dir / "outbox.db")
    with Device(str(fx.dir)) as dev:
        again = dev.submit(category=0x17, lang=Lang.EN, text="room again")
        assert again.seq > max(done | {first})


def test_damaged_page_is_detected_at_start_and_salvaged(tmp_path: Path) -> None:
    """Detected at start (quick_check), then salvaged rather than refused; the details of
    what is kept and reported are in test_recovery.py."""
    fx = make_agent_dir(tmp_path)
    with Device(str(fx.dir)) as dev:
        for i in range(200):
            dev.submit(category=0x17, lang=Lang.EN, text=f"grievance {i} " + "y" * 100)
        nxt, _ = dev.outbox.seq_state()
    db = fx.dir / "outbox.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = con.execute("PRAGMA page_size").fetchone()[0]
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.close()
    assert pages > 8
    raw = bytearray(db.read_bytes())
    victim = pages // 2  # a b-tree page in the middle of the messages table
    raw[victim * page : victim * page + 64] = b"\xa5" * 64
    db.write_bytes(bytes(raw))
    with pytest.raises(OutboxCorrupt, match="damaged"):
        Outbox(db)  # the check itself still refuses a damaged file
    assert issubclass(OutboxCorrupt, OutboxError)
    # the CLI salvages it, says so in one structured log line, and carries on
    out = subprocess.run(
        [sys.executable, "-m", "flip", "vessel", "status", "--dir", str(fx.dir), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert json.loads(line)["event"] == "outbox_recovered"
    result = json.loads(out.stdout)
    assert result["recovered"]["lost"]["pending_seqs"] and result["next_seq"] == nxt
    assert list(fx.dir.glob("outbox.db.corrupt-*"))


def test_rlimit_is_available() -> None:
    assert resource.RLIMIT_FSIZE is not None
