"""`flip packet seal --voice` and `flip packet open --audio-out` as testers run them."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.flip.packet import open_frame, seal
from tests.flip.test_keys_packet import keydir  # noqa: F401 (fixture)
from tests.vessel_agent.audio import dominant_hz, tone, wav


def _seal(
    capsys: pytest.CaptureFixture[str], keys: Path, out: Path, *extra: str
) -> tuple[int, dict[str, Any]]:
    return seal(capsys, keys, out, "--seq", "5", *extra)


def test_a_short_voice_note_seals_into_one_frame_and_opens_to_a_wav(
    keydir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rec = tmp_path / "note.wav"
    rec.write_bytes(wav(tone(1000, 1.5, 44100) * 0.4, 44100, channels=2))
    out = tmp_path / "frame.bin"
    status, sealed = _seal(capsys, keydir, out, "--voice", str(rec))
    assert status == 0 and sealed["bytes"] <= 340
    status, opened = open_frame(
        capsys,
        keydir,
        out,
        "--audio-out",
        str(tmp_path / "heard"),
    )
    assert status == 0
    (msg,) = opened["messages"]
    assert (msg["kind"], msg["mode"], msg["duration_s"], msg["lang"]) == (
        "voice",
        "700C",
        1.5,
        "my",
    )
    assert msg["audio"] == str(tmp_path / "heard" / "5.wav")
    with wave.open(io.BytesIO(Path(msg["audio"]).read_bytes())) as w:
        assert (w.getframerate(), w.getnchannels(), w.getnframes()) == (8000, 1, 12000)
        pcm = np.frombuffer(w.readframes(12000), dtype="<i2")
    assert abs(dominant_hz(pcm[1000:-1000], 8000) - 1000) < 20


def test_voice_notes_that_cannot_be_sealed_are_refused_in_one_line(
    keydir: Path,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "frame.bin"
    long = tmp_path / "long.wav"
    long.write_bytes(wav(tone(700, 8, 16000) * 0.4, 16000))
    status, err = _seal(capsys, keydir, out, "--voice", str(long))
    assert status == 1 and "fragments" in err["error"] and "recording" in err["error"]
    status, err = _seal(capsys, keydir, out, "--voice", str(long), "--text", "hi")
    assert status == 1 and "not both" in err["error"]
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF not really")
    status, err = _seal(capsys, keydir, out, "--voice", str(junk))
    assert status == 1 and "not a sound recording" in err["error"]
    quiet = tmp_path / "quiet.wav"
    quiet.write_bytes(wav(np.zeros(16000), 16000))
    status, err = _seal(capsys, keydir, out, "--voice", str(quiet), "--mode", "1200")
    assert status == 1 and "microphone" in err["error"]
    assert not out.exists()
