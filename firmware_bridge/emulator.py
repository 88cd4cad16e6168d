"""The I/O shell around :class:`~firmware_bridge.modem.ModemMachine`: a modem on a real pty.

``Emulator.start()`` opens a pseudo-terminal (``os.openpty``, slave in raw mode) so any serial
client — our driver, third-party drivers, ``screen``, ``minicom`` — can open :attr:`device`. With
``transport="tcp"`` the same modem is served on a TCP port instead (pyserial ``socket://``), as a
serial-to-network adapter such as ser2net would.

Threads (all daemons, stopped by :meth:`close`):

* **serial loop** — ``select`` on the pty master (or TCP connection) and a wake-up pipe, with the
  machine's timer as the timeout; feeds bytes and timers to the machine and writes its output.
* **DirectIP delivery** — each :class:`~firmware_bridge.modem.MOSent` becomes a DirectIP MO
  message (Developers Guide §5) pushed over TCP to ``directip`` and confirmed. The satellite
  session already succeeded when this runs, so — like the real Iridium gateway, which keeps and
  retries DirectIP deliveries when the vendor's server is down — undelivered messages stay in a
  FIFO queue and are retried with exponential back-off (``retry_initial_s`` doubling up to
  ``retry_max_s``), in order, until delivered or the emulator closes.
* **MT listener** (optional) — accepts DirectIP MT messages on ``mt_listen``, queues the payload
  at the "gateway" (the modem learns of it through ``+SBDIX``'s MT queued count, and through
  ``SBDRING`` when ring alerts are on), and answers with an MT confirmation.

One lock guards the machine; every thread takes it for a feed and the write that follows.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import select
import socket
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass

from firmware_bridge.directip import (
    DirectIPReader,
    MOHeader,
    MOLocation,
    MOMessage,
    MTConfirmation,
    MTDisposition,
    decode_mo_confirmation,
    decode_mt,
    encode_mo,
    encode_mt_confirmation,
)
from firmware_bridge.errors import DirectIPError, LinkClosed
from firmware_bridge.link import AlwaysUp, LinkModel
from firmware_bridge.modem import BytesOut, Event, ModemMachine, MOSent
from firmware_bridge.retry import RetryQueue

_CONNECT_TIMEOUT_S = 5.0


@dataclass(slots=True)
class DeliveryStats:
    """Counters of the DirectIP MO delivery queue."""

    delivered: int = 0
    attempts_failed: int = 0
    pending: int = 0
    mt_accepted: int = 0
    mt_rejected: int = 0
    dropped_output: int = 0


def parse_hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` → ``(host, port)``; raises :class:`ValueError` when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


class Emulator:
    """An emulated Iridium 9602/9603 on a pty (or TCP), delivering MO over DirectIP."""

    def __init__(
        self,
        *,
        imei: str,
        directip: tuple[str, int] | None = None,
        mt_listen: tuple[str, int] | None = None,
        link: LinkModel | None = None,
        echo: bool = True,
        write_timeout_s: float = 60.0,
        transport: str = "pty",
        on_mo: Callable[[MOMessage], None] | None = None,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if transport not in ("pty", "tcp"):
            raise ValueError("transport must be 'pty' or 'tcp'")
        self.imei = imei
        self.machine = ModemMachine(
            imei=imei, link=link or AlwaysUp(), echo=echo, write_timeout_s=write_timeout_s
        )
        self.directip = directip
        self.mt_listen = mt_listen
        self.transport = transport
        self.on_mo = on_mo
        self.clock = clock
        self.stats = DeliveryStats()
        self.device = ""
        self.mt_address: tuple[str, int] | None = None
        self.delivered: list[MOMessage] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._queue: RetryQueue[MOMessage] = RetryQueue(
            self._deliver,
            self.stats,
            self._stop,
            initial_s=retry_initial_s,
            max_s=retry_max_s,
            retry_on=(OSError, DirectIPError),
            on_delivered=self.delivered.append,
        )
        self._threads: list[threading.Thread] = []
        self._cdr = itertools.count(1)
        self._auto_id = itertools.count(1)
        self._mute_after: int | None = None
        self._fds: list[int] = []
        self._socks: list[socket.socket] = []
        self._master = -1
        self._conn: socket.socket | None = None
        self._listener: socket.socket | None = None
        self._wake_r, self._wake_w = -1, -1

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Open the device (and MT listener) and start the threads; returns ``self``."""
        self._wake_r, self._wake_w = os.pipe()
        self._fds += [self._wake_r, self._wake_w]
        if self.transport == "pty":
            master, slave = os.openpty()
            self._fds += [master, slave]  # the slave stays open: no EIO when clients come and go
            tty.setraw(slave)
            flags = fcntl.fcntl(master, fcntl.F_GETFL)
            fcntl.fcntl(master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
            self._master = master
            self.device = os.ttyname(slave)
        else:
            self._listener = socket.create_server(("127.0.0.1", 0))
            self._socks.append(self._listener)
            host, port = self._listener.getsockname()[:2]
            self.device = f"socket://{host}:{port}"
        self._spawn(self._serial_loop, "serial")
        self._spawn(self._queue.run, "directip-mo")
        if self.mt_listen is not None:
            server = socket.create_server(self.mt_listen)
            server.settimeout(0.2)
            self._socks.append(server)
            host, port = server.getsockname()[:2]
            self.mt_address = (host, port)
            self._spawn(lambda: self._mt_loop(server), "directip-mt")
        return self

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=f"emulator-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        """Stop the threads and close the pty and sockets (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake()
        self._queue.wake()
        for thread in self._threads:
            thread.join(timeout=5)
        for s in [*self._socks, *([self._conn] if self._conn else [])]:
            with contextlib.suppress(OSError):
                s.close()
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- controls for tests and the simulator ------------------------------------------------

    def queue_mt(self, payload: bytes) -> int:
        """Queue an MT message at the emulated gateway; returns the DirectIP MT status."""
        with self._lock:
            position, events = self.machine.queue_mt(payload, self.clock())
            self._handle(events)
        self._wake()
        return position

    def mute_after(self, n_bytes: int | None) -> None:
        """Fault injection: write ``n_bytes`` more bytes, then go silent (``None`` restores)."""
        with self._lock:
            self._mute_after = n_bytes

    def wait_delivered(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` MO messages have been confirmed by the DirectIP receiver."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stats.delivered >= count:
                return True
            time.sleep(0.01)
        return self.stats.delivered >= count

    # --- serial loop --------------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")

    def _endpoint(self) -> int | None:
        if self.transport == "pty":
            return self._master
        return self._conn.fileno() if self._conn is not None else None

    def _serial_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                timer = self.machine.get_timer()
            timeout = 0.5 if timer is None else min(0.5, max(0.0, timer - self.clock()))
            fd = self._endpoint()
            watch = [self._wake_r] + ([fd] if fd is not None else [])
            if self._listener is not None and self._conn is None:
                watch.append(self._listener.fileno())
            try:
                ready, _, _ = select.select(watch, [], [], timeout)
            except (OSError, ValueError):
                return  # closed under us
            if self._stop.is_set():
                return
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            if self._listener is not None and self._listener.fileno() in ready:
                conn, _ = self._listener.accept()
                conn.setblocking(False)
                self._conn = conn
                continue
            if fd is not None and fd in ready:
                data = self._read(fd)
                if data:
                    with self._lock:
                        self._handle(self.machine.receive_data(data, self.clock()))
            with self._lock:
                timer = self.machine.get_timer()
                if timer is not None and self.clock() >= timer:
                    self._handle(self.machine.handle_timer(self.clock()))

    def _read(self, fd: int) -> bytes:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return b""
        except OSError:
            data = b""
        if not data and self._conn is not None:  # TCP client went away: wait for the next
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None
        return data

    def _handle(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, BytesOut):
                self._write(event.data)
            elif isinstance(event, MOSent):
                self._enqueue(event)

    def _write(self, data: bytes) -> None:
        if self._mute_after is not None:
            data, self._mute_after = data[: self._mute_after], max(0, self._mute_after - len(data))
        fd = self._endpoint()
        if fd is None:
            self.stats.dropped_output += len(data)
            return
        view = memoryview(data)
        deadline = time.monotonic() + 2.0
        while view and time.monotonic() < deadline:
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                select.select([], [fd], [], 0.05)
                continue
            except OSError:
                break
            view = view[written:]
        self.stats.dropped_output += len(view)  # nobody reading: a serial line drops it too

    # --- DirectIP MO delivery ------------------------------------------------------------------

    def _enqueue(self, event: MOSent) -> None:
        location = None
        if event.location is not None:
            location = MOLocation.from_degrees(*event.location, cep_km=10)
        message = MOMessage(
            header=MOHeader(
                cdr_reference=next(self._cdr),
                imei=self.imei,
                session_status=0,
                momsn=event.momsn,
                mtmsn=event.mtmsn,
                session_time=int(event.time) & 0xFFFFFFFF,
            ),
            payload=event.payload,
            location=location,
        )
        if self.on_mo is not None:
            self.on_mo(message)
        if self.directip is None:
            self.delivered.append(message)
            self.stats.delivered += 1
            return
        self._queue.put(message)

    def _deliver(self, message: MOMessage) -> bool:
        """Push one MO message; True on a positive confirmation (raises on anything else)."""
        assert self.directip is not None
        with socket.create_connection(self.directip, timeout=_CONNECT_TIMEOUT_S) as sock:
            sock.sendall(encode_mo(message))
            reader = DirectIPReader(max_message=64)
            while True:
                chunk = sock.recv(256)
                frames = reader.receive_data(chunk or None)
                if frames:
                    if not decode_mo_confirmation(frames[0]).success:
                        raise ConnectionError("receiver refused the MO message")
                    return True
                if not chunk:
                    raise ConnectionError("receiver closed without a confirmation")

    # --- DirectIP MT listener ------------------------------------------------------------------

    def _mt_loop(self, server: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(_CONNECT_TIMEOUT_S)
                with contextlib.suppress(OSError, DirectIPError, LinkClosed):
                    self._serve_mt(conn)

    def _serve_mt(self, conn: socket.socket) -> None:
        reader = DirectIPReader()
        frames: list[bytes] = []
        while not frames:
            chunk = conn.recv(4096)
            frames = reader.receive_data(chunk or None)
            if not chunk:
                break
        if not frames:
            return
        mt = decode_mt(frames[0])
        status = self._accept_mt(mt.header.imei, mt.payload, mt.header.disposition)
        if status >= 0:
            self.stats.mt_accepted += 1
        else:
            self.stats.mt_rejected += 1
        imei = mt.header.imei if len(mt.header.imei) == 15 and mt.header.imei.isascii() else ""
        reply = MTConfirmation(
            client_message_id=mt.header.client_message_id,
            imei=imei.ljust(15, "0"),
            auto_id_reference=next(self._auto_id) if status >= 0 else 0,
            status=status,
        )
        conn.sendall(encode_mt_confirmation(reply))

    def _accept_mt(self, imei: str, payload: bytes | None, disposition: int) -> int:
        if len(imei) != 15 or not imei.isdigit():
            return -1
        if imei != self.imei:
            return -2
        flags = MTDisposition(disposition & 0x3B)
        if MTDisposition.FLUSH_MT_QUEUE in flags:
            with self._lock:
                self.machine.mt_queue.clear()
            if payload is None:
                return 0
        if payload is None:
            if MTDisposition.SEND_RING_ALERT in flags:
                return 0
            return -4
        return self.queue_mt(payload)
