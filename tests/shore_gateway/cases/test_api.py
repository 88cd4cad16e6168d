"""Case REST API: staff workflow, and owner isolation checked field by field on every route."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from sqlmodel import select

from shore_gateway.cases.models import AuditEntry
from shore_gateway.cases.views import OWNER_ACTION_KEYS, OWNER_CASE_KEYS
from tests.shore_gateway.cases.helpers import PSEUDONYM, SECRET_TEXT, add_grievance
from tests.shore_gateway.conftest import Gateway

#: Nothing of these may ever reach an owner or buyer, under any key, in any response.
FORBIDDEN_KEYS = {
    "text",
    "pseudonym",
    "lang",
    "seq",
    "ref_seq",
    "receipt",
    "grievances",
    "grievance",
    "category",
    "category_label",
    "assignee",
    "evidence",
    "description",
    "owner",
    "external_id",
}


def _walk_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _walk_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _walk_keys(v)}
    return set()


def assert_owner_safe(body: str) -> None:
    assert SECRET_TEXT not in body and "ZX-SECRET-41" not in body
    assert PSEUDONYM not in body
    assert "Burmese" not in body and '"my"' not in body


@pytest.fixture
def cases(gateway: Gateway) -> dict[str, str]:
    _, acme = add_grievance(gateway.db, "Sea One", 11)
    _, urgent = add_grievance(gateway.db, "Sea One", 12, category=0xF3)
    _, zeta = add_grievance(gateway.db, "Other Boat", 1)
    with gateway.db.session() as s:
        from shore_gateway.cases import desk

        c = desk.get_case(s, acme)
        desk.add_action(s, c, "return_passport", actor="ann", description="for " + PSEUDONYM)
        desk.assign(s, c, "ann", actor="ann")
    return {"acme": acme, "urgent": urgent, "zeta": zeta}


def test_staff_lists_everything_urgent_first(gateway: Gateway, cases: dict[str, str]) -> None:
    r = gateway.client.get("/api/cases", headers=gateway.auth())
    assert r.status_code == 200
    refs = [c["ref"] for c in r.json()]
    assert refs[0] == cases["urgent"] and set(refs) == set(cases.values())
    assert r.json()[0]["category"] == 0xF3


def test_staff_moves_a_case_and_reads_the_audit(gateway: Gateway, cases: dict[str, str]) -> None:
    ref = cases["acme"]
    for status in ("acknowledged", "investigating", "remediation in progress"):
        r = gateway.client.post(
            f"/api/cases/{ref}/transition",
            headers=gateway.auth(),
            json={"status": status, "note": 3},
        )
        assert r.status_code == 200, r.text
    assert r.json()["status"] == "remediation_in_progress"
    bad = gateway.client.post(
        f"/api/cases/{ref}/transition", headers=gateway.auth(), json={"status": "new"}
    )
    assert bad.status_code == 409 and "allowed" in bad.json()["detail"]
    r = gateway.client.post(
        f"/api/cases/{ref}/actions",
        headers=gateway.auth(),
        json={"kind": "pay_arrears", "due_at": "2024-06-01T00:00:00Z"},
    )
    assert r.status_code == 200
    aid = r.json()["actions"][-1]["id"]
    r = gateway.client.post(
        f"/api/cases/{ref}/actions/{aid}/done",
        headers=gateway.auth(),
        json={"evidence": "payslips"},
    )
    assert r.json()["actions"][-1]["evidence"] == "payslips"
    trail = gateway.client.get(f"/api/cases/{ref}/audit", headers=gateway.auth()).json()
    assert [e["action"] for e in trail][-5:] == [
        "transition",
        "transition",
        "transition",
        "action_add",
        "action_done",
    ]
    assert all(e["actor"] == "ann" for e in trail[1:])


def test_owner_write_routes_are_refused(gateway: Gateway, cases: dict[str, str]) -> None:
    ref = cases["acme"]
    for path, body in (
        (f"/api/cases/{ref}/transition", {"status": "acknowledged"}),
        (f"/api/cases/{ref}/assign", {"assignee": "x"}),
        (f"/api/cases/{ref}/actions", {"kind": "other"}),
        (f"/api/cases/{ref}/actions/1/done", {}),
    ):
        r = gateway.client.post(path, headers=gateway.auth(gateway.owner_token), json=body)
        assert r.status_code == 403, path
    for path in (f"/api/cases/{ref}/audit", "/api/grievances", "/api/grievances/1"):
        assert (
            gateway.client.get(path, headers=gateway.auth(gateway.owner_token)).status_code == 403
        )


def test_owner_sees_only_own_cases_field_by_field(gateway: Gateway, cases: dict[str, str]) -> None:
    token = gateway.owner_token
    r = gateway.client.get("/api/cases", headers=gateway.auth(token))
    assert r.status_code == 200
    body = r.json()
    assert {c["ref"] for c in body} == {cases["acme"], cases["urgent"]}
    for c in body:
        assert set(c) <= OWNER_CASE_KEYS
        assert not _walk_keys(c) & FORBIDDEN_KEYS
        for a in c["actions"]:
            assert set(a) <= OWNER_ACTION_KEYS
    assert {c["group"] for c in body} == {"forced labour indicators", "urgent"}
    assert_owner_safe(r.text)
    one = gateway.client.get(f"/api/cases/{cases['acme']}", headers=gateway.auth(token))
    assert one.status_code == 200 and set(one.json()) <= OWNER_CASE_KEYS
    assert one.json()["actions"][0]["label"].startswith("return passport")
    assert_owner_safe(one.text)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?vessel=Other%20Boat",
        "?status=new",
        "?urgent=false",
        "?q=C-",
        "?limit=5000",
        "?vessel=Sea%20One&vessel=Other%20Boat",
    ],
)
def test_no_filter_widens_an_owner_view(
    gateway: Gateway, cases: dict[str, str], query: str
) -> None:
    for path in ("/api/cases", "/api/cases.csv"):
        r = gateway.client.get(path + query, headers=gateway.auth(gateway.owner_token))
        assert r.status_code == 200
        assert cases["zeta"] not in r.text
        assert_owner_safe(r.text)


def test_other_owners_case_is_not_found(gateway: Gateway, cases: dict[str, str]) -> None:
    for token in (gateway.owner_token, gateway.buyer_token):
        other = cases["zeta"] if token == gateway.owner_token else cases["acme"]
        r = gateway.client.get(f"/api/cases/{other}", headers=gateway.auth(token))
        missing = gateway.client.get("/api/cases/C-999999", headers=gateway.auth(token))
        assert r.status_code == missing.status_code == 404
        assert r.json()["detail"].replace(other, "X") == missing.json()["detail"].replace(
            "C-999999", "X"
        )


def test_owner_csv_columns(gateway: Gateway, cases: dict[str, str]) -> None:
    r = gateway.client.get("/api/cases.csv", headers=gateway.auth(gateway.owner_token))
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert r.headers["content-type"].startswith("text/csv")
    assert {row["ref"] for row in rows} == {cases["acme"], cases["urgent"]}
    assert set(rows[0]) == {
        "ref",
        "vessel",
        "group",
        "urgent",
        "status",
        "opened_at",
        "updated_at",
        "due_at",
        "closed_at",
    }
    staff = gateway.client.get("/api/cases.csv", headers=gateway.auth())
    assert "category_label" in staff.text.splitlines()[0]


def test_grievance_list_without_text_opens_and_logs_nothing(
    gateway: Gateway, cases: dict[str, str]
) -> None:
    for _ in range(3):  # a poller (the demo, a monitor) asks again and again
        r = gateway.client.get("/api/grievances", headers=gateway.auth())
        assert r.status_code == 200
    items = r.json()
    assert items and all("text" not in g for g in items)
    assert SECRET_TEXT not in r.text
    with gateway.db.session() as s:
        views = s.exec(select(AuditEntry).where(AuditEntry.action == "view_text")).all()
    assert views == []
    bad = gateway.client.get("/api/grievances?include=pseudonym", headers=gateway.auth())
    assert bad.status_code == 422


def test_grievances_for_staff_with_text_each_view_audited(
    gateway: Gateway, cases: dict[str, str]
) -> None:
    r = gateway.client.get("/api/grievances?include=text", headers=gateway.auth())
    assert r.status_code == 200
    items = r.json()
    assert items[0]["category"] == 0xF3  # urgent first
    for key in (
        "id",
        "vessel",
        "seq",
        "category",
        "lang",
        "text",
        "position",
        "case",
        "trip",
        "lots",
    ):
        assert key in items[0]
    assert items[0]["text"] == SECRET_TEXT and items[0]["position"]["lat"] == -4.61
    one = gateway.client.get(f"/api/grievances/{items[0]['id']}", headers=gateway.auth())
    assert one.json()["text"] == SECRET_TEXT
    with gateway.db.session() as s:
        views = s.exec(select(AuditEntry).where(AuditEntry.action == "view_text")).all()
    assert len(views) == len(items) + 1
    assert {v.actor for v in views} == {"ann"}
    assert all(SECRET_TEXT not in v.detail for v in views)
    assert {json.loads(v.detail)["via"] for v in views} == {"api"}
    filtered = gateway.client.get("/api/grievances?vessel=Other%20Boat", headers=gateway.auth())
    assert {g["vessel"] for g in filtered.json()} == {"Other Boat"}


def test_csv_cells_cannot_inject_formulas(gateway: Gateway, cases: dict[str, str]) -> None:
    gateway.client.post(
        f"/api/cases/{cases['acme']}/assign",
        headers=gateway.auth(),
        json={"assignee": '=HYPERLINK("http://x")'},
    )
    r = gateway.client.get("/api/cases.csv", headers=gateway.auth())
    assert "'=HYPERLINK" in r.text


def test_metrics_export_the_overdue_cases(gateway: Gateway, cases: dict[str, str]) -> None:
    """The fixture's cases were opened in 2024: every clock has run out."""
    text = gateway.client.get("/metrics").text
    assert 'flip_gateway_cases_overdue{urgent="true"} 1.0' in text
    assert 'flip_gateway_cases_overdue{urgent="false"} 2.0' in text
    gateway.client.post(
        f"/api/cases/{cases['urgent']}/transition",
        headers=gateway.auth(),
        json={"status": "acknowledged"},
    )
    text = gateway.client.get("/metrics").text
    assert 'flip_gateway_cases_overdue{urgent="true"} 0.0' in text


def test_merge_split_and_acknowledge_over_the_api(gateway: Gateway, cases: dict[str, str]) -> None:
    from tests.shore_gateway.cases.helpers import add_grievance

    g2, same = add_grievance(gateway.db, "Sea One", 31)
    assert same == cases["acme"]
    split = gateway.client.post(
        f"/api/cases/{cases['acme']}/split", headers=gateway.auth(), json={"grievances": [g2]}
    )
    assert split.status_code == 200
    new = split.json()["ref"]
    assert [g["id"] for g in split.json()["grievances"]] == [g2]
    ack = gateway.client.post(f"/api/cases/{new}/acknowledge", headers=gateway.auth(), json={})
    assert ack.json()["status"] == "acknowledged" and ack.json()["deadline"] is None
    merged = gateway.client.post(
        f"/api/cases/{new}/merge", headers=gateway.auth(), json={"into": cases["acme"]}
    )
    assert merged.status_code == 200 and merged.json()["ref"] == cases["acme"]
    other = gateway.client.post(
        f"/api/cases/{cases['acme']}/merge", headers=gateway.auth(), json={"into": cases["zeta"]}
    )
    assert other.status_code == 400 and "same vessel" in other.json()["detail"]
    owner = gateway.client.post(
        f"/api/cases/{cases['acme']}/split",
        headers=gateway.auth(gateway.owner_token),
        json={"grievances": [1]},
    )
    assert owner.status_code == 403
    empty = gateway.client.post(
        f"/api/cases/{cases['acme']}/split", headers=gateway.auth(), json={"grievances": []}
    )
    assert empty.status_code == 422
