"""The staff case page: the crew's words, position, catch lots and timeline together, and the
actions staff take — named for what they do, confirmed when they close or withdraw, each
answered by a result message.

Every grievance text the page shows is one ``view_text`` audit entry per page view (withdrawn
grievances are not shown, so not logged). Buttons post the *target state*; the words on them
come from :data:`VERBS` (what the person does), never the state's name.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from shore_gateway.cases import desk, regroup, views
from shore_gateway.cases.api import grievance_rows
from shore_gateway.cases.models import AuditEntry, Case
from shore_gateway.cases.workflow import (
    ACTION_KINDS,
    NOTES,
    TRANSITIONS,
    CaseError,
    Status,
    UnknownCase,
    parse_status,
)
from shore_gateway.models import Vessel
from shore_gateway.params import RowId
from shore_gateway.web.auth import StaffPost, WebStaff
from shore_gateway.web.render import page

router = APIRouter(include_in_schema=False)
S = Status

#: The button for moving a case to a state, by the state it is in now (default: ``None`` key).
VERBS: dict[Status, dict[Status | None, str]] = {
    S.ACKNOWLEDGED: {None: "Acknowledge"},
    S.INVESTIGATING: {
        None: "Start investigation",
        S.CLOSED: "Reopen investigation",
        S.WITHDRAWN: "Reopen investigation",
        S.REFERRED: "Resume investigation",
    },
    S.REMEDIATION_IN_PROGRESS: {None: "Start remediation", S.REMEDIATED: "Resume remediation"},
    S.REMEDIATED: {None: "Record remediation"},
    S.REFERRED: {None: "Refer to another organisation"},
    S.CLOSED: {None: "Close case"},
    S.WITHDRAWN: {None: "Withdraw case"},
}
#: Moves that end the work on a case: they need a confirmation.
CONFIRM = frozenset({S.CLOSED, S.WITHDRAWN})
#: What the result message says after each move.
DONE: dict[str, str] = {
    "acknowledged": "Acknowledged. The crew member's receipt will say so at the next contact.",
    "investigating": "Investigation started.",
    "remediation_in_progress": "Remediation under way.",
    "remediated": "Remediation recorded. Close the case once it has held.",
    "referred": "Referred to another organisation.",
    "closed": "Case closed.",
    "withdrawn": "Case withdrawn.",
    "ack_new": "New grievance acknowledged; the response clock has stopped.",
    "assigned": "Assignee saved.",
    "action_added": "Remediation action added.",
    "action_done": "Action marked done.",
    "asked": "Question sealed and queued: it reaches the crew member at the vessel's next contact.",
    "merged": "Cases merged: every grievance and action is now on this case.",
    "split": "Grievances split off into this new case.",
}
#: Timeline sentences for audit actions (``{actor}`` and the entry's detail fields).
TIMELINE: dict[str, str] = {
    "opened": "Case opened by grievance #{grievance}",
    "joined": "Grievance #{grievance} joined the case",
    "reopened": "Reopened by grievance #{grievance}: {before} → {after}",
    "transition": "{actor}: {before} → {after}",
    "acknowledged": "{actor} acknowledged the new grievance",
    "assign": "{actor} assigned the case to {after}",
    "action_add": "{actor} added an action: {kind}",
    "action_done": "{actor} marked an action done",
    "withdrawn": "The crew member withdrew grievance #{grievance}",
    "merged": "{actor} merged case {source} into this one",
    "merged_into": "{actor} merged this case into {into}",
    "split": "{actor} split grievances off into {to}",
    "split_from": "{actor} split this case off {source}",
    "view_text": "{actor} read the crew's words (grievance #{grievance})",
    "export": "{actor} exported cases",
    "message_sent": "{actor} asked the crew member a question",
    "crew_answer": "The crew member answered",
    "view_conversation": "{actor} read the conversation with the crew",
}


def verb(current: Status, target: Status) -> str:
    names = VERBS[target]
    return names.get(current, names[None])


def _db(request: Request) -> Any:
    return request.app.state.db


def timeline(entries: list[AuditEntry]) -> list[dict[str, Any]]:
    """Audit entries as sentences for people, oldest first."""
    out = []
    for e in entries:
        detail = json.loads(e.detail or "{}")
        fields = {
            k: (str(v).replace("_", " ") if v is not None else "nobody") for k, v in detail.items()
        }
        fields.update(actor=e.actor, grievance=str(e.grievance_id or "?"))
        if e.action == "assign" and not detail.get("after"):
            text = f"{e.actor} removed the assignee"
        elif e.action == "view_text" and str(detail.get("via", "")).endswith("audio"):
            text = f"{e.actor} listened to the crew's voice note (grievance #{fields['grievance']})"
        else:
            try:
                text = TIMELINE.get(e.action, "{actor}: " + e.action).format(**fields)
            except (KeyError, IndexError):
                text = f"{e.actor}: {e.action.replace('_', ' ')}"
        out.append(
            {
                "time": views.iso(e.time),
                "text": text,
                "event": e.action not in ("view_text", "view_conversation"),
                "action": e.action,
            }
        )
    return out


@router.get("/cases/{ref}")
def case_page(
    request: Request,
    ref: str,
    user: WebStaff,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    return _render(request, ref, user, flash=DONE.get(done or ""))


def _render(
    request: Request,
    ref: str,
    user: Any,
    *,
    flash: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    with _db(request).session() as session:
        try:
            case = desk.get_case(session, ref)
        except CaseError:
            raise HTTPException(404, f"no case {ref}") from None
        vessel = session.get(Vessel, case.vessel_id)
        assert vessel is not None
        item = views.staff_case(session, case, vessel)
        words = _words(session, user.user.name, item)
        from shore_gateway.web import conversation_page  # its own part of the page

        convo = conversation_page.context(session, case, user.user.name)
        trail = session.exec(
            select(AuditEntry).where(AuditEntry.case_id == case.id).order_by(col(AuditEntry.id))
        ).all()
        others = session.exec(
            select(Case)
            .where(
                Case.vessel_id == case.vessel_id,
                Case.id != case.id,
                col(Case.status).not_in([S.CLOSED.value, S.WITHDRAWN.value]),
            )
            .order_by(col(Case.id))
        ).all()
        merge_targets = [{"ref": c.ref, "label": Status(c.status).label} for c in others]
    current = Status(item["status"])
    nexts = [
        {"to": s.value, "verb": verb(current, s), "confirm": s in CONFIRM}
        for s in sorted(TRANSITIONS[current], key=list(Status).index)
    ]
    reack = (
        current != S.NEW
        and item["acknowledged_at"] is None
        and item["deadline"]
        and (item["deadline"]["what"] == "respond")
    )
    return page(
        request,
        "case.html",
        status_code=status_code,
        me=user,
        c=item,
        words=words,
        timeline=timeline(list(trail)),
        nexts=nexts,
        reack=reack,
        notes=NOTES,
        action_kinds=ACTION_KINDS,
        merge_targets=merge_targets,
        flash=flash,
        error=error,
        convo=convo,
    )


def _words(session: Session, actor: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    """Each grievance of the case with its text — audited once per grievance shown."""
    out = []
    for g in item["grievances"]:
        rows = grievance_rows(session, grievance_id=g["id"], limit=1)
        if not rows:
            continue
        grievance, vessel, case = rows[0]
        show = not g["withdrawn"]
        full = views.staff_grievance(session, grievance, vessel, include_text=show, case=case)
        if show and grievance.voice_mode is None:  # a voice note is audited when played
            desk.record_text_view(session, actor, grievance, via="web case")
        out.append({**full, "withdrawn": g["withdrawn"], "joined_at": g["joined_at"]})
    return out


def _change(
    request: Request, ref: str, user: Any, fn: Callable[[Session, Case], Any], done: str
) -> Response:
    with _db(request).session() as session:
        try:
            result = fn(session, desk.get_case(session, ref))
        except UnknownCase:
            raise HTTPException(404, f"no case {ref}") from None
        except CaseError as exc:
            session.rollback()
            error = str(exc)
        else:
            target = result.ref if isinstance(result, Case) else ref
            return RedirectResponse(f"/cases/{target}?done={done}", 303)
    return _render(request, ref, user, error=error, status_code=409)


@router.post("/cases/{ref}/transition")
def case_transition(
    request: Request,
    ref: str,
    user: StaffPost,
    status: Annotated[str, Form(max_length=32)],
    note: Annotated[int, Form(ge=0, le=0xFFFF)] = 0,
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    try:
        target = parse_status(status)
    except CaseError as exc:
        raise HTTPException(400, str(exc)) from None
    if target in CONFIRM and confirm != "yes":
        return _render(
            request,
            ref,
            user,
            status_code=400,
            error=f"Nothing changed: tick the box to confirm “{verb(S.NEW, target)}”.",
        )
    return _change(
        request,
        ref,
        user,
        lambda s, c: desk.transition(s, c, target, actor=user.user.name, note=note),
        target.value,
    )


@router.post("/cases/{ref}/acknowledge")
def case_acknowledge(
    request: Request,
    ref: str,
    user: StaffPost,
    note: Annotated[int, Form(ge=0, le=0xFFFF)] = 1,
) -> Response:
    """Stop the response clock of a reopened case (a new case: the Acknowledge move)."""
    return _change(
        request,
        ref,
        user,
        lambda s, c: desk.acknowledge(s, c, actor=user.user.name, note=note),
        "ack_new",
    )


@router.post("/cases/{ref}/assign")
def case_assign(
    request: Request,
    ref: str,
    user: StaffPost,
    assignee: Annotated[str, Form(max_length=120)] = "",
) -> Response:
    return _change(
        request,
        ref,
        user,
        lambda s, c: desk.assign(s, c, assignee, actor=user.user.name),
        "assigned",
    )


@router.post("/cases/{ref}/actions")
def case_action(
    request: Request,
    ref: str,
    user: StaffPost,
    kind: Annotated[str, Form(max_length=32)],
    description: Annotated[str, Form(max_length=4000)] = "",
    due: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        due_at = dt.datetime.fromisoformat(due).replace(tzinfo=dt.UTC) if due else None
    except ValueError:
        raise HTTPException(400, "due: use YYYY-MM-DD") from None
    return _change(
        request,
        ref,
        user,
        lambda s, c: desk.add_action(
            s, c, kind, actor=user.user.name, description=description, due=due_at
        ),
        "action_added",
    )


@router.post("/cases/{ref}/actions/{action_id}/done")
def case_action_done(
    request: Request,
    ref: str,
    action_id: RowId,
    user: StaffPost,
    evidence: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    return _change(
        request,
        ref,
        user,
        lambda s, c: desk.complete_action(s, c, action_id, actor=user.user.name, evidence=evidence),
        "action_done",
    )


@router.post("/cases/{ref}/merge")
def case_merge(
    request: Request,
    ref: str,
    user: StaffPost,
    into: Annotated[str, Form(max_length=16)],
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Merge this case into ``into`` (same vessel); this one closes. Needs confirmation."""
    if confirm != "yes":
        return _render(
            request,
            ref,
            user,
            status_code=400,
            error="Nothing changed: tick the box to confirm the merge.",
        )

    def work(session: Session, case: Case) -> Case:
        return regroup.merge(session, case, desk.get_case(session, into), actor=user.user.name)

    return _change(request, ref, user, work, "merged")


@router.post("/cases/{ref}/split")
def case_split(
    request: Request,
    ref: str,
    user: StaffPost,
    grievance: Annotated[list[int], Form(max_length=100)],
) -> Response:
    """Split the ticked grievances off into a new case (redirects to it)."""
    return _change(
        request,
        ref,
        user,
        lambda s, c: regroup.split(s, c, grievance, actor=user.user.name),
        "split",
    )
