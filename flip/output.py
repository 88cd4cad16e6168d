"""Shared output conventions for every `flip` subcommand (CONTRACTS.md).

With ``--json`` a command prints exactly one JSON object on stdout (long-running ones print one
JSON line when ready). Errors: exit status 1, one clear line on stderr and, with ``--json``,
``{"error": "..."}`` on stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import Any


class CommandError(Exception):
    """A failure to report to the user as one clear line (no traceback)."""


def emit(args: Any, result: Mapping[str, Any], human: Callable[[Mapping[str, Any]], str]) -> None:
    """Print ``result`` as one JSON line with ``--json``, else as words for people."""
    if getattr(args, "json", False):
        print(json.dumps(result, ensure_ascii=False, sort_keys=True), flush=True)
    else:
        print(human(result), flush=True)


def fail(args: Any, message: str) -> int:
    """Report an error the CONTRACTS way and return the exit status."""
    line = message.splitlines()[0] if message else "failed"
    print(f"flip: error: {line}", file=sys.stderr, flush=True)
    if getattr(args, "json", False):
        print(json.dumps({"error": line}, ensure_ascii=False), flush=True)
    return 1
