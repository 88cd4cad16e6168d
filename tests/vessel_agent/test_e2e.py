"""End to end on a real pty: `flip vessel submit` → `flip vessel run` → AT commands to the modem
emulator → DirectIP MO to a TCP listener here → verified with the protocol's shore side → acks
back as MT → the agent marks the grievance received. SIGTERM stops the agent cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from firmware_bridge.emulator import Emulator
from protocol.messages import CrewMessage
from protocol.shore import open_crew
from tests.vessel_agent.conftest import IMEI, make_agent_dir
from tests.vessel_agent.shore_sim import ShoreListener
from vessel_agent.config import AgentDir
from vessel_agent.device import Device

ROOT = Path(__file__).resolve().parents[2]


def flip(*args: str, timeout: float = 30) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "flip", *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return json.loads(out.stdout)


def start_agent(d: Path, log: Path) -> subprocess.Popen[str]:
    with log.open("a") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flip", "vessel", "run", "--dir", str(d), "--json"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline())
    assert ready["ready"] is True
    return proc


def wait_for(cond, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_submit_to_directip_and_back(tmp_path: Path) -> None:
    fx = make_agent_dir(tmp_path, tick_s=0.05)
    with Device(str(fx.dir)) as dev:
        pub = dev.session.sign_key.public_key()
    shore = ShoreListener(fx.shore, pub)
    emu = Emulator(imei=IMEI, directip=shore.address, write_timeout_s=2.0).start()
    shore.emulator = emu
    ad = AgentDir(fx.dir)
    cfg = ad.load()
    cfg.serial = emu.device
    ad.save(cfg)
    log = tmp_path / "agent.log"
    try:
        sub = flip(
            "vessel",
            "submit",
            "--dir",
            str(fx.dir),
            "--category",
            "0x17",
            "--lang",
            "my",
            "--text",
            "လစာ ခုနစ်လ မရသေးပါ",
        )
        assert sub["state"] == "queued"
        proc = start_agent(fx.dir, log)
        try:
            assert wait_for(lambda: int(sub["seq"]) in shore.seqs())  # type: ignore[call-overload]
            assert shore.imeis[0] == IMEI
            ev = next(e for e in shore.received if e.seq == sub["seq"])
            assert isinstance(ev.message, CrewMessage)
            content = open_crew(ev.message, ev.kid, [fx.shore.seal])
            assert content.text == "လစာ ခုနစ်လ မရသေးပါ"  # type: ignore[union-attr]

            def received() -> bool:
                st = flip(
                    "vessel", "status", "--dir", str(fx.dir), "--receipt", str(sub["receipt"])
                )
                return st["delivery"] == "received"

            assert wait_for(received)
            st = flip("vessel", "status", "--dir", str(fx.dir))
            assert st["link"]["link"] == "up"  # type: ignore[index]
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
            assert proc.stdout is not None
            proc.stdout.close()
        events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
        assert events[0] == "agent_started" and events[-1] == "agent_stopped"
        assert "modem_ready" in events and "acked" in events
        assert "ခုနစ်လ" not in log.read_text()
        assert not shore.reused
    finally:
        emu.close()
        shore.close()
    assert os.path.exists(fx.dir / "outbox.db")
