"""Cases follow the people: a new grievance reopens a remediated or closed case (a withdrawn
or merged-away one gets a linked new case), a reopened case needs acknowledging again, and
staff merge and split — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlmodel import select

from protocol.messages import CaseStatus, decode_message
from shore_gateway.cases import desk, regroup, views
from shore_gateway.cases.config import CaseSettings
from shore_gateway.cases.models import AuditEntry, CaseAction, CaseGrievance
from shore_gateway.cases.workflow import BadRequest, BadTransition, Status
from shore_gateway.db import Database
from shore_gateway.models import Downlink, Vessel
from tests.shore_gateway.cases.helpers import T0, add_grievance, case
from tests.shore_gateway.cases.test_desk import BOTH, fleet  # noqa: F401

DAY = dt.timedelta(days=1)


def _walk(db: Database, ref: str, *steps: Status) -> None:
    with db.session() as s:
        c = desk.get_case(s, ref)
        for step in steps:
            desk.transition(s, c, step, actor="ann", now=T0 + DAY)


def _actions(db: Database, ref: str) -> list[str]:
    with db.session() as s:
        c = desk.get_case(s, ref)
        rows = s.exec(
            select(AuditEntry).where(AuditEntry.case_id == c.id).order_by(AuditEntry.id)
        ).all()  # type: ignore[arg-type]
        return [e.action for e in rows]


REMEDIATED = (
    Status.ACKNOWLEDGED,
    Status.INVESTIGATING,
    Status.REMEDIATION_IN_PROGRESS,
    Status.REMEDIATED,
)


@pytest.mark.parametrize(
    ("steps", "reopened_as"),
    [
        (REMEDIATED, Status.REMEDIATION_IN_PROGRESS),
        ((*REMEDIATED, Status.CLOSED), Status.INVESTIGATING),
    ],
)
def test_a_new_grievance_reopens_a_remediated_or_closed_case(
    fleet: Database,  # noqa: F811 - the fixture, by name
    steps: tuple[Status, ...],
    reopened_as: Status,
) -> None:
    _, ref = add_grievance(fleet, "Sea One", 1, category=0x21)
    _walk(fleet, ref, *steps)
    later = T0 + 3 * DAY
    gid, again = add_grievance(fleet, "Sea One", 2, category=0x21, when=later, settings=BOTH)
    assert again == ref
    c = case(fleet, ref)
    assert c.status == reopened_as.value and c.closed_at is None
    assert c.acknowledged_at is None  # the new grievance must be acknowledged
    assert c.due_at == later + dt.timedelta(days=5)  # a fresh C188 clock from its arrival
    assert _actions(fleet, ref)[-2:] == ["transition", "reopened"]
    with fleet.session() as s:
        vessel = s.get(Vessel, c.vessel_id)
        assert vessel is not None
        item = views.staff_case(s, c, vessel)
        assert item["reopened_at"] is not None and item["deadline"]["what"] == "respond"
        reopened = s.exec(select(AuditEntry).where(AuditEntry.action == "reopened")).one()
        assert reopened.grievance_id == gid
        assert json.loads(reopened.detail)["after"] == reopened_as.value
        # Every crew member in the case hears that it is open again, the new one once.
        after = [
            m
            for m in (decode_message(d.body) for d in s.exec(select(Downlink)).all())
            if isinstance(m, CaseStatus)
            and m.note == 1
            and m.status
            == {Status.REMEDIATION_IN_PROGRESS: 5, Status.INVESTIGATING: 4}[reopened_as]
        ]
        assert sorted(m.ref_seq for m in after if m.ref_seq == 2) == [2]
        assert {m.ref_seq for m in after} == {1, 2}


def test_acknowledging_a_reopened_case_stops_its_clock(fleet: Database) -> None:  # noqa: F811
    _, ref = add_grievance(fleet, "Sea One", 1, category=0x21)
    _walk(fleet, ref, *REMEDIATED)
    add_grievance(fleet, "Sea One", 2, category=0x21, when=T0 + 3 * DAY)
    with fleet.session() as s:
        c = desk.get_case(s, ref)
        assert views.overdue_cases(s, T0 + 30 * DAY) != []
        desk.acknowledge(s, c, actor="ann", note=2)
        assert c.status == Status.REMEDIATION_IN_PROGRESS.value  # the state stays
        assert c.acknowledged_at is not None
        assert views.overdue_cases(s, T0 + 30 * DAY) == []
        desk.acknowledge(s, c, actor="ann")  # a second click changes nothing
        assert [
            e.action
            for e in s.exec(select(AuditEntry).where(AuditEntry.action == "acknowledged")).all()
        ] == ["acknowledged"]
        with pytest.raises(BadRequest):
            c.acknowledged_at = None
            desk.acknowledge(s, c, actor="ann", note=999)


def test_withdrawn_case_is_not_reopened_a_linked_new_case_is_opened(
    fleet: Database,  # noqa: F811
) -> None:
    _, ref = add_grievance(fleet, "Sea One", 1, category=0x21)
    with fleet.session() as s:
        desk.on_withdraw(s, s.exec(select(Vessel).where(Vessel.name == "Sea One")).one(), 1)
    assert case(fleet, ref).status == Status.WITHDRAWN.value
    _, new = add_grievance(fleet, "Sea One", 2, category=0x21, when=T0 + DAY)
    assert new != ref and case(fleet, ref).status == Status.WITHDRAWN.value
    with fleet.session() as s:
        opened = s.exec(
            select(AuditEntry).where(
                AuditEntry.action == "opened", AuditEntry.case_id == case(fleet, new).id
            )
        ).one()
    assert json.loads(opened.detail)["follows"] == ref


def test_a_case_closed_before_the_join_window_is_not_reopened(fleet: Database) -> None:  # noqa: F811
    _, ref = add_grievance(fleet, "Sea One", 1, category=0x21)
    _walk(fleet, ref, *REMEDIATED, Status.CLOSED)
    _, new = add_grievance(fleet, "Sea One", 2, category=0x21, when=T0 + 40 * DAY)
    assert new != ref and case(fleet, ref).status == Status.CLOSED.value


def test_merge_moves_everything_and_closes_the_source(fleet: Database) -> None:  # noqa: F811
    g1, wages = add_grievance(fleet, "Sea One", 1, category=0x17)
    g2, docs = add_grievance(fleet, "Sea One", 2, category=0x13, settings=BOTH)
    _, other = add_grievance(fleet, "Other Boat", 1, category=0x17)
    _walk(fleet, wages, Status.ACKNOWLEDGED)
    with fleet.session() as s:
        desk.add_action(s, desk.get_case(s, docs), "return_passport", actor="ann")
        with pytest.raises(BadRequest, match="same vessel"):
            regroup.merge(s, desk.get_case(s, docs), desk.get_case(s, other), actor="ann")
        with pytest.raises(BadRequest, match="itself"):
            regroup.merge(s, desk.get_case(s, docs), desk.get_case(s, docs), actor="ann")
    with fleet.session() as s:
        target = regroup.merge(
            s, desk.get_case(s, docs), desk.get_case(s, wages), actor="ann", settings=BOTH
        )
        assert target.ref == wages
        links = s.exec(select(CaseGrievance).where(CaseGrievance.case_id == target.id)).all()
        assert {ln.grievance_id for ln in links} == {g1, g2}
        assert [
            a.kind for a in s.exec(select(CaseAction).where(CaseAction.case_id == target.id)).all()
        ] == ["return_passport"]
        # docs was never acknowledged: its running clock carries over to the merged case.
        assert target.acknowledged_at is None and target.due_at is not None
        downs = [decode_message(d.body) for d in s.exec(select(Downlink)).all()]
        assert any(
            isinstance(m, CaseStatus) and m.ref_seq == 2 and m.case_ref == wages for m in downs
        )  # the crew member's receipt follows the case
    source = case(fleet, docs)
    assert source.status == Status.CLOSED.value
    assert "merged_into" in _actions(fleet, docs) and "merged" in _actions(fleet, wages)
    # A merged-away case is never reopened: the next grievance joins the merged case.
    _, again = add_grievance(fleet, "Sea One", 3, category=0x13, when=T0 + DAY)
    assert again != docs


def test_split_moves_grievances_to_a_new_case(fleet: Database) -> None:  # noqa: F811
    g1, ref = add_grievance(fleet, "Sea One", 1, category=0x17)
    g2, same = add_grievance(fleet, "Sea One", 2, category=0x17, when=T0 + DAY)
    assert same == ref
    with fleet.session() as s:
        c = desk.get_case(s, ref)
        with pytest.raises(BadRequest, match="must stay"):
            regroup.split(s, c, [g1, g2], actor="ann")
        with pytest.raises(BadRequest, match="does not hold"):
            regroup.split(s, c, [g2, 9999], actor="ann")
        with pytest.raises(BadRequest, match="at least one"):
            regroup.split(s, c, [], actor="ann")
        new = regroup.split(s, c, [g2], actor="ann", settings=BOTH)
        assert new.ref != ref and new.vessel_id == c.vessel_id
        assert new.status == Status.NEW.value and new.due_at == c.due_at  # the clock runs on
        held = {
            ln.grievance_id
            for ln in s.exec(select(CaseGrievance).where(CaseGrievance.case_id == new.id)).all()
        }
        assert held == {g2}
        downs = [decode_message(d.body) for d in s.exec(select(Downlink)).all()]
        assert any(
            isinstance(m, CaseStatus) and m.ref_seq == 2 and m.case_ref == new.ref for m in downs
        )
    assert "split" in _actions(fleet, ref)


def test_acknowledge_refuses_a_closed_case(fleet: Database) -> None:  # noqa: F811
    _, ref = add_grievance(fleet, "Sea One", 1, category=0x21)
    _walk(fleet, ref, *REMEDIATED, Status.CLOSED)
    with fleet.session() as s:
        c = desk.get_case(s, ref)
        c.acknowledged_at = None
        with pytest.raises(BadTransition):
            desk.acknowledge(s, c, actor="ann")


def test_clock_scale_shortens_every_response_clock(fleet: Database) -> None:  # noqa: F811
    fast = CaseSettings(clock_scale=0.05)
    _, ref = add_grievance(fleet, "Sea One", 1, category=0xF1, settings=fast)
    assert case(fleet, ref).due_at == T0 + dt.timedelta(seconds=90)  # 30 min / 20
