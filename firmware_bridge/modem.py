"""An Iridium 9602/9603 SBD transceiver as a sans-IO state machine.

Bytes from the host go in (``receive_data(data, now)``); bytes for the host and "an MO message
left on a session" come out as events. Time is passed in: ``get_timer()`` says when the machine
next needs ``handle_timer(now)`` (end of a session's latency, the 60 s ``+SBDWB`` timeout). No
sockets, threads, clocks or ptys here — :mod:`firmware_bridge.emulator` is the I/O shell.

Behaviour follows the *ISU AT Command Reference* (Iridium 9602/9603, v5) and what independent
drivers rely on:

* V.25ter verbose framing: the echo (when ``ATE1``, the factory default) is the command line as
  typed, ending in its CR; information text is ``\\r\\n<text>\\r\\n``; the final result code is
  ``\\r\\nOK\\r\\n`` or ``\\r\\nERROR\\r\\n``.
* ``+SBDWB=<n>`` (§ +SBDWB): ``\\r\\nREADY\\r\\n``, then ``n`` bytes and a 2-byte checksum (low
  16 bits of the byte sum, high byte first), not echoed. Result ``0`` ok, ``2`` checksum, ``3``
  size (then ``OK``), or ``1`` after ``write_timeout_s`` without all bytes (no ``OK``).
* ``+SBDRB`` (§ +SBDRB): straight after the echo, u16 length, payload, u16 checksum, ``OK``.
* ``+SBDIX[A][=<lat>,<lon>]`` (§ +SBDIX): after the link model's latency,
  ``+SBDIX: <MO st>, <MOMSN>, <MT st>, <MTMSN>, <MT len>, <MT queued>``. MOMSN/MTMSN wrap at
  65535. A successful session with a non-empty MO buffer emits :class:`MOSent`.
* ``+SBDMTA=1``: ``SBDRING\\r\\n`` unsolicited when an MT message is queued while idle.

Note: the reference writes READY as the literal ``READY<CR><LF>``; in verbose mode the modem
precedes it with CR LF like any information text, which is what line-reading drivers (e.g. the
Adafruit RockBLOCK driver, which waits for a line equal to ``READY\\r\\n`` after the echo) need.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from firmware_bridge.link import AlwaysUp, LinkModel
from firmware_bridge.status import next_msn

MAX_MO = 340
MAX_MT = 270
MAX_TEXT_LINE = 120
MAX_COMMAND_LINE = 512
MT_QUEUE_LIMIT = 50  # the gateway holds at most 50 MT messages per IMEI
#: Iridium system time epoch (2014-05-11 14:23:55 UTC) in Unix seconds; ticks are 90 ms.
IRIDIUM_EPOCH = 1399818235
MODEL = "IRIDIUM 9600 Family SBD Transceiver"
REVISION = (
    "Call Processor Version: TA16005",
    "Modem DSP Version: 1.7 svn: 2358",
    "DBB Version: 0x0001 (ASIC)",
    "RFA VersionSRFA2)",
    "NVM Version: KVS",
    "Hardware Version: BOOTA",
    "BOOT Version: TA16005 (rev exp)",
)

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
READY = b"\r\nREADY\r\n"
RING = b"SBDRING\r\n"


class State(enum.Enum):
    """What the modem is doing with the bytes it receives."""

    COMMAND = "command"  # reading an AT command line
    BINARY_WRITE = "binary-write"  # +SBDWB: collecting n + 2 bytes
    TEXT_WRITE = "text-write"  # +SBDWT (no '='): collecting a line of text
    SESSION = "session"  # +SBDIX in progress: input is held until it ends


@dataclass(frozen=True, slots=True, kw_only=True)
class BytesOut:
    """Bytes the modem wrote towards the host."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class MOSent:
    """A session carried the MO buffer to the gateway (the shell turns this into DirectIP)."""

    momsn: int
    mtmsn: int  # MTMSN of an MT delivered in the same session, else 0
    payload: bytes
    location: tuple[float, float] | None  # from AT+SBDIX=<lat>,<lon>, decimal degrees
    time: float  # ``now`` when the session ended


Event = BytesOut | MOSent


@dataclass(slots=True)
class _QueuedMT:
    mtmsn: int
    payload: bytes


@dataclass(slots=True)
class _Session:
    ends_at: float
    mo_status: int
    signal: int
    answer: bool
    location: tuple[float, float] | None


_BASIC = re.compile(r"(&?[A-Z])(\d*)")
_EXTENDED = re.compile(r"([+\-*][A-Z]+)(.*)", re.DOTALL | re.IGNORECASE)
_COORD = re.compile(r"([+-]?)(\d{2,3})(\d{2})\.(\d{3})")


def _info(*lines: str) -> bytes:
    return b"\r\n" + "\r\n".join(lines).encode("ascii") + b"\r\n"


def checksum(data: bytes) -> bytes:
    """SBD checksum: the low 16 bits of the byte sum, high byte first."""
    return (sum(data) & 0xFFFF).to_bytes(2, "big")


@dataclass(slots=True)
class ModemMachine:
    """State of one emulated transceiver; feed it bytes and timers, act on its events."""

    imei: str
    link: LinkModel = field(default_factory=AlwaysUp)
    echo: bool = True
    write_timeout_s: float = 60.0
    momsn: int = 0
    next_mtmsn: int = 1
    ring_alerts: bool = True  # +SBDMTA factory default is enabled
    radio_on: bool = True

    state: State = State.COMMAND
    mo_buffer: bytes = b""
    mt_buffer: bytes = b""
    mtmsn: int = -1  # MTMSN of the message in the MT buffer (-1: none)
    mt_queue: list[_QueuedMT] = field(default_factory=list)
    mt_waiting: int = 0  # what the modem believes is queued at the gateway
    ring_flag: bool = False
    signal_bars: int = 5
    _line: bytearray = field(default_factory=bytearray)
    _line_overflow: bool = False
    _inbuf: bytearray = field(default_factory=bytearray)
    _out: bytearray = field(default_factory=bytearray)
    _events: list[Event] = field(default_factory=list)
    _write_len: int = 0
    _write_data: bytearray = field(default_factory=bytearray)
    _write_deadline: float | None = None
    _session: _Session | None = None
    _ring_pending: bool = False
    _last_command: str = ""

    # --- public API ---------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Consume bytes from the host; return what the modem does in response."""
        self._inbuf += data
        self._run(now)
        return self._flush()

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called (``None``: nothing pending)."""
        if self._session is not None:
            return self._session.ends_at
        return self._write_deadline

    def handle_timer(self, now: float) -> list[Event]:
        """Advance time: finish a session or time out a pending ``+SBDWB``/``+SBDWT``."""
        if self._session is not None and now >= self._session.ends_at:
            self._finish_session(now)
        elif self._write_deadline is not None and now >= self._write_deadline:
            self._write_deadline = None
            self._write_data.clear()
            self.state = State.COMMAND
            self._out += b"\r\n1\r\n"  # ISU AT ref: result 1, and no OK after it
        self._run(now)
        return self._flush()

    def queue_mt(self, payload: bytes, now: float) -> tuple[int, list[Event]]:
        """The gateway got an MT message for this modem; return (queue position, events).

        A position ≤ 0 is a DirectIP MT error status (-3 too large, -5 queue full).
        """
        if len(payload) > MAX_MT:
            return -3, []
        if len(self.mt_queue) >= MT_QUEUE_LIMIT:
            return -5, []
        self.mt_queue.append(_QueuedMT(self.next_mtmsn, bytes(payload)))
        self.next_mtmsn = next_msn(self.next_mtmsn) or 1
        if self.ring_alerts:
            self.ring_flag = True
            self._ring_pending = True
        self._run(now)
        return len(self.mt_queue), self._flush()

    # --- byte pump ----------------------------------------------------------------------------

    def _flush(self) -> list[Event]:
        if self._out:
            self._events.append(BytesOut(data=bytes(self._out)))
            self._out.clear()
        events, self._events = self._events, []
        return events

    def _emit(self, data: bytes) -> None:
        self._out += data

    def _run(self, now: float) -> None:
        while self._inbuf and self.state is not State.SESSION:
            if self.state is State.BINARY_WRITE:
                need = self._write_len + 2 - len(self._write_data)
                self._write_data += self._inbuf[:need]
                del self._inbuf[:need]
                if len(self._write_data) == self._write_len + 2:
                    self._finish_binary_write()
                continue
            byte = self._inbuf[0]
            del self._inbuf[0]
            if self.state is State.TEXT_WRITE:
                self._text_byte(byte)
            else:
                self._command_byte(byte, now)
        if (
            self._ring_pending
            and self.state is State.COMMAND
            and not self._line
            and not self._inbuf
        ):
            self._ring_pending = False
            self._emit(RING)

    def _command_byte(self, byte: int, now: float) -> None:
        if byte == 0x0D:
            if self.echo:
                self._emit(b"\r")
            line, overflow = bytes(self._line), self._line_overflow
            self._line.clear()
            self._line_overflow = False
            self._execute(line, overflow, now)
        elif byte == 0x0A:
            return  # LF after CR (hosts that send CRLF) is ignored, not echoed
        elif byte in (0x08, 0x7F):
            if self._line:
                del self._line[-1]
                if self.echo:
                    self._emit(bytes([byte]))
        else:
            if len(self._line) < MAX_COMMAND_LINE:
                self._line.append(byte)
            else:
                self._line_overflow = True
            if self.echo:
                self._emit(bytes([byte]))

    def _text_byte(self, byte: int) -> None:
        if self.echo:
            self._emit(bytes([byte]))
        if byte == 0x0D:
            self.mo_buffer = bytes(self._write_data)
            self._write_data.clear()
            self._write_deadline = None
            self.state = State.COMMAND
            self._emit(_info("0") + OK)
        elif byte != 0x0A and len(self._write_data) < MAX_MO:
            self._write_data.append(byte)

    def _finish_binary_write(self) -> None:
        data, cs = bytes(self._write_data[:-2]), bytes(self._write_data[-2:])
        self._write_data.clear()
        self._write_deadline = None
        self.state = State.COMMAND
        if checksum(data) != cs:
            self._emit(_info("2") + OK)
            return
        self.mo_buffer = data
        self._emit(_info("0") + OK)

    # --- commands -----------------------------------------------------------------------------

    def _execute(self, raw: bytes, overflow: bool, now: float) -> None:
        text = raw.decode("latin-1").strip(" \t\x00")
        if not text:
            return  # an empty line gets no answer
        if text.upper() == "A/":
            text = self._last_command
        if overflow or not text.upper().startswith("AT") or not text.isprintable():
            self._emit(ERROR)
            return
        self._last_command = text
        body = text[2:]
        if not body:
            self._emit(OK)
            return
        if body[0] in "+-*":
            self._extended(body, now)
        else:
            self._basic(body.upper())

    def _basic(self, body: str) -> None:
        pos = 0
        while pos < len(body):
            m = _BASIC.match(body, pos)
            if not m:
                self._emit(ERROR)
                return
            cmd, arg = m.group(1), m.group(2) or "0"
            pos = m.end()
            if cmd == "E" and arg in ("0", "1"):
                self.echo = arg == "1"
            elif (cmd, arg) in (("&F", "0"), ("Z", "0"), ("Z", "1")):
                self.echo = True
            elif (
                (cmd == "&K" and arg in ("0", "3", "4", "6"))
                or (cmd == "&D" and arg in ("0", "1", "2", "3"))
                or (cmd in ("&W", "&Y") and arg in ("0", "1"))
                or (cmd == "Q" and arg == "0")
                or (cmd == "V" and arg == "1")
            ):
                pass
            elif cmd == "I" and len(arg) == 1 and arg in "01234567":
                self._emit(_info(MODEL if arg in "34" else "Iridium"))
            else:
                self._emit(ERROR)
                return
        self._emit(OK)

    def _extended(self, body: str, now: float) -> None:
        m = _EXTENDED.match(body)
        if not m:
            self._emit(ERROR)
            return
        name, arg = m.group(1).upper(), m.group(2)
        handler = _HANDLERS.get(name)
        if handler is None:
            self._emit(ERROR)
            return
        handler(self, arg, now)

    def _cmd_imei(self, arg: str, now: float) -> None:
        self._emit(_info(self.imei) + OK if not arg else ERROR)

    def _cmd_model(self, arg: str, now: float) -> None:
        self._emit(_info(MODEL) + OK if not arg else ERROR)

    def _cmd_maker(self, arg: str, now: float) -> None:
        self._emit(_info("Iridium") + OK if not arg else ERROR)

    def _cmd_revision(self, arg: str, now: float) -> None:
        self._emit(_info(*REVISION) + OK if not arg else ERROR)

    def _cmd_csq(self, arg: str, now: float) -> None:
        if arg == "=?":
            self._emit(_info("+CSQ:(0-5)") + OK)
            return
        if arg:
            self._emit(ERROR)
            return
        self.signal_bars = self.link.signal(now) if self.radio_on else 0
        self._emit(_info(f"+CSQ:{self.signal_bars}") + OK)

    def _cmd_csqf(self, arg: str, now: float) -> None:
        self._emit(_info(f"+CSQF:{self.signal_bars}") + OK if not arg else ERROR)

    def _cmd_msstm(self, arg: str, now: float) -> None:
        if arg:
            self._emit(ERROR)
        elif not self.radio_on or self.link.signal(now) == 0:
            self._emit(_info("-MSSTM: no network service") + OK)
        else:
            ticks = int((now - IRIDIUM_EPOCH) / 0.09) & 0xFFFFFFFF
            self._emit(_info(f"-MSSTM: {ticks:08x}") + OK)

    def _cmd_sbdwb(self, arg: str, now: float) -> None:
        if not arg.startswith("=") or not (arg[1:].isascii() and arg[1:].isdigit()):
            self._emit(ERROR)
            return
        n = int(arg[1:])
        if not 1 <= n <= MAX_MO:
            self._emit(_info("3") + OK)
            return
        self.state = State.BINARY_WRITE
        self._write_len = n
        self._write_data.clear()
        self._write_deadline = now + self.write_timeout_s
        self._emit(READY)

    def _cmd_sbdwt(self, arg: str, now: float) -> None:
        if arg.startswith("="):
            text = arg[1:]
            if len(text) > MAX_TEXT_LINE:
                self._emit(ERROR)
                return
            self.mo_buffer = text.encode("latin-1")
            self._emit(OK)
        elif not arg:
            self.state = State.TEXT_WRITE
            self._write_data.clear()
            self._write_deadline = now + self.write_timeout_s
            self._emit(READY)
        else:
            self._emit(ERROR)

    def _cmd_sbdrb(self, arg: str, now: float) -> None:
        if arg:
            self._emit(ERROR)
            return
        data = self.mt_buffer
        self._emit(len(data).to_bytes(2, "big") + data + checksum(data) + OK)

    def _cmd_sbdrt(self, arg: str, now: float) -> None:
        if arg:
            self._emit(ERROR)
            return
        self._emit(b"\r\n+SBDRT:\r\n" + self.mt_buffer + OK)

    def _cmd_sbdtc(self, arg: str, now: float) -> None:
        if arg:
            self._emit(ERROR)
            return
        self.mt_buffer = self.mo_buffer
        size = len(self.mo_buffer)
        self._emit(_info(f"SBDTC: Outbound SBD Copied to Inbound SBD: size = {size}") + OK)

    def _cmd_sbdd(self, arg: str, now: float) -> None:
        if arg not in ("0", "1", "2"):
            self._emit(ERROR)
            return
        if arg in "02":
            self.mo_buffer = b""
        if arg in "12":
            self.mt_buffer = b""
            self.mtmsn = -1
        self._emit(_info("0") + OK)

    def _cmd_sbdc(self, arg: str, now: float) -> None:
        if arg:
            self._emit(ERROR)
            return
        self.momsn = 0
        self._emit(_info("0") + OK)

    def _cmd_sbdix(self, arg: str, now: float, answer: bool = False) -> None:
        location = None
        if arg:
            location = _parse_location(arg)
            if location is None:
                self._emit(ERROR)
                return
        if self.radio_on:
            outcome = self.link.session(now, len(self.mo_buffer))
            status, latency, signal = outcome.mo_status, outcome.latency_s, outcome.signal
        else:
            status, latency, signal = 34, 0.0, 0
        self._session = _Session(
            ends_at=now + max(latency, 0.0),
            mo_status=status,
            signal=signal,
            answer=answer,
            location=location,
        )
        self.state = State.SESSION

    def _cmd_sbdixa(self, arg: str, now: float) -> None:
        self._cmd_sbdix(arg, now, answer=True)

    def _finish_session(self, now: float) -> None:
        session, self._session = self._session, None
        assert session is not None
        self.state = State.COMMAND
        self.signal_bars = session.signal
        momsn = self.momsn
        if 0 <= session.mo_status <= 4:
            self.momsn = next_msn(self.momsn)
            mt_status, mtmsn, mt_len = 0, 0, 0
            if self.mt_queue:
                mt = self.mt_queue.pop(0)
                self.mt_buffer, self.mtmsn = mt.payload, mt.mtmsn
                mt_status, mtmsn, mt_len = 1, mt.mtmsn, len(mt.payload)
            queued = len(self.mt_queue)
            self.mt_waiting = queued
            if session.answer or not queued:
                self.ring_flag = False
            if self.mo_buffer:
                self._events.append(
                    MOSent(
                        momsn=momsn,
                        mtmsn=mtmsn,
                        payload=self.mo_buffer,
                        location=session.location,
                        time=now,
                    )
                )
        else:
            mt_status, mtmsn, mt_len, queued = 2, 0, 0, 0
        line = f"+SBDIX: {session.mo_status}, {momsn}, {mt_status}, {mtmsn}, {mt_len}, {queued}"
        self._emit(_info(line) + OK)

    def _cmd_sbdsx(self, arg: str, now: float) -> None:
        if arg:
            self._emit(ERROR)
            return
        mo, mt, ra = int(bool(self.mo_buffer)), int(bool(self.mt_buffer)), int(self.ring_flag)
        line = f"+SBDSX: {mo}, {self.momsn}, {mt}, {self.mtmsn}, {ra}, {self.mt_waiting}"
        self._emit(_info(line) + OK)

    def _cmd_sbds(self, arg: str, now: float) -> None:
        if arg:
            self._emit(ERROR)
            return
        mo, mt = int(bool(self.mo_buffer)), int(bool(self.mt_buffer))
        self._emit(_info(f"+SBDS: {mo}, {self.momsn}, {mt}, {self.mtmsn}") + OK)

    def _cmd_sbdmta(self, arg: str, now: float) -> None:
        if arg == "?":
            self._emit(_info(f"+SBDMTA:{int(self.ring_alerts)}") + OK)
        elif arg == "=?":
            self._emit(_info("+SBDMTA:(0-1)") + OK)
        elif arg in ("=0", "=1"):
            self.ring_alerts = arg == "=1"
            self._emit(OK)
        else:
            self._emit(ERROR)

    def _cmd_cris(self, arg: str, now: float) -> None:
        self._emit(_info(f"+CRIS:000,{int(self.ring_flag):03d}") + OK if not arg else ERROR)

    def _cmd_crisx(self, arg: str, now: float) -> None:
        if arg:
            self._emit(ERROR)
            return
        ticks = int((now - IRIDIUM_EPOCH) / 0.09) & 0xFFFFFFFF
        self._emit(_info(f"+CRISX:000,{int(self.ring_flag):03d},{ticks:08X}") + OK)

    def _cmd_radio(self, arg: str, now: float) -> None:
        if arg not in ("0", "1"):
            self._emit(ERROR)
            return
        self.radio_on = arg == "1"
        self._emit(OK)

    def _cmd_flush(self, arg: str, now: float) -> None:
        self._emit(OK if not arg else ERROR)


def _parse_location(arg: str) -> tuple[float, float] | None:
    """``=[+|-]ddmm.mmm,[+|-]dddmm.mmm`` (ISU AT ref, +SBDIX) → signed decimal degrees."""
    if not arg.startswith("=") or arg.count(",") != 1:
        return None
    out: list[float] = []
    for part, width in zip(arg[1:].split(","), (2, 3), strict=True):
        m = _COORD.fullmatch(part.strip())
        if not m or len(m.group(2)) != width:
            return None
        minutes = int(m.group(3)) + int(m.group(4)) / 1000
        if minutes >= 60:
            return None
        value = int(m.group(2)) + minutes / 60
        out.append(-value if m.group(1) == "-" else value)
    if abs(out[0]) > 90 or abs(out[1]) > 180:
        return None
    return out[0], out[1]


_HANDLERS = {
    "+CGSN": ModemMachine._cmd_imei,
    "+GSN": ModemMachine._cmd_imei,
    "+GMM": ModemMachine._cmd_model,
    "+CGMM": ModemMachine._cmd_model,
    "+GMI": ModemMachine._cmd_maker,
    "+CGMI": ModemMachine._cmd_maker,
    "+CGMR": ModemMachine._cmd_revision,
    "+GMR": ModemMachine._cmd_revision,
    "+CSQ": ModemMachine._cmd_csq,
    "+CSQF": ModemMachine._cmd_csqf,
    "-MSSTM": ModemMachine._cmd_msstm,
    "+SBDWB": ModemMachine._cmd_sbdwb,
    "+SBDWT": ModemMachine._cmd_sbdwt,
    "+SBDRB": ModemMachine._cmd_sbdrb,
    "+SBDRT": ModemMachine._cmd_sbdrt,
    "+SBDTC": ModemMachine._cmd_sbdtc,
    "+SBDD": ModemMachine._cmd_sbdd,
    "+SBDC": ModemMachine._cmd_sbdc,
    "+SBDIX": ModemMachine._cmd_sbdix,
    "+SBDIXA": ModemMachine._cmd_sbdixa,
    "+SBDSX": ModemMachine._cmd_sbdsx,
    "+SBDS": ModemMachine._cmd_sbds,
    "+SBDMTA": ModemMachine._cmd_sbdmta,
    "+CRIS": ModemMachine._cmd_cris,
    "+CRISX": ModemMachine._cmd_crisx,
    "*R": ModemMachine._cmd_radio,
    "*F": ModemMachine._cmd_flush,
}
