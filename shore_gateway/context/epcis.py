"""Catch traceability: EPCIS 2.0 JSON-LD documents with GDST 1.2 KDEs (FIELD-FACTS §6).

What is read, per event:

- **fishing** — ObjectEvent, ``action: ADD``, ``bizStep`` …``fishingEvent`` (older GDST
  documents use ``commissioning`` with vessel catch information: taken as fishing, flagged);
  lots from ``quantityList[].epcClass``; vessel and trip from
  ``ilmd.cbvmda:vesselCatchInformationList.cbvmda:vesselCatchInformation[0]``;
- **transshipment** — ``bizStep`` transshipment or shipping (GDST models transshipment as a
  shipping/receiving pair at sea);
- **landing** — ``bizStep`` receiving/arriving/landing, with ``cbvmda:unloadingPort``;
- **processing** — TransformationEvent (input lots → output lots).

JSON-LD is read as plain JSON: keys are matched by their local name (``cbvmda:vesselName``,
``vesselName`` and a full IRI ending in ``vesselName`` are the same), and ``@context`` is never
fetched. Real documents have flaws; they are accepted and flagged: an eventID that is not a UUID
URN, an IMO number that is not 7 digits or fails its check digit, a missing trip date, a vessel
the registry does not know. Only a body that is not a JSON EPCIS document is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from shore_gateway.errors import RemoteError
from shore_gateway.models import CatchEvent, CatchLot, RawDoc, Trip
from shore_gateway.registry import find_vessel

MAX_EVENTS = 10_000
_LINEAGE_DEPTH = 8


class EpcisError(RemoteError, ValueError):
    """The body is not an EPCIS document at all (not JSON, no event list…)."""


@dataclass(slots=True)
class ParsedEvent:
    key: str
    event_id: str | None
    type: str
    biz_step: str | None
    event_time: dt.datetime | None
    vessel: dict[str, str] = field(default_factory=dict)
    trip_date: dt.datetime | None = None
    unloading_port: str | None = None
    lots: list[tuple[str, str, float | None, str | None]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def local(key: str) -> str:
    """``cbvmda:vesselName`` / ``https://…#vesselName`` → ``vesselName``."""
    return re.split(r"[:/#]", key)[-1]


def get(obj: Any, name: str) -> Any:
    """The value under the key whose local name is ``name`` (None when absent or not a dict)."""
    if not isinstance(obj, dict):
        return None
    if name in obj:
        return obj[name]
    for key, value in obj.items():
        if isinstance(key, str) and local(key) == name:
            return value
    return None


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def event_list(doc: Any) -> list[Any]:
    """Events of an EPCISDocument or EPCISQueryDocument. Raises :class:`EpcisError`."""
    if not isinstance(doc, dict):
        raise EpcisError("an EPCIS document is a JSON object")
    body = get(doc, "epcisBody")
    if not isinstance(body, dict):
        raise EpcisError("no epcisBody in the document")
    events = get(body, "eventList")
    if events is None:
        events = get(get(get(body, "queryResults"), "resultsBody"), "eventList")
    if not isinstance(events, list):
        raise EpcisError("no eventList in epcisBody")
    if len(events) > MAX_EVENTS:
        raise EpcisError(f"more than {MAX_EVENTS} events in one document")
    return events


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    # Python takes at most 6 fractional digits on some versions; .NET writes 7.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def imo_warning(value: str) -> str | None:
    """None for a well-formed IMO number (7 digits, check digit right), else the flaw."""
    digits = "".join(ch for ch in value if ch in "0123456789")
    if len(digits) != 7:
        return f"IMO number {value!r} has {len(digits)} digits (an IMO number has 7); kept as given"
    check = sum(int(d) * w for d, w in zip(digits[:6], range(7, 1, -1), strict=True)) % 10
    if check != int(digits[6]):
        return f"IMO number {value!r} fails its check digit; kept as given"
    return None


def _str(value: Any) -> str | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value).strip()
        return text or None
    return None


def classify(event: dict[str, Any], warnings: list[str]) -> str | None:
    kind = _str(get(event, "type")) or ""
    step = local(_str(get(event, "bizStep")) or "").lower().removeprefix("bizstep-")
    catch_info = get(get(event, "ilmd"), "vesselCatchInformationList")
    if kind == "TransformationEvent":
        return "processing"
    if "fishingevent" in step or step == "fishing":
        return "fishing"
    if "transshipment" in step or step in ("shipping", "departing"):
        return "transshipment"
    if step in ("receiving", "arriving", "landing", "unloading"):
        return "landing"
    if catch_info is not None and _str(get(event, "action")) == "ADD":
        shown = step or "(none)"
        warnings.append(f"bizStep {shown!r} with vessel catch information: taken as fishing")
        return "fishing"
    return None


def parse_event(raw: Any, index: int) -> ParsedEvent | str:
    """One event → :class:`ParsedEvent`, or a warning saying why it is skipped."""
    if not isinstance(raw, dict):
        return f"event {index}: not a JSON object; skipped"
    warnings: list[str] = []
    event_id = _str(get(raw, "eventID"))
    label = f"event {index}" + (f" ({event_id})" if event_id else "")
    kind = classify(raw, warnings)
    if kind is None:
        step = _str(get(raw, "bizStep")) or "(none)"
        what = _str(get(raw, "type")) or "event"
        return (
            f"{label}: {what} with bizStep {step!r} is not a GDST fishing, transshipment,"
            " landing or processing event; skipped"
        )
    if event_id is None:
        warnings.append("no eventID; identified by a hash of its content")
    elif not _is_uuid_urn(event_id):
        warnings.append(f"eventID {event_id!r} is not a valid UUID URN; kept as given")
    event_time = parse_time(get(raw, "eventTime"))
    if event_time is None:
        warnings.append(f"eventTime {get(raw, 'eventTime')!r} is missing or not ISO 8601")
    key = (
        event_id
        or "sha256:"
        + hashlib.sha256(json.dumps(raw, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    )
    parsed = ParsedEvent(
        key=key[:200],
        event_id=event_id[:200] if event_id else None,
        type=kind,
        biz_step=(_str(get(raw, "bizStep")) or "")[:200] or None,
        event_time=event_time,
        unloading_port=(_str(get(raw, "unloadingPort")) or "")[:120] or None,
    )
    if kind == "processing":
        parsed.lots += _lots(get(raw, "inputQuantityList"), "input")
        parsed.lots += _lots(get(raw, "outputQuantityList"), "output")
    else:
        parsed.lots += _lots(get(raw, "quantityList"), "output")
    catch_list = get(get(raw, "ilmd"), "vesselCatchInformationList")
    infos = as_list(get(catch_list, "vesselCatchInformation"))
    if infos:
        info = infos[0]
        if len(infos) > 1:
            warnings.append(f"{len(infos)} vessel catch records; the first names the vessel")
        for name in ("vesselName", "vesselID", "imoNumber", "vesselFlagState"):
            if (value := _str(get(info, name))) is not None:
                parsed.vessel[name] = value[:200]
        if (imo := parsed.vessel.get("imoNumber")) and (flaw := imo_warning(imo)):
            warnings.append(flaw)
        trip_raw = get(info, "vesselTripDate")
        parsed.trip_date = parse_time(trip_raw)
        if parsed.trip_date is None and kind == "fishing":
            warnings.append(f"vesselTripDate {trip_raw!r} is missing or not a date; no trip")
    elif kind == "fishing":
        warnings.append("fishing event without vessel catch information")
    if not parsed.lots:
        warnings.append("no lots (epcClass) in the event")
    parsed.warnings = [f"{label}: {w}" for w in warnings]
    return parsed


def _is_uuid_urn(value: str) -> bool:
    if not value.lower().startswith("urn:uuid:"):
        return False
    try:
        uuid.UUID(value[9:])
    except ValueError:
        return False
    return len(value) == 45


def _lots(items: Any, role: str) -> list[tuple[str, str, float | None, str | None]]:
    out = []
    for item in as_list(items):
        epc = _str(get(item, "epcClass"))
        if epc is None:
            continue
        qty = get(item, "quantity")
        number = isinstance(qty, int | float) and not isinstance(qty, bool)
        quantity = float(qty) if number else None
        out.append((epc[:300], role, quantity, (_str(get(item, "uom")) or "")[:16] or None))
    return out


def load_document(body: bytes) -> tuple[str, list[Any]]:
    """Body → (its text, its event list), without touching storage (the parsing half of
    :func:`ingest_epcis`, and what the fuzz targets drive).

    Raises :class:`EpcisError` when the body is not a JSON EPCIS document.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise EpcisError("body is not UTF-8 text") from None
    if "\x00" in text or "\\u0000" in text.lower():
        raise EpcisError("NUL characters are not allowed in the document")
    try:
        doc = json.loads(text)
    except ValueError as exc:  # JSONDecodeError, and over-long integer literals
        raise EpcisError(f"not JSON: {exc}") from None
    except RecursionError:
        raise EpcisError("JSON nested too deeply") from None
    return text, event_list(doc)


def ingest_epcis(session: Session, body: bytes) -> dict[str, Any]:
    """Store a document and its events → ``{"accepted": n, "warnings": [...]}``.

    Raises :class:`EpcisError` when the body is not a JSON EPCIS document.
    """
    text, events = load_document(body)
    digest = hashlib.sha256(body).hexdigest()
    raw_doc = session.exec(select(RawDoc).where(RawDoc.sha256 == digest)).first()
    if raw_doc is None:
        raw_doc = RawDoc(sha256=digest, body=text)
        session.add(raw_doc)
        session.flush()
    assert raw_doc.id is not None
    accepted, warnings = 0, []
    for index, raw in enumerate(events):
        parsed = parse_event(raw, index)
        if isinstance(parsed, str):
            warnings.append(parsed)
            continue
        _link_vessel(session, parsed)
        if _store_event(session, parsed, raw_doc.id):
            accepted += 1
        else:
            accepted += 1
            parsed.warnings.append(f"event {index}: already stored; the first copy is kept")
        warnings += parsed.warnings
    return {"accepted": accepted, "warnings": warnings}


def _link_vessel(session: Session, parsed: ParsedEvent) -> None:
    v = parsed.vessel
    if not v:
        return
    vessel = find_vessel(
        session,
        imo=v.get("imoNumber"),
        registry_no=v.get("vesselID"),
        ircs=v.get("vesselID"),
        name=v.get("vesselName"),
    )
    if vessel is None:
        who = v.get("vesselName") or v.get("vesselID") or "?"
        parsed.warnings.append(f"vessel {who!r} is not registered; event kept without a vessel")
        return
    parsed.vessel["_id"] = str(vessel.id)


def _store_event(session: Session, parsed: ParsedEvent, doc_id: int) -> bool:
    """Insert the event with its lots; False when an event with its key already exists."""
    if session.exec(select(CatchEvent.id).where(CatchEvent.event_key == parsed.key)).first():
        return False
    vessel_id = int(parsed.vessel["_id"]) if "_id" in parsed.vessel else None
    trip_id = None
    if vessel_id is not None and parsed.trip_date is not None and parsed.type == "fishing":
        trip_id = _trip(session, vessel_id, parsed.trip_date)
    row = CatchEvent(
        event_key=parsed.key,
        event_id=parsed.event_id,
        type=parsed.type,
        biz_step=parsed.biz_step,
        event_time=parsed.event_time,
        vessel_id=vessel_id,
        vessel_ref=parsed.vessel.get("vesselName") or parsed.vessel.get("vesselID"),
        trip_id=trip_id,
        trip_date=parsed.trip_date,
        unloading_port=parsed.unloading_port,
        doc_id=doc_id,
        warnings=json.dumps(parsed.warnings, ensure_ascii=False),
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
            assert row.id is not None
            for epc, role, qty, uom in parsed.lots:
                session.add(
                    CatchLot(event_id=row.id, epc_class=epc, role=role, quantity=qty, uom=uom)
                )
    except IntegrityError:
        return False  # another process stored the same event meanwhile
    return True


def _trip(session: Session, vessel_id: int, trip_date: dt.datetime) -> int:
    stmt = select(Trip).where(Trip.vessel_id == vessel_id, Trip.trip_date == trip_date)
    trip = session.exec(stmt).first()
    if trip is None:
        try:
            with session.begin_nested():
                trip = Trip(vessel_id=vessel_id, trip_date=trip_date)
                session.add(trip)
        except IntegrityError:
            trip = session.exec(stmt).one()
    assert trip.id is not None
    return trip.id


# --- queries used by enrichment -------------------------------------------------------------


def trip_at(session: Session, vessel_id: int, when: dt.datetime) -> Trip | None:
    """The trip that contains ``when``: the latest trip of the vessel that started at or before."""
    return session.exec(
        select(Trip)
        .where(Trip.vessel_id == vessel_id, col(Trip.trip_date) <= when)
        .order_by(col(Trip.trip_date).desc())
        .limit(1)
    ).first()


def _trip_lot_classes(session: Session, trip_id: int) -> set[str]:
    """Lots caught on the trip, plus lots processed from them (bounded lineage walk)."""
    lots = set(
        session.exec(
            select(CatchLot.epc_class)
            .join(CatchEvent, col(CatchLot.event_id) == col(CatchEvent.id))
            .where(CatchEvent.trip_id == trip_id, CatchLot.role == "output")
        ).all()
    )
    frontier = set(lots)
    for _ in range(_LINEAGE_DEPTH):
        if not frontier:
            break
        events = select(CatchLot.event_id).where(
            CatchLot.role == "input", col(CatchLot.epc_class).in_(frontier)
        )
        outputs = set(
            session.exec(
                select(CatchLot.epc_class).where(
                    CatchLot.role == "output", col(CatchLot.event_id).in_(events)
                )
            ).all()
        )
        frontier = outputs - lots
        lots |= outputs
    return lots


def trip_lots(session: Session, trip_id: int) -> list[dict[str, Any]]:
    """Lots of a trip with whether each was landed (appears in a landing event)."""
    lots = _trip_lot_classes(session, trip_id)
    landed = (
        set(
            session.exec(
                select(CatchLot.epc_class)
                .join(CatchEvent, col(CatchLot.event_id) == col(CatchEvent.id))
                .where(CatchEvent.type == "landing", col(CatchLot.epc_class).in_(lots))
            ).all()
        )
        if lots
        else set()
    )
    return [{"epc_class": epc, "landed": epc in landed} for epc in sorted(lots)]


def landed_lots(session: Session, vessel_id: int, when: dt.datetime) -> list[str]:
    """epcClasses landed from the trip that contains ``when`` for the vessel."""
    trip = trip_at(session, vessel_id, when)
    if trip is None or trip.id is None:
        return []
    return [lot["epc_class"] for lot in trip_lots(session, trip.id) if lot["landed"]]


def trip_transshipments(session: Session, trip_id: int) -> list[CatchEvent]:
    """Transshipment events that moved any of the trip's lots."""
    lots = _trip_lot_classes(session, trip_id)
    if not lots:
        return []
    ids = select(CatchLot.event_id).where(col(CatchLot.epc_class).in_(lots))
    return list(
        session.exec(
            select(CatchEvent)
            .where(CatchEvent.type == "transshipment", col(CatchEvent.id).in_(ids))
            .order_by(col(CatchEvent.event_time))
        ).all()
    )
