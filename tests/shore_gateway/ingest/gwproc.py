"""Subprocess helpers for the end-to-end gateway tests: `flip …` commands, long-running
processes with a JSON ready line, shore and vessel keys on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import httpx


def flip(*args: str, timeout: float = 60) -> dict[str, Any]:
    """Run one `flip … --json` command; return its JSON (fails the test on error)."""
    r = subprocess.run(
        [sys.executable, "-m", "flip", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert r.returncode == 0, f"flip {' '.join(args)}: {r.stderr.strip()}"
    out: dict[str, Any] = json.loads(r.stdout)
    return out


class Proc:
    """A long-running `flip … --json` process; ``ready`` is its first JSON line.

    After that line both of its streams are read on threads of their own, keeping the last
    lines (:attr:`tail`): a process that writes more than a pipe holds (a long run's log)
    would otherwise block on its next write and look hung."""

    TAIL = 200

    def __init__(self, *args: str, timeout: float = 30, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flip", *args, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"flip {' '.join(args)} exited: {err.strip()}")
        self.ready: dict[str, Any] = json.loads(line)
        self.tail: deque[str] = deque(maxlen=self.TAIL)
        self._readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (self.proc.stdout, self.proc.stderr)
            if stream is not None
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.tail.append(line.rstrip("\n"))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)
        finally:
            self._close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self._close()

    def _close(self) -> None:
        """Read what the process left in its pipes, then close them."""
        for reader in self._readers:
            reader.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def gateway(db: str, keys: Path, *extra: str, env: dict[str, str] | None = None) -> Proc:
    """`flip gateway serve` on free ports (``env``: extra environment, e.g. ``FLIP_CASES_…``);
    waits until /healthz answers 200."""
    proc = Proc(
        "gateway",
        "serve",
        "--db",
        db,
        "--http",
        "127.0.0.1:0",
        "--directip",
        "127.0.0.1:0",
        "--keys",
        str(keys),
        *extra,
        env=env,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{proc.ready['http']}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "gateway never became healthy"
        time.sleep(0.1)


def hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def shore_and_vessel_keys(tmp: Path, vessel: str = "boat") -> tuple[Path, Path]:
    """(shore keys dir, vessel keys dir)."""
    shore, boat = tmp / "shore", tmp / vessel
    flip("keys", "new", "--role", "shore", "--name", "shore", "--dir", str(shore))
    flip("keys", "new", "--role", "vessel", "--name", vessel, "--dir", str(boat))
    return shore, boat
