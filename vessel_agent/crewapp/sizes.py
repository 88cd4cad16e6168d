"""The crew app's satellite-message meter: a table made with the real codec and framing.

The page cannot run the text codec (deflate with per-language preset dictionaries over UTF-8 or
SCSU, docs/wire-format.md §5), and the agent must not see the words before they are sealed, so
the agent serves a table instead: for each language and each text length in steps of
:data:`STEP` characters, how many satellite messages (SBD frames, fragments included) a
grievance takes, found by sealing and framing a sample text of that length with the protocol's
own :meth:`~protocol.vessel.VesselSession.queue_crew`. The sample is the words of the crew
catalog of that language (:mod:`vessel_agent.i18n`), shuffled: the vocabulary of the domain but
*not* the corpus the preset dictionaries were trained on (that would flatter the codec), so the
figure is an honest estimate ("about"), not a promise: every text compresses differently. The
real count is in the answer to the submit and shown with the receipt.

The agent computes the table when the crew app starts (about 0.3 s here), so it always matches
the codec and catalogs it runs with.
"""

from __future__ import annotations

import random
from functools import cache

from protocol import keys, voice
from protocol.lang import Lang, lang_from_tag
from protocol.messages import Grievance, VoiceNote
from protocol.vessel import VesselSession
from vessel_agent.i18n import LANGS, load

STEP = 100
MAX_CHARS = 2000


def _sample(lang: str, length: int) -> str:
    words = [w for value in sorted(load(lang).values()) for w in value.split()]
    random.Random(f"crewapp-sizes-{lang}").shuffle(words)  # noqa: S311 (a fixed sample)
    text = ""
    while len(text) < length:
        text += " ".join(words) + " "
    return text[:length]


@cache
def table(step: int = STEP) -> dict[str, object]:
    """``{"step": 100, "frame_bytes": 340, "frames": {lang: [n0, n50, n100, …]}}``."""
    det = iter(range(1, 10**9))

    def rng(n: int) -> bytes:
        return next(det).to_bytes(n, "big")

    session = VesselSession(
        sign_key=keys.new_signing_key(rng),
        shore_sign_pub=keys.new_signing_key(rng).public_key(),
        shore_seal_pub=keys.new_sealing_key(rng).public_key(),
    )
    frames: dict[str, list[int]] = {}
    for lang in LANGS:
        sample = _sample(lang, MAX_CHARS)
        row = []
        for n in range(0, MAX_CHARS + 1, step):
            g = Grievance(category=0x17, lang=lang_from_tag(lang), text=sample[:n].strip())
            items = session.queue_crew(g, 1_700_000_000)
            row.append(len(items))
            session.outbox.clear()
        frames[lang] = row
    return {
        "step": step,
        "max_chars": MAX_CHARS,
        "frame_bytes": session.limit,
        "frames": frames,
        "voice": _voice_row(session),
    }


def _voice_row(session: VesselSession) -> list[int]:
    """Messages a 700C voice note of 0, 1, … 60 whole seconds takes (reply key included, as
    :meth:`~vessel_agent.device.Device.submit` sends it): exact, frames are not compressed."""
    mode = voice.MODE_700C
    row = [0]
    for s in range(1, mode.max_duration_ms // 1000 + 1):
        ms = s * 1000
        note = VoiceNote(
            category=0x17,
            lang=Lang.UND,
            mode=mode.code,
            duration_ms=ms,
            frames=(bytes(mode.bytes_per_frame),) * mode.frame_count(ms),
            reply_pub=bytes(32),
        )
        row.append(len(session.queue_crew(note, 1_700_000_000)))
        session.outbox.clear()
    return row
