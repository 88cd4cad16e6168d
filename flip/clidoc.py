"""Generate docs/cli.md from the `flip` parser itself, so the reference cannot drift.

.venv/bin/python -m flip.clidoc            # rewrite docs/cli.md
.venv/bin/python -m flip.clidoc --check    # exit 1 if docs/cli.md is stale (tests do this)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flip.cli import build_parser

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"

INTRO = """# `flip` command reference

Generated from the command's own parser by `python -m flip.clidoc`; do not edit by hand.

Conventions (CONTRACTS.md): every non-interactive subcommand accepts `--json` and then prints
exactly one JSON object on stdout (long-running ones print one JSON line when ready and run
until SIGINT/SIGTERM). Errors: exit status 1, one line on stderr, and with `--json` also
`{"error": "..."}` on stdout.
"""


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps no public accessor for subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog, width=100)  # independent of the terminal


def _raw_formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, width=100)  # a laid-out epilog kept


def _walk(parser: argparse.ArgumentParser, path: list[str], out: list[str]) -> None:
    raw = parser.formatter_class in (argparse.RawDescriptionHelpFormatter, _raw_formatter)
    parser.formatter_class = _raw_formatter if raw else _formatter
    subs = _subparsers(parser)
    if path:
        level = "#" * min(len(path) + 1, 4)
        out.append(f"{level} `flip {' '.join(path)}`\n")
        if parser.description:
            out.append(parser.description.strip() + "\n")
        if not subs:
            parser.prog = "flip " + " ".join(path)
            out.append("```\n" + parser.format_help().rstrip() + "\n```\n")
    for name, sub in subs.items():
        _walk(sub, [*path, name], out)


def render() -> str:
    parser = build_parser()
    parser.formatter_class = _formatter
    out = [INTRO, "```\n" + parser.format_help().rstrip() + "\n```\n"]
    _walk(parser, [], out)
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print("docs/cli.md is stale: run `python -m flip.clidoc`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
