"""Shared fixtures: a DirectIP MO receiver, emulators on each transport, a scripted fake modem."""

from __future__ import annotations

import os
import socket
import threading
import tty
from collections.abc import Callable, Iterator

import pytest

from firmware_bridge.directip import DirectIPReader, MOMessage, decode_mo, encode_mo_confirmation
from firmware_bridge.emulator import Emulator

IMEI = "300234010753370"


class DirectIPReceiver:
    """A shore-side DirectIP MO listener on a free port, answering every message."""

    def __init__(self, accept: bool = True, port: int = 0) -> None:
        self.sock = socket.create_server(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.messages: list[MOMessage] = []
        self.accept = accept
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                reader = DirectIPReader()
                frames: list[bytes] = []
                while not frames:
                    chunk = conn.recv(4096)
                    frames = reader.receive_data(chunk or None)
                    if not chunk:
                        break
                if frames:
                    self.messages.append(decode_mo(frames[0]))
                    conn.sendall(encode_mo_confirmation(self.accept))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def receiver() -> Iterator[DirectIPReceiver]:
    r = DirectIPReceiver()
    yield r
    r.close()


TRANSPORTS = {
    "pty-echo-on": {"transport": "pty", "echo": True},
    "pty-echo-off": {"transport": "pty", "echo": False},
    "socket-echo-on": {"transport": "tcp", "echo": True},
}


@pytest.fixture(params=list(TRANSPORTS))
def emulator(request: pytest.FixtureRequest, receiver: DirectIPReceiver) -> Iterator[Emulator]:
    emu = Emulator(imei=IMEI, directip=receiver.address, **TRANSPORTS[request.param])
    emu.start()
    yield emu
    emu.close()


class FakeModem:
    """A pty whose answers come from a script: ``respond(line) -> bytes`` per command line."""

    def __init__(self, respond: Callable[[bytes], bytes]) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.device = os.ttyname(self.slave)
        self.respond = respond
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import select

        buf = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                buf += os.read(self.master, 1024)
            except OSError:
                return
            while b"\r" in buf:
                line, buf = buf.split(b"\r", 1)
                reply = self.respond(line)
                if reply:
                    os.write(self.master, reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self.master)
        os.close(self.slave)
