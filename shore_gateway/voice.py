"""Voice notes ashore: Codec2 frames → 8 kHz 16-bit mono WAV, decoded on demand in memory.

The gateway stores a voice note as it stores text — sealed — and decodes it only when staff
listen (``GET /api/grievances/{id}/audio``); the decoded audio is never stored. ``pycodec2``'s
``decode`` fills only the first frame of a longer buffer (libcodec2's ``codec2_decode`` takes
one frame; the rest of the array it returns is uninitialised memory), so frames are decoded one
call each.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pycodec2

from protocol import voice
from protocol.messages import VoiceNote


def decode_frames(
    mode: voice.Mode, frames: Sequence[bytes], duration_ms: int
) -> npt.NDArray[np.int16]:
    """Codec2 frames as 8 kHz mono PCM, cut to ``duration_ms``."""
    if not frames:
        return np.zeros(0, dtype=np.int16)
    codec = pycodec2.Codec2(mode.bitrate)
    pcm = np.concatenate([codec.decode(bytes(f))[: mode.samples_per_frame] for f in frames])
    out: npt.NDArray[np.int16] = pcm[: duration_ms * voice.SAMPLE_RATE // 1000]
    return out


def decode_pcm(note: VoiceNote) -> npt.NDArray[np.int16]:
    """The note's audio as 8 kHz mono PCM, exactly ``duration_ms`` long."""
    return decode_frames(voice.MODES[note.mode], note.frames, note.duration_ms)


def stored_wav(packed: bytes, mode_code: int, duration_ms: int) -> bytes:
    """A WAV of a voice note as the gateway stores it (the wire bit stream, mode, length).

    Raises:
        Malformed: the stored bytes do not hold that many frames of that mode (a damaged row).
    """
    mode = voice.mode_from_code(mode_code)
    frames = voice.unpack(mode, packed, mode.frame_count(duration_ms))
    return wav_bytes(decode_frames(mode, frames, duration_ms))


def wav_bytes(pcm: npt.NDArray[np.int16], rate: int = voice.SAMPLE_RATE) -> bytes:
    """A 16-bit mono PCM WAV (plays in every browser) of ``pcm``."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return out.getvalue()


def note_wav(note: VoiceNote) -> bytes:
    """The note decoded to a WAV file's bytes."""
    return wav_bytes(decode_pcm(note))
