"""Links benchmark (issue "IMT and broadband windows"): what a grievance and a 60 s voice note
cost on each link, sealed and signed exactly as the agent sends them.

* **SBD** (9602/9603): one frame per mobile-originated message (``frames_to_send(max_frames=1)``
  per session); billed in 50-byte credits, at least one per session (FIELD-FACTS §4).
* **Inmarsat-C** (modelled only: flip-sync has no driver): the same frames, one per session,
  billed in 32-byte units (the simulator's ``inmarsat-c`` profile).
* **IMT** (RockBLOCK 9704): the agent's IMT path — all due messages packed first-fit into
  frames of ≤ 100,000 bytes (many messages under one signature, fragmented messages whole;
  wire format §1.1), each frame one IMT message plus its 2-byte CRC (FIELD-FACTS §10).
* **Broadband**: the agent's broadband path — the same large frames as IMT, one HTTP POST each
  to ``/ingest/frames``; the request line and headers httpx writes are counted (TLS record
  overhead is not).

Grievances: the bench corpus (67 grievances in 7 languages) queued at once. Voice: 60 s of
speech-like audio in Codec2 700C, as ``flip vessel submit --voice`` seals it. Baseline in the
same run: SBD. Provider cost is in each provider's billing unit, counted by the simulator's own
link profiles (``simulator.link.SimLink.credits``): SBD credits, Inmarsat-C units. IMT bills the
bytes of successful sends (FIELD-FACTS §10) at a tariff FIELD-FACTS does not give, so its cost is
its bytes and messages; broadband is a flat-rate plan (no per-message cost).
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import httpx

from protocol import links
from protocol.lang import lang_from_tag
from protocol.messages import Grievance
from protocol.vessel import VesselSession
from tests.helpers import shore_keys
from tests.vessel_agent.audio import speechlike, wav
from vessel_agent import voice as onboard

T0 = 1_763_640_000
CORPUS = Path(__file__).parent / "corpus" / "grievances.json"
IMT_CRC = 2


def _session() -> VesselSession:
    k = shore_keys()
    return VesselSession(
        sign_key=k.sign, shore_sign_pub=k.sign.public_key(), shore_seal_pub=k.seal.public_key()
    )


def _drain(session: VesselSession, max_frames: int, limit: int | None = None) -> list[bytes]:
    """Every frame the session sends until its outbox is empty (acked as they go)."""
    out: list[bytes] = []
    while frames := session.frames_to_send(T0, max_frames=max_frames, limit=limit):
        out += [f.data for f in frames]
        session.forget([q for f in frames for q in f.seqs])
    return out


def _grievances(session: VesselSession) -> int:
    items = json.loads(CORPUS.read_text())
    for g in items:
        session.queue_crew(
            Grievance(
                category=int(g["category"], 16), lang=lang_from_tag(g["lang"]), text=g["text"]
            ),
            T0,
        )
    return len(items)


def _voice(session: VesselSession) -> int:
    data = wav(speechlike(60.0, 48_000), 48_000)
    note = onboard.encode(data).note(category=0x17, lang=lang_from_tag("my"))
    session.queue_crew(dataclasses.replace(note, reply_pub=bytes(32)), T0)
    return 1


def _http_overhead() -> int:
    """Bytes of request line + headers httpx writes for one POST of a frame (HTTP/1.1)."""
    request = httpx.Request(
        "POST",
        "https://gateway.example.org/ingest/frames",
        content=b"x" * 300,
        headers={"Content-Type": "application/octet-stream"},
    )
    head = f"POST {request.url.raw_path.decode()} HTTP/1.1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()) + "\r\n"
    return len(head.encode())


def _units(profile: str, frames: list[bytes]) -> int:
    """Billing units of one successful session per frame on the simulator's ``profile``."""
    from simulator.link import SimLink, Trace
    from simulator.scenario import default_links

    link = SimLink(default_links()[profile], rng=random.Random(0), trace=Trace([]))
    return sum(link.credits(len(f), 0) for f in frames)


def _measure(load: Any, what: str) -> dict[str, float]:
    sbd = _session()
    n = load(sbd)
    sbd_frames = _drain(sbd, max_frames=1)
    imt = _session()
    load(imt)
    bundles = _drain(imt, max_frames=16, limit=links.IMT.uplink)
    http = _http_overhead()
    sbd_bytes = sum(len(f) for f in sbd_frames)
    imt_bytes = sum(len(b) + IMT_CRC for b in bundles)
    return {
        f"{what}: SBD bytes on air per item": round(sbd_bytes / n, 1),
        f"{what}: SBD messages per item": round(len(sbd_frames) / n, 2),
        f"{what}: SBD credits (50 B) per item": round(_units("iridium", sbd_frames) / n, 2),
        f"{what}: Inmarsat-C units (32 B) per item (modelled only)": round(
            _units("inmarsat-c", sbd_frames) / n, 2
        ),
        f"{what}: IMT bytes on air per item": round(imt_bytes / n, 1),
        f"{what}: IMT messages per item": round(len(bundles) / n, 3),
        f"{what}: IMT / SBD bytes": round(imt_bytes / sbd_bytes, 3),
        f"{what}: broadband bytes per item (frames + HTTP headers)": round(
            (imt_bytes - IMT_CRC * len(bundles) + http * len(bundles)) / n, 1
        ),
    }


def run() -> dict[str, Any]:
    results = []
    for load, what in ((_grievances, "grievance"), (_voice, "60 s voice note (700C)")):
        for metric, value in _measure(load, what).items():
            results.append({"metric": metric, "value": value, "target": "report", "met": None})
    return {"name": "links", "results": results}


if __name__ == "__main__":
    for row in run()["results"]:
        print(f"{row['metric']}: {row['value']}")
