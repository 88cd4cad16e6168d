"""`flip keys` / `flip packet` as a tester types them: one JSON line per command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flip.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    """(exit status, the one JSON object printed) of ``flip ARGV --json``."""
    status = main([*argv, "--json"])
    # One JSON line: split on "\n" only — the words may hold U+2028, U+0085 and the like, which
    # str.splitlines() also takes for line ends, inside the JSON string where they belong.
    (line,) = capsys.readouterr().out.strip("\n").split("\n")
    return status, json.loads(line)


def new_keys(d: Path) -> Path:
    """A shore key pair set and a vessel ``mv`` in ``d``, as `flip keys new` writes them."""
    for role, name in (("shore", "shore"), ("vessel", "mv")):
        assert main(["keys", "new", "--role", role, "--name", name, "--dir", str(d), "--json"]) == 0
    return d


def seal(
    capsys: pytest.CaptureFixture[str],
    keys: Path,
    out: Path,
    *extra: str,
    category: str = "0x17",
    lang: str = "my",
) -> tuple[int, dict[str, Any]]:
    """`flip packet seal` with the vessel ``mv``'s key to the shore's seal key, into ``out``."""
    return run(
        capsys,
        "packet",
        "seal",
        "--sign-key",
        str(keys / "mv-sign.pem"),
        "--seal-pub",
        str(keys / "shore-seal.pub.pem"),
        "--category",
        category,
        "--lang",
        lang,
        "--out",
        str(out),
        *extra,
    )


def open_frame(
    capsys: pytest.CaptureFixture[str],
    keys: Path,
    frame: Path,
    *extra: str,
    sign_pub: str = "mv-sign.pub.pem",
) -> tuple[int, dict[str, Any]]:
    """`flip packet open` with the shore's seal key and (by default) ``mv``'s signing key."""
    return run(
        capsys,
        "packet",
        "open",
        str(frame),
        "--seal-key",
        str(keys / "shore-seal.pem"),
        "--sign-pub",
        str(keys / sign_pub),
        *extra,
    )
