"""The crew app's part of the conversation with shore (docs/wire-format.md §4.1).

After a receipt look-up (throttled like every look-up), the page asks for the shore's messages
to that receipt:

* a grievance whose reply key the box can re-make from the receipt (sent at the terminal, the
  box's screen or ``flip vessel submit``): the agent opens the texts in memory and answers with
  the words — the answer, like every answer of the app, is sealed to the page's one-time key;
* a grievance whose key the phone holds (sent from the app and kept on the phone): the agent
  hands the sealed texts with what the page needs to open them (the device kid and the
  grievance seq of the HPKE ``info``). The page opens each with its key; since a text is
  compressed with the wire format's text codec (§5), the page then has the agent ``decode`` the
  opened bytes — a pure function, in memory, over the sealed channel — and shows the words.

``reply`` queues the crew member's answer, sealed to the shore (:meth:`Device.reply`).
Nothing here writes words to disk.
"""

from __future__ import annotations

from typing import Any

from protocol import conversation
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.lang import Lang, lang_from_tag
from vessel_agent.crewapp.intake import BadRequest
from vessel_agent.device import Device
from vessel_agent.errors import LookupLocked, OutboxError, OutboxFull, ReceiptError
from vessel_agent.i18n import LANGS

MAX_ANSWER = 2000
MAX_OPENED = conversation.MAX_SEALED_TEXT * 2  # hex digits


def act(device: Device, op: str, code: str, f: dict[str, Any], now: float) -> dict[str, Any]:
    """``messages`` or ``reply`` for the holder of ``code`` (already looked up)."""
    try:
        if op == "messages":
            notes = device.conversation(code, now=now)
            return {
                "ok": True,
                "kid": device.session.kid.hex(),
                "seq": device.lookup(code).seq if notes else None,  # type: ignore[union-attr]
                "messages": [
                    {"id": n.msg_id, "time": n.time, "text": n.text,
                     "lang": n.lang.tag if n.lang is not None else None,
                     "sealed": None if n.text is not None else n.sealed.hex()}
                    for n in notes
                ],
            }  # fmt: skip
        text, lang = f.get("text"), f.get("lang")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_ANSWER:
            raise BadRequest(f"an answer is 1..{MAX_ANSWER} characters")
        if lang not in LANGS:
            raise BadRequest("unknown language")
        device.reply(code, text.strip(), lang_from_tag(lang), now=now)
    except LookupLocked:
        return {"ok": False, "error": "ui.locked"}
    except ReceiptError:
        return {"ok": False, "error": "ui.not_found"}
    except OutboxFull:
        return {"ok": False, "error": "ui.full"}
    except (OutboxError, LocalProtocolError):
        return {"ok": False, "error": "ui.failed"}
    return {"ok": True}


def decode(f: dict[str, Any]) -> dict[str, Any]:
    """Words of a shore text the page opened with its own key (its plaintext, hex)."""
    raw = f.get("opened")
    if not isinstance(raw, str) or not 0 < len(raw) <= MAX_OPENED:
        raise BadRequest("opened must be hex of an opened shore text")
    try:
        text = conversation.decode_shore_text(bytes.fromhex(raw))
    except (ValueError, RemoteProtocolError):
        return {"ok": False, "error": "ui.failed"}
    return {"ok": True, "text": text.text, "lang": text.lang.tag if text.lang != Lang.UND else None}
