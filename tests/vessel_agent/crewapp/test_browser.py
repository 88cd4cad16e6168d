"""The crew app in Debian's Chromium (Playwright) at phone (390×844) and box-screen (1024×600)
size, against the agent's own crew server: every language, the urgent second step, a stray
Enter, the idle reset, no request to anywhere else and no request body with the words in it.
The journey to the shore and back is tests/vessel_agent/crewapp/test_e2e_browser.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browsers import chromium
from tests.vessel_agent.conftest import AgentFixture, make_agent_dir
from tests.vessel_agent.crewapp.test_server import BURMESE, KHMER, THAI, opened, seq_of
from vessel_agent import i18n
from vessel_agent.crewapp.server import CrewServer, serve

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}
BOX = {"width": 1024, "height": 600}
IDLE_S = 6


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[AgentFixture, CrewServer]]:
    fx = make_agent_dir(tmp_path, idle_timeout_s=IDLE_S)
    server = serve(str(fx.dir), ("127.0.0.1", 0), idle_s=IDLE_S)
    try:
        yield fx, server
    finally:
        server.close()


class Watched:
    """A page whose every request is recorded; any request off this origin fails the test."""

    def __init__(self, browser: Any, url: str, viewport: dict[str, int]) -> None:
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        self.context = browser.new_context(viewport=viewport, service_workers="block")
        self.requests: list[Any] = []
        self.elsewhere: list[str] = []
        self.errors: list[str] = []

        def route(r: Any) -> None:
            req = r.request
            self.requests.append(req)
            if not req.url.startswith(self.origin + "/"):
                self.elsewhere.append(req.url)
                r.abort()
            else:
                r.continue_()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.page.wait_for_selector("#s-lang")

    def posts(self) -> list[bytes]:
        return [r.post_data_buffer or b"" for r in self.requests if r.method == "POST"]

    def close(self) -> None:
        assert self.elsewhere == [], f"requests off the box: {self.elsewhere}"
        assert self.errors == []
        self.context.close()


def no_overflow(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], "the page scrolls sideways"


@pytest.mark.parametrize("viewport", [PHONE, BOX], ids=["phone", "box"])
def test_every_language_at_phone_and_box_size(browser: Any, app: Any, viewport: Any) -> None:
    _, server = app
    w = Watched(browser, server.url, viewport)
    page = w.page
    names = [b.inner_text() for b in page.locator("#s-lang [data-lang]").all()]
    assert names == [i18n.load(lang)["language_name"] for lang in i18n.LANGS]  # own scripts
    for lang in i18n.LANGS:
        t = i18n.load(lang)
        page.click(f"[data-lang={lang}]")
        page.wait_for_selector("#s-home")
        assert page.locator("h1").inner_text() == t["ui.title"]
        assert page.evaluate("document.documentElement.lang") == lang
        urgent = page.locator(".urgent-box .tile")
        assert urgent.count() == len(i18n.URGENT)
        assert urgent.nth(0).inner_text().endswith(t["cat.F0"])
        no_overflow(page)
        for box in (page.locator("#go-report"), urgent.nth(3)):
            size = box.bounding_box()
            assert size["height"] >= 80 and size["width"] >= 150  # big targets
        page.click("#go-report")
        page.wait_for_selector("#s-cats")
        assert page.locator("[data-cat='17'] .word").inner_text() == t["cat.17"]
        no_overflow(page)
        page.click("#back")
        page.click("#go-lang")
    w.close()


def test_urgent_needs_two_deliberate_actions_and_enter_never_discards(
    browser: Any, app: Any
) -> None:
    fx, server = app
    w = Watched(browser, server.url, PHONE)
    page = w.page
    page.click("[data-lang=my]")
    page.wait_for_selector("#s-home")  # the catalog loads first: a loaded machine takes a while
    # The start page: digits and Enter (what opened and sent urgent reports in the old
    # terminal) do nothing.
    for key in ("1", "2", "3", "4", "Enter", "r", "Enter"):
        page.keyboard.press(key)
    assert page.locator("#s-home").count() == 1 and w.posts() == []
    page.locator(".urgent-box [data-cat=F0]").click()  # deliberate action 1 of 2 ... and nothing
    page.wait_for_selector("#s-write")
    assert page.evaluate("document.activeElement.id") == "text"  # the text box has focus
    page.keyboard.type(BURMESE)
    for _ in range(3):
        page.keyboard.press("Enter")  # a stray Enter: a new line, never a send or a discard
    assert page.input_value("#text").startswith(BURMESE)
    page.keyboard.press("Escape")
    assert page.input_value("#text").startswith(BURMESE)
    page.click("#next")
    page.wait_for_selector("#s-review")
    t = i18n.load("my")
    assert page.locator("#send").inner_text() == t["app.send_urgent"]
    assert t["app.review_private"] in page.inner_text("body")
    assert page.locator("#words").inner_text() == BURMESE
    for _ in range(3):
        page.keyboard.press("Enter")  # focus is on the heading: Enter does nothing here either
    page.keyboard.press("Space")
    assert page.locator("#s-review").count() == 1 and w.posts() == []
    page.click("#change")  # back to the words, all of them
    assert page.input_value("#text").startswith(BURMESE)
    page.click("#next")
    page.click("#send")  # deliberate action 2 of 2: "yes — send this urgent report now"
    page.wait_for_selector("#s-receipt")
    code = page.locator("#receipt").inner_text()
    assert len(w.posts()) == 1
    content = opened(fx, seq_of(fx, code))
    assert content.category == 0xF0 and content.text == BURMESE
    # The receipt is big and whole on a phone.
    box = page.locator("#receipt").bounding_box()
    assert box["height"] >= 48 and box["width"] <= PHONE["width"]
    no_overflow(page)
    w.close()


def test_no_request_leaves_the_box_and_no_body_holds_the_words(browser: Any, app: Any) -> None:
    fx, server = app
    w = Watched(browser, server.url, BOX)
    page = w.page
    codes = []
    for lang, text, cat in (("my", BURMESE, "17"), ("km", KHMER, "1A"), ("th", THAI, "25")):
        page.click(f"[data-lang={lang}]")
        page.click("#go-report")
        page.click(f"[data-cat='{cat}']")
        page.fill("#text", text)
        page.wait_for_selector("#meter-count")
        assert page.locator("#meter-count").inner_text() == i18n.load(lang)["app.meter"].format(n=1)
        page.click("#next")
        page.click("#send")
        page.wait_for_selector("#s-receipt")
        codes.append(page.locator("#receipt").inner_text())
        page.click("#done")
    # Look one up, ask for news, then withdraw it (a confirmation first).
    page.click("[data-lang=km]")
    page.click("#go-check")
    page.fill("#code", codes[1])
    page.keyboard.press("Enter")
    page.wait_for_selector("#actions:not([hidden])")
    assert i18n.load("km")["delivery.queued"] in page.inner_text("#result")
    page.click("#ask")
    page.wait_for_selector("#s-queued")
    page.click("#done")
    page.click("[data-lang=km]")
    page.click("#go-check")
    page.fill("#code", codes[1])
    page.click("#lookup")
    page.wait_for_selector("#actions:not([hidden])")
    page.click("#withdraw")
    page.wait_for_selector("#s-withdraw")
    page.keyboard.press("Enter")  # focus is not on "confirm"
    assert page.locator("#s-withdraw").count() == 1
    page.click("#confirm")
    page.wait_for_selector("#s-queued")
    bodies = w.posts()
    # 3 submits, 2 look-ups, ask, withdraw — and the look-ups' checks for messages from shore
    assert len(bodies) >= 3 + 2 + 2
    for body in bodies:
        for secret in (BURMESE, KHMER, THAI, *codes):
            assert secret.encode() not in body
            assert secret.replace("-", "").encode() not in body
    for req in w.requests:
        for code in codes:
            assert code not in req.url and code.replace("-", "") not in req.url
    for code, text in zip(codes, (BURMESE, KHMER, THAI), strict=True):
        assert opened(fx, seq_of(fx, code)).text == text
    disk = b"".join(p.read_bytes() for p in fx.dir.iterdir() if p.name.startswith("outbox.db"))
    assert (fx.dir / "outbox.db-wal").exists()
    for text in (BURMESE, KHMER, THAI):
        assert text.encode() not in disk
    w.close()


def test_idle_returns_to_the_start_and_shows_nothing_of_the_last_person(
    browser: Any, app: Any
) -> None:
    _, server = app
    w = Watched(browser, server.url, PHONE)
    page = w.page
    page.click("[data-lang=th]")
    page.click("#go-report")
    page.click("[data-cat='17']")
    page.keyboard.type(THAI)
    page.wait_for_selector("#s-lang", timeout=(IDLE_S + 5) * 1000)
    assert THAI not in page.content()
    assert page.evaluate("document.documentElement.lang") == "en"
    page.click("[data-lang=th]")
    page.click("#go-report")
    page.click("[data-cat='17']")
    assert page.input_value("#text") == ""  # the draft is gone, not just hidden
    # A looked-up receipt's state is gone too.
    page.click("#back")
    page.click("#back")
    page.click("#go-check")
    page.fill("#code", "12345-67890")
    page.click("#lookup")
    page.wait_for_selector("#result:has-text('" + i18n.load("th")["ui.not_found"] + "')")
    page.wait_for_selector("#s-lang", timeout=(IDLE_S + 5) * 1000)
    assert i18n.load("th")["ui.not_found"] not in page.content()
    w.close()


def test_a_report_over_the_limit_says_wait_not_no_connection(browser: Any, tmp_path: Path) -> None:
    fx = make_agent_dir(tmp_path)
    server = serve(str(fx.dir), ("127.0.0.1", 0), submits_per_10min=1)
    w = Watched(browser, server.url, PHONE)
    page = w.page
    t = i18n.load("en")
    try:
        for attempt in range(2):
            page.click("[data-lang=en]")
            page.click("#go-report")
            page.click("[data-cat='17']")
            page.fill("#text", f"no pay, report {attempt}")
            page.click("#next")
            page.click("#send")
            if attempt == 0:
                page.wait_for_selector("#s-receipt")
                page.click("#done")
        page.wait_for_function(
            "sending => document.getElementById('error').textContent !== sending",
            arg=t["app.sending"],
        )
        assert page.inner_text("#error") == t["app.too_many"]  # not "no connection": wait
        assert page.locator("#send").is_enabled()
    finally:
        w.close()
        server.close()
