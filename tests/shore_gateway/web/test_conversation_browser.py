"""The conversation part of the case page in a real browser, at phone and desktop size: staff
ask a common question in the crew member's language with one button, write their own, see the
delivery state, and read the answer — one audited view per page that shows crew answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select

from protocol.lang import Lang
from protocol.messages import Reply
from shore_gateway.cases import conversation
from shore_gateway.cases.models import AuditEntry
from shore_gateway.models import Message, Vessel
from tests.shore_gateway.cases.helpers import add_grievance
from tests.shore_gateway.cases.servers import ServerThread
from tests.shore_gateway.conftest import Gateway
from tests.shore_gateway.web.test_browser import artifacts, browser  # noqa: F401

pytestmark = pytest.mark.slow

SIZES = {"desktop": (1366, 900), "phone": (390, 844)}
ANSWER = "တနင်္လာနေ့ပါ။ အခု ဘေးကင်းပါတယ်။"


def _views(gw: Gateway) -> int:
    with gw.db.session() as s:
        return int(
            s.exec(select(func.count()).where(AuditEntry.action == "view_conversation")).one()
        )


@pytest.mark.parametrize("size", list(SIZES))
def test_ask_read_and_answer_on_the_case_page(
    browser: Any,  # noqa: F811
    gateway: Gateway,
    artifacts: Path,  # noqa: F811
    size: str,
) -> None:
    _, ref = add_grievance(gateway.db, "Sea One", 11)
    with gateway.db.session() as s:
        v = s.exec(select(Vessel).where(Vessel.name == "Sea One")).one()
        conversation.remember_key(s, v.id or 0, 11, bytes(range(1, 33)))
    w, h = SIZES[size]
    with ServerThread(gateway.app) as server:
        context = browser.new_context(viewport={"width": w, "height": h})
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(server.url + "/login")
        page.get_by_label("User name").fill("ann")
        page.get_by_label("Password or API token").fill(gateway.staff_token)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state("domcontentloaded")
        page.goto(f"{server.url}/cases/{ref}")
        section = page.locator("#conversation")
        safe = conversation.questions()["questions"]["safe_now"]["text"]["my"]
        assert safe in section.inner_text()  # the button shows the words the crew will read
        section.get_by_role("button", name="Are you safe now?").click()
        page.wait_for_load_state("load")
        assert "Question sealed and queued" in page.inner_text("body")
        item = page.locator("#conversation li").first
        assert "waiting to go" in item.inner_text() and safe in item.inner_text()
        page.locator("#talk-text").fill("Did the captain give your passport back?")
        page.get_by_role("button", name="Seal and send").click()
        page.wait_for_load_state("load")
        assert page.locator("#conversation li").count() == 2
        assert _views(gateway) == 0  # no crew words shown yet: nothing to audit
        with gateway.db.session() as s:
            row = Message(vessel_id=v.id or 0, seq=30, kind="crew")
            s.add(row)
            s.flush()
            vessel = s.get(Vessel, v.id)
            assert vessel is not None
            conversation.take_reply(
                s, vessel, row.id or 0, Reply(ref_seq=11, lang=Lang.MY, text=ANSWER)
            )
        page.goto(f"{server.url}/cases/{ref}#conversation")
        text = section.inner_text()
        assert ANSWER in text and "The crew member answered" in text and "answered" in text
        assert _views(gateway) == 1
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= page.evaluate("window.innerWidth")
        section.screenshot(path=str(artifacts / f"conversation-{size}.png"))
        context.close()
