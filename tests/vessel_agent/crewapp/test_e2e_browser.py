"""Crew app → agent → modem emulator → gateway → case desk → status back by MT → crew app.

`flip demo` runs the real pipeline (gateway, one emulated modem, a `flip vessel run` agent with
its crew app). In Chromium, crew submit Burmese (typed in Unicode, and in Zawgyi as many Myanmar
phones still do), Khmer and Thai at phone and box-screen size; the words arrive ashore intact
(Zawgyi converted to Unicode); staff acknowledge the Burmese case; the crew member reads that
status by receipt in the app, in Burmese. The vessel's outbox and WAL never hold the words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.demoproc import demo as run_demo
from tests.demoproc import until
from tests.vessel_agent.crewapp.test_browser import BOX, PHONE, Watched, browser  # noqa: F401
from tests.vessel_agent.crewapp.test_server import BURMESE, KHMER, THAI
from vessel_agent import i18n
from vessel_agent.device import Device

pytestmark = pytest.mark.slow

# "Seven months, no wages" typed on a Zawgyi phone, and what staff must read (Unicode).
ZAWGYI = "ခုႏွစ္လ လစာ မရပါ"
ZAWGYI_AS_UNICODE = "ခုနှစ်လ လစာ မရပါ"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with run_demo(tmp_path / "demo") as info:
        info["vessel_dir"] = info["crew_terminal"].split("--dir ", 1)[1]
        yield info


def submit(page: Any, lang: str, category: str, text: str, *, urgent: bool = False) -> str:
    page.click(f"[data-lang={lang}]")
    if urgent:
        page.locator(f".urgent-box [data-cat='{category}']").click()
    else:
        page.click("#go-report")
        page.click(f"[data-cat='{category}']")
    page.fill("#text", text)
    page.click("#next")
    page.click("#send")
    page.wait_for_selector("#s-receipt")
    code: str = page.locator("#receipt").inner_text()
    page.click("#done")
    return code


def test_crew_app_to_the_case_desk_and_the_status_back(
    demo: dict[str, Any],
    browser: Any,  # noqa: F811
) -> None:
    url = demo["crew_apps"][0]["url"]
    sent: dict[str, tuple[str, str]] = {}  # receipt → (words typed, words staff must read)
    phone = Watched(browser, url, PHONE)
    sent[submit(phone.page, "my", "17", BURMESE)] = (BURMESE, BURMESE)
    sent[submit(phone.page, "my", "25", ZAWGYI)] = (ZAWGYI, ZAWGYI_AS_UNICODE)
    box = Watched(browser, url, BOX)
    sent[submit(box.page, "km", "1A", KHMER)] = (KHMER, KHMER)
    sent[submit(box.page, "th", "F1", THAI, urgent=True)] = (THAI, THAI)
    vessel = Path(demo["vessel_dir"])
    with Device(str(vessel)) as dev:
        seqs = {code: dev.lookup(code).seq for code in sent}  # type: ignore[union-attr]
    disk = b"".join(p.read_bytes() for p in vessel.iterdir() if p.name.startswith("outbox.db"))
    for w in (phone, box):
        for body in w.posts():
            for typed, _ in sent.values():
                assert typed.encode() not in body
    for typed, read in sent.values():
        assert typed.encode() not in disk and read.encode() not in disk

    staff = {"Authorization": f"Bearer {demo['staff_login']['token']}"}
    base = demo["base"]

    def ashore() -> dict[int, dict[str, Any]] | None:
        rows = httpx.get(f"{base}/api/grievances", params={"include": "text"}, headers=staff,
                         timeout=10).json()  # fmt: skip
        got = {r["seq"]: r for r in rows if r["seq"] in seqs.values()}
        return got if len(got) == len(seqs) else None

    rows = until(ashore, 240, "the four grievances ashore")
    for code, (_, read) in sent.items():
        assert rows[seqs[code]]["text"] == read  # intact; Zawgyi converted to Unicode
    zawgyi_row = rows[seqs[next(c for c, v in sent.items() if v[0] == ZAWGYI)]]
    assert zawgyi_row["zawgyi"]["mode"] == "converted"
    assert zawgyi_row["zawgyi"]["typed"] == ZAWGYI  # staff see it was converted

    burmese = next(c for c, v in sent.items() if v[0] == BURMESE)
    ref = rows[seqs[burmese]]["case"]
    r = httpx.post(f"{base}/api/cases/{ref}/transition", json={"status": "acknowledged"},
                   headers=staff, timeout=10)  # fmt: skip
    assert r.status_code == 200, r.text

    t = i18n.load("my")
    page = phone.page

    def read_in_app() -> bool:
        page.click("[data-lang=my]")
        page.click("#go-check")
        page.fill("#code", burmese)
        page.click("#lookup")
        page.wait_for_selector("#actions:not([hidden])")
        shown = page.inner_text("#result")
        page.click("#back")
        page.click("#go-lang")
        return t["case.3"] in shown

    until(read_in_app, 240, "the shore's status on the receipt, read in the app")
    phone.close()
    box.close()
