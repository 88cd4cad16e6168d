"""Zawgyi-typed Burmese: detected, converted before sealing, the words as typed kept beside it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocol.crew import Grievance, ZawgyiMode, decode_crew, encode_crew
from protocol.errors import LocalProtocolError
from protocol.lang import Lang
from protocol.messages import CrewMessage, Fragment, decode_message
from protocol.seal import crew_info, open_sealed
from tests.helpers import det_rng
from tests.vessel_agent.conftest import AgentFixture
from vessel_agent import zawgyi
from vessel_agent.device import Device

DATA = Path(__file__).parent / "data" / "zawgyi_mmgov.tsv"
PAIRS = [
    tuple(line.split("\t"))
    for line in DATA.read_text("utf-8").splitlines()
    if line and not line.startswith("#")
]
T0 = 1_750_000_000

# A wage complaint typed on a Zawgyi phone ("seven months, no wages"), and the same in Unicode.
ZAWGYI = "ခုႏွစ္လ လစာ မရပါ"
UNICODE = "ခုနှစ်လ လစာ မရပါ"


def test_icu_converts_real_zawgyi_text_as_googles_converters_expect() -> None:
    assert len(PAIRS) == 12
    for typed, expected in PAIRS:
        assert zawgyi.convert(typed) == expected
        reading = zawgyi.read(typed)
        assert reading.text == expected
        assert reading.note is not None and reading.note.mode is ZawgyiMode.CONVERTED
        assert reading.note.other == typed  # the words as typed, exactly
        assert reading.note.probability >= 950


def test_unicode_burmese_and_other_scripts_are_left_alone() -> None:
    for _, unicode in PAIRS:
        assert zawgyi.read(unicode) == zawgyi.Reading(text=unicode)
    for text in ("", "No pay for 7 months", "ค่าจ้างไม่จ่าย", "មិនបានបើកប្រាក់ខែ", UNICODE):
        assert zawgyi.read(text) == zawgyi.Reading(text=text)
    assert zawgyi.probability("only latin") == float("-inf")


def test_unsure_keeps_the_typed_text_and_attaches_a_converted_reading() -> None:
    # A real Unicode word the detector is unsure about (p ≈ 0.26, from myanmar-tools'
    # compatibility list): it must not be changed — a converted reading goes beside it.
    word = "လူခပ်သိမ်း၏"
    assert zawgyi.ASK_AT <= zawgyi.probability(word) < zawgyi.CONVERT_AT
    reading = zawgyi.read(word)
    assert reading.text == word
    assert reading.note is not None and reading.note.mode is ZawgyiMode.UNSURE
    assert reading.note.other == zawgyi.convert(word) != word
    assert 50 <= reading.note.probability < 950


def test_text_identical_in_both_encodings_gets_no_note() -> None:
    # Consonants only: the detector may say anything, but conversion changes nothing.
    word = "လစာ"
    assert zawgyi.convert(word) == word
    assert zawgyi.read(word).note is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.text(st.characters(min_codepoint=0x1000, max_codepoint=0x109F)))
def test_any_text_reads_to_a_sealable_grievance_with_the_typed_words_recoverable(
    typed: str,
) -> None:
    reading = zawgyi.read(typed)
    note = reading.note
    if note is None:
        assert reading.text == typed
    elif note.mode is ZawgyiMode.CONVERTED:
        assert note.other == typed != reading.text
    else:
        assert reading.text == typed != note.other
    try:  # text no grievance may carry (a NUL, say) is refused before any of this
        encode_crew(Grievance(category=0x17, lang=Lang.MY, text=typed))
    except LocalProtocolError:
        assume(False)
    g = Grievance(category=0x17, lang=Lang.MY, text=reading.text, zawgyi=note)
    assert decode_crew(encode_crew(g)) == g


def _grievances(dev: Device, fx: AgentFixture) -> dict[int, Grievance]:
    """Every grievance in the outbox (fragments joined), opened with the shore key."""
    parts: dict[int, dict[int, bytes]] = {}
    messages = []
    for (encoded,) in dev.outbox.db.execute("SELECT encoded FROM messages ORDER BY seq"):
        msg = decode_message(bytes(encoded))
        if isinstance(msg, Fragment):
            parts.setdefault(msg.first_seq, {})[msg.index] = msg.chunk
        else:
            messages.append(msg)
    for chunks in parts.values():
        messages.append(decode_message(b"".join(chunks[i] for i in sorted(chunks))))
    out: dict[int, Grievance] = {}
    for msg in messages:
        if isinstance(msg, CrewMessage):
            plain = open_sealed(msg.sealed, [fx.shore.seal], crew_info(fx.kid, msg.seq, msg.time))
            content = decode_crew(plain)
            assert isinstance(content, Grievance)
            out[msg.seq] = content
    return out


def test_device_submit_converts_and_seals_the_typed_words_beside(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        done = dev.submit(category=0x17, lang=Lang.MY, text=ZAWGYI, now=T0, rng=det_rng("z"))
        plain = dev.submit(category=0x17, lang=Lang.MY, text=UNICODE, now=T0, rng=det_rng("u"))
        assert done.zawgyi is ZawgyiMode.CONVERTED and plain.zawgyi is None
        opened = _grievances(dev, agent_dir)
    g = opened[done.seq]
    assert g.text == UNICODE
    assert g.zawgyi is not None and g.zawgyi.other == ZAWGYI
    assert opened[plain.seq].text == UNICODE and opened[plain.seq].zawgyi is None


def test_flip_vessel_submit_converts_zawgyi(agent_dir: AgentFixture) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "flip.cli", "vessel", "submit", "--dir", str(agent_dir.dir)]
        + ["--category", "0x17", "--lang", "my", "--text", ZAWGYI, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"zawgyi": "converted"' in out.stdout
    with Device(str(agent_dir.dir)) as dev:
        (g,) = _grievances(dev, agent_dir).values()
    assert g.text == UNICODE and g.zawgyi is not None and g.zawgyi.other == ZAWGYI


@pytest.mark.parametrize(("typed", "expected"), PAIRS[:3])
def test_sealed_size_of_a_converted_grievance(
    agent_dir: AgentFixture, typed: str, expected: str
) -> None:
    """Carrying the words as typed costs bytes; both readings must still reach the shore."""
    with Device(str(agent_dir.dir)) as dev:
        done = dev.submit(category=0x17, lang=Lang.MY, text=typed, now=T0, rng=det_rng("s"))
        (g,) = _grievances(dev, agent_dir).values()
    assert done.zawgyi is ZawgyiMode.CONVERTED
    assert (g.text, g.zawgyi and g.zawgyi.other) == (expected, typed)
