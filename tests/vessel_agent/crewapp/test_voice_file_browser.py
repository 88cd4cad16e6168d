"""A voice note from a phone on the vessel Wi-Fi: the page is not a secure context there, so the
browser gives it no microphone; the crew member records with the phone's own recorder app
(``<input type=file accept=audio/* capture>``), the page decodes that file itself (Web Audio),
mixes and resamples it to the PCM the in-page recording sends and seals it like one.

The phone's LAN origin is reproduced on loopback: Chromium resolves the name ``crew.vessel`` to
127.0.0.1 (``--host-resolver-rules``), and a page at ``http://crew.vessel:PORT`` is not a secure
context (only https, localhost and loopback IP literals are) — asserted, not assumed."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from protocol.crew import VoiceNote
from tests.browsers import chromium
from tests.vessel_agent.audio import speechlike, wav
from tests.vessel_agent.conftest import AgentFixture, make_agent_dir
from tests.vessel_agent.crewapp.test_browser import PHONE, Watched, no_overflow
from tests.vessel_agent.test_submit_voice import _opened
from vessel_agent import i18n
from vessel_agent.crewapp.server import CrewServer, serve
from vessel_agent.device import Device

pytestmark = pytest.mark.slow
LAN_NAME = "crew.vessel"


@pytest.fixture(scope="module")
def lan_browser() -> Iterator[Any]:
    with chromium(f"--host-resolver-rules=MAP {LAN_NAME} 127.0.0.1") as browser:
        yield browser


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[AgentFixture, CrewServer, str]]:
    fx = make_agent_dir(tmp_path)
    server = serve(str(fx.dir), ("127.0.0.1", 0), idle_s=120)
    try:
        yield fx, server, f"http://{LAN_NAME}:{server.server_address[1]}/"
    finally:
        server.close()


def ogg(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, samples, rate, format="OGG", subtype="VORBIS")
    return buf.getvalue()


def voice_screen(w: Watched, lang: str, cat: str) -> Any:
    page = w.page
    assert page.evaluate("isSecureContext") is False
    assert page.evaluate("navigator.mediaDevices === undefined")  # no microphone for the page
    page.click(f"[data-lang={lang}]")
    page.click("#go-report")
    page.click(f"[data-cat='{cat}']")
    page.click("#go-voice")
    page.wait_for_selector("#s-voice")
    assert page.locator("#record").count() == 0  # no in-page recording offered ...
    assert page.locator("#record-phone").is_visible()  # ... the phone's recorder instead
    picker = page.locator("#voice-file")
    assert picker.get_attribute("accept") == "audio/*" and picker.get_attribute("capture") == ""
    return page


@pytest.mark.parametrize(
    ("name", "make", "seconds", "lang"),
    [
        ("note.wav", lambda s: wav(s(44_100), 44_100, channels=2), 4.3, "th"),
        ("note.ogg", lambda s: ogg(s(48_000), 48_000), 6.2, "my"),
    ],
    ids=["wav-44k1-stereo", "ogg-vorbis-48k"],
)
def test_a_note_from_the_phones_recorder_reaches_the_outbox_sealed(
    lan_browser: Any, app: Any, tmp_path: Path, name: str, make: Any, seconds: float, lang: str
) -> None:
    fx, _, url = app
    data = make(lambda rate: speechlike(seconds, rate))
    w = Watched(lan_browser, url, PHONE)
    page = voice_screen(w, lang, "17")
    t = i18n.load(lang)
    assert page.inner_text("#voice-help") == t["app.voice_help_phone"]
    assert page.inner_text("#phone-copy") == t["app.phone_copy"]
    with page.expect_request(f"**/prompts/{lang}-voice-phone.mp3"):
        page.click("#say")  # the spoken instruction of this path, not the in-page one's
    page.set_input_files(
        "#voice-file", files=[{"name": name, "mimeType": "audio/*", "buffer": data}]
    )
    page.wait_for_selector("#send-voice")
    shown_s = float(page.inner_text("#clock").split()[0])
    assert abs(shown_s - seconds) <= 0.05 * seconds, shown_s
    assert page.locator("#playback").is_visible()  # listen back before sending
    assert page.locator("#record-again").is_visible()
    no_overflow(page)
    shots = Path(os.environ.get("FLIP_SHOTS", "/tmp"))
    page.screenshot(path=str(shots / f"crew-voice-file-{lang}.png"))
    page.click("#send-voice")
    page.wait_for_selector("#s-receipt", timeout=60_000)
    receipt = page.inner_text("#receipt")
    for body in w.posts():  # sealed: neither the file nor any audio structure in clear
        assert b"RIFF" not in body and b"OggS" not in body and b'"op"' not in body
        assert data[1000:1032] not in body
    w.close()

    with Device(str(fx.dir)) as dev:
        seq = dev.lookup(receipt).seq  # type: ignore[union-attr]
    note = _opened(fx, seq)
    assert isinstance(note, VoiceNote) and note.lang.name.lower() == lang and note.category == 0x17
    assert abs(note.duration_ms / 1000 - seconds) <= 0.05 * seconds, note.duration_ms
    assert note.reply_pub is not None  # a phone (not the box's screen): its own reply key


def test_files_that_cannot_be_used_get_the_crew_members_own_error(
    lan_browser: Any, app: Any
) -> None:
    fx, _, url = app
    w = Watched(lan_browser, url, PHONE)
    page = voice_screen(w, "km", "1A")
    t = i18n.load("km")
    rate = 22_050
    cases = [
        (b"not audio at all" * 500, t["app.voice_bad"]),
        (wav(speechlike(0.5, rate), rate), t["app.voice_short"]),
        (wav(speechlike(65, rate), rate), t["app.voice_long"]),
    ]
    for data, message in cases:
        page.set_input_files(
            "#voice-file", files=[{"name": "x.wav", "mimeType": "audio/wav", "buffer": data}]
        )
        page.wait_for_function(
            "m => document.getElementById('error').textContent === m", arg=message
        )
        assert page.locator("#send-voice").count() == 0
        assert page.locator("#record-phone").is_visible()  # try again with the recorder
    # Silence decodes but the agent refuses it: the agent's own error, nothing queued.
    page.set_input_files(
        "#voice-file",
        files=[{"name": "x.wav", "mimeType": "audio/wav", "buffer": wav(np.zeros(3 * rate), rate)}],
    )
    page.click("#send-voice")
    page.wait_for_function(
        "m => document.getElementById('error').textContent === m", arg=t["app.voice_silent"]
    )
    assert w.posts(), "the silent note was sent (sealed) and refused by the agent"
    w.close()
    with Device(str(fx.dir)) as dev:
        assert dev.outbox.load_pending() == []


def test_the_boxs_screen_never_offers_a_file_chooser(lan_browser: Any, app: Any) -> None:
    """On loopback (the box's kiosk) the page has the microphone API; with no headset plugged in
    it says so and stays there: a file chooser would open the box's own disk to whoever stands
    at the screen."""
    _, server, _ = app
    w = Watched(lan_browser, server.url, PHONE)
    page = w.page
    assert page.evaluate("isSecureContext") is True
    page.click("[data-lang=en]")
    page.click("#go-report")
    page.click("[data-cat='17']")
    page.click("#go-voice")
    page.click("#record")  # no capture device in this browser: refused
    page.wait_for_function(
        "m => document.getElementById('error').textContent === m",
        arg=i18n.load("en")["app.mic_denied"],
    )
    assert page.locator("#record").is_visible()
    assert page.locator("#record-phone").count() == 0
    assert page.locator("#phone-copy").is_hidden()
    w.close()
