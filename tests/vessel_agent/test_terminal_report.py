"""Crew terminal, script 1: report flows — urgent with a confirmation, grouped categories, text."""

from __future__ import annotations

import asyncio

from textual.widgets import OptionList, Static, TextArea

from tests.helpers import det_rng
from tests.vessel_agent.conftest import AgentFixture
from vessel_agent.device import Device
from vessel_agent.terminal import (
    CategoryScreen,
    ConfirmScreen,
    CrewTerminal,
    DetailsScreen,
    ReceiptScreen,
)


def _static(app: CrewTerminal, sel: str) -> str:
    return str(app.screen.query_one(sel, Static).content)


def test_urgent_needs_two_deliberate_actions(agent_dir: AgentFixture) -> None:
    async def scenario() -> None:
        with Device(str(agent_dir.dir)) as dev:
            app = CrewTerminal(dev, lang="en", rng=det_rng("t1"))
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.click("#urgent-1")  # medical emergency
                await pilot.pause()
                assert isinstance(app.screen, DetailsScreen)
                assert app.screen.category == 0xF1
                assert "Medical emergency" in _static(app, "#title")
                for key in "cut hand":
                    await pilot.press("space" if key == " " else key)
                await pilot.press("ctrl+s")
                await pilot.pause()
                assert isinstance(app.screen, ConfirmScreen)  # first action: nothing sent
                assert app.screen.focused is not None and app.screen.focused.id == "no"
                assert dev.outbox.stats().queued == 0
                await pilot.press("enter")  # a stray Enter: back to the words, kept
                await pilot.pause()
                assert isinstance(app.screen, DetailsScreen)
                assert app.screen.query_one(TextArea).text == "cut hand"
                assert dev.outbox.stats().queued == 0
                await pilot.press("ctrl+s")
                await pilot.pause()
                await pilot.click("#yes")  # second, deliberate action
                await pilot.pause()
                assert isinstance(app.screen, ReceiptScreen)
                code = _static(app, "#code")
                assert len(code) == 11 and code[5] == "-"
            view = dev.lookup(code)
            assert view is not None and view.state == "queued"
            row = dev.outbox.db.execute("SELECT priority FROM messages WHERE seq = ?", (view.seq,))
            assert row.fetchone()[0] == 0  # urgent

    asyncio.run(scenario())


def test_category_menu_groups_and_free_text_in_burmese(agent_dir: AgentFixture) -> None:
    async def scenario() -> None:
        with Device(str(agent_dir.dir)) as dev:
            app = CrewTerminal(dev, lang="en", rng=det_rng("t2"))
            async with app.run_test(size=(100, 60)) as pilot:
                await pilot.click("#lang-my")
                await pilot.pause()
                assert "လျှို့ဝှက်" in _static(app, "#title")
                await pilot.press("r")
                assert isinstance(app.screen, CategoryScreen)
                options = app.screen.query_one(OptionList)
                prompts = [
                    str(options.get_option_at_index(i).prompt) for i in range(options.option_count)
                ]
                # group headers in Burmese, urgent group first, wages under forced labour
                assert prompts[0] == "အရေးပေါ်"
                assert "လစာ မပေးပါ" in "".join(prompts)
                index = next(
                    i
                    for i in range(options.option_count)
                    if options.get_option_at_index(i).id == "cat-17"
                )
                options.highlighted = index
                options.focus()
                await pilot.press("enter")
                assert isinstance(app.screen, DetailsScreen) and app.screen.category == 0x17
                area = app.screen.query_one(TextArea)
                area.insert("ခုနစ်လ လစာ မရပါ")
                await pilot.click("#send")
                await pilot.pause()
                assert isinstance(app.screen, ConfirmScreen)
                assert "ခုနစ်လ လစာ မရပါ" in " ".join(str(w.content) for w in app.screen.query(Static))
                await pilot.click("#yes")
                await pilot.pause()
                assert isinstance(app.screen, ReceiptScreen)
                code = app.screen.code
                assert "ပြေစာ" in str(app.screen.query(Static)[1].content)
                await pilot.press("enter")  # done → start page, default language again
                await pilot.pause()
                assert len(app.screen_stack) == 2 and app.t.lang == "en"
            assert dev.lookup(code) is not None

    asyncio.run(scenario())


def test_back_and_escape_return_without_queueing(agent_dir: AgentFixture) -> None:
    async def scenario() -> None:
        with Device(str(agent_dir.dir)) as dev:
            app = CrewTerminal(dev, lang="th")
            async with app.run_test() as pilot:
                await pilot.press("r")
                await pilot.press("escape")
                assert len(app.screen_stack) == 2
                await pilot.click("#urgent-0")
                await pilot.press("ctrl+s")  # urgent, no words: the confirmation still comes
                await pilot.pause()
                assert isinstance(app.screen, ConfirmScreen)
                await pilot.press("escape")
                await pilot.press("escape")
                assert len(app.screen_stack) == 2
            assert dev.outbox.stats().queued == 0

    asyncio.run(scenario())
