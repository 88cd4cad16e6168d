"""Iridium DirectIP codec, sans-IO: bytes in, values out (no sockets, no clocks).

Implements the message format of the *Iridium Short Burst Data Service Developers Guide*
§5 ("DirectIP"): every message is a 3-byte pre-header — protocol revision ``0x01`` and the u16
overall length of what follows — then information elements (IEs), each an IEI byte, a u16 length
and a body. Everything is big-endian.

=====  ===================  ====  ===========================================================
IEI    element              len   body
=====  ===================  ====  ===========================================================
0x01   MO header            28    CDR ref u32 · IMEI 15 ASCII · session status u8 · MOMSN u16
                                  · MTMSN u16 · time of session u32 (Unix seconds)
0x02   MO payload           n     the bytes the modem sent
0x03   MO location          11    flags u8 (bit1 south, bit0 west) · lat deg u8 · lat 1/1000
                                  min u16 · lon deg u8 · lon 1/1000 min u16 · CEP km u32
0x05   MO confirmation      1     1 = success, 0 = failure
0x41   MT header            21    client message id u32 · IMEI 15 ASCII · disposition u16
0x42   MT payload           n     the bytes for the modem
0x44   MT confirmation      25    client id u32 · IMEI 15 · auto id ref u32 · status i16
0x46   MT priority          2     priority u16 (1 high … 5 low)
=====  ===================  ====  ===========================================================

Unknown IEIs are skipped (Developers Guide §5.3.2.1: "read the next two bytes as a length and
then skip that number of bytes"). One public receiver answers with revision byte ``0x31``
(ASCII "1"): tolerated on input, never emitted.

Any byte string given to a ``decode_*`` function or to :class:`DirectIPReader` yields a value or
a :class:`~firmware_bridge.errors.DirectIPError`, whether fed whole or byte by byte.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Any

from firmware_bridge.errors import LocalDirectIPError, Malformed, Oversize, Truncated

PROTOCOL_REVISION = 0x01
#: Revision bytes accepted on input. 0x31 is what one public receiver sends (a bug we tolerate).
ACCEPTED_REVISIONS = frozenset({0x01, 0x31})
PRE_HEADER_LEN = 3
#: Largest MO payload any Iridium SBD transceiver sends (9522B/A3LA); the 9602/9603 send ≤ 340.
MAX_MO_PAYLOAD = 1960
#: Largest MT payload the gateway accepts for any device (9602/9603: 270).
MAX_MT_PAYLOAD = 1890
#: Default cap for :class:`DirectIPReader`: generous for any legal message, small for memory.
DEFAULT_MAX_MESSAGE = 4096


class IEI(enum.IntEnum):
    """Information element identifiers (Developers Guide Table 5-7)."""

    MO_HEADER = 0x01
    MO_PAYLOAD = 0x02
    MO_LOCATION = 0x03
    MO_CONFIRMATION = 0x05
    MT_HEADER = 0x41
    MT_PAYLOAD = 0x42
    MT_CONFIRMATION = 0x44
    MT_PRIORITY = 0x46


class MOSessionStatus(enum.IntEnum):
    """Session status in the MO header (Developers Guide Table 5-9)."""

    OK = 0
    OK_MT_TOO_LARGE = 1
    OK_LOCATION_UNACCEPTABLE = 2
    TIMEOUT = 10
    MO_TOO_LARGE = 12
    RF_LINK_LOSS = 13
    PROTOCOL_ANOMALY = 14
    PROHIBITED = 15


class MTDisposition(enum.IntFlag):
    """MT header disposition flags (Developers Guide §5.5)."""

    NONE = 0
    FLUSH_MT_QUEUE = 0x0001
    SEND_RING_ALERT = 0x0002
    UPDATE_LOCATION = 0x0008
    HIGH_PRIORITY = 0x0010
    ASSIGN_MTMSN = 0x0020


class MTStatus(enum.IntEnum):
    """Negative MT confirmation statuses; a positive value is the message's place in the queue."""

    SUCCESS_NO_PAYLOAD = 0
    INVALID_IMEI = -1
    UNKNOWN_IMEI = -2
    PAYLOAD_TOO_LARGE = -3
    PAYLOAD_EXPECTED = -4
    QUEUE_FULL = -5
    RESOURCES_UNAVAILABLE = -6
    PROTOCOL_VIOLATION = -7
    RING_ALERTS_DISABLED = -8
    NOT_ATTACHED = -9
    SOURCE_IP_REJECTED = -10
    MTMSN_OUT_OF_RANGE = -11


_MO_HEADER = struct.Struct(">I15sBHHI")  # 28 bytes
_MO_LOCATION = struct.Struct(">BBHBHI")  # 11 bytes
_MT_HEADER = struct.Struct(">I15sH")  # 21 bytes
_MT_CONFIRMATION = struct.Struct(">I15sIh")  # 25 bytes
_IE_HEAD = struct.Struct(">BH")
_PRE = struct.Struct(">BH")


# --- values ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MOHeader:
    """MO DirectIP header IE 0x01 (Developers Guide §5.2)."""

    cdr_reference: int
    imei: str
    session_status: int
    momsn: int
    mtmsn: int
    session_time: int  # Unix seconds, UTC


@dataclass(frozen=True, slots=True, kw_only=True)
class MOLocation:
    """MO location IE 0x03 (Developers Guide §5.4), kept in its wire units so it round-trips."""

    south: bool
    west: bool
    lat_degrees: int  # 0..90
    lat_thousandths_minute: int  # 0..59999
    lon_degrees: int  # 0..180
    lon_thousandths_minute: int  # 0..59999
    cep_km: int

    @property
    def latitude(self) -> float:
        """Signed decimal degrees (north positive)."""
        value = self.lat_degrees + self.lat_thousandths_minute / 60000
        return -value if self.south else value

    @property
    def longitude(self) -> float:
        """Signed decimal degrees (east positive)."""
        value = self.lon_degrees + self.lon_thousandths_minute / 60000
        return -value if self.west else value

    @classmethod
    def from_degrees(cls, latitude: float, longitude: float, cep_km: int = 0) -> MOLocation:
        """Build from signed decimal degrees, rounding to a thousandth of a minute."""
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise LocalDirectIPError(f"position out of range: {latitude}, {longitude}")
        lat_deg, lat_min = divmod(round(abs(latitude) * 60000), 60000)
        lon_deg, lon_min = divmod(round(abs(longitude) * 60000), 60000)
        return cls(
            south=latitude < 0,
            west=longitude < 0,
            lat_degrees=lat_deg,
            lat_thousandths_minute=lat_min,
            lon_degrees=lon_deg,
            lon_thousandths_minute=lon_min,
            cep_km=cep_km,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class MOMessage:
    """One MO DirectIP message: what the gateway pushes after an SBD session."""

    header: MOHeader
    payload: bytes | None = None
    location: MOLocation | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MOConfirmation:
    """MO confirmation IE 0x05: the receiver's answer on the same TCP connection."""

    success: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class MTHeader:
    """MT DirectIP header IE 0x41 (Developers Guide §5.5)."""

    client_message_id: int
    imei: str
    disposition: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class MTMessage:
    """One MT DirectIP message: what a vendor application pushes to the gateway."""

    header: MTHeader
    payload: bytes | None = None
    priority: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MTConfirmation:
    """MT confirmation IE 0x44 (Developers Guide §5.7): status > 0 is the queue position."""

    client_message_id: int
    imei: str
    auto_id_reference: int
    status: int

    @property
    def ok(self) -> bool:
        """True when the gateway accepted the message (status ≥ 0)."""
        return self.status >= 0


# --- helpers ---------------------------------------------------------------------------------


def _check_imei(imei: str) -> bytes:
    if len(imei) != 15 or not imei.isascii() or not imei.isdigit():
        raise LocalDirectIPError(f"IMEI must be 15 ASCII digits, got {imei!r}")
    return imei.encode("ascii")


def _check_uint(name: str, value: int, bits: int) -> None:
    if not 0 <= value < (1 << bits):
        raise LocalDirectIPError(f"{name} must fit in u{bits}, got {value}")


def _decode_imei(raw: bytes) -> str:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise Malformed("IMEI is not ASCII") from exc
    if not text.isprintable():
        raise Malformed("IMEI has control characters")
    return text


def _ie(iei: int, body: bytes) -> bytes:
    return _IE_HEAD.pack(iei, len(body)) + body


def _frame(ies: list[bytes]) -> bytes:
    body = b"".join(ies)
    if len(body) > 0xFFFF:
        raise LocalDirectIPError("message longer than 65535 bytes")
    return _PRE.pack(PROTOCOL_REVISION, len(body)) + body


def split_elements(data: bytes) -> list[tuple[int, bytes]]:
    """Split one complete message into ``(iei, body)`` pairs, checking the pre-header.

    Raises:
        Truncated: fewer bytes than the overall length (or an IE length) announces.
        Malformed: unknown protocol revision, or bytes after the announced end.
    """
    if len(data) < PRE_HEADER_LEN:
        raise Truncated("shorter than the 3-byte pre-header")
    revision, overall = _PRE.unpack_from(data)
    if revision not in ACCEPTED_REVISIONS:
        raise Malformed(f"protocol revision {revision:#04x} is not DirectIP")
    end = PRE_HEADER_LEN + overall
    if len(data) < end:
        raise Truncated(f"overall length says {overall} bytes, {len(data) - 3} present")
    if len(data) > end:
        raise Malformed(f"{len(data) - end} bytes after the announced end of the message")
    elements: list[tuple[int, bytes]] = []
    pos = PRE_HEADER_LEN
    while pos < end:
        if end - pos < _IE_HEAD.size:
            raise Truncated("information element header cut short")
        iei, length = _IE_HEAD.unpack_from(data, pos)
        pos += _IE_HEAD.size
        if end - pos < length:
            raise Truncated(f"IE {iei:#04x} says {length} bytes, {end - pos} left")
        elements.append((iei, bytes(data[pos : pos + length])))
        pos += length
    return elements


def _known(elements: list[tuple[int, bytes]], allowed: set[int]) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for iei, body in elements:
        if iei not in allowed:
            continue  # unknown or foreign IE: skipped, as the guide requires
        if iei in found:
            raise Malformed(f"IE {iei:#04x} appears twice")
        found[iei] = body
    return found


def _fixed(body: bytes, st: struct.Struct, name: str) -> tuple[Any, ...]:
    if len(body) != st.size:
        raise Malformed(f"{name} IE must be {st.size} bytes, got {len(body)}")
    return st.unpack(body)


# --- MO --------------------------------------------------------------------------------------


def encode_mo(message: MOMessage) -> bytes:
    """Encode an MO message: header, then location and payload if present."""
    h = message.header
    imei = _check_imei(h.imei)
    _check_uint("CDR reference", h.cdr_reference, 32)
    _check_uint("session status", h.session_status, 8)
    _check_uint("MOMSN", h.momsn, 16)
    _check_uint("MTMSN", h.mtmsn, 16)
    _check_uint("session time", h.session_time, 32)
    ies = [
        _ie(
            IEI.MO_HEADER,
            _MO_HEADER.pack(
                h.cdr_reference, imei, h.session_status, h.momsn, h.mtmsn, h.session_time
            ),
        )
    ]
    if message.location is not None:
        loc = message.location
        if not (0 <= loc.lat_degrees <= 90 and 0 <= loc.lon_degrees <= 180):
            raise LocalDirectIPError("location degrees out of range")
        minutes = (loc.lat_thousandths_minute, loc.lon_thousandths_minute)
        if not all(0 <= m < 60000 for m in minutes):
            raise LocalDirectIPError("location minutes out of range")
        _check_uint("CEP radius", loc.cep_km, 32)
        flags = (2 if loc.south else 0) | (1 if loc.west else 0)
        ies.append(
            _ie(
                IEI.MO_LOCATION,
                _MO_LOCATION.pack(
                    flags,
                    loc.lat_degrees,
                    loc.lat_thousandths_minute,
                    loc.lon_degrees,
                    loc.lon_thousandths_minute,
                    loc.cep_km,
                ),
            )
        )
    if message.payload is not None:
        if len(message.payload) > MAX_MO_PAYLOAD:
            raise LocalDirectIPError(f"MO payload over {MAX_MO_PAYLOAD} bytes")
        ies.append(_ie(IEI.MO_PAYLOAD, bytes(message.payload)))
    return _frame(ies)


def decode_mo(data: bytes) -> MOMessage:
    """Decode one complete MO message.

    Raises:
        Truncated, Malformed: see :func:`split_elements`; also a missing or mis-sized header,
            a location with out-of-range fields, a repeated IE.
    """
    found = _known(split_elements(data), {IEI.MO_HEADER, IEI.MO_PAYLOAD, IEI.MO_LOCATION})
    if IEI.MO_HEADER not in found:
        raise Malformed("MO message without MO header IE")
    cdr, imei, status, momsn, mtmsn, when = _fixed(found[IEI.MO_HEADER], _MO_HEADER, "MO header")
    assert isinstance(imei, bytes)
    header = MOHeader(
        cdr_reference=int(cdr),
        imei=_decode_imei(imei),
        session_status=int(status),
        momsn=int(momsn),
        mtmsn=int(mtmsn),
        session_time=int(when),
    )
    location = None
    if IEI.MO_LOCATION in found:
        flags, lat_d, lat_m, lon_d, lon_m, cep = _fixed(
            found[IEI.MO_LOCATION], _MO_LOCATION, "MO location"
        )
        if lat_d > 90 or lon_d > 180 or lat_m >= 60000 or lon_m >= 60000:
            raise Malformed("MO location fields out of range")
        location = MOLocation(
            south=bool(flags & 2),
            west=bool(flags & 1),
            lat_degrees=lat_d,
            lat_thousandths_minute=lat_m,
            lon_degrees=lon_d,
            lon_thousandths_minute=lon_m,
            cep_km=cep,
        )
    return MOMessage(header=header, payload=found.get(IEI.MO_PAYLOAD), location=location)


def encode_mo_confirmation(ok: bool) -> bytes:
    """The receiver's answer to an MO message: ``01 00 04 05 00 01 01`` on success."""
    return _frame([_ie(IEI.MO_CONFIRMATION, b"\x01" if ok else b"\x00")])


def decode_mo_confirmation(data: bytes) -> MOConfirmation:
    """Decode the receiver's MO confirmation (any non-zero status byte counts as success)."""
    found = _known(split_elements(data), {IEI.MO_CONFIRMATION})
    body = found.get(IEI.MO_CONFIRMATION)
    if body is None:
        raise Malformed("no MO confirmation IE")
    if len(body) != 1:
        raise Malformed(f"MO confirmation IE must be 1 byte, got {len(body)}")
    return MOConfirmation(success=body[0] != 0)


# --- MT --------------------------------------------------------------------------------------


def encode_mt(message: MTMessage) -> bytes:
    """Encode an MT message: header, payload (if any), priority (if any)."""
    h = message.header
    imei = _check_imei(h.imei)
    _check_uint("client message id", h.client_message_id, 32)
    _check_uint("disposition flags", h.disposition, 16)
    ies = [_ie(IEI.MT_HEADER, _MT_HEADER.pack(h.client_message_id, imei, h.disposition))]
    if message.payload is not None:
        if len(message.payload) > MAX_MT_PAYLOAD:
            raise LocalDirectIPError(f"MT payload over {MAX_MT_PAYLOAD} bytes")
        ies.append(_ie(IEI.MT_PAYLOAD, bytes(message.payload)))
    if message.priority is not None:
        _check_uint("priority", message.priority, 16)
        ies.append(_ie(IEI.MT_PRIORITY, struct.pack(">H", message.priority)))
    return _frame(ies)


def decode_mt(data: bytes) -> MTMessage:
    """Decode one complete MT message.

    Raises:
        Truncated, Malformed: as :func:`decode_mo`.
    """
    found = _known(split_elements(data), {IEI.MT_HEADER, IEI.MT_PAYLOAD, IEI.MT_PRIORITY})
    if IEI.MT_HEADER not in found:
        raise Malformed("MT message without MT header IE")
    cid, imei, disposition = _fixed(found[IEI.MT_HEADER], _MT_HEADER, "MT header")
    assert isinstance(imei, bytes)
    priority = None
    if IEI.MT_PRIORITY in found:
        body = found[IEI.MT_PRIORITY]
        if len(body) != 2:
            raise Malformed(f"MT priority IE must be 2 bytes, got {len(body)}")
        priority = int.from_bytes(body, "big")
    return MTMessage(
        header=MTHeader(
            client_message_id=int(cid),
            imei=_decode_imei(imei),
            disposition=int(disposition),
        ),
        payload=found.get(IEI.MT_PAYLOAD),
        priority=priority,
    )


def encode_mt_confirmation(conf: MTConfirmation) -> bytes:
    """Encode the gateway's answer to an MT message."""
    imei = conf.imei.encode("ascii") if conf.imei.isascii() else b""
    if len(imei) != 15:
        raise LocalDirectIPError(f"IMEI must be 15 ASCII characters, got {conf.imei!r}")
    _check_uint("client message id", conf.client_message_id, 32)
    _check_uint("auto id reference", conf.auto_id_reference, 32)
    if not -32768 <= conf.status <= 32767:
        raise LocalDirectIPError("MT status must fit in i16")
    body = _MT_CONFIRMATION.pack(conf.client_message_id, imei, conf.auto_id_reference, conf.status)
    return _frame([_ie(IEI.MT_CONFIRMATION, body)])


def decode_mt_confirmation(data: bytes) -> MTConfirmation:
    """Decode the gateway's MT confirmation."""
    found = _known(split_elements(data), {IEI.MT_CONFIRMATION})
    if IEI.MT_CONFIRMATION not in found:
        raise Malformed("no MT confirmation IE")
    cid, imei, auto_id, status = _fixed(
        found[IEI.MT_CONFIRMATION], _MT_CONFIRMATION, "MT confirmation"
    )
    assert isinstance(imei, bytes)
    return MTConfirmation(
        client_message_id=int(cid),
        imei=_decode_imei(imei),
        auto_id_reference=int(auto_id),
        status=int(status),
    )


# --- stream framing --------------------------------------------------------------------------


class DirectIPReader:
    """Cuts a TCP byte stream into complete DirectIP messages (sans-IO).

    ``receive_data(chunk)`` returns the messages completed by that chunk (raw bytes, to hand to
    :func:`decode_mo` or :func:`decode_mt`); ``receive_data(None)`` signals EOF, and raises
    :class:`Truncated` if a message was cut off mid-way (h11-style: EOF is ``None``, never ``b""``).

    Raises:
        Oversize: the pre-header announces more than ``max_message`` bytes.
        Malformed: the first byte of a message is not a DirectIP revision.
    """

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self.max_message = max_message
        self._buf = bytearray()
        self._eof = False

    @property
    def pending(self) -> int:
        """Bytes buffered towards an incomplete message."""
        return len(self._buf)

    def receive_data(self, data: bytes | None) -> list[bytes]:
        """Feed bytes (or ``None`` at EOF); return the complete messages now available."""
        if data is None:
            self._eof = True
            if self._buf:
                raise Truncated(f"stream ended {len(self._buf)} bytes into a message")
            return []
        if self._eof:
            raise Malformed("data after EOF")
        self._buf += data
        out: list[bytes] = []
        while self._buf:
            if self._buf[0] not in ACCEPTED_REVISIONS:
                raise Malformed(f"protocol revision {self._buf[0]:#04x} is not DirectIP")
            if len(self._buf) < PRE_HEADER_LEN:
                break
            total = PRE_HEADER_LEN + int.from_bytes(self._buf[1:3], "big")
            if total > self.max_message:
                raise Oversize(f"message of {total} bytes exceeds {self.max_message}")
            if len(self._buf) < total:
                break
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]
        return out
