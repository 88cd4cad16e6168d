"""The conversation part of the staff case page: ask the crew member (a common question in their
language, or free text), and read the conversation with its delivery states.

Its own template (``_conversation.html``, included by ``case.html``) and its own route; the case
page only asks :func:`context` for what to show. Questions are sealed to the crew member's reply
key the moment they are sent (:mod:`shore_gateway.cases.conversation`); a page view that shows
crew answers is one ``view_conversation`` audit entry.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlmodel import Session

from shore_gateway.cases import conversation
from shore_gateway.cases.models import Case
from shore_gateway.web.auth import StaffPost
from shore_gateway.web.casepage import _change
from shore_gateway.web.pages import LANG_NAMES

#: Delivery states as staff read them.
STATES = {
    "queued": "waiting to go",
    "sent": "sent by satellite",
    "on_board": "on board, not yet answered",
    "read": "answered",
    "received": "",
}
LANGS = {"en": "English", **{k: v for k, v in LANG_NAMES.items() if k != "und"}}

router = APIRouter(include_in_schema=False)


def context(session: Session, case: Case, actor: str) -> dict[str, Any]:
    """What ``_conversation.html`` shows (audited when it shows crew answers)."""
    talk = conversation.view(session, case, actor, via="web case")
    reachable = conversation.addressees(session, case)
    lang = reachable[0].lang if reachable else "en"
    q = conversation.questions()
    return {
        "talk": [{**m, "state_label": STATES.get(m["state"], m["state"])} for m in talk],
        "reachable": [{"seq": a.ref_seq, "lang": a.lang} for a in reachable],
        "lang": lang,
        "langs": LANGS,
        "questions": [
            {"id": k, "label": v["label"], "text": v["text"].get(lang) or v["text"]["en"]}
            for k, v in q["questions"].items()
        ],
        "needs_review": lang in q["needs_review"],
    }


@router.post("/cases/{ref}/messages")
def case_message(
    request: Request,
    ref: str,
    user: StaffPost,
    text: Annotated[str, Form(max_length=conversation.MAX_QUESTION_CHARS)] = "",
    lang: Annotated[str, Form(max_length=8)] = "",
    template: Annotated[str, Form(max_length=32)] = "",
    seq: Annotated[int, Form(ge=0, le=2**32 - 1)] = 0,
) -> Response:
    """Seal the question and queue it; back to the case page with a result message."""
    return _change(
        request,
        ref,
        user,
        lambda s, c: conversation.ask(
            s,
            c,
            actor=user.user.name,
            text=text or None,
            lang=lang or None,
            template=template or None,
            ref_seq=seq or None,
        ),
        "asked",
    )
