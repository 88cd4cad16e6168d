"""Structured logs: one JSON object per line on stderr (journald keeps them under systemd).

Callers pass an event name and scalar fields (seqs, byte counts, outcome codes). Grievance
content never reaches this module — the agent only ever holds ciphertext — and as a second line
of defence :func:`log` refuses free-text fields by name (``text``, ``content``, ``note``…).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

_FORBIDDEN = frozenset({"text", "content", "plaintext", "message", "body", "receipt", "code"})


class Log:
    """A tiny JSON-lines logger (stdlib ``logging`` adds nothing here but start-up time)."""

    def __init__(self, stream: TextIO | None = None, component: str = "vessel-agent") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.component = component

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        bad = _FORBIDDEN.intersection(fields)
        if bad:
            raise ValueError(f"refusing to log free-text fields {sorted(bad)}")
        record = {"t": round(time.time(), 3), "level": level, "c": self.component, "event": event}
        record.update(fields)
        try:
            self.stream.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed stderr must not stop the agent
