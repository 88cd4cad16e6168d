"""Conversations on a case: staff ask the crew member, the crew member answers (migration 0010).

A grievance may carry a reply key (``Grievance.reply_pub``, docs/wire-format.md §3); it is kept
in ``reply_keys`` by (vessel, grievance seq). Staff questions are sealed to it
(:mod:`protocol.conversation`) the moment they are written, split into MT-sized
:class:`~protocol.messages.ShoreMessage` parts and queued as ``downlinks`` rows (the downlink
sender signs and sends them like every downlink). The vessel reports the whole message on
board with a ``Delivered`` uplink; the crew member's answer comes up as a sealed ``Reply`` crew
message and joins the conversation here.

Delivery states of a question: ``queued`` (parts waiting), ``sent`` (every part handed to the
satellite provider), ``on_board`` (the vessel says it holds it whole), ``read`` (the crew member
answered after it — an answer is the only sign of reading the vessel sends; no separate read
receipt goes on air).

Owners never see any of this (staff-only API and page); connectors (MQTT, Primero) do not carry
it. Showing crew answers to staff is audited (``view_conversation``), asking is audited
(``message_sent``) without the words.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from protocol import conversation
from protocol.errors import LocalProtocolError
from protocol.lang import Lang, lang_from_tag
from protocol.messages import Reply, encode_message
from shore_gateway.cases import desk
from shore_gateway.cases.config import default_settings
from shore_gateway.cases.conversation_models import CaseMessage, ReplyKey
from shore_gateway.cases.models import Case, CaseGrievance
from shore_gateway.cases.views import iso
from shore_gateway.cases.workflow import BadRequest, BadTransition
from shore_gateway.models import DeviceKey, Downlink, Grievance, Vessel, utcnow

QUESTIONS = Path(__file__).with_name("questions.json")
MAX_QUESTION_CHARS = 600
#: A question the provider took but the vessel has not reported on board after this long is sent
#: again (an MT queue that overflowed or expired); the vessel keeps each message once.
RESEND_AFTER = dt.timedelta(hours=12)


# --- templates ---------------------------------------------------------------------------------


@cache
def questions() -> dict[str, Any]:
    """The common questions in the seven languages (questions.json; non-English marked for
    native review)."""
    return dict(json.loads(QUESTIONS.read_text(encoding="utf-8")))


def template_text(template: str, lang: str) -> str:
    """Raises :class:`BadRequest` for an unknown template or a language it lacks."""
    entry = questions()["questions"].get(template)
    if entry is None:
        raise BadRequest(f"no question template {template!r}")
    text = entry["text"].get(lang)
    if not text:
        raise BadRequest(f"question template {template!r} has no {lang!r} text")
    return str(text)


# --- vessel side in (called by the pipeline) ----------------------------------------------------


def remember_key(session: Session, vessel_id: int, ref_seq: int, public_key: bytes) -> None:
    """Keep a grievance's reply key (once; a repeat of the same grievance changes nothing)."""
    found = session.exec(
        select(ReplyKey).where(ReplyKey.vessel_id == vessel_id, ReplyKey.ref_seq == ref_seq)
    ).first()
    if found is None:
        session.add(ReplyKey(vessel_id=vessel_id, ref_seq=ref_seq, public_key=public_key))
        session.flush()


def take_reply(session: Session, vessel: Vessel, message_id: int, reply: Reply) -> bool:
    """Add the crew member's answer to the conversation of the case holding ``ref_seq``.

    Returns False when no case holds that grievance here (the answer stays as a sealed-then-
    opened message row only; nothing is lost, it is just not on a case).
    """
    assert vessel.id is not None
    link = session.exec(
        select(CaseGrievance)
        .join(Case, col(Case.id) == col(CaseGrievance.case_id))
        .where(Case.vessel_id == vessel.id, CaseGrievance.ref_seq == reply.ref_seq)
    ).first()
    if link is None:
        return False
    now = utcnow()
    session.add(
        CaseMessage(
            case_id=link.case_id,
            vessel_id=vessel.id,
            ref_seq=reply.ref_seq,
            direction="from_crew",
            text=reply.text,
            lang=reply.lang.tag,
            message_id=message_id,
            created_at=now,
        )
    )
    session.execute(
        update(CaseMessage)
        .where(
            col(CaseMessage.case_id) == link.case_id,
            col(CaseMessage.ref_seq) == reply.ref_seq,
            col(CaseMessage.direction) == "to_crew",
            col(CaseMessage.read_at).is_(None),
        )
        .values(read_at=now)
    )
    case = session.get(Case, link.case_id)
    if case is not None:
        case.updated_at = now
        session.add(case)
        session.flush()
        message = {
            "from": "crew",
            "ref_seq": reply.ref_seq,
            "lang": reply.lang.tag,
            "time": iso(now),
        }
        desk.crew_answered(session, case, message, reply.text, default_settings())
    session.flush()
    return True


def delivered(session: Session, vessel_id: int, ids: tuple[int, ...]) -> None:
    """The vessel holds these questions whole (only its own questions: ids of another vessel
    change nothing)."""
    session.execute(
        update(CaseMessage)
        .where(
            col(CaseMessage.id).in_(ids),
            col(CaseMessage.vessel_id) == vessel_id,
            col(CaseMessage.on_board_at).is_(None),
        )
        .values(on_board_at=utcnow())
    )


# --- staff side ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Addressee:
    ref_seq: int
    lang: str
    public_key: bytes


def addressees(session: Session, case: Case) -> list[Addressee]:
    """The case's active grievances that can be written to (they carried a reply key)."""
    rows = session.exec(
        select(CaseGrievance, Grievance, ReplyKey)
        .join(Grievance, col(Grievance.id) == col(CaseGrievance.grievance_id))
        .join(
            ReplyKey,
            (col(ReplyKey.ref_seq) == col(CaseGrievance.ref_seq))
            & (col(ReplyKey.vessel_id) == case.vessel_id),
        )
        .where(CaseGrievance.case_id == case.id, col(CaseGrievance.withdrawn_at).is_(None))
        .order_by(col(CaseGrievance.id))
    ).all()
    return [Addressee(link.ref_seq, g.lang, key.public_key) for link, g, key in rows]


def ask(
    session: Session,
    case: Case,
    *,
    actor: str,
    text: str | None = None,
    lang: str | None = None,
    template: str | None = None,
    ref_seq: int | None = None,
) -> CaseMessage:
    """Seal a question to the crew member's reply key and queue it for the vessel.

    Raises:
        BadRequest: no text and no template, text too long, unknown language/template.
        BadTransition: nobody on this case can be written to, or several and no ``ref_seq``.
    """
    reachable = addressees(session, case)
    if ref_seq is not None:
        reachable = [a for a in reachable if a.ref_seq == ref_seq]
    if not reachable:
        raise BadTransition(
            "nobody on this case can be written to: the grievance carried no reply key "
            "(sent before replies existed) or was withdrawn"
        )
    if len(reachable) > 1:
        seqs = ", ".join(str(a.ref_seq) for a in reachable)
        raise BadTransition(f"this case holds several crew members' grievances ({seqs}): name one")
    to = reachable[0]
    tag = lang or to.lang
    try:
        wire_lang = lang_from_tag(tag) if tag != "und" else Lang.UND
    except LocalProtocolError as exc:
        raise BadRequest(str(exc)) from None
    if template:
        text = template_text(template, tag)
    if not text or not text.strip():
        raise BadRequest("write a question or choose a template")
    if len(text) > MAX_QUESTION_CHARS:
        raise BadRequest(f"a question has at most {MAX_QUESTION_CHARS} characters")
    vessel = session.get(Vessel, case.vessel_id)
    key = session.exec(
        select(DeviceKey)
        .where(DeviceKey.vessel_id == case.vessel_id, col(DeviceKey.revoked_at).is_(None))
        .order_by(col(DeviceKey.created_at).desc(), col(DeviceKey.id).desc())
    ).first()
    if vessel is None or key is None:
        raise BadTransition("the vessel has no live device key: nothing can reach it")
    row = CaseMessage(
        case_id=case.id or 0,
        vessel_id=case.vessel_id,
        ref_seq=to.ref_seq,
        direction="to_crew",
        text=text,
        lang=tag,
        template=template,
        author=actor,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    try:
        sealed = conversation.seal_text(
            conversation.ShoreText(lang=wire_lang, text=text),
            to.public_key,
            to_kid=key.kid,
            ref_seq=to.ref_seq,
            msg_id=row.id,
        )
    except LocalProtocolError as exc:
        raise BadRequest(str(exc)) from None
    parts = conversation.split(sealed, ref_seq=to.ref_seq, msg_id=row.id)
    rows = [
        Downlink(vessel_id=case.vessel_id, kind="shore_message", body=encode_message(p))
        for p in parts
    ]
    session.add_all(rows)
    session.flush()
    row.parts = len(parts)
    row.downlinks = ",".join(str(d.id) for d in rows)
    session.add(row)
    desk.audit(
        session,
        actor,
        "message_sent",
        case=case,
        message_id=row.id,
        ref_seq=to.ref_seq,
        lang=tag,
        template=template,
        parts=len(parts),
    )
    return row


def resend_stale(
    session: Session, now: dt.datetime | None = None, after: dt.timedelta = RESEND_AFTER
) -> list[int]:
    """Questions every part of which the provider confirmed more than ``after`` ago, and that the
    vessel has not reported on board: their parts are queued again. Returns their ids."""
    now = now or utcnow()
    rows = session.exec(
        select(CaseMessage).where(
            CaseMessage.direction == "to_crew",
            col(CaseMessage.on_board_at).is_(None),
            col(CaseMessage.read_at).is_(None),
            col(CaseMessage.created_at) < now - after,
        )
    ).all()
    again = []
    for m in rows:
        ids = [int(i) for i in m.downlinks.split(",") if i]
        parts = session.exec(select(Downlink).where(col(Downlink.id).in_(ids))).all()
        times = [d.confirmed_at for d in parts]
        if not parts or any(t is None for t in times):
            continue  # still going out
        if max(t for t in times if t is not None) >= now - after:
            continue
        session.execute(update(Downlink).where(col(Downlink.id).in_(ids)).values(confirmed_at=None))
        m.sent_at = None
        session.add(m)
        again.append(m.id or 0)
    return again


def state(session: Session, m: CaseMessage) -> str:
    """Delivery state of a question (answers are ``received``)."""
    if m.direction == "from_crew":
        return "received"
    if m.sent_at is None and m.downlinks:
        ids = [int(i) for i in m.downlinks.split(",")]
        rows = session.exec(select(Downlink).where(col(Downlink.id).in_(ids))).all()
        if rows and all(d.confirmed_at is not None for d in rows):
            m.sent_at = max(d.confirmed_at for d in rows if d.confirmed_at is not None)
            session.add(m)
    if m.read_at is not None:
        return "read"
    if m.on_board_at is not None:
        return "on_board"
    return "sent" if m.sent_at is not None else "queued"


def messages(session: Session, case: Case) -> list[CaseMessage]:
    return list(
        session.exec(
            select(CaseMessage)
            .where(CaseMessage.case_id == case.id)
            .order_by(col(CaseMessage.created_at), col(CaseMessage.id))
        ).all()
    )


def message_json(session: Session, m: CaseMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "direction": m.direction,
        "from": "staff" if m.direction == "to_crew" else "crew",
        "author": m.author,
        "ref_seq": m.ref_seq,
        "text": m.text,
        "lang": m.lang,
        "template": m.template,
        "time": m.created_at.isoformat(),
        "state": state(session, m),
        "parts": m.parts,
        "sent_at": m.sent_at.isoformat() if m.sent_at else None,
        "on_board_at": m.on_board_at.isoformat() if m.on_board_at else None,
        "read_at": m.read_at.isoformat() if m.read_at else None,
    }


def view(session: Session, case: Case, actor: str, *, via: str) -> list[dict[str, Any]]:
    """The conversation for staff; audited as a view of crew words when it holds answers."""
    rows = messages(session, case)
    answers = sum(1 for m in rows if m.direction == "from_crew")
    if answers:
        desk.audit(session, actor, "view_conversation", case=case, answers=answers, via=via)
    return [message_json(session, m) for m in rows]
