"""Voice notes on board: audio in memory → checked → 8 kHz mono → Codec2 frames → sealed.

Nothing here touches the disk: the recording arrives as bytes (a WAV or another file
``soundfile`` reads, or raw 16-bit PCM), is decoded, checked, resampled (``soxr``) and encoded
frame by frame with ``pycodec2`` in memory, and the frames go straight to the protocol session,
which seals them before the outbox sees them (:meth:`vessel_agent.device.Device.submit_voice`).

``pycodec2``'s ``encode`` accepts a buffer of many frames but encodes only the first (libcodec2's
``codec2_encode`` takes one frame): frames are encoded one call each.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pycodec2
import soundfile
import soxr

from protocol import voice
from protocol.crew import VoiceNote
from protocol.lang import Lang
from vessel_agent.errors import AgentError

MIN_RATE, MAX_RATE = 8000, 192_000  # Hz accepted in; every common rate lies between
MIN_MS = 500  # shorter is a stray tap, not a grievance
SILENCE_DBFS = -45.0  # the loudest 40 ms below this: nothing was said
CLIP_LEVEL = 0.999  # |sample| at full scale
CLIP_SHARE = 0.01  # more than 1 % of samples at full scale: too loud to understand

Pcm = npt.NDArray[np.int16]
Samples = npt.NDArray[np.float32]


class VoiceError(AgentError):
    """A recording that cannot become a voice note; ``str()`` says why, for the crew member."""


class NotAudio(VoiceError):
    """The bytes are not audio this agent can read."""


class BadRate(VoiceError):
    """A sample rate outside 8–192 kHz (or none)."""


class TooShort(VoiceError):
    """Shorter than half a second."""


class TooLong(VoiceError):
    """Longer than the mode can carry (60 s of 700C)."""


class Silent(VoiceError):
    """Nothing audible was recorded (microphone muted or unplugged)."""


class Clipped(VoiceError):
    """Recorded so loud that the speech is distorted."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """Codec2 frames of one recording and its true length."""

    mode: voice.Mode
    duration_ms: int
    frames: tuple[bytes, ...]

    @property
    def wire_bytes(self) -> int:
        return self.mode.packed_size(len(self.frames))

    def note(self, *, category: int, lang: Lang, pseudonym: str | None = None) -> VoiceNote:
        return VoiceNote(
            category=category,
            lang=lang,
            mode=self.mode.code,
            duration_ms=self.duration_ms,
            frames=self.frames,
            pseudonym=pseudonym,
        )


def read_audio(data: bytes) -> tuple[Samples, int]:
    """Samples in [-1, 1] (channels averaged to mono) and the sample rate of an audio file.

    Raises:
        NotAudio: not a file ``soundfile`` reads (WAV of any PCM/float format, FLAC, Ogg, MP3).
    """
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise NotAudio(f"not a sound recording this box can read ({exc})") from None
    return np.ascontiguousarray(samples.mean(axis=1), dtype=np.float32), int(rate)


def pcm_samples(data: bytes, channels: int = 1) -> Samples:
    """Raw little-endian 16-bit PCM (interleaved if ``channels`` > 1) as mono samples.

    Raises:
        NotAudio: an odd number of bytes, or not whole multi-channel frames.
    """
    if len(data) % (2 * channels):
        raise NotAudio(f"raw PCM of {len(data)} bytes is not whole 16-bit samples")
    pcm = np.frombuffer(data, dtype="<i2").reshape(-1, channels)
    mono: Samples = (pcm.mean(axis=1) / 32768.0).astype(np.float32)
    return mono


def check(samples: Samples, rate: int, mode: voice.Mode = voice.MODE_700C) -> None:
    """Refuse a recording that cannot make a good voice note (see the error classes)."""
    if not MIN_RATE <= rate <= MAX_RATE:
        raise BadRate(f"sample rate {rate} Hz; recordings of {MIN_RATE}–{MAX_RATE} Hz are taken")
    ms = len(samples) * 1000 / rate
    if ms < MIN_MS:
        raise TooShort(f"recording of {ms / 1000:.1f} s; speak for at least {MIN_MS / 1000:g} s")
    if ms > mode.max_duration_ms:
        raise TooLong(
            f"recording of {ms / 1000:.1f} s; a voice note ({mode.name}) is at most "
            f"{mode.max_duration_ms // 1000} s"
        )
    if not np.isfinite(samples).all():
        raise NotAudio("the recording holds invalid samples")
    window = max(1, rate * 40 // 1000)
    usable = len(samples) // window * window
    frames = samples[:usable].astype(np.float64).reshape(-1, window)
    loudest = float(np.sqrt((frames**2).mean(axis=1)).max()) if usable else 0.0
    if loudest == 0.0 or 20 * math.log10(loudest) < SILENCE_DBFS:
        raise Silent("nothing could be heard in the recording; check the microphone")
    clipped = float((np.abs(samples) >= CLIP_LEVEL).mean())
    if clipped > CLIP_SHARE:
        raise Clipped(
            f"{clipped:.0%} of the recording is too loud to understand; "
            "hold the microphone further away"
        )


def to_8k(samples: Samples, rate: int) -> Pcm:
    """Mono 16-bit PCM at 8 kHz, what Codec2 takes (``soxr`` high quality)."""
    out = samples if rate == voice.SAMPLE_RATE else soxr.resample(samples, rate, voice.SAMPLE_RATE)
    pcm: Pcm = np.clip(np.round(out * 32767.0), -32768, 32767).astype(np.int16)
    return pcm


def encode_pcm(pcm: Pcm, mode: voice.Mode = voice.MODE_700C) -> tuple[bytes, ...]:
    """Codec2 frames of 8 kHz mono PCM; the last frame is padded with silence."""
    spf = mode.samples_per_frame
    n = -(-len(pcm) // spf)
    padded = np.zeros(n * spf, dtype=np.int16)
    padded[: len(pcm)] = pcm
    codec = pycodec2.Codec2(mode.bitrate)
    return tuple(bytes(codec.encode(padded[i * spf : (i + 1) * spf])) for i in range(n))


def encode(
    data: bytes,
    mode: voice.Mode = voice.MODE_700C,
    *,
    rate: int | None = None,
    channels: int = 1,
) -> Encoded:
    """A recording — an audio file's bytes, or raw 16-bit PCM when ``rate`` is given — checked,
    resampled and encoded, all in memory.

    Raises:
        VoiceError: one of its subclasses, with a message for the crew member.
    """
    if rate is None:
        samples, rate = read_audio(data)
    else:
        samples = pcm_samples(data, channels)
    check(samples, rate, mode)
    pcm = to_8k(samples, rate)
    duration_ms = min(-(-len(pcm) * 1000 // voice.SAMPLE_RATE), mode.max_duration_ms)
    pcm = pcm[: duration_ms * voice.SAMPLE_RATE // 1000]
    return Encoded(mode=mode, duration_ms=duration_ms, frames=encode_pcm(pcm, mode))
