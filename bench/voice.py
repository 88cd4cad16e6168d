"""Voice-note benchmark (issue "Voice grievances"): what a spoken grievance costs on air and on
the box, and how long it takes to reach shore on a bad link.

* bytes on air per second of speech, per Codec2 mode: a 10 s note sealed, fragmented and signed
  exactly as the agent sends it (reply key included), total frame bytes ÷ 10; beside it the
  same words as a typical written grievance (the bench corpus) for scale;
* SBD messages per 10 s note (each fragment fills one mobile-originated message);
* CPU seconds per second of audio encoded (read WAV 48 kHz stereo → soxr → pycodec2 per frame),
  target ≤ 0.2 on the box; this machine stands in for the box;
* the ``monsoon`` scenario on the virtual clock with half of every crew's grievances spoken
  (10 s of 700C) and half written, side by side in one run: delivery p50/p95 of each, and each
  against the oracle (perfect knowledge of the link).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any

from protocol import voice
from protocol.lang import Lang
from protocol.vessel import VesselSession
from tests.helpers import shore_keys
from tests.vessel_agent.audio import speechlike, wav
from vessel_agent import voice as onboard

SECONDS = 10.0
MONSOON_VESSELS, MONSOON_DAYS = 100, 30.0


def _on_air(encoded: onboard.Encoded) -> tuple[int, int]:
    """(frame bytes on air, SBD messages) of one note as the agent sends it."""
    k = shore_keys()
    s = VesselSession(
        sign_key=k.sign, shore_sign_pub=k.sign.public_key(), shore_seal_pub=k.seal.public_key()
    )
    note = encoded.note(category=0x17, lang=Lang.MY)
    s.queue_crew(dataclasses.replace(note, reply_pub=bytes(32)), 1_763_640_000)
    total = count = 0
    while frames := s.frames_to_send(1_763_640_000):
        total += sum(len(f.data) for f in frames)
        count += len(frames)
        s.forget([q for f in frames for q in f.seqs])
    return total, count


def _cpu_per_second(data: bytes, mode: voice.Mode, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.process_time()
        onboard.encode(data, mode)
        best = min(best, time.process_time() - t)
    return best / SECONDS


def _monsoon(note: onboard.Encoded) -> dict[str, float]:
    from simulator.engine import Shard
    from simulator.scenario import load

    shard = Shard(
        load("monsoon"),
        seed=7,
        vessels=MONSOON_VESSELS,
        days=MONSOON_DAYS,
        indices=list(range(MONSOON_VESSELS)),
    )
    for v in shard.vs.values():
        v.plan.arrivals = [
            dataclasses.replace(
                a,
                text="",
                voice=dataclasses.replace(  # as the agent sends it: with a reply key
                    note.note(category=a.category, lang=Lang[a.lang.upper()]), reply_pub=bytes(32)
                ),
            )
            if i % 2 == 0
            else a
            for i, a in enumerate(v.plan.arrivals)
        ]
    t = time.process_time()
    result = shard.run()
    cpu = time.process_time() - t
    out: dict[str, float] = {"cpu_s": round(cpu, 1)}
    for kind, pick in (("voice", lambda tl: tl.chars == 0), ("text", lambda tl: tl.chars > 0)):
        tls = [tl for tl in result.timelines if pick(tl)]
        done = [tl for tl in tls if tl.delivered is not None]
        lat = sorted((tl.delivered - tl.created) / 60 for tl in done)  # type: ignore[operator]
        orc = sorted((tl.oracle - tl.created) / 60 for tl in done if tl.oracle is not None)
        out[f"{kind}_n"] = len(tls)
        out[f"{kind}_lost"] = len(tls) - len(done)
        out[f"{kind}_p50_min"] = round(statistics.median(lat), 2)
        out[f"{kind}_p95_min"] = round(lat[int(0.95 * (len(lat) - 1))], 2)
        out[f"{kind}_oracle_p95_min"] = round(orc[int(0.95 * (len(orc) - 1))], 2)
        out[f"{kind}_frames_mean"] = round(statistics.mean(tl.frames for tl in tls), 2)
    return out


def _r(metric: str, value: Any, target: str = "report", met: bool | None = None) -> dict[str, Any]:
    return {"metric": metric, "value": value, "target": target, "met": met}


def run() -> dict[str, Any]:
    data = wav(speechlike(SECONDS, 48_000), 48_000, channels=2)
    results = []
    modes: dict[str, dict[str, float]] = {}
    for name in voice.OFFERED:
        mode = voice.mode_by_name(name)
        encoded = onboard.encode(data, mode)
        on_air, messages = _on_air(encoded)
        cpu = _cpu_per_second(data, mode)
        modes[name] = {
            "codec_bytes_per_s": mode.bytes_per_second,
            "on_air_bytes_per_s": round(on_air / SECONDS, 1),
            "sbd_messages_10s": messages,
            "cpu_s_per_s": round(cpu, 4),
        }
        results += [
            _r(f"{name}: bytes on air per second of speech", round(on_air / SECONDS, 1)),
            _r(
                f"{name}: SBD messages per 10 s note",
                messages,
                "≤ 5" if name == "700C" else "report",
                messages <= 5 if name == "700C" else None,
            ),
            _r(f"{name}: CPU s per s of audio encoded", round(cpu, 4), "≤ 0.2", cpu <= 0.2),
        ]
    monsoon = _monsoon(onboard.encode(data))
    ratio = monsoon["voice_p95_min"] / monsoon["text_p95_min"]
    results += [
        _r(
            "monsoon: 10 s voice note delivery p50 / p95, min",
            f"{monsoon['voice_p50_min']} / {monsoon['voice_p95_min']}",
        ),
        _r(
            "monsoon: written grievance delivery p50 / p95, min (same run)",
            f"{monsoon['text_p50_min']} / {monsoon['text_p95_min']}",
        ),
        _r(
            "monsoon: voice p95 / its oracle p95",
            round(monsoon["voice_p95_min"] / monsoon["voice_oracle_p95_min"], 3),
            "≤ 1.25 (the simulator's target for text)",
            monsoon["voice_p95_min"] <= 1.25 * monsoon["voice_oracle_p95_min"],
        ),
        _r("monsoon: voice p95 / written p95", round(ratio, 3)),
        _r("monsoon: voice notes lost", monsoon["voice_lost"], "0", monsoon["voice_lost"] == 0),
    ]
    return {
        "name": "voice",
        "results": results,
        "modes": modes,
        "monsoon": monsoon,
        "monsoon_fleet": f"{MONSOON_VESSELS} vessels × {MONSOON_DAYS:g} days, seed 7",
    }
