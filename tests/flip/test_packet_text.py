"""`flip packet seal` → `flip packet open` never alters the words: any text, any language — the
frame opens to exactly the text given, or seal refuses (too long for one frame, or U+0000)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.lang import LANGS
from tests.flip.packet import new_keys, open_frame, seal
from tests.protocol.strategies import any_text


@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_keys(tmp_path_factory.mktemp("keys"))


def test_any_text_seal_then_open(
    keydir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    out = tmp_path / "frame.bin"

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        text=st.one_of(any_text(max_size=400), any_text(max_size=40)), lang=st.sampled_from(LANGS)
    )
    def check(text: str, lang: str) -> None:
        # '=' so that a text starting with '-' is not an option
        status, sealed = seal(capsys, keydir, out, f"--text={text}", lang=lang)
        if status != 0:
            assert "fragments" in sealed["error"] or (
                "\x00" in text and "U+0000" in sealed["error"]
            ), sealed
            return
        assert "\x00" not in text
        status, opened = open_frame(capsys, keydir, out)
        assert status == 0
        (msg,) = opened["messages"]
        assert (msg["lang"], msg["text"]) == (lang, text)

    check()
