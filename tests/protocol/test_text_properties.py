"""The codec never alters a crew member's words: any text, any language's dictionary.

``make test`` runs a modest number of examples per language; ``make soak`` many more.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from protocol.crew import Grievance
from protocol.errors import BadText, LocalProtocolError
from protocol.lang import Lang
from protocol.text import decode_text, encode_text
from tests.helpers import VesselShorePair
from tests.protocol.strategies import any_text

CI = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
SOAK = settings(max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))


def _check(text: str, lang: Lang) -> None:
    if "\x00" in text:  # the one code point no text field may hold: refused, never stripped
        with pytest.raises(LocalProtocolError, match="U\\+0000"):
            encode_text(text, lang)
        return
    encoded = encode_text(text, lang)
    assert decode_text(encoded, lang, max_chars=max(len(text), 1)) == text
    assert len(encoded) <= 1 + len(text.encode("utf-8"))  # never larger than stored UTF-8


@pytest.mark.parametrize("lang", list(Lang), ids=lambda lang: lang.tag)
def test_any_text_round_trips_with_every_dictionary(lang: Lang) -> None:
    @CI
    @given(any_text())
    def check(text: str) -> None:
        _check(text, lang)

    check()


@pytest.mark.soak
@pytest.mark.parametrize("lang", list(Lang), ids=lambda lang: lang.tag)
def test_any_text_round_trips_with_every_dictionary_soak(lang: Lang) -> None:
    @SOAK
    @given(any_text())
    def check(text: str) -> None:
        _check(text, lang)

    check()


def test_nul_is_refused_by_the_decoder_too() -> None:
    for encoded in (b"\x00a\x00b", b"\x01a\x00"):
        with pytest.raises(BadText, match="U\\+0000"):
            decode_text(encoded, Lang.EN)


def test_refused_text_spends_no_seq() -> None:
    """Content the codec refuses is refused before a seq is assigned: no gap ashore."""
    pair = VesselShorePair()
    before = pair.vessel.next_seq
    with pytest.raises(LocalProtocolError):
        pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="a\x00b"), 0)
    with pytest.raises(LocalProtocolError):
        pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="a\ud800"), 0)
    assert pair.vessel.next_seq == before
    (item,) = pair.vessel.queue_crew(Grievance(category=0x17, lang=Lang.EN, text="ab"), 0)
    assert item.seq == before
