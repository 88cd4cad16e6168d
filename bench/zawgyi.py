"""Zawgyi benchmark (crew app issue, item "Zawgyi"): what detecting, converting and carrying the
words as typed costs.

* bytes on air and SBD messages of a Burmese grievance typed in Zawgyi, sealed and signed as the
  agent sends it (reply key included), **with** the note (the words as typed beside the
  conversion — what the vessel sends) and **without** it (the conversion alone), side by side in
  one run, on twelve lines of real Zawgyi text (a Myanmar government news page, from Google's
  myanmar-tools test resources) cut to 60 and 128 characters;
* CPU per ``vessel_agent.zawgyi.read`` of a 128-character Zawgyi text, beside the cost of
  sealing and signing that grievance in the same run;
* the agent's RSS before and after the first Burmese text loads ICU (a fresh process).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from protocol.crew import Grievance
from protocol.lang import Lang
from protocol.vessel import VesselSession
from tests.helpers import shore_keys
from vessel_agent import zawgyi

DATA = Path(__file__).resolve().parent.parent / "tests" / "vessel_agent" / "data"
T0 = 1_763_640_000


def _lines() -> list[str]:
    text = (DATA / "zawgyi_mmgov.tsv").read_text("utf-8")
    return [line.split("\t")[0] for line in text.splitlines() if line and line[0] != "#"]


def _on_air(content: Grievance) -> tuple[int, int]:
    """(frame bytes on air, SBD messages) of one grievance as the agent sends it."""
    k = shore_keys()
    s = VesselSession(
        sign_key=k.sign, shore_sign_pub=k.sign.public_key(), shore_seal_pub=k.seal.public_key()
    )
    s.queue_crew(dataclasses.replace(content, reply_pub=bytes(32)), T0)
    total = count = 0
    while frames := s.frames_to_send(T0):
        total += sum(len(f.data) for f in frames)
        count += len(frames)
        s.forget([q for f in frames for q in f.seqs])
    return total, count


def _sizes(chars: int) -> dict[str, float]:
    with_note, without, msgs_with, msgs_without = [], [], [], []
    for line in _lines():
        reading = zawgyi.read(line[:chars])
        assert reading.note is not None
        g = Grievance(category=0x17, lang=Lang.MY, text=reading.text, zawgyi=reading.note)
        a, ma = _on_air(g)
        b, mb = _on_air(dataclasses.replace(g, zawgyi=None))
        with_note.append(a)
        without.append(b)
        msgs_with.append(ma)
        msgs_without.append(mb)
    return {
        "bytes_with": statistics.median(with_note),
        "bytes_without": statistics.median(without),
        "ratio": statistics.median(a / b for a, b in zip(with_note, without, strict=True)),
        "messages_with": sum(msgs_with),
        "messages_without": sum(msgs_without),
        "n": len(with_note),
    }


def _cpu() -> tuple[float, float]:
    """(ms per read of a 128-char Zawgyi text, ms to seal+sign that grievance), best of 5."""
    texts = [line[:128] for line in _lines()]
    zawgyi.read(texts[0])  # load the detector and ICU outside the timing
    best_read = best_seal = float("inf")
    for _ in range(5):
        t = time.process_time()
        readings = [zawgyi.read(x) for x in texts]
        best_read = min(best_read, (time.process_time() - t) / len(texts))
        t = time.process_time()
        for r in readings:
            _on_air(Grievance(category=0x17, lang=Lang.MY, text=r.text, zawgyi=r.note))
        best_seal = min(best_seal, (time.process_time() - t) / len(texts))
    return best_read * 1000, best_seal * 1000


_RSS = """
import json
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
import vessel_agent.device
from vessel_agent import zawgyi
before = rss()
zawgyi.read("ခုႏွစ္လ လစာ မရပါ")
print(json.dumps([before, rss()]))
"""


def _rss() -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", _RSS], capture_output=True, text=True, check=True)
    before, after = json.loads(out.stdout)
    return before, after


def run() -> dict[str, Any]:
    short, long = _sizes(60), _sizes(128)
    read_ms, seal_ms = _cpu()
    before, after = _rss()
    results = []
    for chars, s in ((60, short), (128, long)):
        results += [
            {
                "metric": f"{chars}-char Zawgyi grievance: bytes on air with / without the "
                "typed words (median)",
                "value": f"{s['bytes_with']:.0f} / {s['bytes_without']:.0f}",
                "target": "report",
                "met": None,
            },
            {
                "metric": f"{chars}-char Zawgyi grievance: SBD messages with / without, "
                f"{s['n']} texts",
                "value": f"{s['messages_with']} / {s['messages_without']}",
                "target": "report",
                "met": None,
            },
        ]
    results += [
        {
            "metric": "detect + convert a 128-char Zawgyi text, ms / seal+sign it, ms",
            "value": f"{read_ms:.2f} / {seal_ms:.2f}",
            "target": "report",
            "met": None,
        },
        {
            "metric": "agent RSS before / after ICU loads (first Burmese text), MB",
            "value": f"{before:.1f} / {after:.1f}",
            "target": "report",
            "met": None,
        },
    ]
    return {"name": "zawgyi", "results": results, "sizes": {"60": short, "128": long}}
