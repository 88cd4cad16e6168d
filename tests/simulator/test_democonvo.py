"""The demo's one conversation steps in order: wait for the case, ask, wait for the question on
board, answer — each only once, and no faster than its poll interval. (The real pipeline under
it is tested end to end in tests/vessel_agent/crewapp/test_conversation_browser.py.)"""

from __future__ import annotations

from typing import Any

from simulator import democonvo
from simulator.democonvo import DemoConversation
from simulator.errors import RealtimeError

RECEIPT = {"vessel": "MV Demo 1", "seq": 2, "receipt": "12345-67890"}


class Response:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code, self.body = status, body

    def json(self) -> Any:
        return self.body


class Client:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.posts: list[tuple[str, dict[str, Any]]] = []

    def get(self, url: str) -> Response:
        assert url == "/api/grievances"
        return Response(200, self.rows)

    def post(self, url: str, json: dict[str, Any]) -> Response:
        self.posts.append((url, json))
        return Response(201, {})


def test_ask_once_then_answer_once_when_the_question_is_on_board() -> None:
    client = Client()
    calls: list[list[str]] = []
    on_board = {"yes": False}

    def flip(args: list[str], env: dict[str, str]) -> dict[str, Any]:
        calls.append(args)
        if args[1] == "status":
            if len([c for c in calls if c[1] == "status"]) == 1:
                raise RealtimeError("the agent directory is busy")
            return {"messages": [{"from": "shore", "text": "?"}] if on_board["yes"] else []}
        return {"kind": "reply"}

    talk = DemoConversation(client, RECEIPT, "/v", {}, flip)
    assert talk.step(0.0) == "wait_case" and client.posts == []  # no case yet
    client.rows = [{"vessel": "Other", "seq": 2, "case": "C-9"}, {**RECEIPT, "case": "C-1"}]
    assert talk.step(1.0) == "wait_case"  # polled too soon: nothing happens
    assert talk.step(democonvo.POLL_S) == "asked"
    assert client.posts == [("/api/cases/C-1/messages", {"template": "safe_now", "seq": 2})]
    assert talk.step(2 * democonvo.POLL_S) == "asked"  # status failed: still waiting
    assert talk.step(3 * democonvo.POLL_S) == "asked"  # no message on board yet
    on_board["yes"] = True
    assert talk.step(4 * democonvo.POLL_S) == "done"
    assert calls[-1][:2] == ["vessel", "reply"] and democonvo.ANSWER in calls[-1]
    assert talk.step(10 * democonvo.POLL_S) == "done" and len(client.posts) == 1
