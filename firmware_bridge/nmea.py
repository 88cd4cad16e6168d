"""NMEA 0183 position reader for the VMS GPS port: ``$--RMC`` and ``$--GGA`` → :class:`Fix`.

NMEA 0183 §5.2.1: a sentence is ``$<talker><type>,<fields>*hh<CR><LF>``; ``hh`` is the XOR of
every character between ``$`` and ``*``. RMC ("recommended minimum") carries UTC time, status
``A``/``V``, latitude ``ddmm.mmmm,N|S``, longitude ``dddmm.mmmm,E|W``, speed over ground (knots),
course over ground (degrees true) and the date ``ddmmyy``. GGA carries time and position with a
fix quality (0 = no fix) but no date, so a GGA fix takes the date of the last RMC.

:class:`NMEAParser` is sans-IO (``receive_data(bytes) -> list[Fix]``) and never raises on input:
bad lines are counted in :attr:`NMEAParser.errors`. :func:`parse_sentence` raises typed errors
for callers that want them. :class:`NMEAReader` reads a serial port (pyserial URL) with timeouts.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from firmware_bridge.errors import (
    LinkBroken,
    NMEAChecksumError,
    NMEAError,
    NMEASentenceError,
)

MAX_SENTENCE = 82  # NMEA 0183: at most 82 characters including $ and CR LF
_TALKERS = ("GP", "GN", "GL", "GA", "BD", "GB")


@dataclass(frozen=True, slots=True, kw_only=True)
class Fix:
    """One position fix. ``time`` is UTC; speed and course are None when the sentence lacks them."""

    time: dt.datetime
    lat: float
    lon: float
    speed_kn: float | None
    course_deg: float | None
    source: str  # sentence type, e.g. "GPRMC"


def nmea_checksum(body: str) -> str:
    """XOR of the characters between ``$`` and ``*``, as two upper-case hex digits."""
    value = 0
    for ch in body:
        value ^= ord(ch)
    return f"{value:02X}"


def _split(sentence: str) -> list[str]:
    line = sentence.strip()
    if not line.startswith("$"):
        raise NMEASentenceError("sentence does not start with '$'")
    body, star, given = line[1:].partition("*")
    if not star or len(given) != 2:
        raise NMEAChecksumError("missing *hh checksum")
    if given.upper() != nmea_checksum(body):
        raise NMEAChecksumError(f"checksum {given} != {nmea_checksum(body)}")
    return body.split(",")


def _coord(value: str, hemi: str, deg_width: int, positive: str, negative: str) -> float:
    if len(value) < deg_width + 2 or hemi not in (positive, negative):
        raise NMEASentenceError(f"bad coordinate {value!r},{hemi!r}")
    try:
        degrees = int(value[:deg_width])
        minutes = float(value[deg_width:])
    except ValueError as exc:
        raise NMEASentenceError(f"bad coordinate {value!r}") from exc
    limit = 90 if deg_width == 2 else 180
    if not 0 <= minutes < 60 or degrees > limit:
        raise NMEASentenceError(f"coordinate out of range {value!r}")
    out = degrees + minutes / 60
    return -out if hemi == negative else out


def _time(value: str) -> dt.time:
    try:
        hh, mm, ss = int(value[0:2]), int(value[2:4]), float(value[4:])
        whole = int(ss)
        return dt.time(hh, mm, whole, round((ss - whole) * 1e6) % 1_000_000)
    except ValueError as exc:
        raise NMEASentenceError(f"bad time {value!r}") from exc


def _float(value: str) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise NMEASentenceError(f"bad number {value!r}") from exc


def parse_sentence(sentence: str, date: dt.date | None = None) -> Fix | None:
    """Parse one sentence. Returns None for valid sentences that carry no fix (other types,
    RMC status ``V``, GGA quality 0, GGA without a known ``date``).

    Raises:
        NMEAChecksumError: checksum missing or wrong.
        NMEASentenceError: right checksum, unusable fields.
    """
    fields = _split(sentence)
    kind = fields[0]
    if len(kind) != 5 or kind[:2] not in _TALKERS:
        return None
    if kind[2:] == "RMC":
        if len(fields) < 10:
            raise NMEASentenceError(f"RMC with {len(fields)} fields")
        if fields[2] != "A":
            return None
        try:
            day = dt.datetime.strptime(fields[9], "%d%m%y").date()
        except ValueError as exc:
            raise NMEASentenceError(f"bad date {fields[9]!r}") from exc
        return Fix(
            time=dt.datetime.combine(day, _time(fields[1]), tzinfo=dt.UTC),
            lat=_coord(fields[3], fields[4], 2, "N", "S"),
            lon=_coord(fields[5], fields[6], 3, "E", "W"),
            speed_kn=_float(fields[7]),
            course_deg=_float(fields[8]),
            source=kind,
        )
    if kind[2:] == "GGA":
        if len(fields) < 7:
            raise NMEASentenceError(f"GGA with {len(fields)} fields")
        if fields[6] in ("", "0") or date is None:
            return None
        return Fix(
            time=dt.datetime.combine(date, _time(fields[1]), tzinfo=dt.UTC),
            lat=_coord(fields[2], fields[3], 2, "N", "S"),
            lon=_coord(fields[4], fields[5], 3, "E", "W"),
            speed_kn=None,
            course_deg=None,
            source=kind,
        )
    return None


class NMEAParser:
    """Sans-IO line splitter + parser: feed bytes, get fixes; bad lines are only counted."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.date: dt.date | None = None
        self.errors: Counter[str] = Counter()
        self.fixes = 0

    def receive_data(self, data: bytes) -> list[Fix]:
        """Consume bytes from the GPS; return the fixes completed by them."""
        self._buf += data
        out: list[Fix] = []
        while True:
            idx = self._buf.find(b"\n")
            if idx < 0:
                if len(self._buf) > 4 * MAX_SENTENCE:  # no line end: noise, drop it
                    self._buf.clear()
                    self.errors["overlong"] += 1
                break
            raw = bytes(self._buf[:idx]).strip(b"\r\x00 ")
            del self._buf[: idx + 1]
            if raw:
                fix = self.parse_line(raw)
                if fix is not None:
                    out.append(fix)
        return out

    def parse_line(self, raw: bytes) -> Fix | None:
        """Parse one line; count and swallow errors."""
        try:
            text = raw.decode("ascii")
            fix = parse_sentence(text, self.date)
        except UnicodeDecodeError:
            self.errors["not-ascii"] += 1
            return None
        except NMEAChecksumError:
            self.errors["checksum"] += 1
            return None
        except NMEAError:
            self.errors["sentence"] += 1
            return None
        if fix is not None:
            if fix.source.endswith("RMC"):
                self.date = fix.time.date()
            self.fixes += 1
        return fix


class NMEAReader:
    """Reads fixes from a GPS serial port (4800 baud by NMEA 0183 default; VMS units vary)."""

    def __init__(self, port: Any) -> None:
        self._port = port
        self.parser = NMEAParser()
        self._pending: list[Fix] = []

    @classmethod
    def open(cls, url: str, baudrate: int = 4800) -> NMEAReader:
        """Open ``url`` with pyserial (device path, pty, ``socket://``…)."""
        import serial

        try:
            return cls(serial.serial_for_url(url, baudrate=baudrate, timeout=0.1))
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkBroken(f"cannot open {url}: {exc}") from exc

    def read_fix(self, timeout_s: float = 2.0) -> Fix | None:
        """The next fix, or None if none arrived within ``timeout_s``.

        Raises:
            LinkBroken: the port failed.
        """
        import time

        deadline = time.monotonic() + timeout_s
        while not self._pending:
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = self._port.read(max(1, self._port.in_waiting))
            except (OSError, ValueError) as exc:
                raise LinkBroken(f"GPS port failed: {exc}") from exc
            self._pending.extend(self.parser.receive_data(chunk))
        return self._pending.pop(0)

    def close(self) -> None:
        """Close the port."""
        self._port.close()
