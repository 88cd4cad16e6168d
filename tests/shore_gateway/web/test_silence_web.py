"""A silent terminal is shown to staff (dashboard) and to its own owner (portal), and only to
its own owner."""

from __future__ import annotations

import datetime as dt

from sqlmodel import select

from shore_gateway.models import DeviceState, Vessel, utcnow
from shore_gateway.silence import check_silence
from shore_gateway.web.timefmt import Humane
from tests.shore_gateway.web.conftest import Site


def _silence(site: Site, name: str, hours: float) -> str:
    db = site.gateway.db
    last = utcnow() - dt.timedelta(hours=hours)
    with db.session() as s:
        vessel = s.exec(select(Vessel).where(Vessel.name == name)).one()
        state = s.get(DeviceState, vessel.id) or DeviceState(vessel_id=vessel.id or 0)
        state.last_contact = last
        s.add(state)
    check_silence(db)
    return Humane().at(last)  # as the page writes it (UTC, the default zone)


def test_owner_and_staff_see_the_silent_terminal(site: Site) -> None:
    since = _silence(site, "Sea One", 30)
    owner = site.login("olga", site.gateway.owner_token)
    page = owner.get("/portal").text
    assert "Terminal silent since" in page and since in page
    assert "Other Boat" not in page
    assert "อุปกรณ์ขาดการติดต่อตั้งแต่" in owner.get("/portal?lang=th").text
    staff = site.login("ann", site.gateway.staff_token)
    dash = staff.get("/dashboard").text
    assert "terminal of Sea One silent since " + since in dash
    # the other owner's buyer sees neither the vessel nor its silence
    other = site.login("bob", site.gateway.buyer_token)
    text = other.get("/portal").text
    assert "Sea One" not in text and "silent since" not in text


def test_silence_resolved_when_the_terminal_calls_again(site: Site) -> None:
    _silence(site, "Sea One", 30)
    _silence(site, "Sea One", 0.1)
    owner = site.login("olga", site.gateway.owner_token)
    assert "silent since" not in owner.get("/portal").text
