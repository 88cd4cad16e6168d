"""Protocol benchmark: bytes on air per grievance and the cost of sealing/opening frames.

Compared side by side in one run, as ratios (these machines are noisy):
* bytes on air vs a lower bound computed here: the best dictionary-less compression of the text
  (raw deflate, brotli, SCSU+deflate) + 64 (signature) + 48 (HPKE) — target mean ratio ≤ 1.10;
* vs a JSON + base64 + JWS (EdDSA) packet carrying the same fields, equally sealed — ≤ 0.35×;
* share of grievances of ≤ 200 characters that fit one 340-byte frame, per language — ≥ 95 %;
* seal+sign and verify+open cost per frame, frames/s on one core;
* the SCSU codec (protocol/scsu.py) against the ``scsu`` package it replaced, on the same texts
  (when that package, a dev dependency, is installed).
"""

from __future__ import annotations

import base64
import json
import statistics
import time
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import brotli
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import frame, keys, scsu
from protocol.category import parse_category
from protocol.crew import Grievance, encode_crew
from protocol.lang import lang_from_tag
from protocol.messages import CrewMessage
from protocol.seal import crew_info, seal
from protocol.shore import ShoreSession, open_crew
from protocol.vessel import VesselSession

CORPUS = Path(__file__).parent / "corpus" / "grievances.json"
T0 = 1_763_640_000


def _raw_deflate(data: bytes) -> int:
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    return len(c.compress(data) + c.flush())


def lower_bound(text: str) -> int:
    """Best dictionary-less compression of the text + signature + HPKE overhead."""
    utf8 = text.encode()
    best = min(
        len(utf8),
        _raw_deflate(utf8),
        len(brotli.compress(utf8, quality=11)),
        _raw_deflate(scsu.encode(text)),
    )
    return best + 64 + 48


def jws_baseline(g: dict[str, Any], sign: Ed25519PrivateKey, seal_pub: Any, kid: bytes) -> int:
    """A naive packet with the same fields and protection: JWS(EdDSA) over JSON with the
    grievance JSON sealed (HPKE, base64) inside."""
    inner = json.dumps(
        {"category": g["category"], "lang": g["lang"], "text": g["text"]}, ensure_ascii=False
    ).encode()
    sealed = seal(inner, seal_pub, b"jws-baseline")
    body = {
        "v": 1,
        "kid": kid.hex(),
        "seq": 1,
        "time": "2025-11-20T12:00:00Z",
        "sealed": base64.b64encode(sealed).decode(),
    }
    token = jwt.encode(body, sign, algorithm="EdDSA", headers={"kid": kid.hex()})
    return len(token.encode())


def run() -> dict[str, Any]:
    corpus = json.loads(CORPUS.read_text(encoding="utf-8"))
    rng_seed = iter(range(10**6))

    def rng(n: int) -> bytes:
        return (next(rng_seed).to_bytes(8, "big") * (n // 8 + 1))[:n]

    vessel = keys.new_signing_key(rng)
    shore_sign = keys.new_signing_key(rng)
    shore_seal: X25519PrivateKey = keys.new_sealing_key(rng)
    kid = keys.key_id(vessel.public_key())

    ratios, jws_ratios = [], []
    lang_ratios: dict[str, list[float]] = defaultdict(list)
    per_lang: dict[str, list[int]] = defaultdict(list)
    fits: dict[str, list[bool]] = defaultdict(list)
    frames: list[bytes] = []
    for g in corpus:
        session = VesselSession(
            sign_key=vessel,
            shore_sign_pub=shore_sign.public_key(),
            shore_seal_pub=shore_seal.public_key(),
        )
        content = Grievance(
            category=parse_category(g["category"]), lang=lang_from_tag(g["lang"]), text=g["text"]
        )
        items = session.queue_crew(content, T0)
        sent = session.frames_to_send(T0, max_frames=64)
        on_air = sum(len(f.data) for f in sent)
        frames.extend(f.data for f in sent if len(items) == 1)
        ratios.append(on_air / lower_bound(g["text"]))
        lang_ratios[g["lang"]].append(ratios[-1])
        jws_ratios.append(on_air / jws_baseline(g, vessel, shore_seal.public_key(), kid))
        per_lang[g["lang"]].append(on_air)
        if len(g["text"]) <= 200:
            fits[g["lang"]].append(len(items) == 1 and on_air <= frame.UPLINK_MAX)

    # Crypto costs per frame, on one core.
    content = Grievance(category=0x17, lang=lang_from_tag("my"), text=corpus[0]["text"])
    n = 300
    start = time.perf_counter()
    for i in range(n):
        sealed = seal(encode_crew(content), shore_seal.public_key(), crew_info(kid, i + 1, T0))
        payload = frame.uplink_payload([_crew_bytes(i + 1, sealed)])
        frame.sign(payload, vessel, kid)
    seal_us = (time.perf_counter() - start) / n * 1e6

    shore = ShoreSession(sign_key=shore_sign, lookup=lambda k: [("v", vessel.public_key())])
    sample = frames[: min(len(frames), 60)]
    start = time.perf_counter()
    for _ in range(max(1, n // len(sample))):
        shore.devices.clear()
        for data in sample:
            _, fkid, events = shore.receive_frame(data, T0)
            for ev in events:
                msg = getattr(ev, "message", None)
                if isinstance(msg, CrewMessage):
                    open_crew(msg, fkid, [shore_seal])
    count = max(1, n // len(sample)) * len(sample)
    open_us = (time.perf_counter() - start) / count * 1e6

    fit_share = {lang: sum(v) / len(v) for lang, v in fits.items() if v}
    by_lang = {lang: statistics.fmean(v) for lang, v in sorted(lang_ratios.items())}
    worst_lang = max(by_lang, key=by_lang.__getitem__)
    mean_ratio = statistics.fmean(ratios)
    mean_jws = statistics.fmean(jws_ratios)
    return {
        "name": "protocol",
        "corpus_size": len(corpus),
        "results": [
            _result(
                "bytes on air / lower bound (mean)",
                round(mean_ratio, 3),
                "≤ 1.10",
                mean_ratio <= 1.10,
            ),
            # English: brotli's built-in (English-heavy) dictionary makes its bound the tightest.
            _result(
                f"bytes on air / lower bound, worst language ({worst_lang})",
                round(by_lang[worst_lang], 3),
                "report",
                None,
            ),
            _result(
                "bytes on air / JSON+base64+JWS (mean)",
                round(mean_jws, 3),
                "≤ 0.35",
                mean_jws <= 0.35,
            ),
            _result(
                "≤200-char grievances in one frame (worst language)",
                round(min(fit_share.values()), 3),
                "≥ 0.95",
                min(fit_share.values()) >= 0.95,
            ),
            _result("seal+sign per frame (µs)", round(seal_us, 1), "report", None),
            _result("verify+open per frame (µs)", round(open_us, 1), "report", None),
            _result("seal+sign frames/s/core", round(1e6 / seal_us), "report", None),
            _result("verify+open frames/s/core", round(1e6 / open_us), "report", None),
            *_scsu_rows([g["text"] for g in corpus]),
        ],
        "lower_bound_ratio_by_language": {k: round(v, 3) for k, v in by_lang.items()},
        "per_language_mean_frame_bytes": {
            k: round(statistics.fmean(v), 1) for k, v in sorted(per_lang.items())
        },
        "one_frame_share_by_language": {k: round(v, 3) for k, v in sorted(fit_share.items())},
    }


def _scsu_rows(texts: list[str]) -> list[dict[str, Any]]:
    """Encode and decode cost of protocol.scsu vs the ``scsu`` package, interleaved, best of 5."""
    try:
        import scsu as package  # noqa: F401  (registers the "scsu" codec)
    except ImportError:
        return []
    encoded = [scsu.encode(t) for t in texts]
    runs: dict[str, list[float]] = defaultdict(list)
    for _ in range(5):
        for name, work in (
            ("own encode", lambda: [scsu.encode(t) for t in texts]),
            ("package encode", lambda: [t.encode("scsu") for t in texts]),
            ("own decode", lambda: [scsu.decode(b) for b in encoded]),
            ("package decode", lambda: [b.decode("scsu") for b in encoded]),
        ):
            start = time.perf_counter()
            work()
            runs[name].append((time.perf_counter() - start) / len(texts) * 1e6)
    best = {name: min(v) for name, v in runs.items()}
    return [
        _result(
            "SCSU decode per grievance, µs (protocol.scsu)",
            round(best["own decode"], 1),
            "report",
            None,
        ),
        _result(
            "SCSU decode, protocol.scsu / scsu 1.1.1 package",
            round(best["own decode"] / best["package decode"], 3),
            "< 1",
            best["own decode"] < best["package decode"],
        ),
        _result(
            "SCSU encode, protocol.scsu / scsu 1.1.1 package",
            round(best["own encode"] / best["package encode"], 3),
            "< 1",
            best["own encode"] < best["package encode"],
        ),
    ]


def _crew_bytes(seq: int, sealed: bytes) -> bytes:
    from protocol.messages import encode_message

    return encode_message(CrewMessage(seq=seq, time=T0, sealed=sealed))


def _result(metric: str, value: Any, target: str, met: bool | None) -> dict[str, Any]:
    return {"metric": metric, "value": value, "target": target, "met": met}
