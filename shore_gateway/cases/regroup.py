"""Staff put grievances where they belong: merge two cases, split grievances off into a new one.

The automatic rule (``desk.on_grievance``) groups by vessel and category within a window; people
know better — two categories about one matter (wages held *and* passports kept by the same
agent), or one case that turns out to be two. Both operations keep every grievance, every
action and the whole audit trail; they only move ``case_grievances`` (and, on merge, actions)
between cases of **one vessel**, and tell the crew members concerned their (new) case ref with
a ``CaseStatus`` downlink, like any change.

- :func:`merge`: ``source``'s grievances and actions move to ``target``; ``source`` is closed
  with a ``merged_into`` entry (a new grievance never reopens it); ``target`` takes the earlier
  response clock if ``source``'s was still running, and urgency if ``source`` was urgent.
- :func:`split`: the chosen grievances leave ``case`` for a new case of the same vessel (the
  category of the first one moved); at least one grievance must stay. The new case keeps the
  clock that was running: acknowledged if ``case`` was, otherwise due when ``case`` was due.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from sqlmodel import Session, col, select

from shore_gateway.cases import views
from shore_gateway.cases.config import CaseSettings, default_settings
from shore_gateway.cases.desk import _id, _queue_downlink, _queue_update, audit, queue_outbox
from shore_gateway.cases.models import Case, CaseAction, CaseGrievance
from shore_gateway.cases.workflow import TERMINAL, BadRequest, Status, format_ref, urgent
from shore_gateway.models import Grievance, Vessel, utcnow


def merge(
    session: Session,
    source: Case,
    target: Case,
    *,
    actor: str,
    settings: CaseSettings | None = None,
    now: dt.datetime | None = None,
) -> Case:
    """Move everything of ``source`` into ``target`` and close ``source``. Returns ``target``.

    Raises:
        BadRequest: the same case, another vessel's case, or a closed/withdrawn target.
    """
    if source.id == target.id:
        raise BadRequest("a case cannot be merged into itself")
    if source.vessel_id != target.vessel_id:
        raise BadRequest("only cases of the same vessel can be merged")
    if Status(target.status) in TERMINAL:
        raise BadRequest(f"{target.ref} is {Status(target.status).label}: merge into an open case")
    settings = settings or default_settings()
    now = now or utcnow()
    links = list(session.exec(select(CaseGrievance).where(CaseGrievance.case_id == source.id)))
    for link in links:
        link.case_id = _id(target)
        session.add(link)
    for action in session.exec(select(CaseAction).where(CaseAction.case_id == source.id)):
        action.case_id = _id(target)
        session.add(action)
    target.urgent = target.urgent or source.urgent
    if (
        source.acknowledged_at is None
        and source.due_at is not None
        and (Status(source.status) not in TERMINAL)
    ):
        target.acknowledged_at = None
        target.due_at = min(d for d in (target.due_at, source.due_at) if d is not None)
    target.updated_at = now
    source.status = Status.CLOSED.value
    source.closed_at = now
    source.updated_at = now
    session.add(target)
    session.add(source)
    session.flush()
    audit(session, actor, "merged_into", case=source, into=target.ref, grievances=len(links))
    entry = audit(session, actor, "merged", case=target, source=source.ref, grievances=len(links))
    _queue_downlink(session, target, [ln for ln in links if ln.withdrawn_at is None])
    _queue_update(session, target, entry, settings)
    return target


def split(
    session: Session,
    case: Case,
    grievance_ids: Iterable[int],
    *,
    actor: str,
    settings: CaseSettings | None = None,
    now: dt.datetime | None = None,
) -> Case:
    """Move the grievances ``grievance_ids`` of ``case`` into a new case. Returns the new case.

    Raises:
        BadRequest: none chosen, one not in the case, or all of them (nothing would stay).
    """
    wanted = set(grievance_ids)
    links = list(
        session.exec(
            select(CaseGrievance)
            .where(CaseGrievance.case_id == case.id)
            .order_by(col(CaseGrievance.id))
        )
    )
    moving = [ln for ln in links if ln.grievance_id in wanted]
    if not wanted:
        raise BadRequest("choose at least one grievance to split off")
    if len(moving) != len(wanted):
        raise BadRequest(f"case {case.ref} does not hold every grievance chosen")
    if len(moving) == len(links):
        raise BadRequest("at least one grievance must stay in the case")
    settings = settings or default_settings()
    now = now or utcnow()
    first = session.get(Grievance, moving[0].grievance_id)
    assert first is not None
    acknowledged = case.acknowledged_at is not None
    new = Case(
        ref=uuid.uuid4().hex[:16],
        vessel_id=case.vessel_id,
        category=first.category,
        urgent=urgent(first.category),
        status=(Status.ACKNOWLEDGED if acknowledged else Status.NEW).value,
        opened_at=now,
        updated_at=now,
        due_at=case.due_at,
        acknowledged_at=now if acknowledged else None,
        assignee=case.assignee,
        external_id=str(uuid.uuid4()),
    )
    session.add(new)
    session.flush()
    new.ref = format_ref(_id(new))
    session.add(new)
    for link in moving:
        link.case_id = _id(new)
        session.add(link)
    case.updated_at = now
    session.add(case)
    session.flush()
    moved = sorted(wanted)
    audit(session, actor, "split", case=case, to=new.ref, grievances=moved)
    entry = audit(session, actor, "split_from", case=new, source=case.ref, grievances=moved)
    _queue_downlink(session, new, [ln for ln in moving if ln.withdrawn_at is None])
    vessel = session.get(Vessel, new.vessel_id)
    assert vessel is not None
    for connector in settings.enabled():  # a case the connectors have not seen yet
        payload = views.connector_case(session, new, vessel, None, share_text=False)
        payload["split_from"] = case.ref
        queue_outbox(session, connector, "case_new", new, f"{new.external_id}:new", payload)
    _queue_update(session, case, entry, settings)
    return new
