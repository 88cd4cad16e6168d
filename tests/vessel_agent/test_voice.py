"""Voice notes on board (vessel_agent.voice) and their decoding ashore (shore_gateway.voice)."""

from __future__ import annotations

import io
import wave

import numpy as np
import pycodec2
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import voice
from protocol.crew import decode_crew, encode_crew
from protocol.lang import Lang
from shore_gateway.voice import decode_pcm, note_wav
from tests.vessel_agent.audio import dominant_hz, speechlike, tone, wav
from vessel_agent.voice import (
    BadRate,
    Clipped,
    NotAudio,
    Silent,
    TooLong,
    TooShort,
    VoiceError,
    encode,
)


@pytest.mark.parametrize("mode", list(voice.MODES.values()), ids=lambda m: m.name)
def test_the_protocol_mode_table_matches_libcodec2(mode: voice.Mode) -> None:
    codec = pycodec2.Codec2(mode.bitrate)
    assert codec.bits_per_frame() == mode.bits_per_frame
    assert codec.bytes_per_frame() == mode.bytes_per_frame
    assert codec.samples_per_frame() == mode.samples_per_frame


def test_pycodec2_encodes_only_the_first_frame_of_a_longer_buffer() -> None:
    """The pitfall the per-frame loops exist for; if a release fixes it, this test says so."""
    codec = pycodec2.Codec2(700)
    pcm = (tone(440, 1.0, 8000) * 32767).astype(np.int16)
    whole = codec.encode(pcm[:640])
    first = codec.encode(pcm[:320])
    assert whole[:3] == first[:3] and whole[4:] == bytes(len(whole) - 4)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_any_common_wav_becomes_a_note_whose_tone_survives(rate: int, channels: int) -> None:
    audio = wav(tone(1000, 2.0, rate) * 0.5, rate, channels)
    enc = encode(audio)
    assert enc.mode is voice.MODE_700C and enc.duration_ms == 2000
    assert len(enc.frames) == 50 and enc.wire_bytes == 175
    note = enc.note(category=0x17, lang=Lang.MY)
    pcm = decode_pcm(decode_crew(encode_crew(note)))  # type: ignore[arg-type]
    assert len(pcm) == 16000
    # Codec2 is a vocoder: a pure tone comes back as the nearest harmonic of the pitch it
    # estimates — within 2 % at 700 Hz–1 kHz, not at all below ~300 Hz (measured; see docs).
    assert abs(dominant_hz(pcm[2000:-2000], 8000) - 1000) < 20


@pytest.mark.parametrize("name", voice.OFFERED)
def test_offered_modes_keep_duration_and_pitch(name: str) -> None:
    mode = voice.mode_by_name(name)
    enc = encode(wav(tone(700, 3.21, 48000) * 0.4, 48000), mode)
    assert enc.duration_ms == 3210
    pcm = decode_pcm(enc.note(category=1, lang=Lang.EN))
    assert len(pcm) == 3210 * 8
    assert abs(dominant_hz(pcm[4000:-4000], 8000) - 700) < 14


def test_raw_pcm_and_float_wav_are_read() -> None:
    x = tone(500, 1.0, 16000) * 0.3
    raw = (x * 32767).astype("<i2").tobytes()
    assert encode(raw, rate=16000).duration_ms == 1000
    stereo = np.repeat((x * 32767).astype("<i2"), 2).tobytes()
    assert encode(stereo, rate=16000, channels=2).duration_ms == 1000
    buf = io.BytesIO()
    soundfile.write(buf, x.astype(np.float32), 16000, format="WAV", subtype="FLOAT")
    assert encode(buf.getvalue()).duration_ms == 1000


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: b"these are words, not sound", NotAudio, "not a sound recording"),
        (lambda: b"RIFF\x00\x00\x00\x00WAVEfmt ", NotAudio, "not a sound recording"),
        (lambda: wav(np.zeros(16000), 16000), Silent, "microphone"),
        (lambda: wav(tone(440, 2, 16000) * 0.002, 16000), Silent, "nothing"),
        (lambda: wav(np.clip(tone(440, 2, 16000) * 4, -1, 1), 16000), Clipped, "too loud"),
        (lambda: wav(tone(440, 0.3, 16000) * 0.5, 16000), TooShort, "0.3 s"),
        (lambda: wav(tone(440, 61, 8000) * 0.5, 8000), TooLong, "at most 60 s"),
        (lambda: wav(tone(440, 2, 4000) * 0.5, 4000), BadRate, "4000 Hz"),
    ],
)
def test_bad_recordings_are_refused_clearly(make: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        encode(make())  # type: ignore[operator]


def test_too_long_depends_on_the_mode() -> None:
    audio = wav(tone(440, 40, 8000) * 0.5, 8000)
    assert encode(audio).duration_ms == 40_000
    with pytest.raises(TooLong, match=r"1600.*35 s"):
        encode(audio, voice.mode_by_name("1600"))


def test_raw_pcm_that_is_not_whole_samples_is_refused() -> None:
    with pytest.raises(NotAudio, match="whole 16-bit"):
        encode(b"\x00" * 16001, rate=8000)
    with pytest.raises(BadRate):
        encode(b"\x00" * 16000, rate=1000)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_are_a_note_or_a_voice_error(data: bytes) -> None:
    try:
        encode(data)
    except VoiceError:
        pass


def test_the_wav_ashore_is_8k_mono_16_bit_and_as_long_as_the_note() -> None:
    enc = encode(wav(speechlike(4.0, 22050), 22050))
    data = note_wav(enc.note(category=0x17, lang=Lang.TH))
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert w.getnframes() == 32000
