"""What each audience may see of a case or grievance — the one place that decides.

- :func:`staff_case` / :func:`staff_grievance`: shore staff and admins (grievance text only
  when asked for, and the caller must audit it).
- :func:`owner_case`: vessel owners and buyers. Built from an allow-list of fields, never by
  removing fields from the staff view, so a new staff field cannot leak by default. Never crew
  identity (pseudonym), receipt or message seq, free text, language, exact category, assignee,
  action descriptions or evidence notes.
- :func:`connector_case`: what MQTT / Primero receive (text only when the connector is set to
  share it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from sqlmodel import Session, col, select

from protocol.messages import Zawgyi, ZawgyiMode
from shore_gateway.cases.models import AuditEntry, Case, CaseAction, CaseGrievance
from shore_gateway.cases.workflow import (
    ACTION_KINDS,
    TERMINAL,
    Status,
    category_label,
    group_label,
)
from shore_gateway.context.epcis import trip_at, trip_lots
from shore_gateway.models import (
    Alert,
    AlertKind,
    DeviceState,
    Grievance,
    Message,
    RawFrame,
    Trip,
    Vessel,
    utcnow,
)

#: Keys an owner-facing case may carry (tests assert nothing else appears).
OWNER_CASE_KEYS = frozenset(
    {
        "ref",
        "vessel",
        "group",
        "group_code",
        "urgent",
        "status",
        "status_label",
        "opened_at",
        "updated_at",
        "due_at",
        "overdue",
        "deadline",
        "reopened_at",
        "closed_at",
        "actions",
        "trips",
        "lots",
    }
)
OWNER_ACTION_KEYS = frozenset({"kind", "label", "due_at", "done_at", "overdue"})


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


class VesselColumns(Protocol):
    """What a connector is told of a vessel: a :class:`Vessel`, or a row with its columns."""

    @property
    def name(self) -> str: ...
    @property
    def imo(self) -> str | None: ...
    @property
    def ircs(self) -> str | None: ...
    @property
    def flag(self) -> str | None: ...
    @property
    def owner(self) -> str | None: ...


class GrievanceColumns(Protocol):
    """The columns of a grievance its views read: a :class:`Grievance`, or a row with them."""

    @property
    def id(self) -> int | None: ...
    @property
    def category(self) -> int: ...
    @property
    def lang(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def pseudonym(self) -> str | None: ...
    @property
    def zawgyi(self) -> str | None: ...
    @property
    def zawgyi_p(self) -> int | None: ...
    @property
    def zawgyi_other(self) -> str | None: ...
    @property
    def voice_mode(self) -> int | None: ...
    @property
    def voice_ms(self) -> int | None: ...
    @property
    def time(self) -> dt.datetime: ...
    @property
    def pos_lat(self) -> float | None: ...
    @property
    def pos_lon(self) -> float | None: ...
    @property
    def pos_time(self) -> dt.datetime | None: ...
    @property
    def pos_age_s(self) -> float | None: ...
    @property
    def pos_uncertainty_m(self) -> float | None: ...
    @property
    def pos_source(self) -> str | None: ...


def _awaiting_response(case: Case) -> bool:
    """The response clock runs: no one has acknowledged the case (or its newest grievance,
    after a reopening) and it is not closed or withdrawn."""
    return (
        case.due_at is not None
        and case.acknowledged_at is None
        and Status(case.status) not in TERMINAL
    )


def _overdue(case: Case, now: dt.datetime) -> bool:
    return _awaiting_response(case) and case.due_at is not None and case.due_at < now


def deadline(case: Case, actions: list[CaseAction], now: dt.datetime) -> dict[str, Any] | None:
    """The case's next clock: the response deadline while unacknowledged, else the earliest
    open remediation action's deadline; None when nothing is due (or the case is closed).

    ``{"due_at", "what": "respond" | "action", "overdue", "urgent"}``.
    """
    if Status(case.status) in TERMINAL:
        return None
    if _awaiting_response(case) and case.due_at is not None:
        due, what = case.due_at, "respond"
    else:
        open_dues = [a.due_at for a in actions if a.done_at is None and a.due_at is not None]
        if not open_dues:
            return None
        due, what = min(open_dues), "action"
    return {"due_at": iso(due), "what": what, "overdue": due < now, "urgent": case.urgent}


def deadline_order(item: dict[str, Any]) -> tuple[int, str]:
    """Sort key for case lists: urgent cases with a clock first, then every other case with a
    clock, each by its deadline (most overdue first); cases without a clock keep their order
    after them (the sort is stable)."""
    d = item.get("deadline")
    if not d:
        return (2, "")
    moment = dt.datetime.fromisoformat(d["due_at"]).astimezone(dt.UTC).isoformat()
    return (0 if item.get("urgent") else 1, moment)


def _actions(session: Session, case_id: int) -> list[CaseAction]:
    return list(
        session.exec(
            select(CaseAction).where(CaseAction.case_id == case_id).order_by(col(CaseAction.id))
        ).all()
    )


def _grievances(session: Session, case_id: int) -> list[tuple[CaseGrievance, Grievance]]:
    rows = session.exec(
        select(CaseGrievance, Grievance)
        .join(Grievance, col(Grievance.id) == col(CaseGrievance.grievance_id))
        .where(CaseGrievance.case_id == case_id)
        .order_by(col(CaseGrievance.id))
    ).all()
    return [(link, g) for link, g in rows]


def reopened_at(session: Session, case: Case) -> dt.datetime | None:
    """When a new grievance last reopened the case (its ``reopened`` audit entry), or None."""
    return session.exec(
        select(AuditEntry.time)
        .where(AuditEntry.case_id == case.id, AuditEntry.action == "reopened")
        .order_by(col(AuditEntry.id).desc())
        .limit(1)
    ).first()


def grievance_trip(session: Session, g: Grievance, vessel_id: int) -> Trip | None:
    if g.trip_id is not None:
        return session.get(Trip, g.trip_id)
    return trip_at(session, vessel_id, g.time)


def position(g: GrievanceColumns) -> dict[str, Any] | None:
    if g.pos_lat is None or g.pos_lon is None:
        return None
    return {
        "lat": g.pos_lat,
        "lon": g.pos_lon,
        "time": iso(g.pos_time),
        "age_s": g.pos_age_s,
        "uncertainty_m": g.pos_uncertainty_m,
        "source": g.pos_source,
    }


def zawgyi_note(g: GrievanceColumns) -> dict[str, Any] | None:
    """What the vessel did with Burmese typed in Zawgyi (docs/vessel-agent.md, "Zawgyi"), for
    whoever may read the text: ``converted`` — ``text`` is the Unicode conversion and
    ``typed`` the words exactly as typed; ``unsure`` — ``text`` is as typed and ``reading`` a
    Zawgyi-to-Unicode reading of it. None when the text was sealed as typed, no note."""
    if g.zawgyi is None:
        return None
    mode = ZawgyiMode.CONVERTED if g.zawgyi == "converted" else ZawgyiMode.UNSURE
    note = Zawgyi(mode=mode, probability=g.zawgyi_p or 0, other=g.zawgyi_other or "")
    return note.describe()


def staff_grievance(
    session: Session,
    g: Grievance,
    vessel: Vessel,
    *,
    include_text: bool,
    case: Case | None = None,
) -> dict[str, Any]:
    """A grievance for staff; ``text`` only with ``include_text`` (the caller audits it)."""
    message = session.get(Message, g.message_id)
    trip = grievance_trip(session, g, vessel.id or 0)
    out: dict[str, Any] = {
        "id": g.id,
        "vessel": vessel.name,
        "seq": message.seq if message else None,
        "category": g.category,
        "category_label": category_label(g.category),
        "group": group_label(g.category),
        "urgent": g.category >> 4 == 0xF,
        "lang": g.lang,
        "kind": "voice" if g.voice_mode is not None else "text",
        "pseudonym": g.pseudonym,
        "time": iso(g.time),
        "received_at": iso(message.received_at) if message else None,
        "position": position(g),
        "trip": {"id": trip.id, "date": iso(trip.trip_date)} if trip else None,
        "lots": trip_lots(session, trip.id) if trip and trip.id else [],
        "case": case.ref if case else None,
        "case_status": case.status if case else None,
        "deadline": deadline(case, _actions(session, case.id or 0), utcnow()) if case else None,
    }
    if g.voice_mode is not None:  # a voice note: its audio is fetched on its own, audited
        out["duration_s"] = (g.voice_ms or 0) / 1000
        out["audio"] = f"/api/grievances/{g.id}/audio"
    if include_text:
        out["text"] = g.text
        out["zawgyi"] = zawgyi_note(g)
    return out


def staff_case(session: Session, case: Case, vessel: Vessel) -> dict[str, Any]:
    """Everything about a case except grievance text (fetch that per grievance, audited)."""
    now = utcnow()
    actions = _actions(session, case.id or 0)
    return {
        "ref": case.ref,
        "external_id": case.external_id,
        "vessel": vessel.name,
        "owner": vessel.owner,
        "status": case.status,
        "status_label": Status(case.status).label,
        "category": case.category,
        "category_label": category_label(case.category),
        "group": group_label(case.category),
        "urgent": case.urgent,
        "assignee": case.assignee,
        "opened_at": iso(case.opened_at),
        "updated_at": iso(case.updated_at),
        "due_at": iso(case.due_at),
        "overdue": _overdue(case, now),
        "deadline": deadline(case, actions, now),
        "acknowledged_at": iso(case.acknowledged_at),
        "reopened_at": iso(reopened_at(session, case)),
        "closed_at": iso(case.closed_at),
        "actions": [
            {
                "id": a.id,
                "kind": a.kind,
                "label": ACTION_KINDS.get(a.kind, a.kind),
                "description": a.description,
                "due_at": iso(a.due_at),
                "done_at": iso(a.done_at),
                "evidence": a.evidence,
                "created_by": a.created_by,
            }
            for a in actions
        ],
        "grievances": [
            {
                "id": g.id,
                "seq": link.ref_seq,
                "category": g.category,
                "category_label": category_label(g.category),
                "lang": g.lang,
                "time": iso(g.time),
                "joined_at": iso(link.joined_at),
                "position": position(g),
                "withdrawn": link.withdrawn_at is not None,
            }
            for link, g in _grievances(session, case.id or 0)
        ],
    }


def owner_case(session: Session, case: Case, vessel: Vessel) -> dict[str, Any]:
    """A case as a vessel owner (or buyer) may see it: allow-listed fields only."""
    now = utcnow()
    trips: dict[int, Trip] = {}
    for _link, g in _grievances(session, case.id or 0):
        trip = grievance_trip(session, g, vessel.id or 0)
        if trip is not None and trip.id is not None:
            trips[trip.id] = trip
    lots = sorted({lot["epc_class"] for tid in trips for lot in trip_lots(session, tid)})
    actions = _actions(session, case.id or 0)
    out = {
        "ref": case.ref,
        "vessel": vessel.name,
        "group": group_label(case.category),
        "group_code": f"{case.category >> 4:X}",
        "urgent": case.urgent,
        "status": case.status,
        "status_label": Status(case.status).label,
        "opened_at": iso(case.opened_at),
        "updated_at": iso(case.updated_at),
        "due_at": iso(case.due_at),
        "overdue": _overdue(case, now),
        "deadline": deadline(case, actions, now),
        "reopened_at": iso(reopened_at(session, case)),
        "closed_at": iso(case.closed_at),
        "actions": [
            {
                "kind": a.kind,
                "label": ACTION_KINDS.get(a.kind, a.kind),
                "due_at": iso(a.due_at),
                "done_at": iso(a.done_at),
                "overdue": a.done_at is None and a.due_at is not None and a.due_at < now,
            }
            for a in actions
        ],
        "trips": sorted(iso(t.trip_date) or "" for t in trips.values()),
        "lots": lots,
    }
    assert set(out) <= OWNER_CASE_KEYS
    return out


def terminal_health(
    session: Session,
    vessel: Vessel,
    now: dt.datetime | None = None,
    *,
    silence_after_s: float | None = None,
) -> dict[str, Any]:
    """Link health of a vessel's terminal: last contact, queue depth, silence, open alerts.

    A terminal is ``silent`` when it has a open ``silence`` alert (shore_gateway/silence.py)
    or has not been heard from for ``silence_after_s`` (the gateway's threshold; default
    :data:`shore_gateway.silence.SILENCE_AFTER_S`), so the page is right even between two
    passes of the background check. ``silent_since`` is the last contact then.
    """
    from shore_gateway.silence import SILENCE_AFTER_S

    now = now or utcnow()
    after_h = (silence_after_s if silence_after_s is not None else SILENCE_AFTER_S) / 3600
    state = session.get(DeviceState, vessel.id)
    last = state.last_contact if state else None
    if last is None and vessel.imei:
        last = session.exec(
            select(RawFrame.received_at)
            .where(RawFrame.imei == vessel.imei)
            .order_by(col(RawFrame.received_at).desc())
            .limit(1)
        ).first()
    alerts = session.exec(
        select(Alert).where(Alert.vessel_id == vessel.id, col(Alert.resolved_at).is_(None))
    ).all()
    silent_h = (now - last).total_seconds() / 3600 if last else None
    silenced = any(a.kind == AlertKind.SILENCE for a in alerts)
    if last is None:
        health = "silent" if silenced else "never"
    elif silenced or (silent_h is not None and silent_h > after_h):
        health = "silent"
    elif alerts:
        health = "degraded"
    else:
        health = "ok"
    return {
        "vessel": vessel.name,
        "last_contact": iso(last),
        "silent_hours": round(silent_h, 1) if silent_h is not None else None,
        "silent_since": iso(last) if health == "silent" else None,
        "queue_depth": state.queue_depth if state else None,
        "health": health,
        "missing_since": iso(
            min((a.created_at for a in alerts if a.kind == AlertKind.GAP), default=None)
        ),
        "alerts": [{"kind": a.kind, "since": iso(a.created_at)} for a in alerts],
    }


def connector_case(
    session: Session,
    case: Case,
    vessel: Vessel,
    grievance: Grievance | None,
    *,
    share_text: bool,
    actions: list[CaseAction] | None = None,
    seq: int | None = None,
) -> dict[str, Any]:
    """The JSON a case-management connector receives for a case (and the grievance that
    opened or joined it, when there is one). ``actions`` (the case's, in id order) and ``seq``
    (the grievance's message seq) save the lookups when the caller already has them.

    Made of :func:`connector_case_fields`, :func:`connector_vessel` and
    :func:`connector_grievance`, which the intake calls itself (each case and vessel once a
    batch)."""
    if actions is None:
        actions = _actions(session, case.id or 0)
    out = connector_case_fields(case, actions)
    out["vessel"] = connector_vessel(vessel)
    if grievance is not None:
        if seq is None:
            message = session.get(Message, grievance.message_id)
            seq = message.seq if message else None
        out["grievance"] = connector_grievance(grievance, seq, share_text=share_text)
        out["grievance_id"] = grievance.id
    return out


def connector_case_fields(case: Case, actions: list[CaseAction]) -> dict[str, Any]:
    """The case's own part of :func:`connector_case` (``actions``: the case's, in id order)."""
    return {
        "case_ref": case.ref,
        "case_id": case.external_id,
        "status": case.status,
        "category": case.category,
        "category_label": category_label(case.category),
        "urgent": case.urgent,
        "opened_at": iso(case.opened_at),
        "updated_at": iso(case.updated_at),
        "due_at": iso(case.due_at),
        "actions": [
            {"kind": a.kind, "due_at": iso(a.due_at), "done_at": iso(a.done_at)} for a in actions
        ],
    }


def connector_vessel(vessel: VesselColumns) -> dict[str, Any]:
    """The vessel's part of :func:`connector_case`."""
    return {
        "name": vessel.name,
        "imo": vessel.imo,
        "ircs": vessel.ircs,
        "flag": vessel.flag,
        "owner": vessel.owner,
    }


def connector_grievance(
    grievance: GrievanceColumns, seq: int | None, *, share_text: bool
) -> dict[str, Any]:
    """The grievance's part of :func:`connector_case` (its words only with ``share_text``)."""
    g: dict[str, Any] = {
        "id": grievance.id,
        "seq": seq,
        "category": grievance.category,
        "lang": grievance.lang,
        "kind": "voice" if grievance.voice_mode is not None else "text",
        "time": iso(grievance.time),
        "position": position(grievance),
    }
    if grievance.voice_mode is not None:  # the audio stays ashore: fetched by staff, audited
        g["duration_s"] = (grievance.voice_ms or 0) / 1000
        g["audio"] = f"/api/grievances/{grievance.id}/audio"
    if share_text:
        g["text"] = grievance.text
        g["zawgyi"] = zawgyi_note(grievance)
        g["pseudonym"] = grievance.pseudonym
    return g


def overdue_cases(session: Session, now: dt.datetime | None = None) -> list[tuple[Case, Vessel]]:
    """Open cases whose response clock has run out (unacknowledged past ``due_at``), the
    most overdue first — what ``/metrics`` counts and every staff page flags when urgent."""
    now = now or utcnow()
    rows = session.exec(
        select(Case, Vessel)
        .join(Vessel, col(Vessel.id) == col(Case.vessel_id))
        .where(
            col(Case.acknowledged_at).is_(None),
            col(Case.due_at) < now,
            col(Case.status).not_in([s.value for s in TERMINAL]),
        )
        .order_by(col(Case.due_at))
    ).all()
    return [(c, v) for c, v in rows]


def alarm(session: Session, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The overdue urgent cases every staff page shows above everything else."""
    return [
        {
            "ref": c.ref,
            "vessel": v.name,
            "category_label": category_label(c.category),
            "due_at": iso(c.due_at),
        }
        for c, v in overdue_cases(session, now)
        if c.urgent
    ][:5]
