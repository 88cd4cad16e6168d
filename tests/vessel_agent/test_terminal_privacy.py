"""Crew terminal, script 3: idle timeout to a neutral page, language switching, no leftovers."""

from __future__ import annotations

import asyncio

from textual.widgets import Static, TextArea

from protocol.lang import LANGS as WIRE_LANGS
from tests.vessel_agent.conftest import AgentFixture
from vessel_agent import i18n
from vessel_agent.device import Device
from vessel_agent.terminal import CrewTerminal, DetailsScreen, StartScreen


def test_idle_timeout_returns_to_neutral_start_and_forgets_text(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        clock = [0.0]

        async def scenario() -> None:
            app = CrewTerminal(dev, lang="en", clock=lambda: clock[0], idle_timeout_s=30)
            async with app.run_test() as pilot:
                await pilot.click("#lang-vi")
                await pilot.pause()
                await pilot.press("r")
                await pilot.press("enter")  # first selectable category
                await pilot.pause()
                assert isinstance(app.screen, DetailsScreen)
                app.screen.query_one(TextArea).insert("bí mật")
                clock[0] = 29
                assert not app.idle_check()
                clock[0] = 31
                assert app.idle_check()
                await pilot.pause()
                assert isinstance(app.screen, StartScreen)
                assert app.t.lang == "en"
                shown = " ".join(str(w.content) for w in app.screen.query(Static))
                assert "Private help line" in shown and "bí mật" not in shown
                assert not any(isinstance(s, DetailsScreen) for s in app.screen_stack)
                # on the start page in the default language, idleness changes nothing
                clock[0] = 100
                assert not app.idle_check()

        asyncio.run(scenario())
        assert dev.outbox.stats().queued == 0


def test_every_language_renders_the_start_page(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:

        async def scenario() -> None:
            app = CrewTerminal(dev, lang="en")
            async with app.run_test(size=(120, 50)) as pilot:
                for lang in i18n.LANGS:
                    await pilot.click(f"#lang-{lang}")
                    await pilot.pause()
                    title = str(app.screen.query_one("#title", Static).content)
                    assert title == i18n.load(lang)["ui.title"]

        asyncio.run(scenario())


def test_catalogs_complete_and_cover_every_category() -> None:
    ref = set(i18n.load("en"))
    codes = [c for _, group in i18n.GROUPS for c in group] + list(i18n.URGENT)
    assert set(i18n.LANGS) == set(WIRE_LANGS)
    for lang in i18n.LANGS:
        cat = i18n.load(lang)
        assert set(cat) == ref, lang
        assert all(cat[k].strip() for k in cat), lang
        for code in codes:
            assert f"cat.{code:02X}" in cat
    for lang in i18n.LANGS[:-1]:  # translated, not copied
        assert i18n.load(lang)["ui.send"] != i18n.load("en")["ui.send"]


def test_no_ui_strings_in_code() -> None:
    """Screens take every word from the catalogs: no literal prose in terminal.py widgets."""
    import ast
    import inspect

    from vessel_agent import terminal

    tree = ast.parse(inspect.getsource(terminal))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in {"Static", "Button"}:
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    assert arg.value == "", f"literal UI text: {arg.value!r}"
