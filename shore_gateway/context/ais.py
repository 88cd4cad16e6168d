"""AIS positions from ``!AIVDM`` sentences (decoded by pyais), matched to vessels by MMSI.

Used: types 1/2/3 (class A position), 18 (class B position), 5 (class A static: IMO, call sign,
name) and 24 part A (class B name). Static reports are how an MMSI is learnt for a registered
vessel that has none yet — but only through IMO number or call sign; a name alone is too easy
to share or spoof to bind an MMSI on.

AIS position reports carry only the second of the minute, not a date. The time of a report is
the receiver's: a NMEA 4.0 tag block ``\\c:<unix seconds>*hh\\`` when the feed has one, else the
``default_time`` the caller gives (the time of the upload).

Every line gets an outcome. A multi-sentence message is accepted or rejected as a whole; its
fragments arriving out of order or left incomplete at the end of the upload are rejected with
the reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pyais.exceptions import AISBaseException
from pyais.messages import NMEAMessage, NMEASentenceFactory
from sqlmodel import Session

from shore_gateway.context.positions import Fix, LineReport, store_fixes
from shore_gateway.errors import RemoteError
from shore_gateway.models import Vessel
from shore_gateway.registry import find_vessel

POSITION_TYPES = frozenset({1, 2, 3, 18})
STATIC_TYPES = frozenset({5, 24})
MAX_FRAGMENTS = 9
_TAG_TIME_MIN = 946684800  # 2000-01-01; earlier tag-block times are treated as absent


class AisError(RemoteError, ValueError):
    """A sentence or message that cannot be used."""


@dataclass(slots=True)
class _Pending:
    lines: list[int]
    parts: list[NMEAMessage]
    total: int


def _parse_sentence(text: str) -> NMEAMessage:
    try:
        msg = NMEASentenceFactory.produce(text.strip().encode("ascii"))
    except (AISBaseException, ValueError, IndexError, TypeError) as exc:
        raise AisError(f"not a valid AIVDM sentence: {exc}") from None
    if not isinstance(msg, NMEAMessage):
        raise AisError("not an AIS VDM/VDO sentence")
    if not msg.is_valid:
        raise AisError("NMEA checksum does not match")
    if msg.type not in ("VDM", "VDO"):
        raise AisError(f"not an AIS VDM/VDO sentence ({msg.type})")
    if not 1 <= msg.frag_cnt <= MAX_FRAGMENTS or not 1 <= msg.frag_num <= msg.frag_cnt:
        raise AisError(f"fragment {msg.frag_num} of {msg.frag_cnt} is not possible")
    return msg


def _decode(msg: NMEAMessage) -> dict[str, Any]:
    try:
        return dict(msg.decode().asdict())
    except (AISBaseException, ValueError, IndexError, TypeError, KeyError) as exc:
        raise AisError(f"AIS payload does not decode: {exc}") from None


def _tag_time(msg: NMEAMessage) -> dt.datetime | None:
    tag = msg.tag_block
    if tag is None:
        return None
    try:
        tag.init()
        stamp = tag.receiver_timestamp
    except (AISBaseException, ValueError, TypeError, AttributeError):
        return None
    if not stamp:
        return None
    try:
        seconds = int(stamp)
    except ValueError:
        return None
    if seconds > 10**11:  # some receivers give milliseconds
        seconds //= 1000
    if seconds < _TAG_TIME_MIN:
        return None
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def ingest_ais(session: Session, lines: list[bytes], default_time: dt.datetime) -> LineReport:
    """Decode AIVDM lines, store positions of registered vessels, learn MMSIs from static data."""
    report = LineReport()
    fixes: list[Fix] = []
    pending: dict[tuple[str, str | None], _Pending] = {}

    def finish(line_numbers: list[int], outcome: str | None) -> None:
        if outcome is None:
            report.accepted += len(line_numbers)
        else:
            for n in line_numbers:
                report.reject(n, outcome)

    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            report.reject(number, "not ASCII text")
            continue
        if not text.strip():
            report.skipped += 1
            continue
        try:
            msg = _parse_sentence(text)
        except AisError as exc:
            report.reject(number, str(exc))
            continue
        if msg.frag_cnt == 1:
            finish([number], _use(session, [msg], default_time, fixes))
            continue
        key = (str(msg.seq_id), msg.channel)
        group = pending.get(key)
        if msg.frag_num == 1:
            if group is not None:
                finish(group.lines, "multi-sentence message interrupted before completion")
            group = pending[key] = _Pending(lines=[], parts=[], total=msg.frag_cnt)
        elif group is None or msg.frag_num != len(group.parts) + 1 or msg.frag_cnt != group.total:
            if group is not None:
                finish(group.lines, "multi-sentence message broken by an out-of-order fragment")
                del pending[key]
            report.reject(number, f"fragment {msg.frag_num} of {msg.frag_cnt} out of order")
            continue
        group.lines.append(number)
        group.parts.append(msg)
        if len(group.parts) == group.total:
            del pending[key]
            finish(group.lines, _use(session, group.parts, default_time, fixes))
    for group in pending.values():
        got = f"{len(group.parts)} of {group.total}"
        finish(group.lines, f"incomplete multi-sentence message ({got} fragments)")
    store_fixes(session, fixes)
    return report


def _use(
    session: Session, parts: list[NMEAMessage], default_time: dt.datetime, fixes: list[Fix]
) -> str | None:
    """Apply one complete AIS message; returns None when used, else the reason it was not."""
    try:
        msg = parts[0] if len(parts) == 1 else NMEAMessage.assemble_from_iterable(parts)
        fields = _decode(msg)
    except AisError as exc:
        return str(exc)
    except (AISBaseException, ValueError) as exc:
        return f"multi-sentence message does not assemble: {exc}"
    kind = fields.get("msg_type")
    mmsi = str(fields.get("mmsi", "")).zfill(9)
    if kind in POSITION_TYPES:
        vessel = find_vessel(session, mmsi=mmsi)
        if vessel is None or vessel.id is None:
            return f"no registered vessel with MMSI {mmsi}"
        lat, lon = fields.get("lat"), fields.get("lon")
        if not isinstance(lat, float | int) or not isinstance(lon, float | int):
            return "position fields missing"
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return "position not available (AIS default 91/181)"
        speed = fields.get("speed")
        course = fields.get("course")
        fixes.append(
            Fix(
                vessel_id=vessel.id,
                time=_tag_time(parts[0]) or default_time,
                lat=float(lat),
                lon=float(lon),
                speed_kn=float(speed) if isinstance(speed, float | int) and speed < 102.3 else None,
                course=float(course) if isinstance(course, float | int) and course < 360 else None,
                accuracy_m=10.0 if fields.get("accuracy") else 100.0,
                source="ais",
            )
        )
        return None
    if kind in STATIC_TYPES:
        return _learn_mmsi(session, mmsi, fields)
    return f"AIS message type {kind} is not used (only 1/2/3, 5, 18, 24)"


def _learn_mmsi(session: Session, mmsi: str, fields: dict[str, Any]) -> str | None:
    """Bind an MMSI to a registered vessel found by IMO or call sign (type 5)."""
    imo = fields.get("imo")
    callsign = str(fields.get("callsign") or "").strip()
    vessel: Vessel | None = None
    if imo:
        vessel = find_vessel(session, imo=str(imo))
    if vessel is None and callsign:
        vessel = find_vessel(session, ircs=callsign)
    if vessel is None:
        if find_vessel(session, mmsi=mmsi) is not None:
            return None  # static data of a vessel we already know by MMSI
        ids = f"MMSI {mmsi}, IMO {imo or '-'} or call sign {callsign or '-'}"
        return f"no registered vessel with {ids}"
    if vessel.mmsi and vessel.mmsi != mmsi:
        return f"MMSI {mmsi} claims vessel {vessel.name!r}, registered with MMSI {vessel.mmsi}"
    if not vessel.mmsi:
        vessel.mmsi = mmsi
        session.add(vessel)
        session.flush()
    return None
