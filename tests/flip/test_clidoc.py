"""docs/cli.md is generated from the parser; this keeps it from drifting."""

from __future__ import annotations

from flip import clidoc


def test_cli_reference_is_current() -> None:
    assert clidoc.main(["--check"]) == 0, "run `python -m flip.clidoc` and commit docs/cli.md"


def test_every_command_is_documented() -> None:
    text = clidoc.render()
    for command in (
        "keys new",
        "packet seal",
        "bridge emulate",
        "vessel submit",
        "gateway serve",
        "gateway vessel rotate-key",
        "sim run",
        "demo",
    ):
        assert f"`flip {command}`" in text
