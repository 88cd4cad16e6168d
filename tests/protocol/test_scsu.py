"""Tests of protocol.scsu (UTS #6) and of the texts that broke the encoder the codec used before."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import scsu
from protocol.errors import BadText, LocalProtocolError
from protocol.lang import Lang
from protocol.text import REJECTED_CANDIDATES, decode_text, encode_text

# Texts (found with Hypothesis and a random search over mixed scripts) that the ``scsu`` 1.1.1
# package encoded wrongly, with the bytes it wrote. Its encoder emits UDX (0xF1) from Unicode
# mode without leaving Unicode mode, so what follows the emoji is written for the wrong mode.
# ``decoded`` is what a correct UTS #6 decoder reads from those bytes (None: not SCSU at all).
OLD_ENCODER_BROKE: list[tuple[str, str, str | None]] = [
    ("화나🙏🙏", "0fd654b098f1c1eccfd83dde4f", "화나🙏🙘=🙞O"),
    ("화나👍🏽", "0fd654b098f1c1e8cdd83cdffd", "화나👍👘<👟👽"),
    ("漢字😡\u0301", "0f6f225b57f1c1eca10301", "漢字😡ā"),
    ("陳船長🙏 ok", "0f967382399577f1e1eccfe7206f6b", "陳船長🙏🙧 ok"),
    ("漢字😀ab", "0f6f225b57f1c1ec80e66162", "漢字😀🙦ab"),
    ("화나😡 ok", "0fd654b098f1c1eca1e6206f6b", "화나😡🙦 ok"),
    ("漢字😡ไม่", "0f6f225b57f1c1eca1ef1cc4a1c8", None),
    ("임금😡ไม่", "0fc784ae08f1c1eca1ef1cc4a1c8", None),
    ("漢字🙏🙏임금", "0f6f225b57f1c1eccfd83dde4fc784ae08", None),
    ("화나👍🏽임금", "0fd654b098f1c1e8cdd83cdffdc784ae08", None),
    ("陳船長😡ไม่", "0f967382399577f1e1eca1ea1cc4a1c8", None),
]


@pytest.mark.parametrize(("text", "old_hex", "misread"), OLD_ENCODER_BROKE, ids=range(11))
def test_texts_that_broke_the_old_encoder(text: str, old_hex: str, misread: str | None) -> None:
    old = bytes.fromhex(old_hex)
    if misread is None:
        with pytest.raises(BadText):
            scsu.decode(old)
    else:
        assert scsu.decode(old) == misread != text
    encoded = scsu.encode(text)
    assert scsu.decode(encoded) == text
    assert encoded[: old.index(0xF1)] == old[: old.index(0xF1)]  # same choices up to the bug
    for lang in Lang:
        assert decode_text(encode_text(text, lang), lang) == text


# --- UTS #6 §9 examples ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hex_"),
    [
        ("Öl fließt", "d66c20666c6965df74"),  # UTS #6 §9.1: German
        ("Москва", "129cbec1bab2b0"),  # UTS #6 §9.2: Russian (SC2, the Cyrillic window)
    ],
)
def test_uts6_examples(text: str, hex_: str) -> None:
    assert scsu.decode(bytes.fromhex(hex_)) == text
    assert scsu.encode(text) == bytes.fromhex(hex_)


@pytest.mark.parametrize(
    ("hex_", "text"),
    [
        ("0f4e2d6587", "中文"),  # SCU, then UTF-16BE
        ("0fd83dde00", "😀"),  # a surrogate pair in Unicode mode
        ("0ed83d0ede00", "😀"),  # the two halves quoted one by one (SQU, SQU)
        ("0f4e2df0e000e041", "中\ue000A"),  # UQU quotes a unit that looks like a tag; UC0
        ("0b41ec80", "😀"),  # SDX: window 2 (0x41 >> 5) at U+1F600
        ("0f4e2df141ec8041", "中😀A"),  # UDX returns to single-byte mode
        ("0f4e2de9208041", "中\u1000A"),  # UD1 0x20: window 1 at U+1000, single-byte mode
        ("01058041", "\u0005\u0080A"),  # SQ0 quotes a control; byte 0x80 is window 0 (U+0080)
        ("1afd81", "\u3041"),  # SD2 0xFD: the Hiragana window (unaligned)
        ("1c6881", "\ue001"),  # SD4 0x68: U+E000 window (offset + 0xAC00)
        ("028041", "\u00c0A"),  # SQ1 0x80: dynamic window 1 (U+00C0) for one character
    ],
)
def test_decoder_reads_every_tag(hex_: str, text: str) -> None:
    assert scsu.decode(bytes.fromhex(hex_)) == text


@pytest.mark.parametrize(
    "hex_",
    [
        "0c",  # SCR reserved
        "0ff2",  # UCR reserved
        "1800",  # window offset 0x00 reserved
        "18a8",  # 0xA8–0xF8 reserved
        "01",  # tag without its argument
        "0e00",
        "0b41",
        "0f4e",  # odd byte in Unicode mode
        "0ed800",  # lone high surrogate
        "0fdc00",  # lone low surrogate
        "0fd800d800",  # high followed by high
        "0ed83d41",  # high surrogate followed by a character
    ],
)
def test_decoder_refuses_invalid_scsu(hex_: str) -> None:
    with pytest.raises(BadText):
        scsu.decode(bytes.fromhex(hex_))


def test_encoder_refuses_lone_surrogates() -> None:
    with pytest.raises(LocalProtocolError):
        scsu.encode("a\ud800")


# --- properties ------------------------------------------------------------------------------

_EDGES = st.sampled_from(
    [chr(c) for c in (0, 9, 10, 13, 1, 0x0B, 0x0C, 0x0E, 0x0F, 0x1F, 0x7F, 0x80, 0xFF)]
    + [chr(c) for c in (0x3400, 0xDFFF - 0x800, 0xE000, 0xF2FF, 0xFEFF, 0xFFFF, 0x10000)]
    + [chr(c) for c in (0x1F600, 0x10FFFF, 0x200D, 0xFE0F, 0x0301, 0xFF61, 0x3040, 0x30A0)]
)
_MIXED = st.one_of(
    st.characters(exclude_categories=["Cs"]),
    st.characters(min_codepoint=0x3040, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF),
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    _EDGES,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(_MIXED, max_size=60))
def test_scsu_round_trip(text: str) -> None:
    assert scsu.decode(scsu.encode(text)) == text


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_scsu_decoder_gives_text_or_bad_text(data: bytes) -> None:
    try:
        text = scsu.decode(data)
    except BadText:
        return
    text.encode("utf-8")  # never an unpaired surrogate


def test_rejected_candidates_are_counted_without_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken SCSU encoder cannot alter a text: both SCSU candidates are dropped and counted."""
    monkeypatch.setattr(scsu, "encode", lambda text: bytes.fromhex("0f6f225b57f1c1ec80e66162"))
    before = dict(REJECTED_CANDIDATES)
    text = "漢字😀ab"
    encoded = encode_text(text, Lang.UND)
    assert encoded[0] in (0x00, 0x12)
    assert decode_text(encoded, Lang.UND) == text
    assert REJECTED_CANDIDATES["stored SCSU"] == before.get("stored SCSU", 0) + 1
    assert REJECTED_CANDIDATES["deflate SCSU"] == before.get("deflate SCSU", 0) + 1
    assert all(isinstance(key, str) and text not in key for key in REJECTED_CANDIDATES)


# --- the same bytes as the package where it was right ----------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(_MIXED, max_size=40))
def test_same_bytes_as_the_scsu_package_where_it_round_trips(text: str) -> None:
    """Keeps the frozen SCSU dictionaries matching: they were built with the package."""
    package = pytest.importorskip("scsu")
    assert package
    old = text.encode("scsu")
    try:
        old_ok = old.decode("scsu") == text
    except Exception:  # the package raises anything on its own bad output
        old_ok = False
    if old_ok:
        assert scsu.encode(text) == old
