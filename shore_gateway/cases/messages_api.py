"""Staff API of case conversations (CONTRACTS.md; :mod:`shore_gateway.cases.conversation`).

- ``POST /api/cases/{ref}/messages`` ``{"text": "…", "lang": "my"}`` or ``{"template":
  "which_day"}`` (optionally ``"seq"``: which grievance of the case, when it holds several) →
  the question with its delivery state (201).
- ``GET /api/cases/{ref}/messages`` → the conversation, oldest first, with delivery states;
  one ``view_conversation`` audit entry when it holds crew answers.
- ``GET /api/questions`` → the question templates in the seven languages.

Staff only: owners and buyers get 403 like every staff route, and the owner views of a case
carry nothing of the conversation.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from protocol.messages import U32
from shore_gateway.cases import conversation, desk
from shore_gateway.cases.api import _session
from shore_gateway.registry import Staff

router = APIRouter(tags=["cases"])


class MessageIn(BaseModel):
    text: str | None = Field(default=None, max_length=conversation.MAX_QUESTION_CHARS)
    lang: str | None = Field(default=None, max_length=8)
    template: str | None = Field(default=None, max_length=32)
    seq: int | None = Field(default=None, ge=1, le=U32)


@router.post("/api/cases/{ref}/messages", status_code=201)
def post_message(request: Request, ref: str, body: MessageIn, user: Staff) -> dict[str, Any]:
    """Seal a question to the crew member and queue it (400: nothing to send or unknown
    language/template; 409: nobody on this case can be written to)."""
    with _session(request) as session:
        case = desk.get_case(session, ref)
        row = conversation.ask(
            session,
            case,
            actor=user.name,
            text=body.text,
            lang=body.lang,
            template=body.template,
            ref_seq=body.seq,
        )
        return conversation.message_json(session, row)


@router.get("/api/cases/{ref}/messages")
def get_messages(request: Request, ref: str, user: Staff) -> dict[str, Any]:
    with _session(request) as session:
        case = desk.get_case(session, ref)
        return {
            "case": case.ref,
            "messages": conversation.view(session, case, user.name, via="api"),
            "can_write": [a.ref_seq for a in conversation.addressees(session, case)],
        }


@router.get("/api/questions")
def get_questions(_user: Staff) -> dict[str, Any]:
    return conversation.questions()
