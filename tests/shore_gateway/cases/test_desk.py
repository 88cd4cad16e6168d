"""The case desk on SQLite and PostgreSQL: hooks, the transition table, downlinks, outbox."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from sqlmodel import select

from protocol.messages import CaseState, CaseStatus, decode_message
from shore_gateway.cases import desk
from shore_gateway.cases.config import CaseSettings
from shore_gateway.cases.models import AuditEntry, Case, EarlyWithdrawal, OutboxEntry
from shore_gateway.cases.workflow import (
    TRANSITIONS,
    BadRequest,
    BadTransition,
    Status,
    path_to,
)
from shore_gateway.db import Database
from shore_gateway.models import Downlink, Grievance, Message, Vessel
from tests.shore_gateway.cases.helpers import SECRET_TEXT, T0, add_grievance, case
from tests.shore_gateway.conftest import make_pub_pem

BOTH = CaseSettings(connectors="mqtt,primero")


@pytest.fixture
def fleet(db: Database) -> Database:
    from shore_gateway.registry import VesselIds, add_vessel

    with db.session() as s:
        add_vessel(s, "Sea One", make_pub_pem(), VesselIds(owner="acme"))
        add_vessel(s, "Other Boat", make_pub_pem(), VesselIds(owner="zeta"))
    return db


def downlinks(db: Database) -> list[CaseStatus]:
    with db.session() as s:
        rows = s.exec(select(Downlink).order_by(Downlink.id)).all()  # type: ignore[arg-type]
        out = []
        for r in rows:
            assert r.kind == "case_status"
            msg = decode_message(r.body)
            assert isinstance(msg, CaseStatus)
            out.append(msg)
        return out


def outbox(db: Database) -> list[OutboxEntry]:
    with db.session() as s:
        return list(s.exec(select(OutboxEntry).order_by(OutboxEntry.id)).all())  # type: ignore[arg-type]


def test_grievance_opens_case_with_downlink_and_outbox(fleet: Database) -> None:
    gid, ref = add_grievance(fleet, "Sea One", 5, settings=BOTH)
    assert ref == "C-000001"
    c = case(fleet, ref)
    assert c.status == "new" and not c.urgent
    assert c.due_at == T0 + dt.timedelta(days=2)  # forced-labour indicator: 2 days
    [dl] = downlinks(fleet)
    assert dl == CaseStatus(ref_seq=5, case_ref=ref, status=CaseState.OPENED, note=1)
    rows = outbox(fleet)
    assert {(r.connector, r.kind) for r in rows} == {("mqtt", "case_new"), ("primero", "case_new")}
    mqtt = next(r for r in rows if r.connector == "mqtt")
    assert mqtt.idempotency_key == str(gid)
    payload = json.loads(mqtt.payload)
    assert payload["idempotency_key"] == str(gid) and payload["grievance_id"] == gid
    assert SECRET_TEXT not in mqtt.payload  # MQTT does not share text by default
    primero = next(r for r in rows if r.connector == "primero")
    assert SECRET_TEXT in primero.payload  # Primero does (its own access control)


def test_urgent_category_has_a_clock_in_minutes(fleet: Database) -> None:
    _, ref = add_grievance(fleet, "Sea One", 1, category=0xF1)
    c = case(fleet, ref)
    assert c.urgent and c.due_at == T0 + dt.timedelta(minutes=30)


def test_same_matter_joins_open_case_other_opens_new(fleet: Database) -> None:
    _, a = add_grievance(fleet, "Sea One", 1)
    _, b = add_grievance(fleet, "Sea One", 2)  # same vessel, same category
    _, c = add_grievance(fleet, "Sea One", 3, category=0x16)
    _, d = add_grievance(fleet, "Other Boat", 1)
    assert a == b and len({a, c, d}) == 3
    with fleet.session() as s:
        assert len(desk.case_grievances(s, case(fleet, a).id or 0)) == 2


def test_hook_is_idempotent(fleet: Database) -> None:
    gid, ref = add_grievance(fleet, "Sea One", 1, settings=BOTH)
    with fleet.session() as s:
        g = s.get(Grievance, gid)
        v = s.exec(select(Vessel).where(Vessel.name == "Sea One")).one()
        assert g is not None
        assert desk.on_grievance(s, g, v, settings=BOTH).ref == ref
    assert len(downlinks(fleet)) == 1 and len(outbox(fleet)) == 2


def test_rollback_leaves_nothing(fleet: Database) -> None:
    """The hook runs inside the pipeline's transaction: a rollback takes the case with it."""
    with pytest.raises(RuntimeError), fleet.session() as s:
        v = s.exec(select(Vessel).where(Vessel.name == "Sea One")).one()
        m = Message(vessel_id=v.id or 0, seq=9, kind="grievance")
        s.add(m)
        s.flush()
        g = Grievance(message_id=m.id or 0, category=0x17, lang="en", text="x", time=T0)
        s.add(g)
        s.flush()
        desk.on_grievance(s, g, v, settings=BOTH)
        raise RuntimeError("pipeline failed later in the transaction")
    with fleet.session() as s:
        for table in (Case, OutboxEntry, Downlink, AuditEntry):
            assert s.exec(select(table)).all() == []


def test_workflow_end_to_end_and_every_change_flows_back(fleet: Database) -> None:
    _, ref = add_grievance(fleet, "Sea One", 7, settings=BOTH)
    steps = [
        (Status.ACKNOWLEDGED, CaseState.ACKNOWLEDGED),
        (Status.INVESTIGATING, CaseState.INVESTIGATING),
        (Status.REMEDIATION_IN_PROGRESS, CaseState.REMEDIATION_IN_PROGRESS),
        (Status.REMEDIATED, CaseState.REMEDIATED),
        (Status.CLOSED, CaseState.CLOSED),
    ]
    for target, _code in steps:
        with fleet.session() as s:
            desk.transition(s, desk.get_case(s, ref), target, actor="ann", note=3, settings=BOTH)
    codes = [d.status for d in downlinks(fleet)]
    assert codes == [CaseState.OPENED] + [code for _, code in steps]
    assert all(d.ref_seq == 7 and d.case_ref == ref for d in downlinks(fleet))
    updates = [r for r in outbox(fleet) if r.kind == "case_update"]
    assert len(updates) == 2 * len(steps)
    assert len({(r.connector, r.idempotency_key) for r in updates}) == len(updates)
    with fleet.session() as s:
        trail = s.exec(select(AuditEntry).where(AuditEntry.action == "transition")).all()
    assert [json.loads(e.detail)["after"] for e in trail] == [t.value for t, _ in steps]
    assert {e.actor for e in trail} == {"ann"}
    c = case(fleet, ref)
    assert c.closed_at is not None and c.acknowledged_at is not None


def test_transition_table_is_enforced(fleet: Database) -> None:
    _, ref = add_grievance(fleet, "Sea One", 1)
    with pytest.raises(BadTransition), fleet.session() as s:
        desk.transition(s, desk.get_case(s, ref), Status.REMEDIATED, actor="ann")
    with pytest.raises(BadRequest), fleet.session() as s:
        desk.transition(s, desk.get_case(s, ref), Status.ACKNOWLEDGED, actor="ann", note=999)
    assert case(fleet, ref).status == "new"


def test_transition_table_shape() -> None:
    assert set(TRANSITIONS) == set(Status)
    for state in Status:  # every state reaches closed, and closed can be reopened
        assert state == Status.CLOSED or path_to(state, Status.CLOSED)
    assert path_to(Status.NEW, Status.CLOSED) == [
        Status.ACKNOWLEDGED,
        Status.INVESTIGATING,
        Status.CLOSED,
    ]


def test_withdraw_and_status_request(fleet: Database) -> None:
    _, ref = add_grievance(fleet, "Sea One", 1)
    add_grievance(fleet, "Sea One", 2)  # joins
    with fleet.session() as s:
        v = s.exec(select(Vessel).where(Vessel.name == "Sea One")).one()
        assert desk.on_withdraw(s, v, 1) is not None
        assert desk.on_withdraw(s, v, 99) is None  # unknown seq: ignored
    assert case(fleet, ref).status == "new"  # one grievance left
    with fleet.session() as s:
        v = s.exec(select(Vessel).where(Vessel.name == "Sea One")).one()
        desk.on_withdraw(s, v, 2)
    assert case(fleet, ref).status == "withdrawn"
    with fleet.session() as s:
        v = s.exec(select(Vessel).where(Vessel.name == "Sea One")).one()
        desk.on_status_request(s, v, 1)
    tail = downlinks(fleet)[-1]
    assert tail.ref_seq == 1 and tail.status == CaseState.WITHDRAWN


def test_a_withdrawal_that_overtakes_its_grievance_is_applied_when_it_arrives(
    fleet: Database,
) -> None:
    with fleet.session() as s:
        v = s.exec(select(Vessel).where(Vessel.name == "Sea One")).one()
        assert desk.on_withdraw(s, v, 5) is None  # grievance 5 is not ashore yet
        assert desk.on_withdraw(s, v, 5) is None  # sent twice: held once
    _, ref = add_grievance(fleet, "Sea One", 5)
    assert case(fleet, ref).status == "withdrawn"
    _, other = add_grievance(fleet, "Sea One", 6, category=0x20)
    assert case(fleet, other).status == "new"  # only the named grievance
    with fleet.session() as s:
        assert s.exec(select(EarlyWithdrawal)).all() == []
        actions = [e.action for e in s.exec(select(AuditEntry).order_by(AuditEntry.id)).all()]  # type: ignore[arg-type]
    assert actions[:3] == ["opened", "withdrawn", "transition"]


def test_actions_assign_and_audit(fleet: Database) -> None:
    _, ref = add_grievance(fleet, "Sea One", 1)
    with fleet.session() as s:
        c = desk.get_case(s, ref)
        desk.assign(s, c, "ann", actor="ann")
        a = desk.add_action(
            s, c, "pay_arrears", actor="ann", description="3 months", due=T0 + dt.timedelta(days=14)
        )
        desk.complete_action(s, c, a.id or 0, actor="ann", evidence="bank receipt seen")
        with pytest.raises(BadRequest):
            desk.add_action(s, c, "sell_the_boat", actor="ann")
    with fleet.session() as s:
        actions = [e.action for e in s.exec(select(AuditEntry).order_by(AuditEntry.id)).all()]  # type: ignore[arg-type]
    assert actions == ["opened", "assign", "action_add", "action_done"]


def test_case_refs_unique_under_many_cases(fleet: Database) -> None:
    refs = {add_grievance(fleet, "Sea One", i, category=0x10 + i % 11)[1] for i in range(1, 12)}
    assert len(refs) == 11
    with fleet.session() as s:
        n = s.exec(sa.select(sa.func.count()).select_from(Case)).one()  # type: ignore[call-overload]
    assert n[0] == 11
