"""Spoken instructions for crew who cannot read: a clip per screen in each language eSpeak NG
speaks, still saying what the catalogs say, served by the crew server and offered by the page
only where one exists."""

from __future__ import annotations

import io
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import soundfile

from tests.vessel_agent.crewapp.client import boot, raw
from tests.vessel_agent.crewapp.test_browser import PHONE, Watched, app, browser  # noqa: F401

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))
import build_prompts  # noqa: E402

CLIPS = resources.files("vessel_agent.crewapp").joinpath("static", "prompts")
MANIFEST = json.loads(CLIPS.joinpath("manifest.json").read_text("utf-8"))


def test_every_clip_still_says_what_its_catalog_says() -> None:
    assert set(MANIFEST) == set(build_prompts.VOICES)
    for lang, screens in MANIFEST.items():
        assert set(screens) == set(build_prompts.SCREENS)
        for screen, digest in screens.items():
            text = build_prompts.words(lang, screen)
            assert digest == build_prompts.digest(text), (
                f"{lang}-{screen}: the catalog changed; run scripts/build_prompts.py"
            )
            info = soundfile.info(io.BytesIO(CLIPS.joinpath(f"{lang}-{screen}.mp3").read_bytes()))
            assert info.samplerate == 16000 and 1.0 < info.duration < 30


@pytest.mark.slow
def test_the_page_offers_a_clip_only_where_there_is_one(browser: Any, app: Any) -> None:  # noqa: F811
    _, server = app
    base = server.url.rstrip("/")
    assert boot(base)["prompts"]["my"] == sorted(build_prompts.SCREENS)
    assert "km" not in boot(base)["prompts"]  # eSpeak NG has no Khmer voice
    status, headers, body = raw(base, "GET", "/prompts/my-home.mp3")
    assert status == 200 and headers["content-type"] == "audio/mpeg" and len(body) > 1000
    assert raw(base, "GET", "/prompts/km-home.mp3")[0] == 404
    w = Watched(browser, server.url, PHONE)
    page = w.page
    page.click("[data-lang=my]")
    page.wait_for_selector("#s-home #say")
    # Wait for the clip's request itself: a loaded machine may issue it after the click returns.
    with page.expect_request(lambda r: r.url.endswith("/prompts/my-home.mp3"), timeout=30_000):
        page.click("#say")
    page.click("#go-lang")
    page.click("[data-lang=km]")
    page.wait_for_selector("#s-home")
    assert page.locator("#say").count() == 0
    w.close()
