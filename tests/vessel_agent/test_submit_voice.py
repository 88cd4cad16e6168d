"""`flip vessel submit --voice` and Device.submit(voice=…): sealed at once, never on disk clear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flip.cli import main
from protocol import voice as wire
from protocol.crew import VoiceNote
from protocol.lang import Lang
from protocol.messages import CrewMessage, Fragment, decode_message
from protocol.shore import open_crew
from protocol.shorecore import join
from tests.vessel_agent.audio import speechlike, tone, wav
from tests.vessel_agent.conftest import AgentFixture
from vessel_agent.device import Device
from vessel_agent.voice import encode


def _submit(capsys: pytest.CaptureFixture[str], d: Path, *extra: str) -> tuple[int, dict]:
    argv = ["vessel", "submit", "--dir", str(d), "--category", "0x17", "--lang", "my"]
    status = main([*argv, *extra, "--json"])
    (line,) = capsys.readouterr().out.strip().splitlines()
    return status, json.loads(line)


def _opened(fx: AgentFixture, seq: int) -> VoiceNote:
    """The queued message ``seq`` as the shore opens it (fragments reassembled)."""
    with Device(str(fx.dir)) as dev:
        items = [i for i in dev.outbox.load_pending() if i.seq >= seq]
    msgs = [decode_message(i.encoded) for i in items]
    if isinstance(msgs[0], CrewMessage):
        msg = msgs[0]
    else:
        frags = [m for m in msgs if isinstance(m, Fragment)]
        frags = frags[: frags[0].count]
        done = join(seq, frags[0].count, [(f.index, f.count, f.chunk) for f in frags])
        assert done is not None
        msg = done[0]  # type: ignore[assignment]
    assert isinstance(msg, CrewMessage) and msg.seq == seq
    content = open_crew(msg, fx.kid, [fx.shore.seal])
    assert isinstance(content, VoiceNote)
    return content


def test_a_voice_grievance_is_sealed_fragmented_and_never_on_disk_in_clear(
    agent_dir: AgentFixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = tmp_path / "note.wav"
    rec.write_bytes(wav(speechlike(10.0, 48000), 48000, channels=2))
    status, out = _submit(capsys, agent_dir.dir, "--voice", str(rec))
    assert status == 0
    assert (out["kind"], out["mode"], out["duration_s"]) == ("voice", "700C", 10.0)
    note = _opened(agent_dir, out["seq"])
    assert note.duration_ms == 10_000 and note.mode == wire.MODE_700C.code
    # 875 B of 700C frames, sealed: 4 fragments (5 with a reply key), one SBD message each
    assert out["fragments"] == (5 if note.reply_pub else 4)
    # what the shore opens is exactly what the agent encoded from the recording
    assert note.frames == encode(rec.read_bytes()).frames
    packed = wire.pack(wire.MODE_700C, note.frames)
    for f in agent_dir.dir.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert packed[:64] not in data and note.frames[100] + note.frames[101] not in data


def test_offered_modes_and_the_device_api(agent_dir: AgentFixture) -> None:
    audio = wav(tone(700, 3.0, 16000) * 0.4, 16000)
    with Device(str(agent_dir.dir)) as dev:
        done = dev.submit(
            category=0xF1, lang=Lang.KM, voice=encode(audio, wire.mode_by_name("1200"))
        )
    assert done.urgent  # an urgent category jumps the queue, spoken or written
    note = _opened(agent_dir, done.seq)
    assert (note.mode, note.duration_ms, note.category) == (5, 3000, 0xF1)


def test_bad_recordings_are_refused_before_anything_is_queued(
    agent_dir: AgentFixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"\x00" * 400)
    status, err = _submit(capsys, agent_dir.dir, "--voice", str(junk))
    assert status == 1 and "not a sound recording" in err["error"]
    long = tmp_path / "long.wav"
    long.write_bytes(wav(tone(700, 40, 8000) * 0.4, 8000))
    status, err = _submit(capsys, agent_dir.dir, "--voice", str(long), "--mode", "1600")
    assert status == 1 and "at most 35 s" in err["error"]
    status, err = _submit(capsys, agent_dir.dir, "--voice", str(long), "--text", "x")
    assert status == 1 and "not both" in err["error"]
    status, err = _submit(capsys, agent_dir.dir, "--voice", str(tmp_path / "missing.wav"))
    assert status == 1 and "cannot read" in err["error"]
    status, err = _submit(capsys, agent_dir.dir, "--voice", str(long), "--mode", "450")
    assert status == 1 and "unknown Codec2 mode" in err["error"]
    with Device(str(agent_dir.dir)) as dev:
        assert dev.outbox.load_pending() == []
