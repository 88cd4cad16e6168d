"""`flip` — the single command. Subcommands are registered by the package that owns them."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from flip.output import CommandError, fail

# (command, module that owns it). Each module has `register(subparsers)`; the handler it sets
# as `func` returns an exit status.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("keys", "flip.keys"),
    ("packet", "flip.packet"),
    ("bridge", "firmware_bridge.cli"),
    ("vessel", "vessel_agent.cli"),
    ("gateway", "shore_gateway.cli"),
    ("sim", "simulator.cli"),
    ("demo", "simulator.demo_cli"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flip",
        description="flip-sync: crew grievances from sea to shore over a VMS satellite link.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for _name, module in COMMANDS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue  # that package has not grown its command yet
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except CommandError as exc:
        return fail(args, str(exc))
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
