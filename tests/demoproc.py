"""`flip demo` as the end-to-end browser tests run it: started, its JSON ready line read, its
pipes drained on threads of their own (a demo's log can outgrow a pipe, which would block it
and look like a hang), stopped with SIGINT and required to exit cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@contextmanager
def demo(directory: Path, vessels: int = 1) -> Iterator[dict[str, Any]]:
    """Run `flip demo` in ``directory``; yields its ready line, with ``base`` (the gateway's
    address) added."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "flip", "demo", "--dir", str(directory), "--vessels",
         str(vessels), "--http-port", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    err: deque[str] = deque(maxlen=200)
    readers: list[threading.Thread] = []
    try:
        info: dict[str, Any] = json.loads(proc.stdout.readline() or "{}")
        assert info and "error" not in info, (info, proc.stderr.read()[-2000:])
        info["base"] = info["dashboard"].rsplit("/", 1)[0]
        readers = [
            threading.Thread(target=_drain, args=(stream, keep), daemon=True)
            for stream, keep in ((proc.stdout, deque[str](maxlen=200)), (proc.stderr, err))
        ]
        for reader in readers:
            reader.start()
        yield info
    finally:
        proc.send_signal(signal.SIGINT)
        if readers:
            code = proc.wait(timeout=60)
            for reader in readers:
                reader.join(10)
            proc.stdout.close()
            proc.stderr.close()
            assert code == 0, "\n".join(err)[-2000:]
        else:
            proc.communicate(timeout=60)


def _drain(stream: Any, keep: deque[str]) -> None:
    for line in stream:
        keep.append(line.rstrip("\n"))


def until(check: Callable[[], T], timeout: float, what: str) -> T:
    """``check()`` once it is truthy, asked every second for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")
