"""One conversation in `make demo`: staff ask the crew member who filed the first grievance
"are you safe now?" (the common question, in Burmese), the question travels sealed by MT, the
crew member reads it with the receipt on board and answers — the answer lands on the case page
("Ask the crew member"). Each step runs when the previous one has happened, polled from the
demo's loop; the crew side uses the same commands a crew member's terminal would
(`flip vessel status --receipt`, `flip vessel reply`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from simulator.errors import RealtimeError

TEMPLATE = "safe_now"
#: The crew member's answer, in the language of the first demo grievance (Burmese).
ANSWER = "ဟုတ်ကဲ့၊ အခု လုံခြုံပါတယ်။ ဆိပ်ကမ်းရောက်ရင် ဖုန်းဆက်ပါမယ်။"
ANSWER_LANG = "my"
POLL_S = 5.0

Flip = Callable[[list[str], dict[str, str]], dict[str, Any]]


class DemoConversation:
    """wait for the case → ask → wait for it on board → answer → done."""

    def __init__(
        self, client: Any, receipt: dict[str, Any], vessel_dir: str, env: dict[str, str], flip: Flip
    ) -> None:
        self.client = client
        self.receipt = receipt
        self.dir = vessel_dir
        self.env = env
        self.flip = flip
        self.state = "wait_case"
        self.ref: str | None = None
        self._next = 0.0

    def info(self) -> dict[str, Any]:
        return {"receipt": self.receipt["receipt"], "vessel": self.receipt["vessel"],
                "question": TEMPLATE}  # fmt: skip

    def step(self, now: float | None = None) -> str:
        """Advance by at most one step (not more often than every POLL_S); the state."""
        now = time.time() if now is None else now
        if self.state == "done" or now < self._next:
            return self.state
        self._next = now + POLL_S
        if self.state == "wait_case":
            rows = self.client.get("/api/grievances").json()
            for r in rows:
                if (
                    r.get("seq") == self.receipt["seq"]
                    and r.get("vessel") == self.receipt["vessel"]
                    and r.get("case")
                ):
                    self.ref = r["case"]
            if self.ref:
                body = {"template": TEMPLATE, "seq": self.receipt["seq"]}
                r = self.client.post(f"/api/cases/{self.ref}/messages", json=body)
                if r.status_code == 201:
                    self.state = "asked"
        elif self.state == "asked":
            try:
                st = self.flip(["vessel", "status", "--dir", self.dir, "--receipt",
                                self.receipt["receipt"]], self.env)  # fmt: skip
            except RealtimeError:
                return self.state
            if st.get("messages"):
                self.flip(["vessel", "reply", "--dir", self.dir, "--receipt",
                           self.receipt["receipt"], "--text", ANSWER, "--lang", ANSWER_LANG],
                          self.env)  # fmt: skip
                self.state = "done"
        return self.state
