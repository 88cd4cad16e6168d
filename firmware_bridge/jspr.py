"""JSPR, the RockBLOCK 9704's JSON serial protocol, as a sans-IO codec.

The 9704 (Iridium Messaging Transport, "IMT") speaks lines at 230,400 8N1, each ending in CR:

* host → modem, a *request*: ``GET|PUT <target> <json>\\r`` (``GET apiVersion {}\\r``);
* modem → host, a *response*: ``<3-digit code> <target> <json>\\r``; ``200`` answers a request,
  ``299`` is unsolicited (segment requests, final statuses, MT data), ``4xx`` refuses a request
  (:class:`Code`).

Sources: Ground Control's C library (github rock7/RockBLOCK-9704, ``src/jspr.h`` response codes
and limits, ``src/jspr_command.c`` the request lines it writes, ``src/jspr.c`` the fields it
reads). Limits taken from there: a target is at most 29 characters; MO/MT segments carry 1..1,446
bytes; an IMT message is 1..100,000 bytes plus a 2-byte CRC-16/XMODEM the host appends.

Nothing here reads a port, a clock or a random source. :class:`LineDecoder` turns any byte
stream — fed whole or byte by byte, the same result — into :class:`Request`/:class:`Response`
values or :class:`Rejected` markers carrying a typed error (one bad line never stops the stream;
the modem answers it with ``405``/``407`` and carries on, a host skips it). The ``parse_*``
functions raise :class:`~firmware_bridge.errors.JSPRError` subclasses and nothing else.
"""

from __future__ import annotations

import binascii
import enum
import json
import re
from dataclasses import dataclass, field
from typing import Any

from firmware_bridge.errors import (
    CRCMismatch,
    JSPRBadField,
    JSPRBadJSON,
    JSPRError,
    JSPRLineTooLong,
    JSPRMalformed,
    JSPRTruncated,
    LocalJSPRError,
)

BAUDRATE = 230_400
#: Longest line accepted (the library's receive buffer is 8,192 bytes; a 1,446-byte segment in
#: base64 with its JSON is about 2,050).
MAX_LINE = 8192
MAX_TARGET = 29
MAX_MESSAGE = 100_000  # IMT payload, without the CRC
CRC_SIZE = 2
MAX_SEGMENT = 1446
MIN_TOPIC, MAX_TOPIC = 64, 65535
RAW_TOPIC = 244  # Cloudloop's default topic; 313-317 are its "colour" topics

_TARGET = re.compile(rb"[A-Za-z][A-Za-z0-9_]{0,28}")
# Bytes a modem may put before a line: the LF of a CR LF ending, XON/XOFF (the library strips
# a leading DC1 it sees before bootInfo).
_LEAD = b"\n\x11\x13"


class Code(enum.IntEnum):
    """Response codes (``src/jspr.h``, ``enum responseCodes``)."""

    OK = 200
    UNSOLICITED = 299
    API_VERSION_NOT_SELECTED = 400
    UNSUPPORTED_REQUEST_TYPE = 401
    CONFIGURATION_ALREADY_SET = 402
    COMMAND_TOO_LONG = 403
    UNKNOWN_TARGET = 404
    COMMAND_MALFORMED = 405
    OPERATION_NOT_ALLOWED = 406
    BAD_JSON = 407
    REQUEST_FAILED = 408
    UNAUTHORIZED = 409
    SIM_NOT_CONFIGURED = 410
    NOT_PROVISIONED = 418


class Method(enum.Enum):
    """Request methods."""

    GET = "GET"
    PUT = "PUT"


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """``GET|PUT <target> <json>`` from the host."""

    method: Method
    target: str
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """``<code> <target> <json>`` from the modem."""

    code: int
    target: str
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def unsolicited(self) -> bool:
        return self.code == Code.UNSOLICITED

    @property
    def ok(self) -> bool:
        return self.code == Code.OK


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """A line the decoder could not use; ``line`` holds at most its first 80 bytes."""

    error: JSPRError
    line: bytes


Line = Request | Response


# --- encoding ----------------------------------------------------------------------------------


def _dump(target: str, body: dict[str, Any]) -> bytes:
    if not _TARGET.fullmatch(target.encode("ascii", "replace")):
        raise LocalJSPRError(f"not a JSPR target: {target!r}")
    try:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise LocalJSPRError(f"body is not JSON: {exc}") from exc
    return f"{target} {text}".encode("ascii")


def encode_request(request: Request) -> bytes:
    """One request line, CR-terminated.

    Raises:
        LocalJSPRError: bad target, a body that is not JSON, or a line over :data:`MAX_LINE`.
    """
    line = request.method.value.encode() + b" " + _dump(request.target, request.body) + b"\r"
    if len(line) > MAX_LINE:
        raise LocalJSPRError(f"request line of {len(line)} bytes exceeds {MAX_LINE}")
    return line


def encode_response(response: Response) -> bytes:
    """One response line, CR-terminated (same errors as :func:`encode_request`)."""
    if not 100 <= response.code <= 999:
        raise LocalJSPRError(f"response code {response.code} is not 3 digits")
    line = b"%d " % response.code + _dump(response.target, response.body) + b"\r"
    if len(line) > MAX_LINE:
        raise LocalJSPRError(f"response line of {len(line)} bytes exceeds {MAX_LINE}")
    return line


# --- parsing -----------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _split(line: bytes) -> tuple[bytes, str, dict[str, Any]]:
    head, sp1, rest = line.partition(b" ")
    target, sp2, body = rest.partition(b" ")
    if not sp1 or not sp2:
        raise JSPRMalformed(f"expected '<head> <target> <json>', got {line[:40]!r}")
    if not _TARGET.fullmatch(target):
        raise JSPRMalformed(f"bad target {target[:40]!r}")
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise JSPRBadJSON(f"{target.decode()}: body is not JSON ({type(exc).__name__})") from exc
    if not isinstance(value, dict):
        raise JSPRBadJSON(f"{target.decode()}: body is a JSON {type(value).__name__}, not object")
    return head, target.decode("ascii"), value


def parse_request(line: bytes) -> Request:
    """A request line without its CR.

    Raises:
        JSPRMalformed: not ``GET|PUT <target> <json>`` (:class:`JSPRBadJSON` for the JSON part).
    """
    head, target, body = _split(line)
    try:
        method = Method(head.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise JSPRMalformed(f"unknown method {head[:10]!r}") from exc
    return Request(method=method, target=target, body=body)


def parse_response(line: bytes) -> Response:
    """A response line without its CR; leading LF/XON/XOFF bytes are skipped.

    Raises:
        JSPRMalformed: not ``<3-digit code> <target> <json>`` (:class:`JSPRBadJSON` for JSON).
    """
    head, target, body = _split(line.lstrip(_LEAD))
    if len(head) != 3 or not head.isdigit():
        raise JSPRMalformed(f"bad response code {head[:10]!r}")
    return Response(code=int(head), target=target, body=body)


class LineDecoder:
    """Splits a byte stream into CR-terminated lines and parses them (h11-style, sans-IO).

    ``receive_data(data)`` returns the lines completed by ``data``; ``None`` is end of stream
    (an unfinished line then yields :class:`Rejected` with :class:`JSPRTruncated`). A line
    longer than ``max_line`` yields one :class:`Rejected` (:class:`JSPRLineTooLong`) and is
    skipped up to its CR. Empty lines (the CR of a CR LF pair, say) are ignored.
    """

    def __init__(self, *, requests: bool, max_line: int = MAX_LINE) -> None:
        self._parse = parse_request if requests else parse_response
        self._max = max_line
        self._buf = bytearray()
        self._skipping = False
        self._eof = False

    def receive_data(self, data: bytes | None) -> list[Line | Rejected]:
        if self._eof:
            return []
        out: list[Line | Rejected] = []
        if data is None:
            self._eof = True
            if self._buf.strip(_LEAD) and not self._skipping:
                out.append(
                    Rejected(
                        error=JSPRTruncated("stream ended inside a line"),
                        line=bytes(self._buf[:80]),
                    )
                )
            self._buf.clear()
            return out
        start = 0
        while start < len(data):
            cr = data.find(b"\r", start)
            end = len(data) if cr < 0 else cr
            if not self._skipping:
                self._buf += data[start:end]
                if len(self._buf) > self._max:
                    out.append(
                        Rejected(
                            error=JSPRLineTooLong(f"line longer than {self._max} bytes"),
                            line=bytes(self._buf[:80]),
                        )
                    )
                    self._buf.clear()
                    self._skipping = True
            if cr < 0:
                break
            if self._skipping:
                self._skipping = False
            elif self._buf.strip(_LEAD):
                line = bytes(self._buf)
                try:
                    out.append(self._parse(line))
                except JSPRError as exc:
                    out.append(Rejected(error=exc, line=line[:80]))
            self._buf.clear()
            start = cr + 1
        return out


# --- body fields -------------------------------------------------------------------------------


def get_int(body: dict[str, Any], key: str, lo: int, hi: int) -> int:
    """``body[key]`` as an int in ``lo..hi`` (bools are not ints here).

    Raises:
        JSPRBadField: missing, not an integer, or out of range.
    """
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise JSPRBadField(f"{key!r} must be an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise JSPRBadField(f"{key!r} = {value} is outside {lo}..{hi}")
    return value


def get_str(body: dict[str, Any], key: str, max_len: int = 256) -> str:
    """``body[key]`` as a string of at most ``max_len`` characters (raises JSPRBadField)."""
    value = body.get(key)
    if not isinstance(value, str):
        raise JSPRBadField(f"{key!r} must be a string, got {type(value).__name__}")
    if len(value) > max_len:
        raise JSPRBadField(f"{key!r} is longer than {max_len} characters")
    return value


def get_bool(body: dict[str, Any], key: str) -> bool:
    """``body[key]`` as a bool (raises :class:`JSPRBadField`)."""
    value = body.get(key)
    if not isinstance(value, bool):
        raise JSPRBadField(f"{key!r} must be true or false, got {type(value).__name__}")
    return value


def get_data(body: dict[str, Any], length: int) -> bytes:
    """The base64 ``data`` field, which must decode to exactly ``length`` bytes.

    Raises:
        JSPRBadField: missing, not strict base64, or of another length.
    """
    text = get_str(body, "data", max_len=MAX_LINE)
    try:
        data = binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise JSPRBadField(f"'data' is not base64: {exc}") from exc
    if len(data) != length:
        raise JSPRBadField(f"'data' holds {len(data)} bytes, segment_length says {length}")
    return data


def b64(data: bytes) -> str:
    """Standard base64 with padding, as JSPR carries segment data."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


# --- the IMT message trailer ---------------------------------------------------------------------


def crc16(data: bytes) -> int:
    """CRC-16/XMODEM (poly 0x1021, init 0, no reflection) — ``calculateCrc`` in the library."""
    return binascii.crc_hqx(data, 0)


def append_crc(payload: bytes) -> bytes:
    """``payload`` + its CRC-16/XMODEM, big-endian: the bytes an IMT message carries.

    Raises:
        LocalJSPRError: empty or over :data:`MAX_MESSAGE` bytes.
    """
    if not 1 <= len(payload) <= MAX_MESSAGE:
        raise LocalJSPRError(f"an IMT message holds 1..{MAX_MESSAGE} bytes, not {len(payload)}")
    return payload + crc16(payload).to_bytes(2, "big")


def strip_crc(message: bytes) -> bytes:
    """The payload of ``message`` after checking its 2-byte trailer.

    Raises:
        CRCMismatch: shorter than 3 bytes or the trailer does not match.
    """
    if len(message) < CRC_SIZE + 1:
        raise CRCMismatch(f"an IMT message of {len(message)} bytes has no payload")
    payload, trailer = message[:-CRC_SIZE], message[-CRC_SIZE:]
    if crc16(payload).to_bytes(2, "big") != trailer:
        raise CRCMismatch("CRC-16/XMODEM trailer does not match the payload")
    return payload


def segments(total: int, size: int = MAX_SEGMENT) -> list[tuple[int, int]]:
    """``(start, length)`` of each segment of a ``total``-byte message cut at ``size``."""
    if size < 1:
        raise LocalJSPRError("segment size must be positive")
    return [(start, min(size, total - start)) for start in range(0, total, size)]


__all__ = [
    "BAUDRATE",
    "CRC_SIZE",
    "MAX_LINE",
    "MAX_MESSAGE",
    "MAX_SEGMENT",
    "RAW_TOPIC",
    "Code",
    "Line",
    "LineDecoder",
    "Method",
    "Rejected",
    "Request",
    "Response",
    "append_crc",
    "b64",
    "crc16",
    "encode_request",
    "encode_response",
    "get_bool",
    "get_data",
    "get_int",
    "get_str",
    "parse_request",
    "parse_response",
    "segments",
    "strip_crc",
]
