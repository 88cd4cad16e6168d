"""Burmese typed in the Zawgyi encoding: detect it and convert it to Unicode before sealing.

Many Myanmar phones still type Zawgyi, a font hack that reuses the Myanmar code points in
visual order; read as Unicode it is garbage to staff ashore (FIELD-FACTS §13). Every entry path
— the crew terminal, ``flip vessel submit``, the browser crew app — seals through
:meth:`vessel_agent.device.Device.submit`, which calls :func:`read` once; nothing else converts.

The rule (docs/vessel-agent.md, "Zawgyi"), with the thresholds Google's detector documents —
0.95 "when conversion will take place automatically" (fewer than 1% of Unicode strings wrongly
flagged) and 0.05 "when a human gets to evaluate the result" (fewer than 1% of Zawgyi strings
missed):

* P(Zawgyi) ≥ :data:`CONVERT_AT`: the text is converted and marked
  :attr:`~protocol.messages.ZawgyiMode.CONVERTED`; the words exactly as typed travel beside it.
* :data:`ASK_AT` ≤ P < :data:`CONVERT_AT`: the detector is unsure, so nothing is changed — the
  text is sealed as typed, marked :attr:`~protocol.messages.ZawgyiMode.UNSURE`, with the
  converted reading beside it for a Burmese-reading caseworker to judge.
* below :data:`ASK_AT`, no Myanmar letters, or a text that reads the same in both encodings:
  sealed as typed, no note.

Either way the crew member's own words reach the shore unaltered, and staff are told what was
done. Conversion is ICU's ``Zawgyi-my`` transliterator (the CLDR rules Google's converters
implement), not a hand-written table.
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass
from functools import cache
from typing import Any

from protocol.crew import Zawgyi, ZawgyiMode

#: Convert automatically at or above this Zawgyi probability (myanmar-tools README).
CONVERT_AT = 0.95
#: Below this the text is taken for Unicode (or not Burmese) and left without a note.
ASK_AT = 0.05

_LOCK = threading.Lock()  # an ICU Transliterator is not safe to share between threads


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """What to seal: the grievance text and, when Zawgyi was involved, the note that says so."""

    text: str
    note: Zawgyi | None = None


@cache
def _detector() -> Any:
    from myanmartools import ZawgyiDetector

    with warnings.catch_warnings():
        # myanmartools 1.2.1 loads its model with importlib.resources.open_binary (deprecated
        # in 3.11, still working); the warning is the library's, not ours.
        warnings.simplefilter("ignore", DeprecationWarning)
        return ZawgyiDetector()


@cache
def _transliterator() -> Any:
    import icu

    return icu.Transliterator.createInstance("Zawgyi-my")


def probability(text: str) -> float:
    """The detector's P(Zawgyi) for ``text``: 0..1, or −inf when it has no Myanmar letters."""
    return float(_detector().get_zawgyi_probability(text))


def convert(text: str) -> str:
    """``text`` read as Zawgyi, in Unicode (ICU ``Zawgyi-my``; non-Myanmar text unchanged)."""
    tr = _transliterator()
    with _LOCK:
        return str(tr.transliterate(text))


def read(typed: str) -> Reading:
    """The text to seal for what a crew member typed, and the Zawgyi note (module docstring)."""
    p = probability(typed)
    if not p >= ASK_AT:  # also −inf (nothing Burmese) and NaN
        return Reading(text=typed)
    unicode = convert(typed)
    if unicode == typed:
        return Reading(text=typed)
    thousandths = min(1000, math.floor(p * 1000 + 1e-9))
    if p >= CONVERT_AT:
        note = Zawgyi(mode=ZawgyiMode.CONVERTED, probability=thousandths, other=typed)
        return Reading(text=unicode, note=note)
    note = Zawgyi(mode=ZawgyiMode.UNSURE, probability=thousandths, other=unicode)
    return Reading(text=typed, note=note)
