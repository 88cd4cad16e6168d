"""Zawgyi-typed Burmese ashore: the vessel's note (grievance element 6) is stored, and staff see
that the text was converted and the words exactly as typed — in the API and on the page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from protocol.lang import Lang
from protocol.messages import Grievance as GrievanceContent
from protocol.messages import Zawgyi, ZawgyiMode
from shore_gateway.cases.models import AuditEntry
from shore_gateway.db import Database
from shore_gateway.models import Grievance
from tests.shore_gateway.cases.helpers import add_grievance
from tests.shore_gateway.cases.servers import ServerThread
from tests.shore_gateway.conftest import Gateway
from tests.shore_gateway.test_pipeline import T0, Fleet
from tests.shore_gateway.web.conftest import Site

TYPED = "ခုႏွစ္လ လစာ မရပါ"  # "seven months, no wages", typed on a Zawgyi phone
CONVERTED = "ခုနှစ်လ လစာ မရပါ"


def test_the_pipeline_stores_the_note_and_the_typed_words(sqlite_db: Database) -> None:
    fleet = Fleet(sqlite_db)
    note = Zawgyi(mode=ZawgyiMode.CONVERTED, probability=999, other=TYPED)
    fleet.session.queue_crew(
        GrievanceContent(category=0x17, lang=Lang.MY, text=CONVERTED, zawgyi=note), T0
    )
    unsure = Zawgyi(mode=ZawgyiMode.UNSURE, probability=262, other="လူခပျသိမျး၏")
    fleet.session.queue_crew(
        GrievanceContent(category=0x17, lang=Lang.MY, text="လူခပ်သိမ်း၏", zawgyi=unsure), T0
    )
    fleet.session.queue_crew(GrievanceContent(category=0x17, lang=Lang.MY, text=CONVERTED), T0)
    for data in fleet.frames():
        fleet.send(data)
    with sqlite_db.session() as s:
        rows = s.exec(select(Grievance).order_by(Grievance.id)).all()  # type: ignore[arg-type]
        got = [(g.text, g.zawgyi, g.zawgyi_p, g.zawgyi_other) for g in rows]
    assert got == [
        (CONVERTED, "converted", 999, TYPED),
        ("လူခပ်သိမ်း၏", "unsure", 262, "လူခပျသိမျး၏"),
        (CONVERTED, None, None, None),
    ]


def _mark(db: Database, gid: int, mode: str, p: int, other: str) -> None:
    with db.session() as s:
        g = s.get(Grievance, gid)
        assert g is not None
        g.zawgyi, g.zawgyi_p, g.zawgyi_other = mode, p, other
        s.add(g)


@pytest.fixture
def site(gateway: Gateway) -> Iterator[Site]:
    converted, ref1 = add_grievance(gateway.db, "Sea One", 11, text=CONVERTED)
    unsure, ref2 = add_grievance(gateway.db, "Sea One", 12, text="လူခပ်သိမ်း၏")
    plain, ref3 = add_grievance(gateway.db, "Sea One", 13, text=CONVERTED)
    _mark(gateway.db, converted, "converted", 999, TYPED)
    _mark(gateway.db, unsure, "unsure", 262, "လူခပျသိမျး၏")
    with ServerThread(gateway.app) as server:
        s = Site(
            gateway,
            server.url,
            {"converted": ref1, "unsure": ref2, "plain": ref3},
            {"converted": converted, "unsure": unsure, "plain": plain},
        )
        try:
            yield s
        finally:
            s.close()


def test_api_says_it_was_converted_and_gives_the_typed_words(site: Site) -> None:
    api = site.client()
    auth = site.gateway.auth()
    g = api.get(f"/api/grievances/{site.grievances['converted']}", headers=auth).json()
    assert g["text"] == CONVERTED
    assert g["zawgyi"] == {"mode": "converted", "probability": 0.999, "typed": TYPED}
    g = api.get(f"/api/grievances/{site.grievances['unsure']}", headers=auth).json()
    assert g["zawgyi"] == {"mode": "unsure", "probability": 0.262, "reading": "လူခပျသိမျး၏"}
    assert (
        api.get(f"/api/grievances/{site.grievances['plain']}", headers=auth).json()["zawgyi"]
        is None
    )
    # a list without text carries no note either (the typed words are crew words)
    listed = api.get("/api/grievances", headers=auth).json()
    assert all("zawgyi" not in item and "text" not in item for item in listed)


def test_grievance_page_shows_the_conversion_and_both_readings(site: Site) -> None:
    staff = site.login("ann", site.gateway.staff_token)
    page = staff.get(f"/grievances/{site.grievances['converted']}").text
    assert "converted to Unicode on board" in page and "99.9% sure" in page
    assert CONVERTED in page and TYPED in page
    page = staff.get(f"/grievances/{site.grievances['unsure']}").text
    assert "unsure whether this was typed in Zawgyi (26.2%)" in page
    assert "လူခပ်သိမ်း၏" in page and "လူခပျသိမျး၏" in page
    page = staff.get(f"/grievances/{site.grievances['plain']}").text
    assert 'id="zawgyi"' not in page
    with site.gateway.db.session() as s:
        views = s.exec(select(AuditEntry).where(AuditEntry.action == "view_text")).all()
    assert len(views) == 3  # each page view of crew words is audited, the typed words included
