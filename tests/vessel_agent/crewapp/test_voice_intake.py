"""Voice notes through the crew server (POST /api/v1/crew/voice), sealed as web/src/app.js seals
them: the note reaches the outbox sealed to the shore; bad recordings get the crew member's own
error; malformed, oversized or misrouted bodies are refused and the server keeps serving."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import keys
from protocol.crew import VoiceNote
from protocol.seal import open_sealed, seal
from tests.vessel_agent.audio import speechlike
from tests.vessel_agent.conftest import AgentFixture, make_agent_dir
from tests.vessel_agent.crewapp.client import HEADERS, Page, raw
from tests.vessel_agent.test_submit_voice import _opened
from vessel_agent.crewapp.intake import INFO_REPLY, INFO_REQUEST, MAX_VOICE_SEALED, PAD_TO
from vessel_agent.crewapp.server import CrewServer, serve
from vessel_agent.device import Device

RATE = 16_000


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[AgentFixture, CrewServer, Page]]:
    fx = make_agent_dir(tmp_path)
    server = serve(str(fx.dir), ("127.0.0.1", 0), idle_s=60)
    page = Page(server.url.rstrip("/"))
    try:
        yield fx, server, page
    finally:
        page.close()
        server.close()


def voice_body(page: Page, pcm: bytes, samples: int | None = None, op: str = "voice",
               **fields: Any) -> tuple[bytes, X25519PrivateKey]:  # fmt: skip
    """``u32 n ‖ request JSON padded ‖ PCM padded to whole seconds``, sealed (as the page)."""
    resp = X25519PrivateKey.generate()
    head = json.dumps({
        "op": op, "token": page.token(), "resp_pub": keys.raw_public(resp.public_key()).hex(),
        "category": 0x17, "lang": "my", "rate": RATE,
        "samples": len(pcm) // 2 if samples is None else samples, **fields,
    }).encode()  # fmt: skip
    head += b" " * (-len(head) % PAD_TO)
    audio = pcm + bytes(-len(pcm) % (2 * RATE))
    plain = len(head).to_bytes(4, "big") + head + audio
    return seal(plain, keys.seal_public_from_raw(page.intake_pub), INFO_REQUEST), resp


def post(page: Page, sealed: bytes) -> tuple[int, bytes]:
    status, _, body = raw(page.base, "POST", "/api/v1/crew/voice", sealed, HEADERS)
    return status, body


def pcm16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def test_a_recorded_note_is_sealed_to_the_shore(app: Any) -> None:
    fx, _, page = app
    reply = keys.raw_public(X25519PrivateKey.generate().public_key()).hex()
    sealed, resp = voice_body(page, pcm16(speechlike(6.5, RATE)), reply_pub=reply)
    assert len(sealed) == 4 + 1024 + 7 * 2 * RATE + 48  # padded to whole seconds
    status, body = post(page, sealed)
    assert status == 200
    answer = json.loads(open_sealed(body, [resp], INFO_REPLY))
    assert answer["ok"] and answer["duration_s"] == 6.5 and answer["frames"] == 3
    with Device(str(fx.dir)) as dev:
        seq = dev.lookup(answer["receipt"]).seq  # type: ignore[union-attr]
    note = _opened(fx, seq)
    assert isinstance(note, VoiceNote) and note.duration_ms == 6500
    assert note.reply_pub == bytes.fromhex(reply)


@pytest.mark.parametrize(
    ("pcm", "error"),
    [
        (np.zeros(2 * RATE), "app.voice_silent"),
        (np.clip(np.sin(np.arange(2 * RATE) * 0.3) * 5, -1, 1), "app.voice_loud"),
        (speechlike(0.3, RATE), "app.voice_short"),
        (speechlike(61, RATE), "app.voice_long"),
    ],
)
def test_bad_recordings_get_the_crew_members_own_error(
    app: Any, pcm: np.ndarray, error: str
) -> None:
    fx, _, page = app
    sealed, resp = voice_body(page, pcm16(pcm))
    status, body = post(page, sealed)
    assert status == 200
    assert json.loads(open_sealed(body, [resp], INFO_REPLY)) == {"ok": False, "error": error}
    with Device(str(fx.dir)) as dev:
        assert dev.outbox.load_pending() == []


def test_malformed_misrouted_and_oversized_notes_are_refused(app: Any) -> None:
    fx, _, page = app
    pcm = pcm16(speechlike(2.0, RATE))
    cases = [
        voice_body(page, pcm, samples=len(pcm))[0],  # more samples than it holds
        voice_body(page, pcm, samples=0)[0],
        voice_body(page, pcm, op="submit")[0],  # a text request on the voice route
        voice_body(page, pcm, rate="fast")[0],
        voice_body(page, pcm, lang="xx")[0],
        b"\x00" * 4000,  # does not open
    ]
    key = keys.seal_public_from_raw(page.intake_pub)
    cases.append(seal(b"\x00\x00\x00\x00" + pcm, key, INFO_REQUEST))  # no header
    cases.append(seal(b"\xff\xff\xff\xff" + pcm, key, INFO_REQUEST))  # header past the end
    for sealed in cases:
        assert post(page, sealed)[0] == 400
    # a voice request on the text route is refused too
    status, _, _ = raw(page.base, "POST", "/api/v1/crew", voice_body(page, pcm)[0], HEADERS)
    assert status in (400, 413)
    status, _, _ = raw(
        page.base, "POST", "/api/v1/crew/voice", b"", {**HEADERS, "Content-Length": str(
            MAX_VOICE_SEALED + 1)},
    )  # fmt: skip
    assert status == 413
    assert page.call("lookup", receipt="0000000000")["ok"] is False  # still serving
    with Device(str(fx.dir)) as dev:
        assert dev.outbox.load_pending() == []
