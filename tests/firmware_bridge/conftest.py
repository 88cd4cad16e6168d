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


class WebhookReceiver:
    """An HTTP endpoint on a free port that records POST bodies; the first ``fail`` get 503."""

    def __init__(self, fail: int = 0) -> None:
        import http.server

        self.bodies: list[bytes] = []
        self.fail = fail
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if outer.fail > 0:
                    outer.fail -= 1
                    self.send_response(503)
                else:
                    outer.bodies.append(body)
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        host, port = self.server.server_address[:2]
        self.url = f"http://{host!s}:{port}/ingest/cloudloop"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    w = WebhookReceiver()
    yield w
    w.close()
