"""The case desk's intake: new grievances into cases, a whole batch of them at once.

:func:`on_grievances` is the pipeline's hook (``desk.on_grievance`` is it for one grievance).
It runs **inside the pipeline's transaction**, and for each grievance, in the order given, does
exactly what the desk's rules say (docs/cases.md; the module docstring of
:mod:`shore_gateway.cases.desk`): open a case, or join the newest case of the same vessel and
category opened within ``join_window_days`` that is open, remediated or closed within the window
(never withdrawn or merged away) — *reopening* a remediated or closed one — with its audit
entry, the crew's ``case_status`` downlink and each connector's outbox row; a withdrawal that
overtook its grievance is applied once the grievance is in its case. Idempotent: a grievance
already in a case returns that case and changes nothing.

A batch costs a few set-based statements, not a few per grievance: one lookup for the
grievances by id (what their connector payloads show, their vessels, their messages' seqs,
whether one is in a case already, whether its withdrawal overtook it — plain rows: loading the
grievances and vessels as ORM objects cost more than the rest of the lookups), one for the
cases they may join and follow (with their actions, when a connector is on); one insert for
the new cases; and on PostgreSQL one statement for the new cases' refs, the links, the audit
entries, the downlinks and the outbox rows together
(:func:`shore_gateway.bulk.insert_together`: each statement costs the client about as much as
its rows). The lookups are built once per process, their lists bound as one parameter each
(:func:`shore_gateway.bulk.one_of`): a statement built, keyed and parsed anew on every batch
cost the gateway more than the database spent running it. What is the same for many rows (an
audit entry's detail, a case's or a vessel's part of a payload) is made once a batch.

Where an earlier grievance of the batch changes what a later one meets — a reopening, an early
withdrawal (after which the matter's cases are looked up again) — the rows so far are written
first and the change is made by the desk's own (per-case) code, so the order of effects is the
one-at-a-time order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, and_, bindparam, delete, func, or_
from sqlalchemy import case as when
from sqlalchemy import select as core_select
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, col, select

from shore_gateway.bulk import insert_rows, insert_together, one_of
from shore_gateway.cases import desk, views
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
    Status,
    UnknownCase,
    due_at,
    format_ref,
    urgent,
)
from shore_gateway.models import Downlink, Grievance, Message, Vessel, utcnow

#: What a new grievance moves a remediated or closed case back to (the table allows both).
REOPEN_TO: dict[Status, Status] = {
    Status.REMEDIATED: Status.REMEDIATION_IN_PROGRESS,
    Status.CLOSED: Status.INVESTIGATING,
}

_Pair = tuple[int, int]  # (vessel id, category)


@dataclass(slots=True)
class _Plan:
    """One grievance on its way into a case."""

    index: int
    grievance: Any  # its row of the lookup (:data:`_GRIEVANCES`): its columns, its vessel's
    gid: int
    seq: int
    case: Case
    joined: bool
    follows: str | None  # the ref of the earlier case a new one follows
    reopen: Status | None
    early: bool  # its withdrawal arrived first


def on_grievances(
    session: Session,
    ids: Sequence[int],
    *,
    settings: CaseSettings | None = None,
    now: dt.datetime | None = None,
) -> list[Case]:
    """Open or join a case for each stored grievance (by id), in order; their cases."""
    if not ids:
        return []
    settings = settings or default_settings()
    now = now or utcnow()
    rows, linked = _grievances(session, ids)
    pairs = {(g.vessel_id, g.category) for g in rows.values()}
    actions: dict[int, list[CaseAction]] = {}  # of the cases looked up, for the connectors
    joinable, newest = _cases_of(session, pairs, now, settings, actions)
    results: list[Case | None] = [None] * len(ids)
    placed: dict[int, Case] = {}  # grievances put in a case by this call
    segment: list[_Plan] = []
    for i, gid in enumerate(ids):
        if gid in linked or gid in placed:
            results[i] = linked.get(gid) or placed[gid]
            continue
        g = rows.get(gid)
        if g is None:
            raise UnknownCase(f"grievance {gid} has no message")
        pair = (g.vessel_id, g.category)
        case = joinable.get(pair)
        joined = case is not None
        follows = None if joined else newest.get(pair)
        if case is None:
            case = _new_case(pair, now, settings)  # inserted with its segment
            joinable[pair] = newest[pair] = case
        reopen = REOPEN_TO.get(Status(case.status)) if joined else None
        early = g.early is not None
        plan = _Plan(
            i, g, gid, g.seq, case, joined, follows.ref if follows else None, reopen, early
        )
        segment.append(plan)
        placed[gid] = case
        if reopen is not None or early:  # what follows must meet the changed case
            _write(session, segment, results, settings, now, actions)
            segment = []
        if early:  # the withdrawal may have withdrawn the case: look the matter up again
            joinable.pop(pair, None)
            again = _cases_of(session, {pair}, now, settings, actions)
            joinable.update(again[0])
            newest.update(again[1])
    _write(session, segment, results, settings, now, actions)
    assert all(c is not None for c in results)
    return results  # type: ignore[return-value]


def _write(
    session: Session,
    plans: list[_Plan],
    results: list[Case | None],
    settings: CaseSettings,
    now: dt.datetime,
    actions: dict[int, list[CaseAction]],
) -> None:
    """Write a segment: new cases (one statement, when there are any); their refs, the links,
    audit entries, downlinks and outbox rows (one statement on PostgreSQL,
    :func:`shore_gateway.bulk.insert_together`); then the reopening or early withdrawal that
    ended it (only the last plan of a segment has one). The outbox rows wait for a reopening
    (their payloads show the case reopened) or for the audit entries' ids (a Primero update's
    key)."""
    if not plans:
        return
    connection = session.connection()
    fresh = {id(p.case): p.case for p in plans if p.case.id is None}  # once each, in order
    refs = _insert_cases(session, list(fresh.values())) if fresh else []
    links = [
        {
            "case_id": p.case.id,
            "grievance_id": p.gid,
            "ref_seq": p.seq,
            "joined_at": now,
            "withdrawn_at": None,
        }
        for p in plans
    ]
    details: dict[tuple[Any, ...], str] = {}  # each distinct audit detail made once
    audit_rows = []
    for p in plans:
        action = "joined" if p.joined else "opened"
        category, urgent_ = p.grievance.category, p.case.urgent
        key = (category, urgent_, p.follows)
        detail = details.get(key)
        if detail is None:
            fields = {"category": category, "urgent": urgent_, "follows": p.follows}
            detail = details[key] = desk.audit_detail(fields)
        audit_rows.append(desk.audit_columns(desk.SYSTEM, action, p.case, p.gid, detail))
    # A reopening's status change tells every crew member in the case, the new one included.
    downlinks = [desk.downlink_row(p.case, p.seq, note=1) for p in plans if p.reopen is None]
    reopen = plans[-1].reopen
    keyed = "primero" in settings.enabled() and any(p.joined for p in plans)
    outbox = _outbox_rows(plans, {}, settings, actions) if reopen is None and not keyed else []
    parts = [(_CG, links), (_DL, downlinks), (_OB, outbox), (_AL, audit_rows)]
    updates = [(_C, refs, "id")]  # the new cases' refs
    returned = insert_together(connection, parts, returning=("grievance_id", "id"), updates=updates)
    entries = dict(returned)
    if reopen is not None:
        last = plans[-1]
        _reopen(session, last.case, reopen, last.grievance.category, last.gid, now, settings)
    if reopen is not None or keyed:
        insert_rows(connection, _OB, _outbox_rows(plans, entries, settings, actions))
    for p in plans:
        results[p.index] = p.case
        if p.early:  # the crew member's withdrawal overtook the grievance on the way
            vid = p.grievance.vessel_id
            session.execute(
                delete(EarlyWithdrawal).where(
                    col(EarlyWithdrawal.vessel_id) == vid, col(EarlyWithdrawal.ref_seq) == p.seq
                )
            )
            vessel = session.get(Vessel, vid)
            assert vessel is not None  # a foreign key of the grievance's message
            left = desk.on_withdraw(session, vessel, p.seq, settings=settings, now=now)
            results[p.index] = left or p.case


def _insert_cases(session: Session, cases: list[Case]) -> list[dict[str, Any]]:
    """Insert new cases (one statement) and give each the ref made from its id; they join the
    session as if loaded from it. Returns the rows that set their refs in the database (the
    caller's next statement does, with the segment's other rows). Core statements of a fixed
    text: the ORM's unit of work (and its insert, whose text grows with the rows) cost more."""
    connection = session.connection()
    names = [c.name for c in _C.columns if c.name != "id"]
    rows = [{n: getattr(case, n) for n in names} for case in cases]
    ids = dict(insert_rows(connection, _C, rows, returning=("external_id", "id")))
    for case in cases:
        case.id = ids[case.external_id]
        case.ref = format_ref(case.id)
    for case in cases:
        make_transient_to_detached(case)  # its columns are the row's (ref once updated)
        session.add(case)
    return [{"id": c.id, "ref": c.ref} for c in cases]


def _outbox_rows(
    plans: list[_Plan],
    entries: dict[int, int],
    settings: CaseSettings,
    actions: dict[int, list[CaseAction]],
) -> list[dict[str, Any]]:
    """Each enabled connector's outbox row for each grievance (CONTRACTS.md: MQTT gets one
    message per grievance, keyed by its id; Primero a new case, or an update of the case).
    ``actions``: the joined cases' actions, looked up with the cases (a new case has none);
    ``entries``: the audit entries' ids by grievance (a Primero update's key)."""
    connectors = settings.enabled()
    if not connectors:
        return []
    shares = [(connector, desk._share_text(settings, connector)) for connector in connectors]
    vessels: dict[int, dict[str, Any]] = {}  # each vessel's part made once
    cases: dict[int, dict[str, Any]] = {}  # and each case's
    rows: list[dict[str, Any]] = []
    for p in plans:
        case, gid, g = p.case, p.gid, p.grievance
        case_id = desk._id(case)
        fields = cases.get(case_id)
        if fields is None:
            fields = cases[case_id] = views.connector_case_fields(case, actions.get(case_id, []))
            vessel = vessels.get(g.vessel_id)
            if vessel is None:
                vessel = vessels[g.vessel_id] = views.connector_vessel(g)
            fields["vessel"] = vessel
        fields = {**fields, "grievance_id": gid, "joined": p.joined}
        for connector, share_text in shares:
            payload = {
                **fields,
                "grievance": views.connector_grievance(g, p.seq, share_text=share_text),
            }
            if connector == "mqtt":
                kind, key = "case_new", str(gid)
            elif p.joined:
                kind, key = "case_update", f"{case.ref}:{entries[gid]}"
            else:
                kind, key = "case_new", f"{case.external_id}:new"
            text = desk.outbox_payload(payload, key)
            rows.append(desk.outbox_columns(connector, kind, case, key, text))
    return rows


def _reopen(
    session: Session,
    case: Case,
    target: Status,
    category: int,
    grievance_id: int,
    now: dt.datetime,
    settings: CaseSettings,
) -> None:
    """A new grievance on a remediated or closed case: the remediation did not hold. Back to
    ``target``, a fresh response clock (someone must acknowledge the new grievance), and a
    ``reopened`` entry the pages flag."""
    before = case.status
    # Note 1, "We have your report.": true for the sender and news for the others (one
    # downlink each: satellite airtime is dear).
    desk.transition(session, case, target, actor=desk.SYSTEM, note=1, settings=settings, now=now)
    case.acknowledged_at = None
    case.due_at = due_at(category, now, settings.clock_scale)
    case.closed_at = None
    session.add(case)
    session.flush()
    desk.audit(
        session,
        desk.SYSTEM,
        "reopened",
        case=case,
        grievance_id=grievance_id,
        before=before,
        after=target.value,
    )


_C: Any = Case.__table__  # type: ignore[attr-defined]
_G: Any = Grievance.__table__  # type: ignore[attr-defined]
_M: Any = Message.__table__  # type: ignore[attr-defined]
_V: Any = Vessel.__table__  # type: ignore[attr-defined]
_CG: Any = CaseGrievance.__table__  # type: ignore[attr-defined]
_EW: Any = EarlyWithdrawal.__table__  # type: ignore[attr-defined]
_AL: Any = AuditEntry.__table__  # type: ignore[attr-defined]
_DL: Any = Downlink.__table__  # type: ignore[attr-defined]
_OB: Any = OutboxEntry.__table__  # type: ignore[attr-defined]


# The intake's lookups are built once, with their lists and times as parameters: building and
# keying a statement on every batch cost more client time than running it.

_GRIEVANCE_COLUMNS = (
    *("id", "category", "lang", "text", "pseudonym", "zawgyi", "zawgyi_p", "zawgyi_other"),
    *("voice_mode", "voice_ms", "time", "pos_lat", "pos_lon", "pos_time", "pos_age_s"),
    *("pos_uncertainty_m", "pos_source"),
)
#: Each grievance with what the desk needs of it: the columns its connector payloads show
#: (:class:`views.GrievanceColumns`), its message's vessel and seq, its vessel's columns the
#: payloads show (:class:`views.VesselColumns`), its case if it is in one (``linked``) and
#: whether its withdrawal arrived first (``early``). Plain rows: no ORM objects wanted.
_GRIEVANCES: Any = (
    core_select(
        *(_G.c[name] for name in _GRIEVANCE_COLUMNS),
        _M.c.vessel_id,
        _M.c.seq,
        *(_V.c[name] for name in ("name", "imo", "ircs", "flag", "owner")),
        _CG.c.case_id.label("linked"),
        _EW.c.id.label("early"),
    )
    .select_from(
        _G.join(_M, _M.c.id == _G.c.message_id)
        .join(_V, _V.c.id == _M.c.vessel_id)
        .outerjoin(_CG, _CG.c.grievance_id == _G.c.id)
        .outerjoin(_EW, and_(_EW.c.vessel_id == _M.c.vessel_id, _EW.c.ref_seq == _M.c.seq))
    )
    .where(one_of(_G.c.id, "gids"))
)

_CASES_BY_ID: Any = select(Case).where(one_of(_C.c.id, "ids"))


def _cases_statement(*, with_actions: bool) -> Any:
    """For each (vessel, category) among ``vids`` × ``cats``: the newest case (``last``) and
    the newest a grievance may join (``join``, see :func:`_cases_of`), each row with one of
    the case's actions (in id order) when ``with_actions``."""
    since: BindParameter[dt.datetime] = bindparam("since")
    merged_away = select(AuditEntry.case_id).where(
        AuditEntry.action == "merged_into", col(AuditEntry.case_id).is_not(None)
    )
    open_ = and_(
        col(Case.status) != Status.WITHDRAWN.value,
        col(Case.opened_at) >= since,
        or_(col(Case.closed_at).is_(None), col(Case.closed_at) >= since),
        col(Case.id).not_in(merged_away),
    )
    last = (
        select(
            col(Case.vessel_id).label("vid"),
            col(Case.category).label("cat"),
            func.max(Case.id).label("last"),
            func.max(when((open_, col(Case.id)))).label("join"),
        )
        .where(
            one_of(_C.c.vessel_id, "vids"),
            one_of(_C.c.category, "cats"),
        )
        .group_by(col(Case.vessel_id), col(Case.category))
        .subquery()
    )
    stmt = select(Case, last.c.last, last.c.join).join(
        last, or_(col(Case.id) == last.c.last, col(Case.id) == last.c.join)
    )
    if not with_actions:
        return stmt
    return (
        stmt.add_columns(CaseAction)
        .outerjoin(CaseAction, col(CaseAction.case_id) == col(Case.id))
        .order_by(col(CaseAction.id))
    )


_CASES: Any = _cases_statement(with_actions=False)
_CASES_AND_ACTIONS: Any = _cases_statement(with_actions=True)


def _grievances(session: Session, gids: Sequence[int]) -> tuple[dict[int, Any], dict[int, Case]]:
    """One lookup for the batch: each grievance's row (:data:`_GRIEVANCES`) by id, and the
    case of those already in one."""
    session.flush()  # what an ORM query would autoflush: a plain one does not
    rows = session.connection().execute(_GRIEVANCES, {"gids": list(gids)}).all()
    by_id = {int(g.id): g for g in rows}
    in_case = {gid: g.linked for gid, g in by_id.items() if g.linked is not None}
    linked: dict[int, Case] = {}
    if in_case:
        cases = session.exec(_CASES_BY_ID, params={"ids": list(set(in_case.values()))})
        found = {c.id: c for c in cases.all()}
        linked = {gid: found[case_id] for gid, case_id in in_case.items()}
    return by_id, linked


def _cases_of(
    session: Session,
    pairs: set[_Pair],
    now: dt.datetime,
    settings: CaseSettings,
    actions: dict[int, list[CaseAction]],
) -> tuple[dict[_Pair, Case], dict[_Pair, Case]]:
    """For each (vessel, category): the case a new grievance joins — the newest opened within
    the join window that is open, remediated or closed (a closed one only if closed within the
    window too), never withdrawn or merged away — and the newest case of all (a new case
    follows it). One statement, which also puts those cases' actions (in id order) in
    ``actions`` when a connector is on (its payloads list them)."""
    since = now - dt.timedelta(days=settings.join_window_days)
    with_actions = bool(settings.enabled())
    params = {
        "since": since,
        "vids": list({v for v, _ in pairs}),
        "cats": list({c for _, c in pairs}),
    }
    rows = session.exec(_CASES_AND_ACTIONS if with_actions else _CASES, params=params).all()
    newest: dict[_Pair, Case] = {}
    joinable: dict[_Pair, Case] = {}
    seen: set[int] = set()
    for case, newest_id, join_id, *action in rows:
        pair = (case.vessel_id, case.category)
        if pair in pairs and case.id == newest_id:
            newest[pair] = case
        if pair in pairs and case.id == join_id:
            joinable[pair] = case
        if with_actions:
            case_id = desk._id(case)
            if case_id not in seen:  # a case looked up again: its actions afresh
                seen.add(case_id)
                actions[case_id] = []
            if action[0] is not None:
                actions[case_id].append(action[0])
    return joinable, newest


def _new_case(pair: _Pair, now: dt.datetime, settings: CaseSettings) -> Case:
    vessel_id, category = pair
    return Case(
        ref=uuid.uuid4().hex[:16],  # placeholder until the id is known
        vessel_id=vessel_id,
        category=category,
        urgent=urgent(category),
        status=Status.NEW.value,
        opened_at=now,
        updated_at=now,
        due_at=due_at(category, now, settings.clock_scale),
        external_id=str(uuid.uuid4()),
    )
