"""A voice note recorded in the crew app, heard ashore: the done-criterion of voice grievances.

Chromium records a known WAV through its fake audio capture (``--use-file-for-fake-audio-capture``)
in the crew app of `flip demo` (gateway, emulated modem, `flip vessel run` with its crew app).
The page seals the recording to the agent's intake key; the agent encodes it with Codec2 in
memory and seals it to the shore; it crosses the emulated Iridium link; staff play it back from
``GET /api/grievances/{id}/audio``. Measured against the input: duration within 5 % of what the
app recorded, the test tone's frequency kept, the energy envelope correlated."""

from __future__ import annotations

import io
import os
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.browsers import chromium
from tests.demoproc import demo as run_demo
from tests.vessel_agent.audio import dominant_hz, envelope_correlation, wav
from tests.vessel_agent.crewapp.test_browser import PHONE, Watched

pytestmark = pytest.mark.slow
RATE = 16_000
FILE_S = 8.0


def source() -> np.ndarray:
    """A 1 kHz tone switched on and off in 'syllables' (150–400 ms on, 100–300 ms off): a
    frequency to keep and an energy envelope to follow, whatever part of it is recorded."""
    rng = np.random.default_rng(3)
    n = int(FILE_S * RATE)
    env = np.zeros(n)
    i = 0
    while i < n:
        on, off = int(RATE * rng.uniform(0.15, 0.4)), int(RATE * rng.uniform(0.1, 0.3))
        seg = min(on, n - i)
        env[i : i + seg] = np.hanning(seg)
        i += on + off
    t = np.arange(n) / RATE
    return 0.5 * env * np.sin(2 * np.pi * 1000 * t)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with run_demo(tmp_path / "demo") as info:
        yield info


@pytest.fixture
def mic_browser(tmp_path: Path) -> Iterator[Any]:
    fake = tmp_path / "said.wav"
    fake.write_bytes(wav(source(), RATE))
    flags = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with chromium(*flags) as browser:
        yield browser


def test_a_note_recorded_in_the_app_is_heard_ashore_as_it_was_said(
    demo: dict[str, Any], mic_browser: Any
) -> None:
    w = Watched(mic_browser, demo["crew_apps"][0]["url"], PHONE)
    page = w.page
    page.click("[data-lang=km]")
    # Urgent (injury at sea): it goes at once, past the demo vessel's airtime budget, which the
    # demo's own ten grievances and voice note may already have spent for the (compressed) day.
    page.locator(".urgent-box [data-cat=F1]").click()
    page.click("#go-voice")
    page.wait_for_selector("#s-voice")
    page.click("#record")
    page.wait_for_selector("#stop")
    time.sleep(5.0)
    page.click("#stop")
    page.wait_for_selector("#send-voice")
    recorded_s = float(page.inner_text("#clock").split()[0])
    assert 4.5 <= recorded_s <= 7.0
    assert page.locator("#playback").is_visible()  # listen back before sending
    page.screenshot(path=str(Path(os.environ.get("FLIP_SHOTS", "/tmp")) / "crew-voice.png"))
    page.click("#send-voice")
    page.wait_for_selector("#s-receipt", timeout=60_000)
    assert len(page.inner_text("#receipt")) >= 10
    for body in w.posts():  # sealed: no WAV/PCM structure crosses the network in clear
        assert b"RIFF" not in body and b'"op"' not in body
    w.close()

    staff = {"Authorization": f"Bearer {demo['staff_login']['token']}"}
    base = demo["base"]
    deadline, voice = time.monotonic() + 240, None
    while voice is None and time.monotonic() < deadline:
        rows = httpx.get(f"{base}/api/grievances", headers=staff, timeout=10).json()
        voice = next((r for r in rows if r.get("kind") == "voice" and r["lang"] == "km"), None)
        time.sleep(1)
    assert voice is not None, "the voice note never reached the gateway"
    assert voice["lang"] == "km" and voice["category"] == 0xF1 and voice["urgent"]
    r = httpx.get(f"{base}/api/grievances/{voice['id']}/audio", headers=staff, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(r.content)) as f:
        heard = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").astype(np.float64)
    heard_s = len(heard) / 8000
    assert abs(heard_s - recorded_s) <= 0.05 * recorded_s, (heard_s, recorded_s)
    loud = heard[np.abs(heard) > 0.1 * np.abs(heard).max()]
    # Codec2 is a vocoder: a tone comes back as the nearest harmonic of the pitch it estimates.
    # Measured: 1.3 % off for a steady 1 kHz tone, 3.1–3.3 % for these short bursts (the same
    # offline, without browser or link), so 4 % is the codec's own accuracy, not slack.
    assert abs(dominant_hz(heard, 8000) - 1000) <= 40, dominant_hz(heard, 8000)
    assert len(loud) > 0.1 * len(heard)  # it is not silence
    said = source()
    r_env = max(
        envelope_correlation(said[k : k + len(heard) * 2], RATE, heard, 8000)
        for k in range(0, int(1.5 * RATE), RATE // 50)
    )
    assert r_env >= 0.7, r_env
