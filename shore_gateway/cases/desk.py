"""The built-in case desk: the pipeline's hooks and every case change.

Hooks the pipeline calls **inside its own transaction** (the one that inserted the message and
grievance rows), so a case, its audit entry, its connector outbox rows and its crew downlink are
committed together with the grievance or not at all::

    on_grievance(session: Session, grievance: Grievance, vessel: Vessel) -> Case
        A new grievance (``grievance.id`` set, i.e. flushed) opens a case, or joins the case of
        the same vessel and category opened within ``join_window_days`` — and when that case
        was *remediated* or *closed* (within the window), **reopens** it: back to remediation
        in progress / investigating, with a fresh response clock and a ``reopened`` audit entry
        (docs/cases.md, "Cases follow the people"). A withdrawn or merged-away case is never
        reopened: the grievance opens a new case linked to it. Idempotent: calling it again for
        the same grievance returns its case and changes nothing.
    intake.on_grievances(session, [grievance id, …]) -> [Case, …]
        The same for a batch's grievances at once, in order, in a few statements per batch
        (:mod:`shore_gateway.cases.intake`; what the pipeline calls, with the ids of the
        grievances it stored). ``on_grievance`` is it with one grievance (``vessel`` is the
        grievance's, which the intake reads with it).
    on_withdraw(session: Session, vessel: Vessel, ref_seq: int) -> Case | None
        The crew member withdrew the grievance sent as message ``ref_seq``. The grievance leaves
        its case; the case becomes *withdrawn* when no grievance is left in it. None when no
        grievance of that vessel has that seq (it may not have arrived: nothing to do).
    on_status_request(session: Session, vessel: Vessel, ref_seq: int) -> Case | None
        The crew member asked for the status of ``ref_seq``: queue a fresh ``CaseStatus``.

None of them commits, and none of them raises for crew input the desk does not know about
(unknown seqs are ignored); they raise only on bugs or database errors, which must roll the
pipeline's transaction back.

Every status change queues one ``downlinks`` row per grievance still in the case
(kind ``case_status``, body = ``encode_message(CaseStatus(...))``); the pipeline's downlink
sender signs and sends those.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, select

from protocol.messages import CaseStatus, encode_message
from shore_gateway.cases import views
from shore_gateway.cases.config import CaseSettings, default_settings
from shore_gateway.cases.models import (
    AuditEntry,
    Case,
    CaseAction,
    CaseGrievance,
    EarlyWithdrawal,
    OutboxEntry,
)
from shore_gateway.cases.workflow import (
    ACTION_KINDS,
    CREW_STATE,
    NOTES,
    TERMINAL,
    BadRequest,
    BadTransition,
    Status,
    UnknownCase,
    check_transition,
)
from shore_gateway.models import Downlink, Grievance, Vessel, utcnow

SYSTEM = "system"
#: Audit actions that are case events (streamed live to the dashboard); the rest are views.
EVENT_ACTIONS = frozenset(
    {
        "opened",
        "joined",
        "reopened",
        "transition",
        "acknowledged",
        "assign",
        "action_add",
        "action_done",
        "withdrawn",
        "merged",
        "split",
    }
)
# --- the pipeline's hooks ---------------------------------------------------------------


def on_grievance(
    session: Session,
    grievance: Grievance,
    vessel: Vessel,
    *,
    settings: CaseSettings | None = None,
    now: dt.datetime | None = None,
) -> Case:
    """Open or join a case for a stored grievance (see the module docstring): one grievance
    through :func:`shore_gateway.cases.intake.on_grievances`."""
    from shore_gateway.cases.intake import on_grievances  # it builds on this module

    (case,) = on_grievances(session, [_id(grievance)], settings=settings, now=now)
    return case


def acknowledge(
    session: Session,
    case: Case,
    *,
    actor: str,
    note: int = 1,
    settings: CaseSettings | None = None,
    now: dt.datetime | None = None,
) -> Case:
    """Stop the response clock. A *new* case becomes *acknowledged*; a reopened case keeps its
    state and records that its new grievance was acknowledged (the crew get ``note``)."""
    if Status(case.status) == Status.NEW:
        return transition(
            session, case, Status.ACKNOWLEDGED, actor=actor, note=note, settings=settings, now=now
        )
    if case.acknowledged_at is not None:
        return case  # already acknowledged: a second click changes nothing
    if note not in NOTES:
        raise BadRequest(f"unknown note code {note}")
    if Status(case.status) in TERMINAL:
        raise BadTransition(f"a {Status(case.status).label} case has no clock to stop")
    case.acknowledged_at = now or utcnow()
    case.updated_at = case.acknowledged_at
    session.add(case)
    session.flush()
    audit(session, actor, "acknowledged", case=case, note=note)
    _queue_downlink(session, case, _active_links(session, _id(case)), note=note)
    return case


def on_withdraw(
    session: Session,
    vessel: Vessel,
    ref_seq: int,
    *,
    settings: CaseSettings | None = None,
    now: dt.datetime | None = None,
) -> Case | None:
    """The crew member withdrew the grievance sent as ``ref_seq`` (see the module docstring)."""
    link = _link_for_seq(session, vessel, ref_seq)
    if link is None:
        # Frames may overtake each other: keep the withdrawal until its grievance arrives
        # (on_grievance applies it). A seq that never carried a grievance just stays here.
        vid = _id(vessel)
        held = select(EarlyWithdrawal).where(
            EarlyWithdrawal.vessel_id == vid, EarlyWithdrawal.ref_seq == ref_seq
        )
        if session.exec(held).first() is None:
            session.add(
                EarlyWithdrawal(vessel_id=vid, ref_seq=ref_seq, received_at=now or utcnow())
            )
            session.flush()
        return None
    case = _case_by_id(session, link.case_id)
    if link.withdrawn_at is not None:
        return case
    now = now or utcnow()
    link.withdrawn_at = now
    session.add(link)
    session.flush()
    audit(session, "crew", "withdrawn", case=case, grievance_id=link.grievance_id)
    remaining = _active_links(session, _id(case))
    if remaining or Status(case.status) in TERMINAL:
        _queue_downlink(session, case, [link], state=Status.WITHDRAWN)
        return case
    return transition(
        session,
        case,
        Status.WITHDRAWN,
        actor="crew",
        settings=settings,
        now=now,
        extra_links=[link],
    )


def on_status_request(session: Session, vessel: Vessel, ref_seq: int) -> Case | None:
    """Queue the current status of ``ref_seq`` for the crew member (None if unknown)."""
    link = _link_for_seq(session, vessel, ref_seq)
    if link is None:
        return None
    case = _case_by_id(session, link.case_id)
    state = Status.WITHDRAWN if link.withdrawn_at is not None else None
    _queue_downlink(session, case, [link], state=state)
    return case


# --- staff operations -------------------------------------------------------------------


def transition(
    session: Session,
    case: Case,
    target: Status,
    *,
    actor: str,
    note: int = 0,
    source: str | None = None,
    settings: CaseSettings | None = None,
    now: dt.datetime | None = None,
    extra_links: Iterable[CaseGrievance] = (),
) -> Case:
    """Move ``case`` to ``target`` (the transition table decides), tell everyone.

    ``source`` names the connector the change came from; it gets no echo of it.

    Raises:
        BadTransition: the workflow does not allow the move.
        BadRequest: unknown note code.
    """
    if note not in NOTES:
        raise BadRequest(f"unknown note code {note}")
    current = Status(case.status)
    if current == target:
        return case  # a redelivered update: nothing changes
    check_transition(current, target)
    settings = settings or default_settings()
    now = now or utcnow()
    case.status = target.value
    case.updated_at = now
    if target == Status.ACKNOWLEDGED and case.acknowledged_at is None:
        case.acknowledged_at = now
    if target == Status.CLOSED:
        case.closed_at = now
    elif current == Status.CLOSED:
        case.closed_at = None
    session.add(case)
    session.flush()
    entry = audit(
        session,
        actor,
        "transition",
        case=case,
        before=current.value,
        after=target.value,
        note=note,
        source=source,
    )
    links = _active_links(session, _id(case)) + list(extra_links)
    _queue_downlink(session, case, links, note=note)
    _queue_update(session, case, entry, settings, skip=source)
    return case


def assign(session: Session, case: Case, assignee: str | None, *, actor: str) -> Case:
    """Set (or clear) the case's assignee."""
    before = case.assignee
    case.assignee = (assignee or "").strip() or None
    case.updated_at = utcnow()
    session.add(case)
    session.flush()
    audit(session, actor, "assign", case=case, before=before, after=case.assignee)
    return case


def add_action(
    session: Session,
    case: Case,
    kind: str,
    *,
    actor: str,
    description: str = "",
    due: dt.datetime | None = None,
    settings: CaseSettings | None = None,
) -> CaseAction:
    """Attach a remediation action. Raises :class:`BadRequest` for an unknown kind."""
    if kind not in ACTION_KINDS:
        raise BadRequest(f"unknown action kind {kind!r} (known: {', '.join(ACTION_KINDS)})")
    action = CaseAction(
        case_id=_id(case), kind=kind, description=description, due_at=due, created_by=actor
    )
    session.add(action)
    case.updated_at = utcnow()
    session.add(case)
    session.flush()
    entry = audit(session, actor, "action_add", case=case, action_id=action.id, kind=kind)
    _queue_update(session, case, entry, settings or default_settings())
    return action


def complete_action(
    session: Session,
    case: Case,
    action_id: int,
    *,
    actor: str,
    evidence: str = "",
    settings: CaseSettings | None = None,
) -> CaseAction:
    """Mark an action done with an evidence note. Raises :class:`UnknownCase`."""
    action = session.get(CaseAction, action_id)
    if action is None or action.case_id != case.id:
        raise UnknownCase(f"case {case.ref} has no action {action_id}")
    action.done_at = utcnow()
    action.evidence = evidence
    session.add(action)
    session.flush()
    entry = audit(session, actor, "action_done", case=case, action_id=action_id)
    _queue_update(session, case, entry, settings or default_settings())
    return action


def record_text_view(session: Session, actor: str, grievance: Grievance, *, via: str) -> None:
    """Audit that ``actor`` was shown the free text of ``grievance`` (``via``: api, web…)."""
    link = session.exec(
        select(CaseGrievance).where(CaseGrievance.grievance_id == grievance.id)
    ).first()
    case = _case_by_id(session, link.case_id) if link else None
    audit(session, actor, "view_text", case=case, grievance_id=grievance.id, via=via)


def audit(
    session: Session,
    actor: str,
    action: str,
    *,
    case: Case | None = None,
    grievance_id: int | None = None,
    **detail: Any,
) -> AuditEntry:
    """Append an audit entry. ``detail`` must never carry crew free text."""
    entry = AuditEntry(**audit_row(actor, action, case=case, grievance_id=grievance_id, **detail))
    session.add(entry)
    session.flush()
    return entry


def audit_row(
    actor: str,
    action: str,
    *,
    case: Case | None = None,
    grievance_id: int | None = None,
    **detail: Any,
) -> dict[str, Any]:
    """The columns of an audit entry (:func:`audit`; the intake inserts many at once)."""
    return audit_columns(actor, action, case, grievance_id, audit_detail(detail))


def audit_detail(detail: dict[str, Any]) -> str:
    """An audit entry's ``detail`` column: the JSON of the items that are not None."""
    return json.dumps({k: v for k, v in detail.items() if v is not None}, sort_keys=True)


def audit_columns(
    actor: str, action: str, case: Case | None, grievance_id: int | None, detail: str
) -> dict[str, Any]:
    """:func:`audit_row` with its ``detail`` made (:func:`audit_detail`): the intake makes
    each distinct one once a batch."""
    return {
        "time": utcnow(),
        "actor": actor,
        "action": action,
        "case_id": case.id if case else None,
        "vessel_id": case.vessel_id if case else None,
        "grievance_id": grievance_id,
        "detail": detail,
    }


def get_case(session: Session, ref: str) -> Case:
    """The case by its ref (``C-000042``). Raises :class:`UnknownCase`."""
    case = session.exec(select(Case).where(Case.ref == ref)).first()
    if case is None:
        raise UnknownCase(f"no case {ref!r}")
    return case


def case_grievances(session: Session, case_id: int) -> list[tuple[CaseGrievance, Grievance]]:
    rows = session.exec(
        select(CaseGrievance, Grievance)
        .join(Grievance, col(Grievance.id) == col(CaseGrievance.grievance_id))
        .where(CaseGrievance.case_id == case_id)
        .order_by(col(CaseGrievance.id))
    ).all()
    return [(link, g) for link, g in rows]


# --- internals --------------------------------------------------------------------------


def _link_for_seq(session: Session, vessel: Vessel, ref_seq: int) -> CaseGrievance | None:
    return session.exec(
        select(CaseGrievance)
        .join(Case, col(Case.id) == col(CaseGrievance.case_id))
        .where(Case.vessel_id == _id(vessel), CaseGrievance.ref_seq == ref_seq)
    ).first()


def _active_links(session: Session, case_id: int) -> list[CaseGrievance]:
    return list(
        session.exec(
            select(CaseGrievance).where(
                CaseGrievance.case_id == case_id, col(CaseGrievance.withdrawn_at).is_(None)
            )
        ).all()
    )


def _case_by_id(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:  # pragma: no cover - foreign key
        raise UnknownCase(f"no case with id {case_id}")
    return case


def _queue_downlink(
    session: Session,
    case: Case,
    links: Iterable[CaseGrievance],
    *,
    note: int = 0,
    state: Status | None = None,
) -> None:
    for link in links:
        session.add(Downlink(**downlink_row(case, link.ref_seq, note=note, state=state)))
    session.flush()


def downlink_row(
    case: Case, ref_seq: int, *, note: int = 0, state: Status | None = None
) -> dict[str, Any]:
    """The crew's ``case_status`` downlink for the grievance sent as ``ref_seq``: the case's
    status (or ``state``) and ``note`` (:func:`_queue_downlink`; the intake inserts many)."""
    code = CREW_STATE[state or Status(case.status)]
    body = encode_message(
        CaseStatus(ref_seq=ref_seq, case_ref=case.ref, status=int(code), note=note)
    )
    return {"vessel_id": case.vessel_id, "kind": "case_status", "body": body}


def _queue_update(
    session: Session,
    case: Case,
    entry: AuditEntry,
    settings: CaseSettings,
    *,
    skip: str | None = None,
    message: dict[str, Any] | None = None,
    words: str | None = None,
) -> None:
    """The case as it is now, to every connector but ``skip``. ``message``: a conversation
    message that caused the update, with its ``words`` only where the connector shares text."""
    vessel = session.get(Vessel, case.vessel_id)
    assert vessel is not None
    for connector in settings.enabled():
        if connector == skip:
            continue
        payload = views.connector_case(session, case, vessel, None, share_text=False)
        if message is not None:
            shared = words is not None and _share_text(settings, connector)
            payload["message"] = {**message, "text": words} if shared else message
        queue_outbox(session, connector, "case_update", case, f"{case.ref}:{entry.id}", payload)


def crew_answered(
    session: Session, case: Case, message: dict[str, Any], words: str, settings: CaseSettings
) -> None:
    """A crew member's answer landed on ``case``: audited (without the words) and sent to the
    connectors as a case update, so a case system sees the conversation move."""
    entry = audit(session, "crew", "crew_answer", case=case, ref_seq=message.get("ref_seq"))
    _queue_update(session, case, entry, settings, message=message, words=words)


def queue_outbox(
    session: Session, connector: str, kind: str, case: Case, key: str, payload: dict[str, Any]
) -> None:
    session.add(OutboxEntry(**outbox_row(connector, kind, case, key, payload)))
    session.flush()


def outbox_row(
    connector: str, kind: str, case: Case, key: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """The columns of a connector's outbox row (:func:`queue_outbox`; the intake inserts many)."""
    return outbox_columns(connector, kind, case, key, outbox_payload(payload, key))


def outbox_payload(payload: dict[str, Any], key: str) -> str:
    """An outbox row's ``payload`` column: the JSON of ``payload`` with its idempotency key."""
    return json.dumps({**payload, "idempotency_key": key}, sort_keys=True, ensure_ascii=False)


def outbox_columns(connector: str, kind: str, case: Case, key: str, payload: str) -> dict[str, Any]:
    """:func:`outbox_row` with its ``payload`` made (:func:`outbox_payload`, or the intake's
    splicing of the same text)."""
    return {
        "connector": connector,
        "kind": kind,
        "case_id": _id(case),
        "idempotency_key": key,
        "payload": payload,
        "created_at": utcnow(),
    }


def _share_text(settings: CaseSettings, connector: str) -> bool:
    return settings.mqtt_share_text if connector == "mqtt" else settings.primero_share_text


def _id(row: Any) -> int:
    if row.id is None:
        raise BadRequest(f"{type(row).__name__} has no id yet (flush it first)")
    return int(row.id)
