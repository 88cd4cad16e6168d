"""The voice note's done-criterion, end to end: a WAV goes in through `flip vessel submit --voice`,
the agent sends it over the emulated Iridium modem (AT commands on a pty) to a real
`flip gateway serve` (DirectIP), and what staff hear from ``GET /api/grievances/{id}/audio`` is
measured against the input — duration within 5 %, a test tone's frequency kept, the speech-band
energy envelope correlated."""

from __future__ import annotations

import io
import signal
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest

from firmware_bridge.emulator import Emulator
from protocol import keys
from shore_gateway.db import Database
from shore_gateway.registry import VesselIds, add_user, add_vessel
from tests.shore_gateway.ingest.gwproc import gateway, hostport
from tests.shore_gateway.test_crash import _shore_dir
from tests.vessel_agent.audio import dominant_hz, envelope_correlation, speechlike, tone, wav
from tests.vessel_agent.conftest import IMEI, make_agent_dir
from tests.vessel_agent.test_e2e import flip, start_agent, wait_for
from vessel_agent.config import AgentDir
from vessel_agent.device import Device

RATE = 48_000
TONE_S, SPEECH_S = 2.0, 8.0


def recording() -> np.ndarray:
    """2 s of a 1 kHz tone, then 8 s of speech-like syllables (48 kHz)."""
    return np.concatenate([tone(1000, TONE_S, RATE) * 0.4, speechlike(SPEECH_S, RATE)])


def measure(heard: np.ndarray, source: np.ndarray) -> dict[str, float]:
    """What the done-criterion compares: duration, the tone's frequency, speech envelope."""
    t, s = int(TONE_S * 8000), int(TONE_S * RATE)
    return {
        "duration_s": len(heard) / 8000,
        "tone_hz": dominant_hz(heard[800 : t - 800], 8000),
        "envelope_r": envelope_correlation(source[s:], RATE, heard[t:], 8000),
    }


@pytest.mark.slow
def test_a_voice_note_heard_ashore_matches_what_was_said(tmp_path: Path) -> None:
    fx = make_agent_dir(tmp_path, tick_s=0.05)
    with Device(str(fx.dir)) as dev:
        pub = dev.session.sign_key.public_key()
    url = f"sqlite:///{tmp_path / 'gw.sqlite3'}"
    db = Database(url)
    db.migrate()
    with db.session() as s:
        add_vessel(s, "MV Voice", keys.public_pem(pub), VesselIds(imei=IMEI, owner="acme"))
        _, staff = add_user(s, "ann", "staff")
        _, owner = add_user(s, "olga", "owner", owner="acme")
    db.dispose()
    source = recording()
    rec = tmp_path / "note.wav"
    rec.write_bytes(wav(source, RATE, channels=2))
    gw = gateway(url, _shore_dir(tmp_path), "--no-downlink")
    emu = Emulator(imei=IMEI, directip=hostport(gw.ready["directip"]), write_timeout_s=2.0)
    emu.start()
    ad = AgentDir(fx.dir)
    cfg = ad.load()
    cfg.serial = emu.device
    ad.save(cfg)
    agent = None
    try:
        sub = flip(
            "vessel", "submit", "--dir", str(fx.dir), "--category", "0x17", "--lang", "my",
            "--voice", str(rec),
        )  # fmt: skip
        assert (sub["kind"], sub["duration_s"]) == ("voice", 10.0)
        agent = start_agent(fx.dir, tmp_path / "agent.log")
        api = httpx.Client(base_url=gw.ready["http"], timeout=10)
        auth = {"Authorization": f"Bearer {staff}"}

        def arrived() -> bool:
            return bool(api.get("/api/grievances", headers=auth).json())

        assert wait_for(arrived, timeout=90)
        (item,) = api.get("/api/grievances", headers=auth).json()
        assert (item["kind"], item["duration_s"], item["seq"]) == ("voice", 10.0, sub["seq"])
        r = api.get(f"/api/grievances/{item['id']}/audio", headers=auth)
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        denied = api.get(
            f"/api/grievances/{item['id']}/audio", headers={"Authorization": f"Bearer {owner}"}
        )
        assert denied.status_code == 403
        with wave.open(io.BytesIO(r.content)) as w:
            heard = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
        m = measure(heard, source)
        assert abs(m["duration_s"] - 10.0) <= 0.05 * 10.0
        assert abs(m["tone_hz"] - 1000) <= 20  # 2 %
        assert m["envelope_r"] >= 0.8
        metrics = api.get("/metrics").text
        assert 'flip_frame_bytes_total{channel="directip"}' in metrics
        api.close()
    finally:
        if agent is not None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=15)
            if agent.stdout is not None:
                agent.stdout.close()
        emu.close()
        assert gw.stop() == 0
    # the recording was never written by the agent in any form: only the outbox, sealed
    assert not any("wav" in p.name for p in fx.dir.rglob("*"))
