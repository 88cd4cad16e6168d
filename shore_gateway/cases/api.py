"""REST API of the case desk (Bearer tokens; CONTRACTS.md gateway HTTP).

- ``GET /api/cases``, ``GET /api/cases.csv``, ``GET /api/cases/{ref}``: any user; owners and
  buyers only their vessels' cases, in the owner view.
- ``POST /api/cases/{ref}/transition``, ``/acknowledge``, ``/assign``, ``/actions``,
  ``/actions/{id}/done``, ``/merge``, ``/split``, ``GET /api/cases/{ref}/audit``: staff.
- ``GET /api/grievances/{id}/audio``: staff; a voice note as ``audio/wav``, audited like text.
- ``GET /api/grievances``, ``GET /api/grievances/{id}``: staff. The list carries no crew text
  unless asked for (``?include=text``); every text returned is one ``view_text`` audit entry,
  so polling the list (the demo, monitors) opens nothing and logs nothing.

A case an owner may not see answers 404, exactly like a case that does not exist.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from protocol.errors import Malformed
from shore_gateway.cases import desk, regroup, views
from shore_gateway.cases.models import AuditEntry, Case, CaseGrievance
from shore_gateway.cases.workflow import (
    BadRequest,
    BadTransition,
    Status,
    UnknownCase,
    parse_status,
)
from shore_gateway.models import Grievance, Role, User, Vessel
from shore_gateway.params import RowId
from shore_gateway.registry import AnyUser, Staff, vessels_for
from shore_gateway.voice import stored_wav

router = APIRouter(tags=["cases"])
T = TypeVar("T")

STAFF_ROLES = frozenset({Role.STAFF, Role.ADMIN})
OWNER_CSV_COLUMNS = (
    "ref",
    "vessel",
    "group",
    "urgent",
    "status",
    "opened_at",
    "updated_at",
    "due_at",
    "closed_at",
)
STAFF_CSV_COLUMNS = (
    "ref",
    "vessel",
    "owner",
    "category",
    "category_label",
    "urgent",
    "status",
    "assignee",
    "opened_at",
    "updated_at",
    "due_at",
    "overdue",
    "closed_at",
)


class TransitionIn(BaseModel):
    status: str
    note: int = Field(default=0, ge=0, le=0xFFFF)


class AssignIn(BaseModel):
    assignee: str | None = Field(default=None, max_length=120)


class ActionIn(BaseModel):
    kind: str = Field(max_length=32)
    description: str = Field(default="", max_length=4000)
    due_at: dt.datetime | None = None


class DoneIn(BaseModel):
    evidence: str = Field(default="", max_length=4000)


class MergeIn(BaseModel):
    into: str = Field(max_length=16)


class SplitIn(BaseModel):
    grievances: list[int] = Field(min_length=1, max_length=100)


class AcknowledgeIn(BaseModel):
    note: int = Field(default=1, ge=0, le=0xFFFF)


@contextmanager
def _session(request: Request) -> Iterator[Session]:
    with request.app.state.db.session() as session:
        try:
            yield session
        except UnknownCase as exc:
            raise HTTPException(404, str(exc)) from None
        except (BadTransition, BadRequest) as exc:
            raise HTTPException(409 if isinstance(exc, BadTransition) else 400, str(exc)) from None


def is_staff(user: User) -> bool:
    return user.role in STAFF_ROLES


def visible_cases(
    session: Session,
    user: User,
    *,
    status: str | None = None,
    vessel: str | None = None,
    urgent: bool | None = None,
    q: str | None = None,
    open_only: bool = False,
    limit: int = 500,
) -> list[tuple[Case, Vessel]]:
    """Cases the user may see, newest first, urgent and open first; filters narrow them.

    Owners and buyers are confined to their vessels *before* any filter applies, so no
    filter value can widen what they see.
    """
    stmt = select(Case, Vessel).join(Vessel, col(Vessel.id) == col(Case.vessel_id))
    if not is_staff(user):
        allowed = [v.id for v in vessels_for(session, user)]
        stmt = stmt.where(col(Case.vessel_id).in_(allowed))
    if status:
        stmt = stmt.where(Case.status == parse_status(status).value)
    if open_only:
        stmt = stmt.where(col(Case.status).not_in([Status.CLOSED.value, Status.WITHDRAWN.value]))
    if vessel:
        stmt = stmt.where(Vessel.name == vessel)
    if urgent is not None:
        stmt = stmt.where(Case.urgent == urgent)
    if q:
        stmt = stmt.where(col(Case.ref).contains(q.strip().upper()))
    stmt = stmt.order_by(col(Case.urgent).desc(), col(Case.opened_at).desc()).limit(limit)
    return [(c, v) for c, v in session.exec(stmt).all()]


def case_for(session: Session, user: User, ref: str) -> tuple[Case, Vessel]:
    """The case by ref if the user may see it. Raises :class:`UnknownCase` (→ 404) otherwise."""
    case = desk.get_case(session, ref)
    vessel = session.get(Vessel, case.vessel_id)
    assert vessel is not None
    if not is_staff(user) and vessel.id not in {v.id for v in vessels_for(session, user)}:
        raise UnknownCase(f"no case {ref!r}")
    return case, vessel


def render_case(session: Session, user: User, case: Case, vessel: Vessel) -> dict[str, Any]:
    if is_staff(user):
        return views.staff_case(session, case, vessel)
    return views.owner_case(session, case, vessel)


def cases_csv(rows: list[dict[str, Any]], staff: bool) -> str:
    columns = STAFF_CSV_COLUMNS if staff else OWNER_CSV_COLUMNS
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Spreadsheet formula injection: a cell must not start with = + - @ (OWASP CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.get("/api/cases")
def list_cases(
    request: Request,
    user: AnyUser,
    status: str | None = None,
    vessel: str | None = None,
    urgent: bool | None = None,
    q: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    """Cases (staff: all; owners/buyers: their vessels' cases in the owner view)."""
    with _session(request) as session:
        rows = visible_cases(
            session, user, status=status, vessel=vessel, urgent=urgent, q=q, limit=limit
        )
        return [render_case(session, user, c, v) for c, v in rows]


@router.get("/api/cases.csv")
def export_cases(
    request: Request,
    user: AnyUser,
    status: str | None = None,
    vessel: str | None = None,
    urgent: bool | None = None,
) -> Response:
    """The case list as CSV, with the same visibility rules as ``GET /api/cases``."""
    with _session(request) as session:
        rows = visible_cases(session, user, status=status, vessel=vessel, urgent=urgent)
        body = cases_csv([render_case(session, user, c, v) for c, v in rows], is_staff(user))
        desk.audit(session, user.name, "export", rows=len(rows), what="cases.csv")
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="cases.csv"'},
    )


@router.get("/api/cases/{ref}")
def get_case(request: Request, ref: str, user: AnyUser) -> dict[str, Any]:
    with _session(request) as session:
        case, vessel = case_for(session, user, ref)
        return render_case(session, user, case, vessel)


def _staff_change(
    request: Request, ref: str, change: Callable[[Session, Case], T]
) -> dict[str, Any]:
    with _session(request) as session:
        case = desk.get_case(session, ref)
        change(session, case)
        vessel = session.get(Vessel, case.vessel_id)
        assert vessel is not None
        return views.staff_case(session, case, vessel)


@router.post("/api/cases/{ref}/transition")
def post_transition(request: Request, ref: str, body: TransitionIn, user: Staff) -> dict[str, Any]:
    """Move the case along the workflow (409 when the table does not allow it)."""
    return _staff_change(
        request,
        ref,
        lambda s, c: desk.transition(
            s, c, parse_status(body.status), actor=user.name, note=body.note
        ),
    )


@router.post("/api/cases/{ref}/assign")
def post_assign(request: Request, ref: str, body: AssignIn, user: Staff) -> dict[str, Any]:
    return _staff_change(
        request, ref, lambda s, c: desk.assign(s, c, body.assignee, actor=user.name)
    )


@router.post("/api/cases/{ref}/actions")
def post_action(request: Request, ref: str, body: ActionIn, user: Staff) -> dict[str, Any]:
    due = body.due_at
    if due is not None and due.tzinfo is None:
        raise HTTPException(422, "due_at: give a time zone")
    return _staff_change(
        request,
        ref,
        lambda s, c: desk.add_action(
            s, c, body.kind, actor=user.name, description=body.description, due=due
        ),
    )


@router.post("/api/cases/{ref}/actions/{action_id}/done")
def post_action_done(
    request: Request, ref: str, action_id: RowId, body: DoneIn, user: Staff
) -> dict[str, Any]:
    return _staff_change(
        request,
        ref,
        lambda s, c: desk.complete_action(s, c, action_id, actor=user.name, evidence=body.evidence),
    )


@router.post("/api/cases/{ref}/acknowledge")
def post_acknowledge(
    request: Request, ref: str, body: AcknowledgeIn, user: Staff
) -> dict[str, Any]:
    """Stop the response clock (a new case becomes acknowledged; a reopened one keeps its
    state)."""
    return _staff_change(
        request, ref, lambda s, c: desk.acknowledge(s, c, actor=user.name, note=body.note)
    )


@router.post("/api/cases/{ref}/merge")
def post_merge(request: Request, ref: str, body: MergeIn, user: Staff) -> dict[str, Any]:
    """Merge this case into ``into`` (same vessel; this one closes) → the merged case."""
    with _session(request) as session:
        target = regroup.merge(
            session,
            desk.get_case(session, ref),
            desk.get_case(session, body.into),
            actor=user.name,
        )
        vessel = session.get(Vessel, target.vessel_id)
        assert vessel is not None
        return views.staff_case(session, target, vessel)


@router.post("/api/cases/{ref}/split")
def post_split(request: Request, ref: str, body: SplitIn, user: Staff) -> dict[str, Any]:
    """Split these grievances off into a new case → the new case."""
    with _session(request) as session:
        new = regroup.split(session, desk.get_case(session, ref), body.grievances, actor=user.name)
        vessel = session.get(Vessel, new.vessel_id)
        assert vessel is not None
        return views.staff_case(session, new, vessel)


@router.get("/api/cases/{ref}/audit")
def get_audit(request: Request, ref: str, _user: Staff) -> list[dict[str, Any]]:
    """The case's audit trail, oldest first (who, what, when)."""
    with _session(request) as session:
        case = desk.get_case(session, ref)
        entries = session.exec(
            select(AuditEntry).where(AuditEntry.case_id == case.id).order_by(col(AuditEntry.id))
        ).all()
        return [audit_json(e) for e in entries]


def audit_json(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "time": views.iso(e.time),
        "actor": e.actor,
        "action": e.action,
        "grievance_id": e.grievance_id,
        "detail": json.loads(e.detail),
    }


def grievance_rows(
    session: Session,
    *,
    vessel: str | None = None,
    urgent: bool | None = None,
    lang: str | None = None,
    category: int | None = None,
    since: dt.datetime | None = None,
    grievance_id: int | None = None,
    limit: int = 200,
) -> list[tuple[Grievance, Vessel, Case | None]]:
    """Grievances for staff: urgent first, then newest first, with vessel and case."""
    from shore_gateway.models import Message

    stmt = (
        select(Grievance, Vessel, Case)
        .join(Message, col(Message.id) == col(Grievance.message_id))
        .join(Vessel, col(Vessel.id) == col(Message.vessel_id))
        .outerjoin(CaseGrievance, col(CaseGrievance.grievance_id) == col(Grievance.id))
        .outerjoin(Case, col(Case.id) == col(CaseGrievance.case_id))
    )
    if grievance_id is not None:
        stmt = stmt.where(Grievance.id == grievance_id)
    if vessel:
        stmt = stmt.where(Vessel.name == vessel)
    if urgent is not None:
        cond = col(Grievance.category) >= 0xF0
        stmt = stmt.where(cond if urgent else ~cond)
    if lang:
        stmt = stmt.where(Grievance.lang == lang)
    if category is not None:
        stmt = stmt.where(Grievance.category == category)
    if since is not None:
        stmt = stmt.where(col(Grievance.time) >= since)
    stmt = stmt.order_by(
        (col(Grievance.category) >= 0xF0).desc(), col(Grievance.time).desc()
    ).limit(limit)
    return [(g, v, c) for g, v, c in session.exec(stmt).all()]


@router.get("/api/grievances")
def list_grievances(
    request: Request,
    user: Staff,
    vessel: str | None = None,
    urgent: bool | None = None,
    lang: Annotated[str | None, Query(max_length=8)] = None,
    category: Annotated[int | None, Query(ge=0, le=255)] = None,
    since: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    include: Annotated[str | None, Query(pattern="^text$")] = None,
) -> list[dict[str, Any]]:
    """Grievances, urgent first (staff). No crew text unless ``include=text``; then each text
    returned is one ``view_text`` audit entry (a list without text logs nothing)."""
    if since is not None and since.tzinfo is None:
        raise HTTPException(422, "since: give a time zone")
    with_text = include == "text"
    with _session(request) as session:
        rows = grievance_rows(
            session,
            vessel=vessel,
            urgent=urgent,
            lang=lang,
            category=category,
            since=since,
            limit=limit,
        )
        out = []
        for g, v, c in rows:
            out.append(views.staff_grievance(session, g, v, include_text=with_text, case=c))
            if with_text and g.voice_mode is None:
                desk.record_text_view(session, user.name, g, via="api")
        return out


@router.get("/api/grievances/{grievance_id}")
def get_grievance(request: Request, grievance_id: RowId, user: Staff) -> dict[str, Any]:
    with _session(request) as session:
        rows = grievance_rows(session, grievance_id=grievance_id, limit=1)
        if not rows:
            raise HTTPException(404, f"no grievance {grievance_id}")
        g, v, c = rows[0]
        if g.voice_mode is None:  # a voice note's words are in its audio, audited there
            desk.record_text_view(session, user.name, g, via="api")
        return views.staff_grievance(session, g, v, include_text=True, case=c)


@router.get("/api/grievances/{grievance_id}/audio", response_class=Response)
def get_grievance_audio(request: Request, grievance_id: RowId, user: Staff) -> Response:
    """A voice note's audio as ``audio/wav`` (staff), decoded now and never stored decoded;
    each listening is one ``view_text`` audit entry, like reading a text."""
    with _session(request) as session:
        return voice_audio(session, request, user.name, grievance_id, via="api")


def voice_audio(
    session: Session, request: Request, actor: str, grievance_id: int, *, via: str
) -> Response:
    """The WAV of a voice grievance, audited once per listening: a browser that asks for the
    rest of a file it is already playing (``Range: bytes=N-``, N > 0) is not a new listening."""
    g = session.get(Grievance, grievance_id)
    if g is None:
        raise HTTPException(404, f"no grievance {grievance_id}")
    if g.voice is None or g.voice_mode is None or g.voice_ms is None:
        raise HTTPException(404, f"grievance {grievance_id} is written, not spoken: no audio")
    try:
        data = stored_wav(g.voice, g.voice_mode, g.voice_ms)
    except Malformed as exc:
        raise HTTPException(500, f"the stored voice note is damaged ({exc})") from None
    ranged = request.headers.get("range", "").replace(" ", "")
    if not ranged or ranged.startswith("bytes=0-"):
        desk.record_text_view(session, actor, g, via=f"{via}-audio")
    return Response(data, media_type="audio/wav", headers={"Cache-Control": "no-store"})
