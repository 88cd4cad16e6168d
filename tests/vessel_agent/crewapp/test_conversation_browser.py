"""Two-way, end to end in the browser: staff ask on a case, the question travels by MT through the
modem emulator, the crew member opens the app with the receipt and reads it in Burmese, answers,
and the answer reaches the case. Every reply key derives from the receipt code: one derived on the
crew member's phone and kept there (Burmese, opened by the phone), one derived on a phone that
kept nothing (Thai: the code typed again opens it), one derived by the agent for the box's own
screen (Khmer). The box's outbox and WAL, and every request the pages sent over the vessel
network, hold neither question nor answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shore_gateway.cases.conversation import questions
from tests.browsers import chromium
from tests.vessel_agent.crewapp.test_browser import BOX, PHONE, Watched
from tests.vessel_agent.crewapp.test_e2e_browser import demo, until  # noqa: F401
from tests.vessel_agent.crewapp.test_server import BURMESE, KHMER
from vessel_agent.device import Device

pytestmark = pytest.mark.slow

#: A phone on the vessel Wi-Fi reaches the box by a LAN name, not loopback (loopback is the box's
#: own screen, where the app keeps nothing); this name resolves to the demo's crew app.
PHONE_HOST = "crew-phone.test"

ANSWER_MY = "တနင်္လာနေ့ ညနေက ဖြစ်ခဲ့တာပါ။"
ANSWER_KM = "ថ្ងៃច័ន្ទ ពេលល្ងាច។"
THAI = "นายท้ายเรือยึดหนังสือเดินทางของผมไว้"
ANSWER_TH = "วันจันทร์ตอนเย็นครับ"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium(f"--host-resolver-rules=MAP {PHONE_HOST} 127.0.0.1") as browser:
        yield browser


def _submit(page: Any, lang: str, category: str, text: str, *, keep: bool) -> str:
    page.click(f"[data-lang={lang}]")
    page.click("#go-report")
    page.click(f"[data-cat='{category}']")
    page.fill("#text", text)
    page.click("#next")
    page.click("#send")
    page.wait_for_selector("#s-receipt")
    code: str = page.locator("#receipt").inner_text()
    if keep:
        page.click("#keep")
    page.click("#done")
    return code


def _read_and_answer(page: Any, lang: str, code: str, answer: str, shots: Path) -> str | None:
    """Look the receipt up; once a message from shore is there, read it and answer."""
    page.click(f"[data-lang={lang}]")
    page.click("#go-check")
    page.fill("#code", code)
    page.click("#lookup")
    page.wait_for_selector("#actions:not([hidden])")
    page.wait_for_timeout(1500)  # the messages call follows the look-up
    if page.locator("#read-messages").count() == 0:
        page.click("#back")
        page.click("#go-lang")
        return None
    page.click("#read-messages")
    page.wait_for_selector("#s-messages")
    shown = page.inner_text("#messages")
    page.fill("#answer", answer)
    page.screenshot(path=str(shots / f"crew-app-messages-{lang}.png"), full_page=True)
    page.click("#send-answer")
    page.wait_for_selector("#s-queued")
    page.click("#done")
    return str(shown)


# Three round trips through the emulated satellite link: about 2 minutes on an idle 2-core
# machine, but more than the default 5 under a loaded parallel run.
@pytest.mark.timeout(900)
def test_staff_ask_crew_read_in_their_language_and_answer(
    demo: dict[str, Any],  # noqa: F811
    browser: Any,
    tmp_path: Path,
) -> None:
    shots = Path(os.environ.get("FLIP_TEST_ARTIFACTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    url = demo["crew_apps"][0]["url"]
    phone = Watched(browser, url.replace("127.0.0.1", PHONE_HOST), PHONE)
    box = Watched(browser, url, BOX)
    my_code = _submit(phone.page, "my", "17", BURMESE, keep=True)
    km_code = _submit(box.page, "km", "1A", KHMER, keep=False)
    th_code = _submit(phone.page, "th", "16", THAI, keep=False)
    codes = (my_code, km_code, th_code)
    vessel = Path(demo["vessel_dir"])
    with Device(str(vessel)) as dev:
        seqs = {c: dev.lookup(c).seq for c in codes}  # type: ignore[union-attr]
    staff = {"Authorization": f"Bearer {demo['staff_login']['token']}"}
    base = demo["base"]

    def cases() -> dict[int, str] | None:
        rows = httpx.get(f"{base}/api/grievances", headers=staff, timeout=10).json()
        got = {r["seq"]: r["case"] for r in rows if r["seq"] in seqs.values()}
        return got if len(got) == len(codes) else None

    refs = until(cases, 240, "the grievances on cases ashore")
    q = questions()["questions"]
    asked = {}
    asking = (
        (my_code, "which_day", "my"),
        (km_code, "safe_now", "km"),
        (th_code, "which_day", "th"),
    )
    for code, template, lang in asking:
        ref = refs[seqs[code]]
        body = {"template": template, "seq": seqs[code]}
        r = httpx.post(f"{base}/api/cases/{ref}/messages", json=body, headers=staff, timeout=10)
        assert r.status_code == 201, r.text
        assert r.json()["lang"] == lang and r.json()["state"] == "queued"
        asked[code] = (ref, q[template]["text"][lang])

    shown_my = until(lambda: _read_and_answer(phone.page, "my", my_code, ANSWER_MY, shots), 300,
                     "the Burmese question in the phone's app")  # fmt: skip
    assert asked[my_code][1] in shown_my  # read in Burmese, opened with the phone's key
    shown_km = until(lambda: _read_and_answer(box.page, "km", km_code, ANSWER_KM, shots), 300,
                     "the Khmer question on the box's screen")  # fmt: skip
    assert asked[km_code][1] in shown_km  # opened with the key derived from the receipt
    shown_th = until(lambda: _read_and_answer(phone.page, "th", th_code, ANSWER_TH, shots), 300,
                     "the Thai question on a phone that kept nothing")  # fmt: skip
    assert asked[th_code][1] in shown_th  # the phone forgot its key: the code alone opens it

    def answered(code: str, answer: str) -> bool:
        ref = asked[code][0]
        talk = httpx.get(f"{base}/api/cases/{ref}/messages", headers=staff, timeout=10).json()
        texts = [(m["from"], m["text"], m["state"]) for m in talk["messages"]]
        return ("crew", answer, "received") in texts and texts[0][2] == "read"

    until(lambda: answered(my_code, ANSWER_MY), 300, "the Burmese answer on the case")
    until(lambda: answered(km_code, ANSWER_KM), 300, "the Khmer answer on the case")
    until(lambda: answered(th_code, ANSWER_TH), 300, "the Thai answer on the case")

    secrets = [*(asked[c][1] for c in codes), ANSWER_MY, ANSWER_KM, ANSWER_TH]
    disk = b"".join(p.read_bytes() for p in vessel.iterdir() if p.name.startswith("outbox.db"))
    for words in secrets:
        assert words.encode() not in disk
        for w in (phone, box):
            for body in w.posts():
                assert words.encode() not in body
    phone.close()
    box.close()
