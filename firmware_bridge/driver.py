"""Host-side driver for an Iridium 9602/9603 SBD transceiver (RockBLOCK) over pyserial.

The port is opened with :func:`serial.serial_for_url`, so ``/dev/ttyUSB0``, a pty path from
``flip bridge emulate``, ``socket://host:port`` (ser2net) and ``loop://`` all work; 19200 8N1, no
flow control (*ISU AT Command Reference* §"Serial interface"). Commands end in CR; responses are
parsed with or without echo (``ATE0``/``ATE1``), in V.25ter verbose framing
(``\\r\\n…\\r\\nOK\\r\\n``).
``+SBDRB`` is read by length, not by line, because MT payloads may contain CR and LF.

Every read has a deadline. A modem that stops answering raises
:class:`~firmware_bridge.errors.ResponseTimeout`, one that answers with bytes that are not the
response raises :class:`~firmware_bridge.errors.GarbledResponse`, a failing port raises
:class:`~firmware_bridge.errors.LinkBroken` with the OS error chained; all are ``LinkBroken``.
``ERROR`` or a non-zero result code raises :class:`~firmware_bridge.errors.ModemError`.
A failed *session* is not an exception: :meth:`Modem.session` returns a :class:`SessionResult`
whose ``outcome`` (see :mod:`firmware_bridge.status`) says whether and when to retry.

Concurrency model: :class:`Modem` is blocking and thread-safe — one ``threading.RLock`` makes
each operation (command + its whole response) atomic, so a poller thread may call
:meth:`Modem.poll_ring` while another sends. :class:`AsyncModem` wraps it for asyncio code (the
vessel agent): every call runs in a worker thread via :func:`asyncio.to_thread`, so the event
loop never blocks on the serial port.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import serial

from firmware_bridge.errors import (
    GarbledResponse,
    LinkBroken,
    ModemError,
    ResponseTimeout,
    WriteRejected,
)
from firmware_bridge.modem import IRIDIUM_EPOCH, MAX_MO, checksum
from firmware_bridge.serialport import SerialLink
from firmware_bridge.status import Outcome, classify

BAUDRATE = 19200
_N = rb"\s*(-?\d+)\s*"
_SBDIX = re.compile(rb"\+SBDIX:" + b",".join([_N] * 6))
_SBDSX = re.compile(rb"\+SBDSX:" + b",".join([_N] * 6))
_CSQ = re.compile(rb"\+CSQ:\s*([0-5])")
_MSSTM = re.compile(rb"-MSSTM:\s*([0-9a-fA-F]{1,8})")
_BUFFERS = {"mo": 0, "mt": 1, "both": 2}
_RING = b"SBDRING\r\n"


def _maybe_ring(buf: bytes) -> bool:
    """``buf`` could still become CR LF or SBDRING once more bytes arrive."""
    return buf[:1] in (b"\r", b"S") and _RING.startswith(buf.lstrip())


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionResult:
    """A parsed ``+SBDIX`` response (ISU AT Command Reference, +SBDIX)."""

    mo_status: int
    momsn: int
    mt_status: int  # 0 none, 1 received, 2 error
    mtmsn: int
    mt_length: int
    mt_queued: int
    outcome: Outcome

    @property
    def ok(self) -> bool:
        """True when the MO buffer (if any) reached the gateway."""
        return self.outcome.ok

    @property
    def mt_received(self) -> bool:
        """True when an MT message is now in the modem's MT buffer (read it with read_mt)."""
        return self.mt_status == 1


@dataclass(frozen=True, slots=True, kw_only=True)
class BufferStatus:
    """A parsed ``+SBDSX`` response."""

    mo_flag: bool
    momsn: int
    mt_flag: bool
    mtmsn: int
    ring_alert: bool
    mt_waiting: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """Identity and radio state of the modem."""

    model: str
    revision: tuple[str, ...]
    imei: str
    signal: int
    system_time: datetime | None  # None: "no network service"


def _location_arg(lat: float, lon: float) -> str:
    """Signed degrees → ``[-]ddmm.mmm,[-]dddmm.mmm`` (ISU AT ref, +SBDIX optional location)."""

    def part(value: float, width: int) -> str:
        thousandths = round(abs(value) * 60000)
        deg, rest = divmod(thousandths, 60000)
        sign = "-" if value < 0 else ""
        return f"{sign}{deg:0{width}d}{rest // 1000:02d}.{rest % 1000:03d}"

    return f"{part(lat, 2)},{part(lon, 3)}"


class Modem(SerialLink):
    """Blocking, thread-safe driver for one SBD transceiver on one serial port."""

    baudrate = BAUDRATE

    def __init__(
        self,
        port: serial.Serial,
        *,
        timeout_s: float = 5.0,
        session_timeout_s: float = 90.0,
        pace_s: float = 0.0,
        iridium_epoch: float = IRIDIUM_EPOCH,
    ) -> None:
        super().__init__(port)
        # The 32-bit count of 90 ms ticks wraps every ~12.2 years (the 2014 epoch runs out in
        # 2026); Iridium then announces a new epoch, which the caller passes here.
        self.iridium_epoch = iridium_epoch
        self.timeout_s = timeout_s
        self.session_timeout_s = session_timeout_s
        self.pace_s = pace_s  # >0: write byte by byte with this pause (slow-UART tests)
        self._buf = bytearray()
        self._ring = False

    # --- low level ----------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self.pace_s > 0:
            for i in range(len(data)):
                self._io(self._port.write, data[i : i + 1])
                self._io(self._port.flush)
                time.sleep(self.pace_s)
        else:
            self._io(self._port.write, data)
            self._io(self._port.flush)

    def _fill(self, deadline: float, what: str) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            cause = TimeoutError(f"no complete answer after {len(self._buf)} bytes")
            raise ResponseTimeout(f"modem silent during {what}") from cause
        self._port.timeout = min(remaining, 0.1)
        waiting = self._io(lambda: self._port.in_waiting)
        chunk = self._io(self._port.read, max(1, min(int(waiting or 0), 4096)))
        self._buf += chunk

    def _drain(self) -> None:
        """Drop stale input before a command, remembering any unsolicited SBDRING."""
        self._port.timeout = 0
        while True:
            waiting = self._io(lambda: self._port.in_waiting)
            if not waiting:
                break
            self._buf += self._io(self._port.read, waiting)
        if b"SBDRING" in self._buf:
            self._ring = True
        self._buf.clear()

    def _send(self, command: str) -> bytes:
        self._drain()
        line = b"AT" + command.encode("ascii") + b"\r"
        self._write(line)
        return line

    def _skip_ring(self, deadline: float, what: str) -> None:
        """Take an ``SBDRING`` that raced the command just sent as a ring alert.

        The modem rings only while idle, so the alert can only land *before* the answer (or
        its echo) — but then it does, e.g. right before an ``AT+SBDRB`` binary block, whose
        length bytes would otherwise read "SB". No answer starts with "S" or CR LF (an echo
        starts "AT", a binary length is at most 0x0762), so skipping them here is safe.
        """
        while True:
            if not self._buf:
                self._fill(deadline, what)  # every command is answered: wait for its start
            elif self._buf.startswith(b"\r\n"):
                del self._buf[:2]
            elif self._buf.startswith(_RING):
                del self._buf[: len(_RING)]
                self._ring = True
            elif _maybe_ring(bytes(self._buf)):
                self._fill(deadline, what)  # maybe the start of a ring: wait for the rest
            else:
                return

    def _strip_echo(self, echo: bytes | None, deadline: float, what: str) -> None:
        """Remove the command's echo if the modem echoes (strict prefix: binary-safe)."""
        self._skip_ring(deadline, what)
        while echo is not None:
            if self._buf.startswith(echo):
                del self._buf[: len(echo)]
                return
            if not echo.startswith(bytes(self._buf[: len(echo)])):
                return  # echo off: the answer starts differently
            self._fill(deadline, what)

    def _next_line(self, deadline: float, what: str) -> bytes:
        """The next non-empty CRLF-terminated line (SBDRING lines are noted and skipped)."""
        while True:
            idx = self._buf.find(b"\r\n")
            if idx < 0:
                if len(self._buf) > 8192:
                    raise GarbledResponse(f"no line end in {len(self._buf)} bytes during {what}")
                self._fill(deadline, what)
                continue
            line = bytes(self._buf[:idx]).strip(b"\r\x00 ")
            del self._buf[: idx + 2]
            if not line:
                continue
            if line == b"SBDRING":
                self._ring = True
                continue
            return line

    def _lines_until_ok(self, deadline: float, what: str) -> list[bytes]:
        lines: list[bytes] = []
        while True:
            line = self._next_line(deadline, what)
            if line == b"OK":
                return lines
            if line == b"ERROR":
                raise ModemError(f"modem answered ERROR to {what}", command=what)
            lines.append(line)

    def command(self, command: str, timeout_s: float | None = None) -> list[bytes]:
        """Send ``AT<command>``; return its information lines once ``OK`` arrives.

        Raises:
            ModemError: the modem answered ``ERROR``.
            LinkBroken: timeout, garbage or port failure.
        """
        with self._lock:
            deadline = time.monotonic() + (timeout_s or self.timeout_s)
            echo = self._send(command)
            self._strip_echo(echo, deadline, command)
            return self._lines_until_ok(deadline, command)

    def _single(self, command: str, pattern: re.Pattern[bytes] | None = None) -> re.Match[bytes]:
        lines = self.command(command)
        for line in lines:
            m = (pattern or re.compile(rb"(.+)")).search(line)
            if m:
                return m
        raise GarbledResponse(f"unexpected answer to AT{command}: {lines!r}")

    # --- operations ---------------------------------------------------------------------------

    def initialise(self, echo: bool | None = None) -> None:
        """Sync with the modem (``AT``), flow control off (``&K0``), ignore DTR (``&D0``)."""
        with self._lock:
            last: LinkBroken | None = None
            for _ in range(3):
                try:
                    self.command("", timeout_s=min(self.timeout_s, 1.0))
                    break
                except LinkBroken as exc:
                    last = exc
            else:
                assert last is not None
                raise last
            if echo is not None:
                self.command("E1" if echo else "E0")
            self.command("&K0")
            self.command("&D0")

    def probe(self) -> ProbeResult:
        """Model, revision, IMEI, signal bars and Iridium system time."""
        with self._lock:
            model = self._single("+CGMM").group(1).decode("ascii", "replace")
            revision = tuple(x.decode("ascii", "replace") for x in self.command("+CGMR"))
            imei = self._single("+CGSN").group(1).decode("ascii", "replace")
            if not (len(imei) == 15 and imei.isdigit()):
                raise GarbledResponse(f"IMEI answer is not 15 digits: {imei!r}")
            return ProbeResult(
                model=model,
                revision=revision,
                imei=imei,
                signal=self.signal(),
                system_time=self.system_time(),
            )

    def signal(self) -> int:
        """Signal bars 0..5 (``AT+CSQ``)."""
        return int(self._single("+CSQ", _CSQ).group(1))

    def system_time(self) -> datetime | None:
        """Iridium network time (``AT-MSSTM``, 90 ms ticks since the Iridium epoch), or None."""
        lines = self.command("-MSSTM")
        for line in lines:
            if b"no network service" in line:
                return None
            m = _MSSTM.search(line)
            if m:
                ticks = int(m.group(1), 16)
                epoch = datetime.fromtimestamp(self.iridium_epoch, UTC)
                return epoch + timedelta(milliseconds=ticks * 90)
        raise GarbledResponse(f"unexpected answer to AT-MSSTM: {lines!r}")

    def write_mo(self, data: bytes) -> None:
        """Load the MO buffer with ``AT+SBDWB`` (binary, checksummed).

        Raises:
            ValueError: ``data`` is empty or longer than 340 bytes.
            WriteRejected: result 1 (timeout), 2 (checksum) or 3 (size); ``.code`` says which.
        """
        if not 1 <= len(data) <= MAX_MO:
            raise ValueError(f"MO payload must be 1..{MAX_MO} bytes, got {len(data)}")
        with self._lock:
            what = f"+SBDWB={len(data)}"
            deadline = time.monotonic() + self.timeout_s
            echo = self._send(what)
            self._strip_echo(echo, deadline, what)
            while True:
                line = self._next_line(deadline, what)
                if line == b"READY":
                    break
                if line == b"ERROR":
                    raise ModemError("modem refused AT+SBDWB", command=what)
                if line in (b"1", b"2", b"3"):
                    self._lines_until_ok(deadline, what)
                    raise WriteRejected(
                        f"AT+SBDWB result {line.decode()}", command=what, code=int(line)
                    )
                raise GarbledResponse(f"expected READY, got {line!r}")
            self._write(bytes(data) + checksum(data))
            deadline = time.monotonic() + self.timeout_s + len(data) * self.pace_s
            while True:
                line = self._next_line(deadline, what)
                if line in (b"0", b"1", b"2", b"3"):
                    break
                if line == b"ERROR":
                    raise ModemError("modem answered ERROR after SBDWB data", command=what)
            code = int(line)
            if code == 1:  # no OK follows a timeout (ISU AT ref, +SBDWB)
                raise WriteRejected("AT+SBDWB timed out in the modem", command=what, code=1)
            self._lines_until_ok(deadline, what)
            if code != 0:
                raise WriteRejected(f"AT+SBDWB result {code}", command=what, code=code)

    def write_text(self, text: str) -> None:
        """Load the MO buffer with ``AT+SBDWT=<text>`` (≤ 120 printable ASCII characters)."""
        if len(text) > 120 or not text.isascii() or not text.isprintable():
            raise ValueError("SBDWT text must be ≤ 120 printable ASCII characters")
        self.command(f"+SBDWT={text}")

    def session(
        self, answer_ring: bool = False, location: tuple[float, float] | None = None
    ) -> SessionResult:
        """Run one SBD session (``AT+SBDIX``, or ``AT+SBDIXA`` when answering a ring).

        Returns the parsed status; a failed session is a result with a non-success outcome.
        """
        command = "+SBDIXA" if answer_ring else "+SBDIX"
        if location is not None:
            command += "=" + _location_arg(*location)
        m = _SBDIX.search(b"\n".join(self.command(command, self.session_timeout_s)))
        if m is None:
            raise GarbledResponse(f"no +SBDIX status in the answer to AT{command}")
        mo, momsn, mt, mtmsn, mt_len, queued = (int(g) for g in m.groups())
        if momsn > 0xFFFF or mtmsn > 0xFFFF or mt > 2 or mt_len > 1890:
            raise GarbledResponse(f"+SBDIX values out of range: {m.group(0)!r}")
        if answer_ring or mt == 1:
            with self._lock:
                self._ring = False
        return SessionResult(
            mo_status=mo,
            momsn=momsn,
            mt_status=mt,
            mtmsn=mtmsn,
            mt_length=mt_len,
            mt_queued=queued,
            outcome=classify(mo),
        )

    def read_mt(self) -> bytes:
        """Read the MT buffer with ``AT+SBDRB`` (length-framed, checksum verified).

        Raises:
            GarbledResponse: bad checksum or impossible length.
        """
        with self._lock:
            deadline = time.monotonic() + self.timeout_s
            echo = self._send("+SBDRB")
            self._strip_echo(echo, deadline, "+SBDRB")
            while len(self._buf) < 2:
                self._fill(deadline, "+SBDRB")
            length = int.from_bytes(self._buf[:2], "big")
            if length > 1890:
                raise GarbledResponse(f"SBDRB length {length} is impossible")
            while len(self._buf) < length + 4:
                self._fill(deadline, "+SBDRB")
            payload = bytes(self._buf[2 : 2 + length])
            received = bytes(self._buf[2 + length : 4 + length])
            del self._buf[: length + 4]
            self._lines_until_ok(deadline, "+SBDRB")
            if received != checksum(payload):
                raise GarbledResponse(
                    f"SBDRB checksum {received.hex()} != {checksum(payload).hex()}"
                )
            return payload

    def status(self) -> BufferStatus:
        """Buffer and ring state (``AT+SBDSX``)."""
        m = self._single("+SBDSX", _SBDSX)
        mo, momsn, mt, mtmsn, ra, waiting = (int(g) for g in m.groups())
        return BufferStatus(
            mo_flag=bool(mo),
            momsn=momsn,
            mt_flag=bool(mt),
            mtmsn=mtmsn,
            ring_alert=bool(ra),
            mt_waiting=waiting,
        )

    def clear(self, buffers: str = "both") -> None:
        """Clear the ``"mo"``, ``"mt"`` or ``"both"`` buffers (``AT+SBDD0|1|2``)."""
        if buffers not in _BUFFERS:
            raise ValueError("buffers must be 'mo', 'mt' or 'both'")
        lines = self.command(f"+SBDD{_BUFFERS[buffers]}")
        if lines != [b"0"]:
            raise ModemError(f"AT+SBDD answered {lines!r}", command="+SBDD", code=1)

    def enable_ring_alerts(self, on: bool = True) -> None:
        """Turn unsolicited ``SBDRING`` on or off (``AT+SBDMTA``)."""
        self.command(f"+SBDMTA={int(on)}")

    def poll_ring(self) -> bool:
        """True if ``SBDRING`` arrived since the last poll (reads only what is waiting)."""
        with self._lock:
            self._drain()
            seen, self._ring = self._ring, False
            return seen


class AsyncModem:
    """asyncio face of :class:`Modem`: each call runs in a worker thread (``to_thread``)."""

    def __init__(self, modem: Modem) -> None:
        self.modem = modem

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> AsyncModem:
        """Open the port in a worker thread."""
        return cls(await asyncio.to_thread(Modem.open, url, **kwargs))

    async def initialise(self, echo: bool | None = None) -> None:
        await asyncio.to_thread(self.modem.initialise, echo)

    async def probe(self) -> ProbeResult:
        return await asyncio.to_thread(self.modem.probe)

    async def write_mo(self, data: bytes) -> None:
        await asyncio.to_thread(self.modem.write_mo, data)

    async def session(
        self, answer_ring: bool = False, location: tuple[float, float] | None = None
    ) -> SessionResult:
        return await asyncio.to_thread(self.modem.session, answer_ring, location)

    async def read_mt(self) -> bytes:
        return await asyncio.to_thread(self.modem.read_mt)

    async def status(self) -> BufferStatus:
        return await asyncio.to_thread(self.modem.status)

    async def clear(self, buffers: str = "both") -> None:
        await asyncio.to_thread(self.modem.clear, buffers)

    async def enable_ring_alerts(self, on: bool = True) -> None:
        await asyncio.to_thread(self.modem.enable_ring_alerts, on)

    async def poll_ring(self) -> bool:
        return await asyncio.to_thread(self.modem.poll_ring)

    async def close(self) -> None:
        await asyncio.to_thread(self.modem.close)
