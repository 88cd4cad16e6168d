"""Alerts as data: ``GET /api/alerts`` (staff: everything; owners: their vessels' silence and
gaps, no detail) and link health on ``GET /api/vessels``."""

from __future__ import annotations

import datetime as dt

from sqlmodel import select

from shore_gateway.models import Alert, Vessel, utcnow
from tests.shore_gateway.conftest import Gateway

SECRETISH = "seq 17 from Sea One does not open"


def _alerts(gateway: Gateway) -> None:
    now = utcnow()
    with gateway.db.session() as s:
        sea = s.exec(select(Vessel).where(Vessel.name == "Sea One")).one().id or 0
        other = s.exec(select(Vessel).where(Vessel.name == "Other Boat")).one().id or 0
        s.add(
            Alert(
                vessel_id=sea,
                kind="gap",
                detail="messages missing from vessel Sea One (seq 5–6)",
                created_at=now - dt.timedelta(hours=3),
            )
        )
        s.add(
            Alert(
                vessel_id=sea,
                kind="seal",
                detail=f"crew message {SECRETISH}",
                created_at=now - dt.timedelta(hours=2),
            )
        )
        s.add(
            Alert(
                vessel_id=sea,
                kind="silence",
                detail="terminal of Sea One silent",
                created_at=now - dt.timedelta(days=2),
                resolved_at=now - dt.timedelta(days=1),
            )
        )
        s.add(
            Alert(
                vessel_id=other,
                kind="silence",
                detail="terminal of Other Boat silent",
                created_at=now - dt.timedelta(hours=1),
            )
        )


def test_staff_see_every_open_alert_with_detail(gateway: Gateway) -> None:
    _alerts(gateway)
    r = gateway.client.get("/api/alerts", headers=gateway.auth())
    assert r.status_code == 200
    items = r.json()
    assert [(a["vessel"], a["kind"]) for a in items] == [
        ("Other Boat", "silence"),
        ("Sea One", "seal"),
        ("Sea One", "gap"),
    ]
    assert all(a["open"] and a["detail"] and a["since"] for a in items)
    everything = gateway.client.get("/api/alerts?state=all", headers=gateway.auth()).json()
    assert len(everything) == 4
    resolved = gateway.client.get(
        "/api/alerts?state=resolved&vessel=Sea%20One", headers=gateway.auth()
    ).json()
    assert [(a["kind"], a["open"]) for a in resolved] == [("silence", False)]
    gaps = gateway.client.get("/api/alerts?kind=gap", headers=gateway.auth()).json()
    assert [a["kind"] for a in gaps] == ["gap"]
    assert gateway.client.get("/api/alerts?state=maybe", headers=gateway.auth()).status_code == 422


def test_owners_see_their_silence_and_gaps_without_detail(gateway: Gateway) -> None:
    _alerts(gateway)
    r = gateway.client.get("/api/alerts?state=all", headers=gateway.auth(gateway.owner_token))
    assert r.status_code == 200
    items = r.json()
    assert {(a["vessel"], a["kind"]) for a in items} == {("Sea One", "gap"), ("Sea One", "silence")}
    assert all(set(a) == {"kind", "vessel", "since", "resolved_at", "open"} for a in items)
    assert SECRETISH not in r.text and "seq" not in r.text
    other = gateway.client.get(
        "/api/alerts?vessel=Other%20Boat", headers=gateway.auth(gateway.owner_token)
    ).json()
    assert other == []  # another owner's vessel: nothing, not even that it exists
    assert gateway.client.get("/api/alerts").status_code == 401


def test_vessels_carry_link_health(gateway: Gateway) -> None:
    _alerts(gateway)
    staff = {
        v["name"]: v for v in gateway.client.get("/api/vessels", headers=gateway.auth()).json()
    }
    sea = staff["Sea One"]["link"]
    assert sea["alerts"] == ["gap", "seal"] and sea["missing_since"] is not None
    assert sea["health"] in {"degraded", "silent", "never"}
    owner = gateway.client.get("/api/vessels", headers=gateway.auth(gateway.owner_token)).json()
    assert [v["name"] for v in owner] == ["Sea One"]
    assert owner[0]["link"]["alerts"] == ["gap"]  # the seal alert is staff business
    assert set(owner[0]["link"]) == {
        "health",
        "last_contact",
        "silent_since",
        "missing_since",
        "queue_depth",
        "alerts",
    }
