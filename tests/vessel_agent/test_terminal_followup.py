"""Crew terminal, script 4: after a receipt lookup, withdraw the report or ask for news.

Each queues one sealed crew message referencing the looked-up seq; the tests open it with the
shore's sealing key, as the gateway would.
"""

from __future__ import annotations

import asyncio

from textual.widgets import Button, Input, Static

from protocol.crew import CrewContent, StatusRequest, Withdraw, decode_crew
from protocol.lang import Lang
from protocol.messages import CrewMessage, decode_message
from protocol.seal import crew_info, open_sealed
from tests.helpers import det_rng
from tests.vessel_agent.conftest import AgentFixture
from vessel_agent.device import Device
from vessel_agent.terminal import CrewTerminal, LookupScreen, QueuedScreen, WithdrawScreen

T0 = 1_750_000_000
SECRET = "captain keeps our passports in the safe"


def _opened(dev: Device, fx: AgentFixture) -> dict[int, CrewContent]:
    """Every queued crew message, opened with the shore key: seq → content."""
    out: dict[int, CrewContent] = {}
    for (encoded,) in dev.outbox.db.execute("SELECT encoded FROM messages ORDER BY seq"):
        msg = decode_message(bytes(encoded))
        if isinstance(msg, CrewMessage):
            plain = open_sealed(msg.sealed, [fx.shore.seal], crew_info(fx.kid, msg.seq, msg.time))
            out[msg.seq] = decode_crew(plain)
    return out


def _actions_shown(app: CrewTerminal) -> bool:
    return bool(app.screen.query_one("#actions").display)


async def _lookup(app: CrewTerminal, pilot, code: str) -> str:  # type: ignore[no-untyped-def]
    app.screen.query_one("#code", Input).value = code
    await pilot.press("enter")
    await pilot.pause()
    return str(app.screen.query_one("#result", Static).content)


def _submit_two(dev: Device) -> tuple[str, int, int]:
    mine = dev.submit(category=0x16, lang=Lang.EN, text=SECRET, now=T0, rng=det_rng("m"))
    other = dev.submit(category=0x17, lang=Lang.EN, text="other", now=T0, rng=det_rng("o"))
    return mine.receipt, mine.seq, other.seq


def test_lookup_withdraw_confirm_queues_a_sealed_withdraw(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        code, seq, other = _submit_two(dev)

        async def scenario() -> None:
            app = CrewTerminal(dev, lang="en")
            async with app.run_test(size=(100, 40)) as pilot:
                await pilot.press("c")
                assert not _actions_shown(app)
                await _lookup(app, pilot, code)
                assert _actions_shown(app)
                await pilot.click("#withdraw")
                await pilot.pause()
                assert isinstance(app.screen, WithdrawScreen)
                shown = " ".join(str(w.content) for w in app.screen.query(Static))
                assert "cannot be undone" in shown
                await pilot.click("#confirm")
                await pilot.pause()
                assert isinstance(app.screen, QueuedScreen)
                shown = " ".join(str(w.content) for w in app.screen.query(Static))
                assert "withdrawal is saved" in shown and "satellite link allows" in shown
                assert code not in shown and SECRET not in shown
                await pilot.press("enter")
                await pilot.pause()
                assert len(app.screen_stack) == 2

        asyncio.run(scenario())
        opened = _opened(dev, agent_dir)
        follow = {s: c for s, c in opened.items() if s not in (seq, other)}
        assert list(follow.values()) == [Withdraw(ref_seq=seq)]
        assert max(follow) > other  # a fresh seq, queued like any crew message
        assert dev.outbox.stats().queued == 3


def test_cancel_or_escape_at_confirmation_queues_nothing(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        code, _, _ = _submit_two(dev)

        async def scenario() -> None:
            app = CrewTerminal(dev, lang="en")
            async with app.run_test(size=(100, 40)) as pilot:
                await pilot.press("c")
                await _lookup(app, pilot, code)
                await pilot.click("#withdraw")
                await pilot.pause()
                assert app.screen.focused is app.screen.query_one("#cancel", Button)
                await pilot.press("enter")  # the focused, safe choice
                await pilot.pause()
                assert isinstance(app.screen, LookupScreen)
                await pilot.click("#withdraw")
                await pilot.pause()
                await pilot.press("escape")
                await pilot.pause()
                assert isinstance(app.screen, LookupScreen)

        asyncio.run(scenario())
        assert dev.outbox.stats().queued == 2


def test_ask_for_news_queues_a_status_request_in_thai(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        code, seq, _ = _submit_two(dev)

        async def scenario() -> None:
            app = CrewTerminal(dev, lang="th")
            async with app.run_test(size=(100, 40)) as pilot:
                await pilot.press("c")
                await _lookup(app, pilot, code)
                assert "สอบถาม" in str(app.screen.query_one("#ask", Button).label)
                await pilot.click("#ask")
                await pilot.pause()
                assert isinstance(app.screen, QueuedScreen)
                shown = " ".join(str(w.content) for w in app.screen.query(Static))
                assert "บันทึกคำถาม" in shown

        asyncio.run(scenario())
        contents = list(_opened(dev, agent_dir).values())
        assert contents[-1] == StatusRequest(ref_seq=seq)
        assert not any(isinstance(c, Withdraw) for c in contents)


def test_wrong_code_offers_no_action(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        code, _, _ = _submit_two(dev)

        async def scenario() -> None:
            app = CrewTerminal(dev, lang="en")
            async with app.run_test(size=(100, 40)) as pilot:
                await pilot.press("c")
                assert "No report" in await _lookup(app, pilot, "00000-00001")
                assert not _actions_shown(app)
                assert "10 numbers" in await _lookup(app, pilot, "123")
                assert not _actions_shown(app)
                # a right code shows them; a wrong one after it hides them again
                await _lookup(app, pilot, code)
                assert _actions_shown(app)
                await _lookup(app, pilot, "00000-00002")
                assert not _actions_shown(app)
                assert isinstance(app.screen, LookupScreen) and app.screen.found is None

        asyncio.run(scenario())
        assert dev.outbox.stats().queued == 2


def test_plaintext_never_in_outbox_after_follow_ups(agent_dir: AgentFixture) -> None:
    with Device(str(agent_dir.dir)) as dev:
        code, seq, _ = _submit_two(dev)
        dev.request_status(code, now=T0 + 5)
        dev.withdraw(code, now=T0 + 6)
        db_path = dev.dir.db_path
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    for needle in (SECRET, code, code.replace("-", "")):
        assert needle.encode() not in raw
    with Device(str(agent_dir.dir)) as dev:
        contents = list(_opened(dev, agent_dir).values())
    assert contents[-2:] == [StatusRequest(ref_seq=seq), Withdraw(ref_seq=seq)]


def test_cli_withdraw_and_ask(agent_dir: AgentFixture, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from flip.cli import main

    with Device(str(agent_dir.dir)) as dev:
        code, seq, _ = _submit_two(dev)
    d = str(agent_dir.dir)
    assert main(["vessel", "ask", "--dir", d, "--receipt", code, "--json"]) == 0
    asked = json.loads(capsys.readouterr().out)
    assert asked["ref_seq"] == seq and asked["kind"] == "status_request"
    assert main(["vessel", "withdraw", "--dir", d, "--receipt", code]) == 0
    assert "sent when the link allows" in capsys.readouterr().out
    assert main(["vessel", "withdraw", "--dir", d, "--receipt", "00000-00001", "--json"]) != 0
    capsys.readouterr()
    with Device(d) as dev:
        contents = list(_opened(dev, agent_dir).values())
    assert contents[-2:] == [StatusRequest(ref_seq=seq), Withdraw(ref_seq=seq)]
