"""Grievance element 6, the Zawgyi note (docs/wire-format.md §3): optional, exact, refused when
malformed; a grievance without it encodes byte for byte as before."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import cbor
from protocol.crew import Grievance, Zawgyi, ZawgyiMode, decode_crew, encode_crew
from protocol.errors import LocalProtocolError, Malformed, RemoteProtocolError
from protocol.lang import Lang
from protocol.text import encode_text
from tests.protocol.strategies import crew_text, grievances

notes = st.builds(
    Zawgyi,
    mode=st.sampled_from(list(ZawgyiMode)),
    probability=st.integers(0, 1000),
    other=crew_text().filter(bool),
)
noted = st.builds(replace, grievances, zawgyi=notes).filter(
    lambda g: g.zawgyi is not None and g.zawgyi.other != g.text
)

TYPED = "ခုႏွစ္လ လစာ မရပါ"
CONVERTED = "ခုနှစ်လ လစာ မရပါ"


@given(noted)
def test_grievances_with_a_note_round_trip(g: Grievance) -> None:
    data = encode_crew(g)
    assert decode_crew(data) == g
    assert encode_crew(decode_crew(data)) == data


def test_without_a_note_the_encoding_is_unchanged() -> None:
    g = Grievance(category=0x17, lang=Lang.MY, text="abc")
    assert encode_crew(g).hex() == "840117024400616263"  # [1, 0x17, 2, h'00 616263']
    with_pseudonym = Grievance(category=0x17, lang=Lang.EN, text="a", pseudonym="Ko")
    assert cbor.loads(encode_crew(with_pseudonym), what="t")[4:] == ["Ko"]


def test_element_six_bytes() -> None:
    """The example of docs/wire-format.md: elements 4 and 5 null, then [mode, p, other]."""
    g = Grievance(
        category=0x17,
        lang=Lang.MY,
        text=CONVERTED,
        zawgyi=Zawgyi(mode=ZawgyiMode.CONVERTED, probability=999, other=TYPED),
    )
    item = cbor.loads(encode_crew(g), what="t")
    assert len(item) == 7 and item[4] is None and item[5] is None
    assert item[6] == [1, 999, encode_text(TYPED, Lang.MY)]
    tail = encode_crew(g)[-(len(cbor.dumps(item[6])) + 2) :]
    assert tail[:5].hex() == "f6f6830119"  # null, null, array(3), 1, uint16…
    assert decode_crew(encode_crew(g)) == g


def _with_element_six(value: Any, text: str = "abc") -> bytes:
    return cbor.dumps([1, 0x17, int(Lang.MY), encode_text(text, Lang.MY), None, None, value])


@pytest.mark.parametrize(
    "value",
    [
        "not a list",
        [1, 990],  # too short
        [1, 990, encode_text("x", Lang.MY), 0],  # too long
        [0, 990, encode_text("x", Lang.MY)],  # mode 0
        [3, 990, encode_text("x", Lang.MY)],  # unknown mode
        [True, 990, encode_text("x", Lang.MY)],  # a bool is not a mode
        [1, 1001, encode_text("x", Lang.MY)],  # probability above 1000 thousandths
        [1, -1, encode_text("x", Lang.MY)],
        [1, 990, b""],  # no codec byte
        [1, 990, b"\x00"],  # an empty other reading
        [1, 990, encode_text("abc", Lang.MY)],  # equal to the text: says nothing
        [1, 990, "x"],  # text string instead of encoded text
        [1, 990, b"\x0f" + b"x"],  # unknown codec
    ],
)
def test_malformed_notes_are_refused_with_a_typed_error(value: object) -> None:
    with pytest.raises(Malformed):
        decode_crew(_with_element_six(value))


def test_a_null_element_six_is_no_note() -> None:
    g = decode_crew(_with_element_six(None))
    assert isinstance(g, Grievance) and g.zawgyi is None


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.binary() | st.text(), st.lists))
def test_any_element_six_decodes_to_a_note_or_a_typed_error(value: object) -> None:
    try:
        g = decode_crew(_with_element_six(value))
    except RemoteProtocolError:
        return
    assert isinstance(g, Grievance)


@pytest.mark.parametrize(
    "note",
    [
        Zawgyi(mode=3, probability=990, other="x"),  # type: ignore[arg-type]
        Zawgyi(mode=ZawgyiMode.CONVERTED, probability=1001, other="x"),
        Zawgyi(mode=ZawgyiMode.CONVERTED, probability=-1, other="x"),
        Zawgyi(mode=ZawgyiMode.UNSURE, probability=500, other=""),
        Zawgyi(mode=ZawgyiMode.UNSURE, probability=500, other="abc"),  # same as the text
        Zawgyi(mode=ZawgyiMode.UNSURE, probability=500, other="x" * 2001),
    ],
)
def test_the_encoder_refuses_what_a_receiver_would_refuse(note: Zawgyi) -> None:
    with pytest.raises(LocalProtocolError):
        encode_crew(Grievance(category=0x17, lang=Lang.MY, text="abc", zawgyi=note))
