"""Crew terminal, script 2: receipt lookup — state and shore notes in the holder's language."""

from __future__ import annotations

import asyncio

from textual.widgets import Input, Static

from protocol.downlinks import CaseState, CaseStatus
from protocol.lang import Lang
from tests.helpers import det_rng
from tests.vessel_agent.conftest import AgentFixture
from vessel_agent.device import Device
from vessel_agent.terminal import CrewTerminal, LookupScreen

T0 = 1_750_000_000


def _result(app: CrewTerminal) -> str:
    return str(app.screen.query_one("#result", Static).content)


async def _lookup(app: CrewTerminal, pilot, code: str) -> str:  # type: ignore[no-untyped-def]
    box = app.screen.query_one("#code", Input)
    box.value = code
    await pilot.press("enter")
    await pilot.pause()
    return _result(app)


def test_lookup_shows_only_that_message_with_notes_in_khmer(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        mine = dev.submit(category=0x17, lang=Lang.KM, text="a", now=T0, rng=det_rng("a"))
        other = dev.submit(category=0x14, lang=Lang.KM, text="b", now=T0, rng=det_rng("b"))
        dev.outbox.mark_acked([mine.seq], T0 + 10)
        dev.outbox.store_status(
            CaseStatus(ref_seq=mine.seq, case_ref="C-1", status=CaseState.OPENED, note=2), T0 + 20
        )
        dev.outbox.store_status(
            CaseStatus(ref_seq=other.seq, case_ref="C-2", status=CaseState.CLOSED, note=4), T0 + 20
        )

        async def scenario() -> None:
            app = CrewTerminal(dev, lang="km")
            async with app.run_test(size=(100, 40)) as pilot:
                await pilot.press("c")
                assert isinstance(app.screen, LookupScreen)
                text = await _lookup(app, pilot, mine.receipt.replace("-", " "))
                assert "គោកបានទទួល" in text  # received ashore
                assert "បានបើកករណី" in text  # case opened
                assert "បុគ្គលិកម្នាក់នឹងជួបអ្នក" in text  # note 2
                # nothing about the other crew member's message
                assert "ករណីត្រូវបានបិទ" not in text and "C-2" not in text
                assert str(other.seq) not in text
                # the code box is emptied after each lookup
                assert app.screen.query_one("#code", Input).value == ""

        asyncio.run(scenario())


def test_unknown_bad_and_throttled_codes(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        sub = dev.submit(category=0x20, lang=Lang.EN, text="", now=T0, rng=det_rng("c"))
        clock = [100.0]

        async def scenario() -> None:
            app = CrewTerminal(dev, lang="en", clock=lambda: clock[0])
            async with app.run_test() as pilot:
                await pilot.press("c")
                assert "10 numbers" in await _lookup(app, pilot, "12-34")
                for _ in range(4):
                    assert "No report" in await _lookup(app, pilot, "00000-00001")
                # five wrong codes in a row: locked, even the right code waits
                assert "wait one minute" in await _lookup(app, pilot, sub.receipt)
                clock[0] += 61
                text = await _lookup(app, pilot, sub.receipt)
                assert "waiting for the satellite" in text

        asyncio.run(scenario())


def test_lookup_accepts_myanmar_digits(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        sub = dev.submit(category=0x20, lang=Lang.MY, text="", now=T0, rng=det_rng("d"))
        burmese = "".join(chr(0x1040 + int(ch)) if ch.isdigit() else ch for ch in sub.receipt)
        view = dev.lookup(burmese)
        assert view is not None and view.seq == sub.seq
