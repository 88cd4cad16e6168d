"""Build the crew app's spoken instructions: one short clip per screen and language, for crew who
cannot read (vessel_agent/crewapp/static/prompts/, served at /prompts/…).

Each clip says the catalog strings of its screen (SCREENS) in that language, synthesised with
eSpeak NG (Debian package ``espeak-ng``; GPL-3.0-or-later — its output is not covered by that
licence) and stored as 16 kHz mono MP3 (plays in every browser). eSpeak NG has voices for
English, Burmese, Thai, Vietnamese and Indonesian, not Khmer or Tagalog: those screens show no
speaker button. Synthetic speech is a stopgap — recordings by native speakers should replace it.

``manifest.json`` records, per clip, a hash of the words it says, so a test notices when a
catalog changes and the clip no longer matches (then run this again):
    apt-get install espeak-ng && .venv/bin/python scripts/build_prompts.py
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import soundfile
import soxr

from vessel_agent.i18n import load

OUT = Path(__file__).resolve().parent.parent / "vessel_agent" / "crewapp" / "static" / "prompts"
VOICES = {"en": "en-us", "my": "my", "th": "th", "vi": "vi", "id": "id"}
#: screen (the page's section id without "s-") → catalog keys it says, in order
SCREENS = {
    "home": ["ui.welcome"],
    "cats": ["ui.choose_category"],
    "write": ["ui.details", "app.speak_instead"],
    "voice": ["app.voice_help"],
    "voice-phone": ["app.voice_help_phone", "app.phone_copy"],  # no microphone in the page
    "review": ["app.review_title", "app.review_private"],
    "receipt": ["ui.receipt_code", "ui.receipt_help"],
    "check": ["ui.lookup_prompt"],
}


def words(lang: str, screen: str) -> str:
    catalog = load(lang)
    return " ".join(catalog[key].strip() for key in SCREENS[screen])


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _espeak(lang: str, text: str) -> tuple[np.ndarray, int]:
    wav = subprocess.run(  # noqa: S603 (our own catalog text, a fixed program)
        ["espeak-ng", "-v", VOICES[lang], "-s", "135", "--stdout", text],  # noqa: S607
        capture_output=True,
        check=True,
    ).stdout
    samples, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    return samples, rate


def synthesise(lang: str, text: str) -> bytes:
    """One sentence at a time (Debian's eSpeak NG 1.51 aborts on some longer Burmese inputs),
    joined with a quarter second of silence."""
    parts = []
    for sentence in re.split(r"(?<=[။.?!])\s+", text):
        if sentence.strip():
            samples, rate = _espeak(lang, sentence)
            parts += [soxr.resample(samples, rate, 16000), np.zeros(4000, dtype=np.float32)]
    out = io.BytesIO()
    soundfile.write(
        out,
        np.concatenate(parts),
        16000,
        format="MP3",
        subtype="MPEG_LAYER_III",
        compression_level=0.99,  # ~23 kbit/s VBR: clear enough for speech, small to ship
        bitrate_mode="VARIABLE",
    )
    return out.getvalue()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict[str, str]] = {}
    for lang in VOICES:
        for screen in SCREENS:
            text = words(lang, screen)
            (OUT / f"{lang}-{screen}.mp3").write_bytes(synthesise(lang, text))
            manifest.setdefault(lang, {})[screen] = digest(text)
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"wrote {sum(len(v) for v in manifest.values())} clips to {OUT}")


if __name__ == "__main__":
    main()
