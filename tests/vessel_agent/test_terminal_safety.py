"""Crew terminal, script 5: nothing is sent by one stray key, the words are never thrown away,
every screen shows its keys, the language key is visible, and it all fits 80×24."""

from __future__ import annotations

import asyncio

import pytest
from rich.cells import cell_len
from textual.widget import Widget
from textual.widgets import Button, Input, OptionList, Static, TextArea

from protocol.crew import ZawgyiMode
from tests.helpers import det_rng
from tests.vessel_agent.conftest import AgentFixture
from vessel_agent import i18n
from vessel_agent.device import Device
from vessel_agent.terminal import (
    ConfirmScreen,
    CrewTerminal,
    DetailsScreen,
    LanguageScreen,
    LookupScreen,
    ReceiptScreen,
    StartScreen,
)

SIZE = (80, 24)


def _keys(app: CrewTerminal) -> str:
    return str(app.screen.query_one("#keys", Static).content)


def _shown(app: CrewTerminal) -> str:
    return " ".join(str(w.content) for w in app.screen.query(Static))


async def _routine(app: CrewTerminal, pilot, code: int = 0x17) -> None:  # type: ignore[no-untyped-def]
    """From the start page to the report screen of a routine category."""
    await pilot.press("r")
    await pilot.pause()
    options = app.screen.query_one(OptionList)
    options.highlighted = next(
        i
        for i in range(options.option_count)
        if options.get_option_at_index(i).id == f"cat-{code:02X}"
    )
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, DetailsScreen) and app.screen.category == code


async def _type(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    for ch in text:
        await pilot.press("space" if ch == " " else ch)


def test_receipt_digits_then_enter_on_the_start_page_send_nothing(
    agent_dir: AgentFixture,
) -> None:
    async def scenario() -> None:
        with Device(str(agent_dir.dir)) as dev:
            app = CrewTerminal(dev, lang="en")
            async with app.run_test(size=SIZE) as pilot:
                await _type(pilot, "1234")
                await pilot.pause()
                # the digits went where a receipt code goes, not into any report
                assert isinstance(app.screen, LookupScreen)
                assert app.screen.query_one("#code", Input).value == "1234"
                await pilot.press("enter")
                await pilot.pause()
                result = str(app.screen.query_one("#result", Static).content)
                en = i18n.load("en")
                assert result in (en["ui.bad_code"], en["ui.not_found"])
                for _ in range(3):
                    await pilot.press("escape")
                    await pilot.press("enter")
                    await pilot.pause()
                assert not any(isinstance(s, ConfirmScreen) for s in app.screen_stack)
            assert dev.outbox.stats().queued == 0

    asyncio.run(scenario())


def test_text_box_has_focus_and_enter_keeps_the_words(agent_dir: AgentFixture) -> None:
    async def scenario() -> None:
        with Device(str(agent_dir.dir)) as dev:
            app = CrewTerminal(dev, lang="en")
            async with app.run_test(size=SIZE) as pilot:
                await _routine(app, pilot)
                area = app.screen.query_one(TextArea)
                assert app.screen.focused is area
                await _type(pilot, "no pay")
                await pilot.press("enter")
                await _type(pilot, "rc l")  # start-page letters are only letters here
                await pilot.press("enter")
                await pilot.pause()
                assert area.text == "no pay\nrc l\n"
                assert isinstance(app.screen, DetailsScreen)
            assert dev.outbox.stats().queued == 0

    asyncio.run(scenario())


def test_an_empty_report_cannot_be_sent(agent_dir: AgentFixture) -> None:
    async def scenario() -> None:
        with Device(str(agent_dir.dir)) as dev:
            app = CrewTerminal(dev, lang="en")
            async with app.run_test(size=SIZE) as pilot:
                await _routine(app, pilot)
                await pilot.press("ctrl+s")
                await pilot.pause()
                assert isinstance(app.screen, DetailsScreen)
                assert "write a few words" in str(app.screen.query_one("#error", Static).content)
                await _type(pilot, "   ")
                await pilot.click("#send")
                await pilot.pause()
                assert isinstance(app.screen, DetailsScreen)
                assert app.screen.focused is app.screen.query_one(TextArea)
            assert app.submit(0x17, " \n ") == "ui.empty"  # the one submit path refuses too
            assert dev.outbox.stats().queued == 0

    asyncio.run(scenario())


def test_an_urgent_report_without_words_says_so_before_it_goes(agent_dir: AgentFixture) -> None:
    """An urgent category is itself the message (person overboard): it may go without words,
    but only through the confirmation, which says no words are added."""

    async def scenario() -> None:
        with Device(str(agent_dir.dir)) as dev:
            app = CrewTerminal(dev, lang="en", rng=det_rng("u"))
            async with app.run_test(size=SIZE) as pilot:
                await pilot.click("#urgent-2")
                await pilot.press("ctrl+s")
                await pilot.pause()
                assert isinstance(app.screen, ConfirmScreen)
                assert i18n.load("en")["app.no_words"] in _shown(app)
                await pilot.press("tab")  # to "Yes — send this urgent report now"
                await pilot.press("enter")
                await pilot.pause()
                assert isinstance(app.screen, ReceiptScreen) and app.screen.urgent
            assert dev.outbox.stats().queued == 1

    asyncio.run(scenario())


def test_every_screen_shows_its_keys_and_send_is_shown(agent_dir: AgentFixture) -> None:
    async def scenario() -> None:
        with Device(str(agent_dir.dir)) as dev:
            for lang in i18n.LANGS:
                app = CrewTerminal(dev, lang=lang)
                async with app.run_test(size=SIZE) as pilot:
                    assert "r " in _keys(app) and "l " in _keys(app)
                    await pilot.press("r")
                    await pilot.pause()
                    assert "Enter" in _keys(app) and "Esc" in _keys(app)
                    await pilot.press("enter")
                    await pilot.pause()
                    assert _keys(app).startswith("Ctrl+S ")
                    assert i18n.load(lang)["ui.send"] in _keys(app)
                    await pilot.press("escape")
                    await pilot.press("escape")
                    await pilot.press("c")
                    await pilot.pause()
                    assert "Enter" in _keys(app)
            assert dev.outbox.stats().queued == 0

    asyncio.run(scenario())


def test_the_language_key_is_visible_and_works(agent_dir: AgentFixture) -> None:
    async def scenario() -> None:
        with Device(str(agent_dir.dir)) as dev:
            app = CrewTerminal(dev, lang="my")
            async with app.run_test(size=SIZE) as pilot:
                label = str(app.screen.query_one("#lang-key", Static).content)
                assert label.startswith("l · ဘာသာစကား") and label.endswith("Language")
                await pilot.press("l")
                await pilot.pause()
                assert isinstance(app.screen, LanguageScreen)
                for _ in range(i18n.LANGS.index("th")):
                    await pilot.press("down")
                await pilot.press("enter")
                await pilot.pause()
                assert isinstance(app.screen, StartScreen) and app.t.lang == "th"
                assert (
                    str(app.screen.query_one("#title", Static).content)
                    == i18n.load("th")["ui.title"]
                )

    asyncio.run(scenario())


def _overflowing(app: CrewTerminal) -> list[str]:
    """Widgets cut by the 80×24 screen, and buttons whose label does not fit."""
    width, height = SIZE
    bad = []
    for w in app.screen.query(Widget):
        r = w.region
        if not w.display or r.area == 0:
            continue
        if r.right > width or r.bottom > height:
            bad.append(f"{w!r} at {r}")
        if isinstance(w, Button) and cell_len(str(w.label)) > w.content_region.width:
            bad.append(f"{w.id}: {w.label!s} in {w.content_region.width} cells")
    return bad


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_labels_fit_at_80x24(agent_dir: AgentFixture, lang: str) -> None:
    async def scenario() -> None:
        with Device(str(agent_dir.dir)) as dev:
            app = CrewTerminal(dev, lang=lang, rng=det_rng(f"fit-{lang}"))
            async with app.run_test(size=SIZE) as pilot:
                assert _overflowing(app) == []  # start page
                await pilot.press("l")
                await pilot.pause()
                assert _overflowing(app) == []  # languages
                await pilot.press("escape")
                await pilot.press("r")
                await pilot.pause()
                assert _overflowing(app) == []  # categories
                await pilot.press("escape")
                await pilot.click("#urgent-3")
                await pilot.pause()
                assert _overflowing(app) == []  # urgent report
                await _type(pilot, "x")
                await pilot.press("ctrl+s")
                await pilot.pause()
                assert isinstance(app.screen, ConfirmScreen)
                assert _overflowing(app) == []  # its confirmation
                await pilot.click("#yes")
                await pilot.pause()
                assert isinstance(app.screen, ReceiptScreen)
                assert _overflowing(app) == []  # receipt
                code = app.screen.code
                await pilot.press("enter")
                await pilot.press("c")
                await pilot.pause()
                app.screen.query_one("#code", Input).value = code
                await pilot.press("enter")
                await pilot.pause()
                assert app.screen.query_one("#actions").display
                assert _overflowing(app) == []  # lookup with its two actions
                await pilot.click("#withdraw")
                await pilot.pause()
                assert _overflowing(app) == []  # withdrawal confirmation
            assert dev.outbox.stats().queued == 1

    asyncio.run(scenario())


def test_zawgyi_typed_at_the_terminal_is_converted_and_the_crew_member_told(
    agent_dir: AgentFixture,
) -> None:
    typed = "ခုႏွစ္လ လစာ မရပါ"

    async def scenario() -> None:
        with Device(str(agent_dir.dir)) as dev:
            app = CrewTerminal(dev, lang="my", rng=det_rng("zg"))
            async with app.run_test(size=SIZE) as pilot:
                await _routine(app, pilot)
                app.screen.query_one(TextArea).insert(typed)
                await pilot.press("ctrl+s")
                await pilot.pause()
                await pilot.click("#yes")
                await pilot.pause()
                assert isinstance(app.screen, ReceiptScreen)
                assert app.screen.zawgyi is ZawgyiMode.CONVERTED
                assert (
                    str(app.screen.query_one("#zawgyi", Static).content)
                    == i18n.load("my")["ui.zawgyi_converted"]
                )
            assert dev.outbox.stats().queued == 1

    asyncio.run(scenario())
