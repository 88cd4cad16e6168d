"""`flip packet seal` → `flip packet open` never alters the words: any text, any language — the
frame opens to exactly the text given, or seal refuses (too long for one frame, or U+0000)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flip.cli import main
from protocol.lang import LANGS
from tests.protocol.strategies import any_text


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    status = main([*argv, "--json"])
    # One JSON line: split on "\n" only — the words may hold U+2028, U+0085 and the like, which
    # str.splitlines() also takes for line ends, inside the JSON string where they belong.
    (line,) = capsys.readouterr().out.strip("\n").split("\n")
    return status, json.loads(line)


@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    for role, name in (("shore", "shore"), ("vessel", "mv")):
        assert main(["keys", "new", "--role", role, "--name", name, "--dir", str(d), "--json"]) == 0
    return d


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
        status, sealed = _run(
            capsys,
            "packet",
            "seal",
            "--sign-key",
            str(keydir / "mv-sign.pem"),
            "--seal-pub",
            str(keydir / "shore-seal.pub.pem"),
            "--category",
            "0x17",
            "--lang",
            lang,
            f"--text={text}",  # '=' so that a text starting with '-' is not an option
            "--out",
            str(out),
        )
        if status != 0:
            assert "fragments" in sealed["error"] or (
                "\x00" in text and "U+0000" in sealed["error"]
            ), sealed
            return
        assert "\x00" not in text
        status, opened = _run(
            capsys,
            "packet",
            "open",
            str(out),
            "--seal-key",
            str(keydir / "shore-seal.pem"),
            "--sign-pub",
            str(keydir / "mv-sign.pub.pem"),
        )
        assert status == 0
        (msg,) = opened["messages"]
        assert (msg["lang"], msg["text"]) == (lang, text)

    check()
