"""Test audio made in memory and the measures that compare what is heard ashore with it."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import soundfile

Floats = npt.NDArray[np.floating]


def tone(hz: float, seconds: float, rate: int) -> Floats:
    """A sine at full scale (scale it down before use)."""
    return np.sin(2 * np.pi * hz * np.arange(round(seconds * rate)) / rate)


def speechlike(seconds: float, rate: int, seed: int = 7) -> Floats:
    """Voiced 'syllables': a 120–180 Hz pulse train with formant-like harmonics, switched on
    and off at syllable rate (3–5 Hz) with pauses, so its energy envelope has structure that a
    speech codec must keep."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    t = np.arange(n) / rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(
        (1.0 / k) * np.sin(k * phase) * (1 + 0.8 * (600 < 140 * k < 1200)) for k in range(1, 20)
    )
    env = np.zeros(n)
    i = 0
    while i < n:
        length = int(rate * rng.uniform(0.12, 0.3))
        gap = int(rate * rng.uniform(0.05, 0.35))
        seg = min(length, n - i)
        env[i : i + seg] = np.hanning(seg) if seg > 2 else 0
        i += length + gap
    out = voiced * env
    scaled: Floats = 0.5 * out / np.max(np.abs(out))
    return scaled


def wav(samples: Floats, rate: int, channels: int = 1, subtype: str = "PCM_16") -> bytes:
    """A WAV file's bytes (``channels`` copies of ``samples``)."""
    data = np.repeat(np.asarray(samples, dtype=np.float64)[:, None], channels, axis=1)
    buf = io.BytesIO()
    soundfile.write(buf, data, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def dominant_hz(pcm: npt.NDArray[np.generic], rate: int) -> float:
    """The frequency of the strongest spectral peak (Hann window, parabolic interpolation)."""
    x = np.asarray(pcm, dtype=np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-12)
    shift = 0.5 * (a - c) / (a - 2 * b + c)
    return float((k + shift) * rate / len(x))


def envelope(pcm: npt.NDArray[np.generic], rate: int, window_ms: int = 20) -> Floats:
    """Speech-band (300–3400 Hz) RMS energy per ``window_ms`` window, in dB."""
    x = np.asarray(pcm, dtype=np.float64)
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    spec[(freqs < 300) | (freqs > 3400)] = 0
    band = np.fft.irfft(spec, len(x))
    w = rate * window_ms // 1000
    frames = band[: len(band) // w * w].reshape(-1, w)
    db: Floats = 10 * np.log10((frames**2).mean(axis=1) + 1e-9)
    return db


def envelope_correlation(
    a: npt.NDArray[np.generic], rate_a: int, b: npt.NDArray[np.generic], rate_b: int
) -> float:
    """Pearson correlation of the two recordings' speech-band energy envelopes (20 ms windows),
    the best over lags of up to ±100 ms (a codec delays what it plays)."""
    ea, eb = envelope(a, rate_a), envelope(b, rate_b)
    best = -1.0
    for lag in range(-5, 6):
        x, y = (ea[lag:], eb) if lag >= 0 else (ea, eb[-lag:])
        n = min(len(x), len(y))
        best = max(best, float(np.corrcoef(x[:n], y[:n])[0, 1]))
    return best
