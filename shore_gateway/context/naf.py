"""NAF (North Atlantic Format) VMS position reports, one message per line (FIELD-FACTS §5).

A message is ``//SR//CODE/value//…//ER//``: fields separated by ``//``, each a two-letter code,
``/`` and a value. What real feeds do, and what this parser therefore accepts:

- positions as signed decimal degrees (``LT/53.254``, ``LG/-.940``) or the legacy degrees+minutes
  form (``LA/S0437``, ``LO/E05527`` = 4°37' S, 55°27' E);
- dates ``DA`` as ``YYYYMMDD`` or older ``YYMMDD`` (years 70–99 → 19xx, else 20xx), time ``TI``
  as ``HHMM`` UTC;
- an end marker ``//ER//`` or just ``//ER`` (no trailing ``//``);
- lower-case codes and spaces around values.

Everything else is a typed :class:`NafError` with a message that names the field, so that one
bad line is reported and the rest of a batch still goes in. The parser is pure: no vessel lookup
(that is :mod:`shore_gateway.context.positions`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from shore_gateway.errors import RemoteError

MAX_LINE = 2000


class NafError(RemoteError, ValueError):
    """A NAF line that cannot be used; ``str()`` is a message for people."""


class NafSyntaxError(NafError):
    """Not the ``//SR//…//ER//`` structure."""


class NafMissingField(NafError):
    """A field the report needs (date, time, position, a vessel identifier) is absent."""


class NafBadValue(NafError):
    """A field whose value is not of its kind (speed not a number, course out of range…)."""


class NafBadDate(NafBadValue):
    """``DA``/``TI`` that do not form a real UTC time (e.g. 20230231)."""


class NafBadPosition(NafBadValue):
    """Latitude/longitude malformed or out of range."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NafReport:
    """One position report, with the identifiers by which to find the vessel."""

    time: dt.datetime
    lat: float
    lon: float
    speed_kn: float | None = None
    course: float | None = None
    msg_type: str | None = None  # TM: POS, MAN, ENT, EXI…
    ircs: str | None = None  # RC
    registry_no: str | None = None  # IR
    imo: str | None = None  # XR
    name: str | None = None  # NA
    flag: str | None = None  # FS
    fields: dict[str, str] = field(default_factory=dict)


_CODE = re.compile(r"^[A-Z]{2}$")
_DECIMAL = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_LEGACY_LAT = re.compile(r"^([NS])(\d{2})(\d{2})$")
_LEGACY_LON = re.compile(r"^([EW])(\d{3})(\d{2})$")


def parse_naf(line: str) -> NafReport:
    """Parse one NAF message. Raises a :class:`NafError` subclass, never anything else."""
    text = line.strip()
    if not text:
        raise NafSyntaxError("empty line")
    if len(text) > MAX_LINE:
        raise NafSyntaxError(f"line longer than {MAX_LINE} characters")
    if any(ord(ch) < 32 or ch == "\x7f" for ch in text):
        raise NafSyntaxError("control characters in the line")
    if not text.upper().startswith("//SR"):
        raise NafSyntaxError("does not start with //SR")
    body = text[2:]
    if body.endswith("//"):
        body = body[:-2]
    tokens = [t.strip() for t in body.split("//")]
    if not tokens or tokens[-1].upper() != "ER":
        raise NafSyntaxError("no //ER end marker (truncated message?)")
    fields: dict[str, str] = {}
    for token in tokens[1:-1]:
        code, sep, value = token.partition("/")
        code = code.strip().upper()
        if not sep or not _CODE.match(code):
            raise NafSyntaxError(f"field {token[:20]!r} is not CODE/value")
        if code in ("SR", "ER"):
            raise NafSyntaxError(f"{code} inside the message")
        if code in fields:
            raise NafSyntaxError(f"field {code} appears twice")
        fields[code] = value.strip()
    if not any(fields.get(code) for code in ("RC", "IR", "XR", "NA")):
        raise NafMissingField("no vessel identifier (RC, IR, XR or NA)")
    return NafReport(
        time=_time(fields),
        lat=_lat(fields),
        lon=_lon(fields),
        speed_kn=_number(fields, "SP", 0, 1000, divisor=10),
        course=_number(fields, "CO", 0, 360),
        msg_type=fields.get("TM") or None,
        ircs=(fields.get("RC") or "").upper() or None,
        registry_no=fields.get("IR") or None,
        imo=fields.get("XR") or None,
        name=fields.get("NA") or None,
        flag=(fields.get("FS") or "").upper() or None,
        fields=fields,
    )


def _time(fields: dict[str, str]) -> dt.datetime:
    date = fields.get("DA")
    hhmm = fields.get("TI")
    if not date:
        raise NafMissingField("no date (DA)")
    if not hhmm:
        raise NafMissingField("no time (TI)")
    if not (date.isascii() and date.isdigit()) or len(date) not in (6, 8):
        raise NafBadDate(f"date DA/{date} is neither YYYYMMDD nor YYMMDD")
    if len(date) == 6:
        yy = int(date[:2])
        year = 1900 + yy if yy >= 70 else 2000 + yy
        month, day = int(date[2:4]), int(date[4:6])
    else:
        year, month, day = int(date[:4]), int(date[4:6]), int(date[6:8])
    if not (hhmm.isascii() and hhmm.isdigit()) or len(hhmm) != 4:
        raise NafBadDate(f"time TI/{hhmm} is not HHMM")
    hour, minute = int(hhmm[:2]), int(hhmm[2:])
    try:
        return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)
    except ValueError as exc:
        raise NafBadDate(f"DA/{date} TI/{hhmm} is not a real time: {exc}") from None


def _lat(fields: dict[str, str]) -> float:
    if "LT" in fields:
        return _decimal(fields["LT"], "LT", 90)
    if "LA" in fields:
        m = _LEGACY_LAT.match(fields["LA"].upper())
        if not m:
            raise NafBadPosition(f"LA/{fields['LA']} is not [NS]DDMM")
        return _degmin(m.group(1), m.group(2), m.group(3), "LA", 90)
    raise NafMissingField("no latitude (LT or LA)")


def _lon(fields: dict[str, str]) -> float:
    if "LG" in fields:
        return _decimal(fields["LG"], "LG", 180)
    if "LO" in fields:
        m = _LEGACY_LON.match(fields["LO"].upper())
        if not m:
            raise NafBadPosition(f"LO/{fields['LO']} is not [EW]DDDMM")
        return _degmin(m.group(1), m.group(2), m.group(3), "LO", 180)
    raise NafMissingField("no longitude (LG or LO)")


def _decimal(value: str, code: str, limit: float) -> float:
    if not _DECIMAL.match(value):
        raise NafBadPosition(f"{code}/{value} is not signed decimal degrees")
    number = float(value)
    if not -limit <= number <= limit:
        raise NafBadPosition(f"{code}/{value} is outside ±{limit:g}°")
    return number


def _degmin(hemi: str, deg: str, minutes: str, code: str, limit: float) -> float:
    d, m = int(deg), int(minutes)
    if m >= 60:
        raise NafBadPosition(f"{code}: {m} minutes is not below 60")
    value = d + m / 60
    if value > limit:
        raise NafBadPosition(f"{code}: {value:.3f}° is outside ±{limit:g}°")
    return -value if hemi in "SW" else value


def _number(
    fields: dict[str, str], code: str, lo: float, hi: float, *, divisor: float = 1.0
) -> float | None:
    raw = fields.get(code)
    if raw is None or raw == "":
        return None
    if not _DECIMAL.match(raw):
        raise NafBadValue(f"{code}/{raw} is not a number")
    value = float(raw) / divisor
    if not lo <= value <= hi:
        raise NafBadValue(f"{code}/{raw} is out of range")
    return value
